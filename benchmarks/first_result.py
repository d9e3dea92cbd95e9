"""Times a new user's first commands, each a whole process, as they run them.

Generates a project with `jaxscaffold new` (this checkout's, with its answers given
as flags) into WORKDIR and times, each `--repeats` times, with the project's `src/`
on the path:

- `jaxscaffold new`;
- `train` at the project's defaults, cold (an empty compilation cache, as on a new
  machine) and warm (the cache the cold run filled), and its test accuracy;
- `evaluate`, `predict` (five images) and `plot` of that run.

Prints a Markdown table of the medians (and the fastest and slowest run).

    python benchmarks/first_result.py --workdir /tmp/first
    python benchmarks/first_result.py -- --framework equinox --model-type cnn
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def timed(command: list[str], environment: dict[str, str]) -> float:
    """Runs `command` to its end; returns its wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    """Parses the options, then times each command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(".first-result"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("answers", nargs="*", help="flags for jaxscaffold new")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    project, package = args.workdir / "first", "first"
    base = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    base.pop("JAX_COMPILATION_CACHE_DIR", None)
    new = [sys.executable, "-m", "scaffold", "new", str(project), "-y", *args.answers]
    times: dict[str, list[float]] = {"jaxscaffold new": []}
    for _ in range(args.repeats):
        shutil.rmtree(project, ignore_errors=True)
        times["jaxscaffold new"].append(timed(new, base))
    environment = {**base, "PYTHONPATH": str(project / "src")}
    run = [sys.executable, "-m", package]
    at = ["--workdir", str(args.workdir / "run")]
    np_code = "import numpy as np, sys; np.save(sys.argv[1], np.random.rand(5, 8, 8))"
    images = str(args.workdir / "images.npy")
    subprocess.run([sys.executable, "-c", np_code, images], env=base, check=True)
    commands = {
        "train, cold cache": [*run, "train", "--restart", *at],
        "train, warm cache": [*run, "train", "--restart", *at],
        "evaluate": [*run, "evaluate", *at],
        "predict (5 images)": [*run, "predict", images, *at],
        "plot": [*run, "plot", *at],
    }
    with tempfile.TemporaryDirectory() as caches:
        environment["XDG_CACHE_HOME"] = caches
        for name, command in commands.items():
            times[name] = []
            for _ in range(args.repeats):
                if name.endswith("cold cache"):
                    shutil.rmtree(caches)
                    Path(caches).mkdir()
                times[name].append(timed(command, environment))
    metrics = (args.workdir / "run" / "metrics.jsonl").read_text().splitlines()
    accuracy = json.loads(metrics[-1])["test_accuracy"]
    print(
        "| command | median s | fastest s | slowest s |\n| --- | ---: | ---: | ---: |"
    )
    for name, seconds in times.items():
        print(
            f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f} "
            f"| {max(seconds):.2f} |"
        )
    print(f"\nThe default run's test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
