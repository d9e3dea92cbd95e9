"""Times generated projects' training loops against the seed's loop, side by side.

For every framework x model asked for, generates a project (defaults, except the
answers given) into WORKDIR, reusing one already there, then measures it in a
process of its own, with the project's `src/` on the path:

- the seed loop, as `shared/seed/jax-ml-train.md` writes it: the project's train
  step under `jax.jit` without donation, NumPy batches sliced from a fresh
  permutation by a Python loop and sent to the device one at a time, the loss
  added up step by step;
- the project's loop, as its `train` runs an epoch: `run.train_stretch`, one
  program over the training split on the device (or, for convolutional models on
  the CPU, programs of a few unrolled steps), the state donated.

Both start from the same state, train on the same data with the same batch size,
and alternate their timed epochs after a warm-up each; the figures are medians.
Prints a Markdown table and writes JSON lines to WORKDIR/results.jsonl.

    python benchmarks/bench_table.py --workdir /tmp/bench
    python benchmarks/bench_table.py --models mlp --set hidden_sizes=64
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FRAMEWORKS = ("flax-nnx", "flax-linen", "equinox")
MODELS = ("mlp", "cnn", "resnet", "vit")
REPOSITORY = Path(__file__).resolve().parents[1]


def measure(
    package: str, settings: dict[str, Any], steps: int, repeats: int
) -> dict[str, Any]:
    """Times both loops on the project `package` (importable); returns the figures."""
    import jax

    config_module = importlib.import_module(f"{package}.config")
    run = importlib.import_module(f"{package}.run")
    framework = importlib.import_module(f"{package}.train")
    data = importlib.import_module(f"{package}.data")
    config = dataclasses.replace(config_module.Config(), **settings)
    parallel = importlib.import_module(f"{package}.parallel")
    jax.set_mesh(parallel.make_mesh(1, config.batch_size, devices=1))  # `train`'s.
    dataset = data.load_dataset(config)
    size = config.batch_size
    steps = min(steps, dataset.steps_per_epoch(size))
    init_key, data_key, step_key = jax.random.split(jax.random.key(config.seed), 3)
    train_labels = dataset.train_labels

    state = framework.create_train_state(config, dataset, init_key)
    sums = run.zero_sums(config, state, dataset)
    arrays = run.on_device({"state": state, "sums": sums})
    train_data = run.training_data(config, dataset)
    augment = run.augments(config, dataset)

    def order(epoch: int) -> jax.Array:
        permutation = jax.random.permutation(
            jax.random.fold_in(data_key, epoch), len(train_labels)
        )
        return permutation[: steps * size].reshape(steps, size)

    started = time.perf_counter()  # The program `train` dispatches, compiled.
    first = run.feed(
        train_data, order(0)[: run.program_size(config, train_data, steps)]
    )
    run.train_steps.lower(
        arrays, *first, 0, step_key, config=config, augment=augment
    ).compile()
    project_compile = time.perf_counter() - started

    def project_epoch(epoch: int) -> None:
        nonlocal arrays
        arrays, _ = run.train_stretch(
            config, arrays, train_data, order(epoch), epoch * steps, step_key, augment
        )

    state = framework.create_train_state(config, dataset, init_key)
    seed_epoch, seed_compile = seed_loop(
        framework, config, dataset, state, steps, step_key
    )

    loops = {"seed": seed_epoch, "project": project_epoch}
    if config_module.PROJECT["model_type"] == "mlp" and config.hidden_sizes == (64,):
        loops["seed_code"] = seed_code(dataset, steps, size)
    seconds: dict[str, list[float]] = {name: [] for name in loops}
    for epoch in range(repeats + 1):  # The first epoch of each warms up.
        for name, one_epoch in loops.items():
            started = time.perf_counter()
            one_epoch(epoch)
            if epoch:
                seconds[name].append(time.perf_counter() - started)
    seed_rate = steps * size / statistics.median(seconds["seed"])
    project_rate = steps * size / statistics.median(seconds["project"])
    if "seed_code" in seconds:
        code_rate = steps * size / statistics.median(seconds["seed_code"])
        figures = {"seed_code_examples_per_second": round(code_rate)}
        figures["speedup_over_seed_code"] = round(project_rate / code_rate, 3)
    else:
        figures = {}
    return {
        **figures,
        "steps": steps,
        "seed_examples_per_second": round(seed_rate),
        "project_examples_per_second": round(project_rate),
        "speedup": round(project_rate / seed_rate, 3),
        "seed_compile_seconds": round(seed_compile, 2),
        "project_compile_seconds": round(project_compile, 2),
        "backend": jax.default_backend(),
    }


def seed_loop(
    framework: Any, config: Any, dataset: Any, state: Any, steps: int, key: Any
) -> tuple[Callable[[int], None], float]:
    """The seed's loop around the project's jitted train step, and its compile time.

    An epoch is `steps` batches of a NumPy permutation, each sent to the step as
    float32 images, normalised as the project's step normalises them.
    """
    import jax
    import numpy as np

    size, labels = config.batch_size, dataset.train_labels
    mean, std = np.array(dataset.mean), np.array(dataset.std)
    images = ((dataset.train_images - mean) / std).astype(np.float32)
    seed_step = jax.jit(functools.partial(framework.train_step, config=config))
    started = time.perf_counter()
    seed_step.lower(state, (images[:size], labels[:size]), key).compile()
    compile_seconds = time.perf_counter() - started

    def seed_epoch(epoch: int) -> None:
        nonlocal state
        permutation = np.random.default_rng(epoch).permutation(len(labels))
        epoch_loss = 0.0
        for index in range(steps):
            batch = permutation[index * size : (index + 1) * size]
            state, metrics = seed_step(state, (images[batch], labels[batch]), key)
            epoch_loss += metrics["loss"] / metrics["count"]
        float(epoch_loss)

    return seed_epoch, compile_seconds


def seed_code(dataset: Any, steps: int, size: int) -> Callable[[int], None]:
    """An epoch of the seed's own code: its Linen MLP, TrainState and loop."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax.training import train_state

    class MLP(nn.Module):
        features: int = 64

        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            x = nn.Dense(self.features)(x)
            x = jax.nn.relu(x)
            return nn.Dense(10)(x)

    def loss_fn(params: Any, batch: Any, apply_fn: Any) -> jax.Array:
        x, y = batch
        logits = apply_fn(params, x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.mean(loss)

    @jax.jit
    def train_step(state: Any, batch: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch, state.apply_fn)
        return state.apply_gradients(grads=grads), loss

    images = dataset.train_images.reshape(len(dataset.train_labels), -1) / 255
    images = images.astype(np.float32)  # The seed's float32 images, from 0 to 1.
    model = MLP()
    state = train_state.TrainState.create(
        apply_fn=model.apply,
        params=model.init(jax.random.PRNGKey(42), jnp.ones((1, images.shape[1]))),
        tx=optax.adam(learning_rate=1e-3),
    )

    def epoch(number: int) -> None:
        nonlocal state
        permutation = np.random.default_rng(number).permutation(len(images))
        epoch_loss = 0.0
        for index in range(steps):
            batch = permutation[index * size : (index + 1) * size]
            state, loss = train_step(
                state, (images[batch], dataset.train_labels[batch])
            )
            epoch_loss += loss
        float(epoch_loss)

    return epoch


def generate(workdir: Path, framework: str, model: str) -> tuple[Path, str]:
    """The combination's project in WORKDIR, generated unless it is there."""
    path = workdir / f"{framework}-{model}"
    if not path.exists():
        sys.path.insert(0, str(REPOSITORY))
        from scaffold.generate import new_project

        answers = {"framework": framework, "model_type": model}
        new_project(path, answers=answers, prompt=False, init_git=False)
    return path, path.name.replace("-", "_")


def table_options(doc: str, set_help: str) -> argparse.ArgumentParser:
    """The options both tables take: where, which combinations, which settings."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help=set_help
    )
    parser.add_argument("--timeout", type=float, default=1800, help="per project")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # PACKAGE, internal.
    return parser


def parse(items: list[str]) -> dict[str, Any]:
    """The settings `--set FIELD=VALUE` gives, as the Config takes them."""
    settings: dict[str, Any] = {}
    for item in items:
        name, _, text = item.partition("=")
        value = ast.literal_eval(text) if text[:1].isdigit() else text
        sizes = name.endswith("sizes") and isinstance(value, int)
        settings[name] = (value,) if sizes else value
    return settings


def measure_apart(
    args: argparse.Namespace,
    framework: str,
    model: str,
    options: list[str],
    results: str,
) -> dict[str, Any] | str:
    """Measures a combination's project in a process of its own; the figures.

    The project is generated unless WORKDIR has it; the running script measures it
    (`--measure`), without a compilation cache. The figures are appended to
    WORKDIR/`results`; a failure returns the last line it printed instead.
    """
    path, package = generate(args.workdir, framework, model)
    command = [sys.executable, sys.modules["__main__"].__file__, "--measure", package]
    command += [f"--set={item}" for item in args.set] + options
    environment = {**os.environ, "PYTHONPATH": str(path / "src")}
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    result = subprocess.run(
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=args.timeout,
        check=False,
    )
    if result.returncode != 0:
        return (result.stderr.strip().splitlines() or ["failed"])[-1]
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    record = {"framework": framework, "model": model, **parse(args.set), **figures}
    with (args.workdir / results).open("a") as file:
        file.write(json.dumps(record) + "\n")
    return figures


def main() -> None:
    """Parses the options; generates and measures each combination."""
    parser = table_options(
        __doc__,
        "a setting of the projects' Config, e.g. hidden_sizes=64 (default: "
        "dataset=synthetic-mnist, batch_size=128)",
    )
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs")
    args = parser.parse_args()
    settings = {"dataset": "synthetic-mnist", "batch_size": 128, **parse(args.set)}
    if args.measure:
        print(json.dumps(measure(args.measure, settings, args.steps, args.repeats)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    columns = "framework | model | seed ex/s | project ex/s | speedup | compile s"
    print(f"| {columns} (seed, project) |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for framework in args.frameworks.split(","):
        for model in args.models.split(","):
            options = [f"--steps={args.steps}", f"--repeats={args.repeats}"]
            figures = measure_apart(args, framework, model, options, "results.jsonl")
            if isinstance(figures, str):
                print(f"| {framework} | {model} | error: {figures} | | | |")
                continue
            if "speedup_over_seed_code" in figures:
                print(
                    f"| {framework} | {model} (the seed's own code) | "
                    f"{figures['seed_code_examples_per_second']:,} | "
                    f"{figures['project_examples_per_second']:,} | "
                    f"**{figures['speedup_over_seed_code']:.2f}x** | |"
                )
            print(
                f"| {framework} | {model} | {figures['seed_examples_per_second']:,} | "
                f"{figures['project_examples_per_second']:,} | "
                f"**{figures['speedup']:.2f}x** | {figures['seed_compile_seconds']}, "
                f"{figures['project_compile_seconds']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
