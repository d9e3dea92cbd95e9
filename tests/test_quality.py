"""The repository's own code is lint-clean, formatted and strictly typed."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.conftest import REPO, run


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--no-cache", "--check", "."],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_repository_passes(command: list[str]) -> None:
    if command[0] == "ruff":
        ruff = shutil.which("ruff")
        assert ruff, "ruff is not installed; install the test extra"
        command = [ruff, *command[1:]]
    result = run(command, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
