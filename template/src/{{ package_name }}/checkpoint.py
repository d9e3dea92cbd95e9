"""Checkpoints of a run, kept by Orbax's `CheckpointManager` in `WORKDIR/checkpoints`.

A checkpoint is a folder named by its step holding the run's arrays and a JSON
record: the settings, every finished epoch's metrics, and a fingerprint of the
arrays, which catches a bit flipped on disk that would restore without an error.
Orbax writes each checkpoint into a temporary folder and renames it once complete,
in the background while training goes on. Nothing is pickled.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from . import parallel
from .errors import UsageError

CHECKPOINT_DIR, DAMAGED_DIR = "checkpoints", "damaged-checkpoints"


class DamagedCheckpointError(UsageError):
    """A checkpoint that cannot be read, or reads back other arrays than were saved."""


@jax.jit
def examine(tree: Any) -> tuple[jax.Array, jax.Array]:
    """Whether every float in `tree` is finite, and each array's fingerprint.

    The fingerprint is the sum of the array's bits, each times a weight of its
    position (modulo 2**32): any changed bit changes it.
    """
    finite, prints = [jnp.bool_(True)], []
    for leaf in jax.tree.leaves(tree):
        flat = leaf.reshape(-1)
        if jnp.issubdtype(flat.dtype, jnp.inexact):
            finite.append(jnp.isfinite(flat).all())
        if flat.dtype != jnp.bool_:
            flat = jax.lax.bitcast_convert_type(flat, f"uint{8 * flat.dtype.itemsize}")
        weights = jnp.arange(flat.size, dtype=jnp.uint32) * jnp.uint32(2654435761) + 1
        prints.append(jnp.sum(flat.astype(jnp.uint32) * weights, dtype=jnp.uint32))
    return jnp.stack(finite).all(), jnp.stack(prints)


def rank(metrics: dict[str, float]) -> tuple[float, float]:
    """Orders checkpoints by test accuracy, then by lower test loss."""
    return metrics["test_accuracy"], -metrics["test_loss"]


class Checkpoints:
    """The latest `keep` checkpoints of the run in `workdir`, and the best by `rank`."""

    def __init__(self, workdir: Path, keep: int) -> None:
        self.directory = workdir.absolute() / CHECKPOINT_DIR
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"{self.directory} is a file, not a checkpoint folder.")
        kept = ocp.checkpoint_managers
        best = kept.BestN(
            get_metric_fn=rank, n=1, keep_checkpoints_without_metrics=False
        )
        options = ocp.CheckpointManagerOptions(
            best_fn=rank,
            preservation_policy=kept.AnyPreservationPolicy([kept.LatestN(keep), best]),
            cleanup_tmp_directories=True,  # Those of a save a killed run left.
        )
        self._manager = _safely(ocp.CheckpointManager, self.directory, options=options)

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        _safely(self._manager.close)  # Waits for the last save.

    def steps(self) -> list[int]:
        """The steps of the finished checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, arrays: Any, meta: dict[str, Any], metrics: Any) -> None:
        """Starts saving `arrays` and `meta` as step `step`, ranked by `metrics`.

        Raises:
          UsageError: if `arrays` holds a NaN or an infinity; nothing is saved.
        """
        finite, prints = jax.device_get(examine(arrays))
        if not finite:
            raise UsageError(
                f"The train state at step {step} holds a NaN or an infinity, so it "
                f"was not saved; {self.describe_latest()}."
            )
        meta = {**meta, "step": step, "fingerprint": prints.tolist()}
        args = ocp.args.Composite(
            arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)
        )
        _safely(self._manager.save, step, args=args, metrics=metrics)

    def describe_latest(self) -> str:
        """Names the latest checkpoint, for messages."""
        _safely(self._manager.wait_until_finished)
        if not (steps := self.steps()):
            return "no checkpoint was saved before it"
        return f"the last good checkpoint is step {steps[-1]} in {self.directory}"

    def restore(self, step: int, target: Any, config: Any = None) -> tuple[Any, Any]:
        """The arrays (structured as `target`) and record of the checkpoint `step`.

        Raises:
          UsageError: if it was saved with other values of the settings in `config`
            (if given).
          DamagedCheckpointError: if it cannot be read, or reads back other arrays.
        """
        meta = self._read(step, meta=ocp.args.JsonRestore())["meta"]
        saved = meta.get("config") or {}
        if config is not None and (unknown := sorted(set(config) - set(saved))):
            raise UsageError(
                f"The checkpoint of step {step} in {self.directory} comes from an "
                "older release of this project, without the settings "
                f"{', '.join(unknown)}; pass --restart to start over."
            )
        if config is not None and {k: saved.get(k) for k in config} != json.loads(
            json.dumps(config)
        ):
            raise UsageError(
                f"The checkpoint of step {step} in {self.directory} was saved with "
                "other settings than config.json holds now; put them back, or pass "
                "--restart to start over."
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        arrays = self._read(step, arrays=ocp.args.StandardRestore(abstract))["arrays"]
        if meta.get("fingerprint") != jax.device_get(examine(arrays))[1].tolist():
            raise DamagedCheckpointError(
                f"The checkpoint of step {step} differs from what was saved."
            )
        return arrays, meta

    def _read(self, step: int, **items: Any) -> Any:
        """Reads `items` of the checkpoint `step`."""
        try:
            return self._manager.restore(step, args=ocp.args.Composite(**items))
        # Orbax and TensorStore raise many kinds of errors for damaged files.
        except Exception as error:
            gc.collect()  # Ends Orbax's abandoned reads now.
            reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
            raise DamagedCheckpointError(
                f"The checkpoint of step {step} cannot be read ({reason})."
            ) from None

    def restore_latest(self, target: Any, config: Any) -> tuple[Any, Any] | None:
        """The latest intact checkpoint, or None; later, damaged ones are set aside."""
        for step in reversed(self.steps()):
            try:
                return self.restore(step, target, config)
            except DamagedCheckpointError as error:
                # Moved under a name of its own, never replacing anything.
                aside = self.directory.parent / DAMAGED_DIR / str(step)
                aside.parent.mkdir(exist_ok=True)
                while aside.exists():
                    aside = aside.with_name(f"{aside.name}+")
                if parallel.primary():  # For every process of the run.
                    (self.directory / str(step)).rename(aside)
                parallel.barrier(f"set-aside-{step}")
                self._manager.reload()
                print(
                    f"Warning: {error} Moved it to {aside}; falling back.",
                    file=sys.stderr,
                )
        return None

    def resolve(self, name: str) -> int:
        """The step `name` names: "best", "latest" or a step number."""
        if not (steps := self.steps()):
            raise UsageError(f"{self.directory} holds no checkpoint; run `train`.")
        if name in ("best", "latest"):
            return (name == "best" and self._manager.best_step()) or steps[-1]
        if not name.isdigit() or int(name) not in steps:
            raise UsageError(f"--checkpoint takes best, latest or one of {steps}.")
        return int(name)


def _safely(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Runs `action`, turning a failure of the disk into one sentence."""
    try:
        return action(*args, **kwargs)
    except OSError as error:
        raise UsageError(f"The checkpoints failed: {error}.") from None
