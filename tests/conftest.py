"""Fixtures and helpers shared by the template's tests."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_copie.plugin import Copie

from scaffold.generate import choices

REPO = Path(__file__).resolve().parents[1]

# Every combination of the answers that change generated code: rendered and linted.
COMBINATIONS = [
    {"framework": framework, "model_type": model_type, "optimizer": optimizer}
    for framework, model_type, optimizer in itertools.product(
        choices("framework"), choices("model_type"), choices("optimizer")
    )
]
# The combinations whose generated suites run: every framework with every model under
# Adam, and each other optimizer once, each with another framework and model, so the
# optimizers meet every kind of parameter tree (NNX state, Linen dicts, Equinox
# modules; convolution kernels, batch norm, attention).
OTHER_OPTIMIZER_SUITES = {
    "adamw": ("flax-linen", "cnn"),
    "sgd": ("equinox", "resnet"),
    "lion": ("flax-nnx", "vit"),
    "adafactor": ("flax-linen", "mlp"),
    "rmsprop": ("equinox", "cnn"),
    "muon": ("flax-nnx", "resnet"),
}
SUITE_COMBINATIONS = [
    answers
    for answers in COMBINATIONS
    if answers["optimizer"] == "adam"
    or OTHER_OPTIMIZER_SUITES.get(answers["optimizer"])
    == (answers["framework"], answers["model_type"])
]
# The default combination: its suite runs whole as the last command of the CI
# workflow that projects get (tests/test_repository.py), not in test_generated.py.
CI_COMBINATION = "flax-nnx-mlp-adam"


def pytest_configure(config: pytest.Config) -> None:
    """Points pytest-copie at this repository, wherever pytest was started."""
    config.option.template = str(REPO)


def combination_id(answers: dict[str, Any]) -> str:
    """A short test id such as `cnn-adamw`."""
    return "-".join(str(value) for value in answers.values())


@dataclass(frozen=True)
class Project:
    """A project generated for a test."""

    path: Path
    package: str
    answers: dict[str, Any]


def render(copie: Copie, **answers: Any) -> Project:
    """Renders the template with plain Copier and `answers`, failing on any error."""
    result = copie.copy(extra_answers=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    assert result.project_dir is not None
    return Project(
        path=result.project_dir,
        package=str(result.answers["package_name"]),
        answers=dict(result.answers),
    )


def run(
    args: list[str],
    cwd: Path,
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command and returns it finished; the caller checks the outcome."""
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def project_env(project: Path) -> dict[str, str]:
    """The environment for running a generated project from its source folder.

    Every process run in one project shares a persistent compilation cache, so its
    test suite, its training runs and the subprocesses of its tests compile each
    program once.
    """
    return {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(project / ".jax-compilation-cache"),
    }


@pytest.fixture(scope="session")
def rendered(copie_session: Copie) -> dict[str, Project]:
    """Every combination, rendered once per session, by id; tests must not edit them."""
    return {
        combination_id(answers): render(
            copie_session, project_name="my-project", **answers
        )
        for answers in COMBINATIONS
    }


@pytest.fixture(scope="session")
def generated(copie_session: Copie) -> dict[str, Project]:
    """The combinations whose suites run, generated once per session, by id."""
    return {
        combination_id(answers): render(
            copie_session,
            project_name=f"proj-{combination_id(answers)}",
            **answers,
        )
        for answers in SUITE_COMBINATIONS
    }


def copy_release(destination: Path) -> None:
    """Copies into `destination` what a release of this repository is made of."""
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]")
    for name in ("scaffold", "template", "migrations"):
        shutil.copytree(REPO / name, destination / name, ignore=ignore)
    for name in ("copier.yml", "pyproject.toml", "README.md", "hatch_build.py"):
        shutil.copy2(REPO / name, destination / name)
