#!/usr/bin/env bash
# The benchmark table on a machine with a CUDA jax and the projects' dependencies,
# run from this repository's root (the projects are generated there on first use):
#   OUT=/some/folder bash benchmarks/gpu_table.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-.bench}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, flax, optax, equinox; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'equinox', equinox.__version__, jax.devices())"
table="python3 benchmarks/bench_table.py --workdir .bench --timeout 300 --repeats 3"
# The seed's MLP (784-64-10, batch 128), whole epochs.
$table --models mlp --set hidden_sizes=64 --steps 468 | tee "$out/mlp64.md"
# Every framework and model at its default size.
$table --steps 234 | tee "$out/all.md"
cp .bench/results.jsonl "$out/results.jsonl"
