"""Benchmarks every framework x model combination and prints one table.

Generates a project per combination (defaults, except the answers below) into
WORKDIR, reusing the ones already there, then runs each project's `bench` command
in its own process and prints a Markdown table of the figures, with JSON lines
beside it in WORKDIR/results.jsonl.

    python benchmarks/bench_table.py --workdir /tmp/bench
    python benchmarks/bench_table.py --frameworks flax-nnx --models mlp
        --hidden-sizes 64 --batch-size 128 --dispatch scan,step   (one command)

Generating needs this repository's package (copier); running needs only what the
projects need (jax, flax or equinox, optax, ...), so the projects can be generated on
one machine and benchmarked on another.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FRAMEWORKS = ("flax-nnx", "flax-linen", "equinox")
MODELS = ("mlp", "cnn", "resnet", "vit")
REPOSITORY = Path(__file__).resolve().parents[1]


def project_dir(workdir: Path, framework: str, model: str) -> Path:
    """Where the project of one combination lives."""
    return workdir / f"{framework}-{model}"


def package_name(framework: str, model: str) -> str:
    """The package name copier derives from the project folder's name."""
    return f"{framework}-{model}".replace("-", "_")


def generate(workdir: Path, framework: str, model: str) -> Path:
    """Generates the combination's project unless WORKDIR holds it already."""
    path = project_dir(workdir, framework, model)
    if not path.exists():
        sys.path.insert(0, str(REPOSITORY))
        from scaffold.generate import new_project

        new_project(
            path,
            answers={"framework": framework, "model_type": model},
            prompt=False,
        )
    return path


def bench(
    path: Path, package: str, options: list[str], timeout: float
) -> dict[str, Any]:
    """Runs the project's `bench --json`; returns its figures or the error."""
    command = [sys.executable, "-m", package, "bench", "--json", *options]
    environment = {**os.environ, "PYTHONPATH": str(path / "src")}
    try:
        result = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {result.returncode}"}
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def row(framework: str, model: str, options: str, figures: dict[str, Any]) -> str:
    """One Markdown table row."""
    if "error" in figures:
        return f"| {framework} | {model} | {options} | error: {figures['error']} |"
    seed, project = figures["seed"], figures["project"]
    return (
        f"| {framework} | {model} | {options} | {figures['dispatch']} "
        f"| {seed['examples_per_second']:,.0f} "
        f"| {project['examples_per_second']:,.0f} "
        f"| **{figures['speedup']:.2f}x** "
        f"| {seed['compile_seconds']:.1f} / {project['compile_seconds']:.1f} "
        f"| {seed['peak_bytes'] / 2**20:,.1f} / {project['peak_bytes'] / 2**20:,.1f} "
        f"| {seed['flop_bound_share']:.1%} / {project['flop_bound_share']:.1%} |"
    )


HEADER = (
    "| framework | model | options | dispatch | seed ex/s | project ex/s | speedup "
    "| compile s (seed / project) | peak MiB (seed / project) "
    "| FLOP-bound share (seed / project) |\n"
    "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |"
)


def main() -> None:
    """Parses the options, benchmarks each combination and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench-projects"))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--dispatch", default="auto", help="Comma-separated.")
    parser.add_argument("--dataset", default="synthetic-mnist")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden-sizes", help="For the MLP, e.g. 64 or 1024,1024.")
    parser.add_argument("--steps", type=int, help="Steps per timed epoch.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--generate-only", action="store_true", help="Generate; do not run."
    )
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    combinations = [
        (framework, model)
        for framework in args.frameworks.split(",")
        for model in args.models.split(",")
    ]
    paths = {combo: generate(args.workdir, *combo) for combo in combinations}
    if args.generate_only:
        return

    print(HEADER, flush=True)
    with (args.workdir / "results.jsonl").open("a") as results:
        for (framework, model), path in paths.items():
            for dispatch in args.dispatch.split(","):
                options = [
                    f"--dataset={args.dataset}",
                    f"--batch-size={args.batch_size}",
                    f"--repeats={args.repeats}",
                    f"--dispatch={dispatch}",
                ]
                if args.steps:
                    options.append(f"--steps={args.steps}")
                if args.hidden_sizes and model == "mlp":
                    options.append(f"--hidden-sizes={args.hidden_sizes}")
                figures = bench(
                    path, package_name(framework, model), options, args.timeout
                )
                label = " ".join(option.lstrip("-") for option in options[:2])
                if args.hidden_sizes and model == "mlp":
                    label += f" hidden {args.hidden_sizes}"
                print(row(framework, model, label, figures), flush=True)
                record = {"framework": framework, "model": model, "options": options}
                results.write(json.dumps({**record, **figures}) + "\n")


if __name__ == "__main__":
    main()
