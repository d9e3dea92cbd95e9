"""Slow test: the benchmark table script generates a project and tabulates its bench."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    run,
)

pytestmark = pytest.mark.slow


def test_table_script_benchmarks_a_generated_project(tmp_path: Path) -> None:
    result = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_table.py"),
            f"--workdir={tmp_path}",
            "--frameworks=equinox",
            "--models=mlp",
            "--dataset=digits",
            "--dispatch=scan,step",
            "--steps=2",
            "--repeats=1",
        ],
        cwd=tmp_path,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| equinox")]
    assert [row.split("|")[4].strip() for row in rows] == ["scan", "step"]
    assert all("error" not in row and "x** |" in row for row in rows), rows
    records = [
        json.loads(line)
        for line in (tmp_path / "results.jsonl").read_text().splitlines()
    ]
    assert [record["dispatch"] for record in records] == ["scan", "step"]
    assert all(record["speedup"] > 0 for record in records)
    assert (tmp_path / "equinox-mlp" / "src" / "equinox_mlp" / "bench.py").is_file()
