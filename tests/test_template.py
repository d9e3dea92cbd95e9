"""Fast tests: render the template with plain Copier and check what comes out."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_copie.plugin import Copie

from scaffold.generate import choices
from tests.conftest import COMBINATIONS, Project, combination_id, render, run

SOURCE_FILES = [
    "__init__.py",
    "__main__.py",
    "bench.py",
    "checkpoint.py",
    "cli.py",
    "config.py",
    "data.py",
    "errors.py",
    "model.py",
    "optimizer.py",
    "parallel.py",
    "plot.py",
    "run.py",
    "track.py",
    "train.py",
]
TEST_FILES = [
    "conftest.py",
    "test_bench.py",
    "test_checkpoint.py",
    "test_cli.py",
    "test_config.py",
    "test_data.py",
    "test_model.py",
    "test_optimizer.py",
    "test_parallel.py",
    "test_plot.py",
    "test_run.py",
    "test_track.py",
    "test_train.py",
]

REPOSITORY_FILES = [
    ".github/update.sh",
    ".github/workflows/ci.yml",
    ".github/workflows/update.yml",
    ".pre-commit-config.yaml",
    "LICENSE",
]


def ruff(project: Path, *args: str) -> None:
    """Runs ruff in `project` and fails with its report unless it passes."""
    ruff_bin = shutil.which("ruff")
    assert ruff_bin, "ruff is not installed; install the test extra"
    result = run([ruff_bin, *args], cwd=project)
    assert result.returncode == 0, (
        f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_every_combination_renders_the_full_layout(
    rendered: dict[str, Project], answers: dict[str, Any]
) -> None:
    project = rendered[combination_id(answers)]
    assert project.package == "my_project"
    package_dir = project.path / "src" / "my_project"
    vit = answers["model_type"] == "vit"
    expected = SOURCE_FILES + (["patches.py"] if vit else [])
    assert sorted(p.name for p in package_dir.iterdir()) == sorted(expected)
    expected_tests = TEST_FILES
    tests = sorted(p.name for p in (project.path / "tests").iterdir())
    assert tests == sorted(expected_tests)
    for name in ("pyproject.toml", "README.md", ".gitignore", ".copier-answers.yml"):
        assert (project.path / name).is_file(), name
    # The repository's files, on by default (tests/test_repository.py has each off).
    for name in REPOSITORY_FILES:
        assert (project.path / name).is_file(), name
    launch = sorted(p.name for p in (project.path / "launch").iterdir())
    assert launch == ["k8s-job.yaml", "slurm.sbatch"]
    leftovers = [p for p in project.path.rglob("*") if p.suffix in {".jinja", ".pyc"}]
    assert not leftovers, leftovers
    assert not list(project.path.rglob("__pycache__"))


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_generated_code_is_lint_clean_and_formatted(
    rendered: dict[str, Project], answers: dict[str, Any]
) -> None:
    project = rendered[combination_id(answers)]
    ruff(project.path, "check", "--no-cache", ".")
    ruff(project.path, "format", "--no-cache", "--check", ".")


@pytest.mark.parametrize(
    "answers",
    [
        {"framework": "flax-nnx", "model_type": "resnet", "optimizer": "adam"},
        {"framework": "flax-nnx", "model_type": "mlp", "optimizer": "sgd"},
        {"framework": "flax-linen", "model_type": "vit", "optimizer": "adamw"},
        {"framework": "flax-linen", "model_type": "cnn", "optimizer": "lion"},
        {"framework": "equinox", "model_type": "cnn", "optimizer": "muon"},
        {"framework": "equinox", "model_type": "resnet", "optimizer": "adafactor"},
    ],
    ids=combination_id,
)
def test_generated_code_type_checks(
    rendered: dict[str, Project], answers: dict[str, Any]
) -> None:
    """Every framework, model and optimizer file, with the project's own mypy."""
    project = rendered[combination_id(answers)]
    result = run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=project.path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("framework", ["flax-nnx", "flax-linen", "equinox"])
@pytest.mark.parametrize("model_type", ["resnet", "vit"])
def test_a_long_package_name_still_formats_cleanly(
    copie: Copie, framework: str, model_type: str
) -> None:
    project = render(
        copie,
        project_name="a-project-with-a-rather-long-name-indeed",
        framework=framework,
        model_type=model_type,
        optimizer="adamw",
    )
    ruff(project.path, "check", "--no-cache", ".")
    ruff(project.path, "format", "--no-cache", "--check", ".")


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_only_the_chosen_model_and_optimizer_are_generated(
    rendered: dict[str, Project], answers: dict[str, Any]
) -> None:
    project = rendered[combination_id(answers)]
    source = project.path / "src" / project.package
    model = (source / "model.py").read_text()
    optimizer_module = (source / "optimizer.py").read_text()
    config = (source / "config.py").read_text()
    model_class = {
        "mlp": "class MLP(",
        "cnn": "class CNN(",
        "resnet": "class ResNet(",
        "vit": "class ViT(",
    }
    for model_type, class_line in model_class.items():
        assert (class_line in model) == (model_type == answers["model_type"])
    framework_import = {
        "flax-nnx": "from flax import nnx\n",
        "flax-linen": "import flax.linen as nn\n",
        "equinox": "import equinox as eqx\n",
    }
    for framework, import_line in framework_import.items():
        chosen = framework == answers["framework"]
        assert (import_line in model) == chosen, framework
        # The loop, data and config are shared and import no framework.
        for shared in (
            "bench.py",
            "checkpoint.py",
            "cli.py",
            "config.py",
            "data.py",
            "optimizer.py",
            "plot.py",
            "run.py",
        ):
            assert import_line not in (source / shared).read_text(), shared
    optimizer_call = {
        "adam": "optax.adam(",
        "adamw": "optax.adamw(",
        "sgd": "optax.sgd(",
        "lion": "optax.lion(",
        "adafactor": "optax.adafactor(",
        "rmsprop": "optax.rmsprop(",
        "muon": "contrib.muon(",
    }
    assert set(optimizer_call) == set(choices("optimizer"))
    for optimizer, call in optimizer_call.items():
        assert (call in optimizer_module) == (optimizer == answers["optimizer"])
    assert ("hidden_sizes" in config) == (answers["model_type"] == "mlp")
    assert ("stage_widths" in config) == (answers["model_type"] == "resnet")
    assert ("patch_size" in config) == (answers["model_type"] == "vit")
    # Each optimizer's own hyperparameters, and no other's.
    assert ("momentum: float" in config) == (answers["optimizer"] == "sgd")
    assert ("b2: float" in config) == (
        answers["optimizer"] in ("adam", "adamw", "lion")
    )
    assert ("weight_decay" in config) == (
        answers["optimizer"] not in ("adam", "rmsprop")
    )
    assert ("adam_learning_rate" in config) == (answers["optimizer"] == "muon")


def test_answers_become_the_config_defaults(copie: Copie) -> None:
    project = render(
        copie,
        epochs=7,
        batch_size=48,
        learning_rate=0.003,
        seed=11,
        optimizer="adam",
        lr_schedule="warmup-cosine",
    )
    config = (project.path / "src" / project.package / "config.py").read_text()
    assert "learning_rate: float = 0.003\n" in config
    assert '= "warmup-cosine"\n' in config
    assert '"optimizer": "adam"' in config
    assert "batch_size: int = 48\n" in config
    assert "epochs: int = 7\n" in config
    assert "seed: int = 11\n" in config


@pytest.mark.parametrize(
    ("optimizer", "learning_rate"),
    [
        ("adam", 1e-3),
        ("sgd", 0.05),
        ("lion", 3e-4),
        ("adafactor", 0.01),
        ("muon", 0.01),
    ],
)
def test_each_optimizer_has_its_own_default_learning_rate(
    copie: Copie, optimizer: str, learning_rate: float
) -> None:
    project = render(copie, optimizer=optimizer)
    assert project.answers["learning_rate"] == pytest.approx(learning_rate)


def test_answers_file_records_every_answer(copie: Copie) -> None:
    project = render(copie, project_name="demo", model_type="cnn", optimizer="sgd")
    recorded = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert recorded["_src_path"]
    for key in ("project_name", "package_name", "model_type", "optimizer", "epochs"):
        assert recorded[key] == project.answers[key], key
    assert "reserved_package_names" not in recorded


def test_project_name_gives_the_package_name_and_command(copie: Copie) -> None:
    project = render(copie, project_name="My-Cool.Project")
    assert project.package == "my_cool_project"
    pyproject = (project.path / "pyproject.toml").read_text()
    assert 'name = "My-Cool.Project"' in pyproject
    assert 'my_cool_project = "my_cool_project.cli:main"' in pyproject


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "class"}, "is a Python keyword"),
        ({"package_name": "1abc"}, "is not a valid package name"),
        ({"package_name": "My-Package"}, "is not a valid package name"),
        ({"package_name": "jax"}, "would shadow"),
        ({"package_name": "json"}, "would shadow"),
        ({"package_name": "tests"}, "would shadow"),
        ({"project_name": "1abc"}, "must start with a letter"),
        ({"epochs": 0}, "at least 1"),
        ({"epochs": -3}, "at least 1"),
        ({"batch_size": 0}, "at least 1"),
        ({"learning_rate": 0}, "greater than 0"),
        ({"seed": -1}, "from 0 to 4294967295"),
        ({"seed": 2**32}, "from 0 to 4294967295"),
        ({"seed": 2**70}, "from 0 to 4294967295"),
        ({"description": 'say "hi"'}, "without double quotes or backslashes"),
        ({"description": "a\\b"}, "without double quotes or backslashes"),
        ({"description": "two\nlines"}, "one non-empty line of printable"),
        ({"description": "carriage\rreturn"}, "one non-empty line of printable"),
        ({"description": "escape\x1b[2J"}, "one non-empty line of printable"),
        ({"description": "delete\x7f"}, "one non-empty line of printable"),
        ({"package_name": "ml_dtypes"}, "would shadow"),
        ({"package_name": "typing_extensions"}, "would shadow"),
        ({"project_name": "orbax-checkpoint"}, "is the name of a distribution"),
        ({"framework": "pytorch"}, "Invalid choice"),
        ({"model_type": "rnn"}, "Invalid choice"),
        ({"optimizer": "lamb"}, "Invalid choice"),
        ({"lr_schedule": "linear"}, "Invalid choice"),
    ],
)
def test_plain_copier_refuses_bad_answers(
    copie: Copie, answers: dict[str, Any], message: str
) -> None:
    result = copie.copy(extra_answers={"project_name": "ok", **answers})
    assert result.exception is not None
    assert message in str(result.exception)
    assert result.project_dir is None or not any(result.project_dir.iterdir())
