"""Tests of project and package names."""

from __future__ import annotations

import keyword
import re
import sys

import pytest
import yaml

from scaffold.errors import ScaffoldError
from scaffold.names import (
    IMPORTED_BY_PROJECTS,
    LAYOUT_NAMES,
    check_package_name,
    check_project_name,
    package_name_for,
)
from tests.conftest import REPO


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
        ("jax", "would shadow the package 'jax'"),
        ("flax", "would shadow the package 'flax'"),
        ("optax", "would shadow the package 'optax'"),
        ("test", "reserved for the project's layout"),
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


def test_copier_refuses_every_name_the_cli_refuses() -> None:
    """Plain `copier copy` must be as safe as `jaxscaffold new`."""
    questions = yaml.safe_load((REPO / "copier.yml").read_text())
    reserved = set(questions["reserved_package_names"]["default"])
    public_stdlib = {
        name
        for name in sys.stdlib_module_names
        if re.fullmatch("[a-z][a-z0-9_]*", name)
    }
    missing = (public_stdlib | IMPORTED_BY_PROJECTS | LAYOUT_NAMES) - reserved
    assert not missing, f"copier.yml's reserved_package_names lacks {sorted(missing)}"
    validator = questions["package_name"]["validator"]
    for word in keyword.kwlist:
        if word.islower():
            assert f"'{word}'" in validator, word
