"""How fast the project trains: examples per second, compile time, memory, FLOPs.

It times the programs `train` runs for an epoch: train steps in one scan, fed as
`train` feeds them (from the device, or from the host for a large dataset), on
every device. With several, it times one device too, on its share of the batch:
the scaling efficiency is the rate per device over that one device's rate.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import parallel, run
from .config import Config
from .data import Dataset, load_dataset


def bench(
    config: Config, steps: int, peak_tflops: float | None, data_dir: Path | None = None
) -> dict[str, Any]:
    """The figures of `steps` steps; with the device's peak, the share reached."""
    dataset, devices = load_dataset(config, data_dir), jax.device_count()
    mesh = parallel.make_mesh(config.fsdp, config.batch_size)
    report = _measure(config, dataset, steps, mesh)
    report["devices"] = devices
    report["examples_per_second_per_device"] = round(
        report["examples_per_second"] / devices
    )
    if devices > 1:
        one = dataclasses.replace(
            config, fsdp=1, batch_size=config.batch_size // devices
        )
        alone = _measure(one, dataset, steps, parallel.make_mesh(1, 1, devices=1))
        rate = report["examples_per_second_per_device"] / alone["examples_per_second"]
        report["scaling_efficiency"] = round(rate, 3)
    if peak_tflops:
        share = report["tflops_per_second"] / peak_tflops / devices
        report["flop_utilisation"] = round(share, 4)
    return report


def _measure(
    config: Config, dataset: Dataset, steps: int, mesh: jax.sharding.Mesh
) -> dict[str, Any]:
    """Examples/s, compile time, memory per device and TFLOP/s (all) on `mesh`."""
    with jax.set_mesh(mesh):
        init_key, step_key = jax.random.split(jax.random.key(config.seed))
        create, target = run._target(config, dataset)
        arrays = {**target, "state": create(init_key)}
        data, augment = (
            run.training_data(config, dataset),
            run.augments(config, dataset),
        )
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
    return {
        "examples_per_second": round(steps * config.batch_size / seconds),
        "compile_seconds": round(compile_seconds, 3),
        "peak_memory_mb": round(used / 2**20, 1),
        # XLA counts the FLOPs of one device's program.
        "tflops_per_second": round(flops * mesh.size / seconds / 1e12, 4),
    }
