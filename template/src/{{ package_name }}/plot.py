"""Training curves: a run's `metrics.jsonl` drawn with matplotlib."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .errors import UsageError

FORMATS = (".png", ".pdf", ".svg")  # What matplotlib writes with nothing else.


def plot(workdir: Path, output: Path | None = None) -> Path:
    """Draws each metric per epoch, train and test, into `output` (a PNG by default).

    Returns the path written.
    """
    path = workdir / "metrics.jsonl"
    output = output or workdir / "curves.png"
    if output.suffix not in FORMATS:
        raise UsageError(f"--output must end in {', '.join(FORMATS)}, not {output}.")
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        epochs = [record["epoch"] for record in records]
        names = [key[5:] for key in records[0] if key.startswith("test_")]
        # The object-oriented API draws without pyplot's global state or a display.
        figure = Figure(figsize=(5 * len(names), 4), layout="constrained")
        for axes, name in zip(
            figure.subplots(1, len(names), squeeze=False)[0], names, strict=True
        ):
            for split in ("train", "test"):
                axes.plot(epochs, [r[f"{split}_{name}"] for r in records], label=split)
            axes.set(title=name, xlabel="epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            axes.legend()
    except FileNotFoundError:
        raise UsageError(f"{workdir} holds no metrics; run `train` first.") from None
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise UsageError(f"{path} is not a run's metrics ({error!r}).") from None
    try:
        figure.savefig(output, dpi=120)
    except OSError as error:
        raise UsageError(f"Cannot write {output} ({error.strerror}).") from None
    return output
