"""Training curves: a run's `metrics.jsonl` drawn with matplotlib."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .errors import UsageError
from .track import read_log

FORMATS = (".png", ".pdf", ".svg")  # What matplotlib writes with nothing else.


def plot(workdir: Path, output: Path | None = None) -> Path:
    """Draws the run's curves (see `draw`) into `output`; returns its path."""
    output = output or workdir / "curves.png"
    if output.suffix not in FORMATS:
        raise UsageError(f"--output must end in {', '.join(FORMATS)}, not {output}.")
    figure = draw(workdir)
    try:
        figure.savefig(output, dpi=120)
    except OSError as error:
        raise UsageError(f"Cannot write {output} ({error.strerror}).") from None
    return output


def draw(workdir: Path) -> Figure:
    """Each metric per epoch, the best epoch marked, and the learning rate."""
    try:
        config = json.loads((workdir / "config.json").read_text())
        lines = (workdir / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines if line]
        epochs = [record["epoch"] for record in records]
        names = [key[5:] for key in records[0] if key.startswith("test_")]
        # The best epoch as `checkpoint.rank` orders them: by accuracy, then loss.
        best = max(records, key=lambda r: (r["test_accuracy"], -r["test_loss"]))
        # The object-oriented API draws without pyplot's global state or a display.
        figure = Figure(figsize=(5 * len(names) + 5, 4), layout="constrained")
        panels = figure.subplots(1, len(names) + 1, squeeze=False)[0]
        for axes, name in zip(panels, names, strict=False):
            for split in ("train", "test"):
                axes.plot(epochs, [r[f"{split}_{name}"] for r in records], label=split)
            axes.axvline(best["epoch"], color="grey", linestyle=":", label="best")
            axes.set(title=name)
            axes.legend()
        # The rate at each logged step (each epoch's end in runs before 0.6.0).
        logged = read_log(workdir / "steps.jsonl") or records
        at = [r["step"] / records[0]["step"] for r in logged]  # In epochs.
        panels[-1].plot(at, [r.get("learning_rate", float("nan")) for r in logged])
        panels[-1].set(title="learning rate")
        for axes in panels:
            axes.set(xlabel="epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
        model, data = config["model_type"], Path(config["dataset"]).name
        figure.suptitle(
            f"{model} ({config['framework']}), {config['optimizer']} on {data}: best "
            f"test accuracy {best['test_accuracy']:.4f}, epoch {best['epoch']}"
        )
    except FileNotFoundError as error:
        name = Path(error.filename).name
        raise UsageError(f"{workdir} holds no {name}; run `train` first.") from None
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise UsageError(f"{workdir} holds no run's metrics ({error!r}).") from None
    return figure
