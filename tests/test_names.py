"""Tests of project and package names: derived and checked by copier.yml alone."""

from __future__ import annotations

import keyword
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from pytest_copie.plugin import Copie

from scaffold.errors import ScaffoldError
from scaffold.generate import choices, new_project, read_answers
from scaffold.template import template_config
from tests.conftest import render


def reserved(kind: str) -> set[str]:
    """The names copier.yml reserves, of a kind: "project" or "package"."""
    return set(template_config()[f"reserved_{kind}_names"]["default"])


def distribution_name(name: str) -> str:
    """A distribution's name as installers compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize(
    ("project", "package"),
    [
        ("myproj", "myproj"),
        ("my-proj", "my_proj"),
        ("My.Cool--Proj", "my_cool_proj"),
        ("digits_mlp", "digits_mlp"),
    ],
)
def test_package_name_comes_from_the_project_name(
    tmp_path: Path, project: str, package: str
) -> None:
    new_project(tmp_path / project, answers={}, prompt=False, init_git=False)
    assert read_answers(tmp_path / project)["package_name"] == package


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "class"}, "is a Python keyword"),
        ({"package_name": "1abc"}, "is not a valid package name"),
        ({"package_name": "_private"}, "is not a valid package name"),
        ({"package_name": "has space"}, "is not a valid package name"),
        ({"package_name": "a" * 41}, "longer than 40 characters"),
        *(
            ({"package_name": name}, "would shadow a module")
            for name in (
                "jax",
                "flax",
                "optax",
                "json",
                "typing",
                "test",
                "ml_dtypes",
                "typing_extensions",
                "absl",
                "etils",
                "yaml",
                "google",
                "msgpack",
                "packaging",
                "opt_einsum",
                "jaxtyping",
                "treescope",
                "tensorstore",
            )
        ),
        *(
            ({"project_name": name}, "is the name of a distribution")
            for name in ("jax", "Orbax.Checkpoint", "scikit-learn", "ML-Dtypes")
        ),
        *(
            ({"project_name": name}, "The project name must start with a letter")
            for name in ("1abc", "-x", "my proj", "proj!")
        ),
    ],
)
def test_names_that_cannot_work_are_refused(
    tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        new_project(tmp_path / "ok", answers=answers, prompt=False, init_git=False)
    assert list(tmp_path.iterdir()) == []


def test_copier_yml_reserves_the_standard_library_and_keywords() -> None:
    public_stdlib = {
        name
        for name in sys.stdlib_module_names
        if re.fullmatch("[a-z][a-z0-9_]*", name)
    }
    missing = public_stdlib - reserved("package")
    assert not missing, f"copier.yml's reserved_package_names lacks {sorted(missing)}"
    validator = template_config()["package_name"]["validator"]
    for word in keyword.kwlist:
        if word.islower():
            assert f"'{word}'" in validator, word


def _requirements_closure(requirements: set[str]) -> set[str]:
    """The installed distributions `requirements` bring in, by normalised name."""
    found: set[str] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = distribution_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        for text in metadata.distribution(requirement.name).requires or []:
            dependency = Requirement(text)
            extras = [{"extra": extra} for extra in requirement.extras or {""}]
            if dependency.marker is None or any(
                dependency.marker.evaluate(extra) for extra in extras
            ):
                pending.append(dependency)
    return found


def _top_level_modules(distribution: str) -> set[str]:
    """The importable names a distribution installs that could name a package."""
    names = set()
    for file in metadata.distribution(distribution).files or []:
        top = file.parts[0]
        if len(file.parts) == 1:
            top, _, suffix = top.partition(".")
            if suffix.rpartition(".")[2] not in ("py", "so", "pyd"):
                continue
        elif top.endswith((".dist-info", ".egg-info", ".data")):
            continue
        names.add(top)
    return {name for name in names if re.fullmatch("[a-z][a-z0-9_]*", name)}


def test_reserved_names_cover_everything_projects_install(copie: Copie) -> None:
    """Derived from the installed tree of every framework's dependencies."""
    requirements: set[str] = set()
    for framework in choices("framework"):
        project = render(copie, project_name="probe", framework=framework)
        config = tomllib.loads((project.path / "pyproject.toml").read_text())["project"]
        requirements.update(config["dependencies"])
        for extra in config["optional-dependencies"].values():
            # The test extra names the project's own extras, listed here anyway.
            requirements.update(r for r in extra if Requirement(r).name != "probe")
    distributions = _requirements_closure(requirements)
    assert {"jax", "ml-dtypes", "absl-py", "opt-einsum"} <= distributions
    missing = distributions - reserved("project")
    assert not missing, f"copier.yml's reserved_project_names lacks {sorted(missing)}"
    modules = set().union(*map(_top_level_modules, distributions))
    assert {"jax", "ml_dtypes", "absl", "yaml", "google"} <= modules
    missing = modules - reserved("package")
    assert not missing, f"copier.yml's reserved_package_names lacks {sorted(missing)}"
