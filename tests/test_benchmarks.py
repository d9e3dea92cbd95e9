"""Slow test: the benchmark script times a generated project against the seed loop."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run

pytestmark = pytest.mark.slow


def test_table_script_benchmarks_a_generated_project(tmp_path: Path) -> None:
    result = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_table.py"),
            f"--workdir={tmp_path}",
            "--frameworks=equinox",
            "--models=mlp",
            "--set=dataset=digits",
            "--set=batch_size=32",
            "--set=hidden_sizes=16",
            "--steps=5",
            "--repeats=1",
        ],
        cwd=tmp_path,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| equinox")]
    assert len(rows) == 1, result.stdout
    assert "error" not in rows[0]
    assert "x** |" in rows[0]
    (record,) = [
        json.loads(line)
        for line in (tmp_path / "results.jsonl").read_text().splitlines()
    ]
    assert record["steps"] == 5
    assert record["hidden_sizes"] == [16]
    assert record["speedup"] > 0
    assert record["project_compile_seconds"] > 0


def test_epoch_script_times_a_runs_epochs_against_the_seeds(tmp_path: Path) -> None:
    result = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "epoch_table.py"),
            f"--workdir={tmp_path}",
            "--frameworks=flax-linen",
            "--models=mlp",
            "--set=hidden_sizes=64",
            "--epochs=3",
        ],
        cwd=tmp_path,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if "| flax-linen" in line]
    assert len(rows) == 2, result.stdout  # The seed's own code, and its loop.
    (record,) = [
        json.loads(line)
        for line in (tmp_path / "epochs.jsonl").read_text().splitlines()
    ]
    assert record["steps_per_epoch"] == 44
    assert record["run_epoch_seconds"] > 0
    assert record["speedup_over_seed_code"] > 0
    assert record["compile_ratio"] > 0


def test_first_result_script_times_each_command(tmp_path: Path) -> None:
    result = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "first_result.py"),
            f"--workdir={tmp_path / 'first'}",
            "--repeats=1",
        ],
        cwd=tmp_path,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ("jaxscaffold new", "train, cold cache", "evaluate", "plot"):
        assert f"| {command} |" in result.stdout
    accuracy = float(result.stdout.rsplit(": ", 1)[1])
    assert accuracy > 0.95
