"""Times a generated project's whole epochs, as `train` runs them, against the seed's.

For every framework x model asked for, generates a project (reusing one already in
WORKDIR) and measures, in a process of its own with the project's `src/` on the
path and no compilation cache:

- the seed loop's epoch, as `shared/seed/jax-ml-train.md` writes it (see
  bench_table.py): around the project's train step, and for the seed's MLP (hidden
  width 64) also the seed's own code;
- the run's epoch: `run.train` at the project's default settings (but those given
  with --set), each epoch as its `metrics.jsonl` times it: the train steps, the
  evaluation on the test split, and whatever checkpoint the run saves;
- the time to compile the seed's jitted step and the project's train program.

The seed's epochs are timed before and after the run, after a warm-up; the figures
are medians over the run's epochs after its first. Prints a Markdown table.

    python benchmarks/epoch_table.py --workdir /tmp/bench
    python benchmarks/epoch_table.py --models mlp --set dataset=synthetic-mnist
        --set hidden_sizes=64 --set batch_size=128   # the seed's MLP, one line
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_table import measure_apart, parse, seed_code, seed_loop, table_options


def measure(package: str, settings: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Times the seed's and the run's epochs of the project `package` (importable)."""
    import jax
    import numpy as np

    config_module = importlib.import_module(f"{package}.config")
    run = importlib.import_module(f"{package}.run")
    framework = importlib.import_module(f"{package}.train")
    data = importlib.import_module(f"{package}.data")
    config = dataclasses.replace(config_module.Config(), **settings, epochs=epochs)
    parallel = importlib.import_module(f"{package}.parallel")
    jax.set_mesh(parallel.make_mesh(1, config.batch_size, devices=1))  # `train`'s.
    dataset = data.load_dataset(config)
    size, steps = config.batch_size, dataset.steps_per_epoch(config.batch_size)
    init_key, _, step_key = jax.random.split(jax.random.key(config.seed), 3)

    state = jax.jit(functools.partial(framework.create_train_state, config, dataset))(
        init_key
    )
    sums = run.zero_sums(config, state, dataset)
    arrays = run.on_device({"state": state, "sums": sums})
    train_data = run.training_data(config, dataset)
    augment = run.augments(config, dataset)
    order = np.zeros((run.program_size(config, train_data, steps), size), np.int32)
    started = time.perf_counter()
    run.train_steps.lower(
        arrays,
        *run.feed(train_data, order),
        0,
        step_key,
        config=config,
        augment=augment,
    ).compile()
    project_compile = time.perf_counter() - started

    seed_epoch, seed_compile = seed_loop(
        framework, config, dataset, state, steps, step_key
    )

    loops = {"seed": seed_epoch}
    if config_module.PROJECT["model_type"] == "mlp" and config.hidden_sizes == (64,):
        loops["seed_code"] = seed_code(dataset, steps, size)
    seconds: dict[str, list[float]] = {name: [] for name in loops}

    def time_seed_epochs(count: int) -> None:
        for number in range(count + 1):  # The first of each loop warms up.
            for name, one_epoch in loops.items():
                begun = time.perf_counter()
                one_epoch(number)
                if number:
                    seconds[name].append(time.perf_counter() - begun)

    time_seed_epochs(max(1, (epochs - 1) // 2))
    with tempfile.TemporaryDirectory() as workdir:
        history = run.train(config, Path(workdir)).history
    seconds["run"] = [record["seconds"] for record in history[1:]]
    time_seed_epochs(max(1, (epochs - 1) // 2))
    median = {name: statistics.median(times) for name, times in seconds.items()}
    figures = {
        "steps_per_epoch": steps,
        "seed_epoch_seconds": round(median["seed"], 4),
        "run_epoch_seconds": round(median["run"], 4),
        "speedup": round(median["seed"] / median["run"], 3),
        "seed_compile_seconds": round(seed_compile, 3),
        "project_compile_seconds": round(project_compile, 3),
        "compile_ratio": round(project_compile / seed_compile, 2),
        "backend": jax.default_backend(),
    }
    if "seed_code" in median:
        figures["seed_code_epoch_seconds"] = round(median["seed_code"], 4)
        speedup = median["seed_code"] / median["run"]
        figures["speedup_over_seed_code"] = round(speedup, 3)
    return figures


def main() -> None:
    """Parses the options; generates and measures each combination."""
    parser = table_options(
        __doc__, "a setting of the projects' Config (default: the project's defaults)"
    )
    parser.add_argument("--epochs", type=int, default=7, help="the run's epochs")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, parse(args.set), args.epochs)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        "| framework | model | steps | seed epoch s | run epoch s | speedup "
        "| compile s (seed, project) |\n| --- | --- | ---: | ---: | ---: | ---: | --- |"
    )
    for framework in args.frameworks.split(","):
        for model in args.models.split(","):
            options = [f"--epochs={args.epochs}"]
            figures = measure_apart(args, framework, model, options, "epochs.jsonl")
            if isinstance(figures, str):
                print(f"| {framework} | {model} | error: {figures} | | | | |")
                continue
            if "speedup_over_seed_code" in figures:
                print(
                    f"| {framework} | {model} (the seed's own code) | "
                    f"{figures['steps_per_epoch']} | "
                    f"{figures['seed_code_epoch_seconds']} | "
                    f"{figures['run_epoch_seconds']} | "
                    f"**{figures['speedup_over_seed_code']:.2f}x** | |"
                )
            print(
                f"| {framework} | {model} | {figures['steps_per_epoch']} | "
                f"{figures['seed_epoch_seconds']} | {figures['run_epoch_seconds']} | "
                f"**{figures['speedup']:.2f}x** | {figures['seed_compile_seconds']}, "
                f"{figures['project_compile_seconds']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
