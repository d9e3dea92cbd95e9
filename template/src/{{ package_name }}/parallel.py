"""Training on every device of every process: the mesh and the group of processes.

Each step's batch is split over all devices; parameters and optimizer state are
whole on each, or with `--fsdp N` each array is split N ways on its largest
dimension that N divides. One device is a mesh of one. A run launched as several
processes (SLURM, Open MPI, or `--num-processes`) runs the same program in each,
joined by `jax.distributed`. A dead process would leave the others waiting in a
collective forever, so each posts a heartbeat to the coordinator every second, and
all stop when one is silent for `LOST_AFTER` seconds or ends with an error.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, PartitionSpec

from .errors import UsageError

BATCH = PartitionSpec(("data", "fsdp"))  # A batch's examples, over every device.
LOST_AFTER = 10  # Seconds without a heartbeat before a process counts as lost.


def join(
    address: str | None, count: int | None, index: int | None, timeout: int
) -> None:
    """Joins the run's other processes, if it was launched as several.

    SLURM's `srun` and Open MPI's `mpirun` set what is not given; JAX reads them.

    Raises:
      UsageError: if the coordinator cannot be reached within `timeout` seconds.
    """
    launcher = "SLURM_NTASKS" if "SLURM_STEP_NODELIST" in os.environ else ""
    count = count or int(os.environ.get(launcher or "OMPI_COMM_WORLD_SIZE", 1))
    if count <= 1:
        return
    if address and index is not None:  # JAX would abort, with a stack trace.
        _reach(address, index, timeout)
    try:
        jax.distributed.initialize(
            address,
            count,
            index,
            initialization_timeout=timeout,
            heartbeat_timeout_seconds=10 * LOST_AFTER,  # Ours below are faster.
        )
    except (RuntimeError, ValueError) as error:  # Such as no address given.
        raise UsageError(f"Cannot join the run's {count} processes: {error}") from None
    _watchdog.start()


def _reach(address: str, index: int, timeout: int) -> None:
    """Checks that process 0 can listen at `address`, or others connect to it."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            if index == 0:
                socket.create_server(("", int(port))).close()
            else:
                socket.create_connection((host, int(port)), timeout=1).close()
            return
        except (OSError, ValueError) as error:
            if index == 0 or time.monotonic() > deadline:
                verb = "listen at" if index == 0 else "reach the coordinator at"
                raise UsageError(
                    f"Process {index} cannot {verb} {address} within {timeout} s "
                    f"({getattr(error, 'strerror', None) or error}); start process "
                    "0 there first, or give another address or port."
                ) from None
            time.sleep(0.2)


def _client() -> Any:
    """The coordinator's client (JAX keeps it out of its public API)."""
    from jax._src.distributed import global_state

    return global_state.client


def _watch() -> None:
    """Posts this process's heartbeats; ends it when another is lost."""
    me, count, beat = jax.process_index(), jax.process_count(), 0
    heard = {p: ("", time.monotonic()) for p in range(count) if p != me}
    while heard and not _leaving.is_set():
        try:
            _client().key_value_set(f"beat/{me}", str(beat := beat + 1), True)
            beats = dict(_client().key_value_dir_get("beat/"))
            ends = dict(_client().key_value_dir_get("end/"))
        except Exception as error:  # The coordinator, in process 0, is gone.
            _stop(
                f"Lost process 0 of {count}, the coordinator ({type(error).__name__})"
            )
        for process, (last, since) in list(heard.items()):
            if (message := ends.get(f"end/{process}")) is not None:
                if message:
                    _stop(f"Process {process} of {count} stopped: {message}")
                del heard[process]  # It finished.
            elif (news := beats.get(f"beat/{process}", "")) != last:
                heard[process] = (news, time.monotonic())
            elif time.monotonic() - since > LOST_AFTER:
                _stop(f"Lost process {process} of {count} (silent for {LOST_AFTER} s)")
        _leaving.wait(1)


# The heartbeat thread, ended before the interpreter is: one that exiting Python
# stops inside JAX's C++ client aborts the process.
_watchdog, _leaving = threading.Thread(target=_watch, daemon=True), threading.Event()


def _stop(reason: str) -> None:
    """Ends this process at once: a collective it is in would never return."""
    print(
        f"Error: {reason}; stopping. Run the same command again to resume from the "
        "last checkpoint.",
        file=sys.stderr,
        flush=True,
    )
    os._exit(1)


def leave(error: str = "", exit_code: int = 1) -> None:
    """Tells the other processes that this one ends; with an error, ends it.

    After two heartbeats, so that the others hear it before process 0 takes the
    coordinator away; at once, as they will not come to JAX's shutdown.
    """
    if jax.distributed.is_initialized():
        _client().key_value_set(f"end/{jax.process_index()}", error)
        if error:
            time.sleep(2)
            os._exit(exit_code)
        _leaving.set()
        _watchdog.join()


def primary() -> bool:
    """Whether this is the process that writes files and reports: process 0."""
    return jax.process_index() == 0


def barrier(name: str, timeout: int = 3600) -> None:
    """Waits for every process to reach `name`, by the coordinator, not a collective.

    A collective fails after about 30 s of waiting (gloo), too soon for downloads.
    """
    if jax.process_count() > 1:
        _client().wait_at_barrier(name, timeout * 1000)


def agree(*flags: bool) -> list[bool]:
    """Each flag, true if any process's is: the processes decide as one."""
    if jax.process_count() == 1:
        return list(flags)
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(np.array(flags))
    return [bool(flag) for flag in gathered.reshape(-1, len(flags)).any(axis=0)]


def make_mesh(fsdp: int, batch_size: int, devices: int = 0) -> jax.sharding.Mesh:
    """Every device (or the first `devices`), split `fsdp` ways for parameters.

    Raises:
      UsageError: if `fsdp` or the batch size does not divide over the devices.
    """
    devices = devices or jax.device_count()
    if devices % fsdp:
        raise UsageError(f"--fsdp {fsdp} does not divide the {devices} devices.")
    if batch_size % devices:
        raise UsageError(
            f"The batch of {batch_size} does not split evenly over {devices} "
            f"devices; give a --batch-size that is a multiple of {devices}."
        )
    shape, auto = (devices // fsdp, fsdp), (AxisType.Auto,) * 2
    return jax.make_mesh(shape, ("data", "fsdp"), auto, devices=jax.devices()[:devices])


def state_specs(tree: Any) -> Any:
    """Where each array of the train state lives on the current mesh.

    Whole on each device, or split over "fsdp" on its largest dimension that the
    axis divides (the first of equals).
    """
    parts = jax.sharding.get_abstract_mesh().shape.get("fsdp", 1)

    def spec(array: Any) -> PartitionSpec:
        dims = [d for d in range(array.ndim) if array.shape[d] % parts == 0]
        if parts == 1 or not dims:
            return PartitionSpec()
        split = max(dims, key=lambda d: array.shape[d])
        return PartitionSpec(
            *("fsdp" if d == split else None for d in range(split + 1))
        )

    return jax.tree.map(spec, tree)


def describe() -> str:
    """The devices and mesh of a run, in a line."""
    devices, processes = jax.devices(), jax.process_count()
    axes = ", ".join(f"{k}={v}" for k, v in jax.sharding.get_mesh().shape.items())
    return (
        f"Training on {len(devices)} {devices[0].device_kind} device"
        f"{'s' * (len(devices) > 1)} in {processes} process{'es' * (processes > 1)}; "
        f"mesh {axes}."
    )
