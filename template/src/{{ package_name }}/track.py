"""What `train --tracker` logs to besides the JSON lines: TensorBoard and W&B.

TensorBoard's files are written by tensorboardX, without TensorFlow; Weights &
Biases follows its own environment (`WANDB_MODE=offline`, `WANDB_PROJECT`, ...).
A resumed run goes on with the same W&B run and TensorBoard curves, no step twice.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError

TRACKERS = {"tensorboard": "tensorboardX", "wandb": "wandb"}  # Each's package.
TENSORBOARD_DIR, WANDB_ID_FILE = "tensorboard", "wandb-run-id"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines log (not a line a killed run cut short)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def require(names: Sequence[str]) -> None:
    """Refuses a tracker whose package is not installed, naming the extra it needs."""
    for name in names:
        if importlib.util.find_spec(TRACKERS[name]) is None:
            extra = f"pip install -e '.[{name}]' (or uv sync --extra {name})"
            raise UsageError(f"--tracker {name} needs its extra: {extra}.")


class Trackers(contextlib.ExitStack):
    """The trackers a run logs to, open for as long as its `with` block lasts."""

    def __init__(
        self, names: Sequence[str], workdir: Path, config: dict[str, Any], step: int
    ) -> None:
        """Opens `names` for the run in `workdir` going on from `step`."""
        super().__init__()
        self._writer, self._run = None, None
        if "tensorboard" in names:
            from tensorboardX import SummaryWriter

            self._writer = self.enter_context(
                SummaryWriter(
                    str(workdir / TENSORBOARD_DIR),
                    purge_step=step + 1,  # Hides what was logged after the checkpoint.
                    filename_suffix=f".{step:012d}",  # Two starts in a second apart.
                )
            )
        if "wandb" in names:
            import wandb

            path = workdir / WANDB_ID_FILE
            run_id = path.read_text() if path.exists() else secrets.token_hex(4)
            path.write_text(run_id)
            self._run = wandb.init(
                project=os.environ.get("WANDB_PROJECT", __package__),  # W&B's own.
                id=run_id,
                resume="allow",
                dir=workdir,
                config=config,
            )
            self.enter_context(self._run)  # Marked failed if an error ends it.

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Logs `metrics` at `step`; `train_loss` is TensorBoard's `train/loss`."""
        if self._writer:
            for name, value in metrics.items():
                split = name.startswith(("train_", "test_"))
                tag = name.replace("_", "/", 1) if split else name
                self._writer.add_scalar(tag, value, step)
        if self._run:
            self._run.log(metrics, step=step)

    def flush(self) -> None:
        """Writes out what was logged (at each checkpoint, so a kill loses none)."""
        if self._writer:
            self._writer.flush()
