"""Tests of project and package names."""

from __future__ import annotations

import keyword
import re
import sys
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from pytest_copie.plugin import Copie

from scaffold.errors import ScaffoldError
from scaffold.generate import choices
from scaffold.names import (
    check_package_name,
    check_project_name,
    distribution_name,
    package_name_for,
    reserved,
)
from tests.conftest import REPO, render


@pytest.mark.parametrize(
    ("project", "package"),
    [
        ("myproj", "myproj"),
        ("my-proj", "my_proj"),
        ("My.Cool--Proj", "my_cool_proj"),
        ("digits_mlp", "digits_mlp"),
    ],
)
def test_package_name_comes_from_the_project_name(project: str, package: str) -> None:
    assert package_name_for(project) == package
    check_package_name(package)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("class", "is a Python keyword"),
        ("1abc", "is not a valid package name"),
        ("_private", "is not a valid package name"),
        ("has space", "is not a valid package name"),
        ("jax", "would shadow a module"),
        ("flax", "would shadow a module"),
        ("optax", "would shadow a module"),
        ("ml_dtypes", "would shadow a module"),
        ("typing_extensions", "would shadow a module"),
        ("absl", "would shadow a module"),
        ("etils", "would shadow a module"),
        ("yaml", "would shadow a module"),
        ("google", "would shadow a module"),
        ("msgpack", "would shadow a module"),
        ("packaging", "would shadow a module"),
        ("opt_einsum", "would shadow a module"),
        ("jaxtyping", "would shadow a module"),
        ("treescope", "would shadow a module"),
        ("tensorstore", "would shadow a module"),
        ("test", "or a name of their layout"),
        ("json", "would shadow the standard-library module"),
        ("typing", "would shadow the standard-library module"),
        ("a" * 41, "longer than 40 characters"),
    ],
)
def test_bad_package_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        check_package_name(name)


@pytest.mark.parametrize("name", ["1abc", "-x", "my proj", "", "proj!"])
def test_bad_project_names_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="is not a valid project name"):
        check_project_name(name)


@pytest.mark.parametrize(
    "name",
    ["jax", "Orbax.Checkpoint", "scikit-learn", "ML-Dtypes", "typing_extensions"],
)
def test_project_names_of_installed_distributions_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="is the name of a distribution"):
        check_project_name(name)


def test_copier_refuses_every_name_the_cli_refuses() -> None:
    """Plain `copier copy` must be as safe as `jaxscaffold new`."""
    questions = yaml.safe_load((REPO / "copier.yml").read_text())
    public_stdlib = {
        name
        for name in sys.stdlib_module_names
        if re.fullmatch("[a-z][a-z0-9_]*", name)
    }
    missing = public_stdlib - reserved("package")
    assert not missing, f"copier.yml's reserved_package_names lacks {sorted(missing)}"
    assert "in reserved_package_names" in questions["package_name"]["validator"]
    assert "in reserved_project_names" in questions["project_name"]["validator"]
    validator = questions["package_name"]["validator"]
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
            requirements.update(extra)
    distributions = _requirements_closure(requirements)
    assert {"jax", "ml-dtypes", "absl-py", "opt-einsum"} <= distributions
    missing = distributions - reserved("project")
    assert not missing, f"copier.yml's reserved_project_names lacks {sorted(missing)}"
    modules = set().union(*map(_top_level_modules, distributions))
    assert {"jax", "ml_dtypes", "absl", "yaml", "google"} <= modules
    missing = modules - reserved("package")
    assert not missing, f"copier.yml's reserved_package_names lacks {sorted(missing)}"
