#!/usr/bin/env bash
# The GPU half of the benchmark table, run on a machine with a CUDA jax and the
# projects' dependencies, from this repository's root, with the projects generated
# beforehand (copier is not needed there):
#   python benchmarks/bench_table.py --workdir .bench --generate-only   # here
#   OUT=/some/folder bash benchmarks/gpu_table.sh                          # there
set -euo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-.bench}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, flax, optax, equinox; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'equinox', equinox.__version__, jax.devices())"
table="python3 benchmarks/bench_table.py --workdir .bench --timeout 150 --repeats 3"
# The seed's MLP (784-64-10, batch 128), whole epochs.
$table --models mlp --hidden-sizes 64 | tee "$out/mlp64.md"
# Every model in Flax NNX under each dispatch, to choose the GPU's default.
$table --frameworks flax-nnx --dispatch scan,unrolled,step --steps 234 | tee "$out/nnx.md"
# The other frameworks under the default dispatch.
$table --frameworks flax-linen,equinox --steps 234 | tee "$out/others.md"
# A compute-bound MLP (784-1024-1024-10).
$table --frameworks flax-nnx --models mlp --hidden-sizes 1024,1024 | tee "$out/big.md"
cp .bench/results.jsonl "$out/results.jsonl"
