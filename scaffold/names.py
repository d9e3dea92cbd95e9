"""Project and package names: derived from the folder name, then checked."""

from __future__ import annotations

import keyword
import re
import sys

from scaffold.errors import ScaffoldError

# Distributions that generated projects import: a package of the same name would
# shadow them. Standard-library modules are refused too (sys.stdlib_module_names).
IMPORTED_BY_PROJECTS = frozenset(
    {
        "chex",
        "click",
        "equinox",
        "flax",
        "jax",
        "jaxlib",
        "matplotlib",
        "numpy",
        "optax",
        "orbax",
        "pytest",
        "rich",
        "scipy",
        "sklearn",
        "tqdm",
        "typer",
    }
)
# Names with a meaning in a project's layout or in pytest's collection.
LAYOUT_NAMES = frozenset({"src", "test", "tests", "conftest", "setup"})

# Longer names push generated import lines past the line length.
MAX_PACKAGE_NAME = 40

_PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def package_name_for(project_name: str) -> str:
    """Returns the import name of a project: lowercase, runs of '-' and '.' as '_'."""
    return re.sub(r"[-.]+", "_", project_name).lower()


def check_project_name(name: str) -> None:
    """Raises ScaffoldError unless `name` can name a project folder and distribution."""
    if not _PROJECT_NAME.fullmatch(name):
        raise ScaffoldError(
            f"'{name}' is not a valid project name: start with a letter and use only "
            "letters, digits, '.', '_' and '-'."
        )


def check_package_name(name: str) -> None:
    """Raises ScaffoldError unless `name` is a safe name for the generated package."""
    if not _PACKAGE_NAME.fullmatch(name):
        raise ScaffoldError(
            f"'{name}' is not a valid package name: start with a lowercase letter and "
            "use only lowercase letters, digits and '_'."
        )
    if len(name) > MAX_PACKAGE_NAME:
        raise ScaffoldError(
            f"'{name}' is longer than {MAX_PACKAGE_NAME} characters; "
            "choose a shorter package name."
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"'{name}' is a Python keyword and cannot name a package.")
    if name in sys.stdlib_module_names:
        raise ScaffoldError(
            f"'{name}' would shadow the standard-library module of the same name."
        )
    if name in IMPORTED_BY_PROJECTS:
        raise ScaffoldError(
            f"'{name}' would shadow the package '{name}' that the project imports."
        )
    if name in LAYOUT_NAMES:
        raise ScaffoldError(f"'{name}' is reserved for the project's layout.")
