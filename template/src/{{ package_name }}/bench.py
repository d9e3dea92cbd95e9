"""How fast the project trains: examples per second, compile time, memory, FLOPs.

It times the programs `train` runs for an epoch: train steps in one scan, fed as
`train` feeds them (from the device, or from the host for a large dataset).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import run
from . import train as framework
from .config import Config
from .data import load_dataset


def bench(
    config: Config, steps: int, peak_tflops: float | None, data_dir: Path | None = None
) -> dict[str, Any]:
    """The figures of `steps` steps; with the device's peak, the share reached."""
    dataset = load_dataset(config, data_dir)
    init_key, step_key = jax.random.split(jax.random.key(config.seed))
    state = framework.create_train_state(config, dataset, init_key)
    arrays = run.on_device(
        {"state": state, "sums": run.zero_sums(config, state, dataset)}
    )
    data, augment = run.training_data(config, dataset), run.augments(config, dataset)
    rng = np.random.default_rng(config.seed)
    order = rng.integers(len(dataset.train_labels), size=(steps, config.batch_size))
    started = time.perf_counter()
    first = run.feed(data, order[: run.program_size(config, data, steps)])
    lowered = run.train_steps.lower(
        arrays, *first, 0, step_key, config=config, augment=augment
    )
    program = lowered.compile()
    compile_seconds = time.perf_counter() - started
    for first_step in (0, steps):  # The first run warms up.
        started = time.perf_counter()
        arrays, _ = run.train_stretch(
            config, arrays, data, order, first_step, step_key, augment
        )
    seconds = time.perf_counter() - started
    costs, memory = program.cost_analysis(), program.memory_analysis()
    flops = (costs[0] if isinstance(costs, list) else costs or {}).get("flops", 0.0)
    used = memory.argument_size_in_bytes + memory.temp_size_in_bytes if memory else 0
    report = {
        "examples_per_second": round(steps * config.batch_size / seconds),
        "compile_seconds": round(compile_seconds, 3),
        "peak_memory_mb": round(used / 2**20, 1),
        "tflops_per_second": round(flops / seconds / 1e12, 4),
    }
    if peak_tflops:
        report["flop_utilisation"] = round(report["tflops_per_second"] / peak_tflops, 4)
    return report
