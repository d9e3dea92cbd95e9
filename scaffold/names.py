"""Project and package names: derived from the folder name, then checked.

The names a project or package must not take are listed once, in `copier.yml`
(`reserved_project_names`, `reserved_package_names`), where plain `copier copy`
checks them too.
"""

from __future__ import annotations

import keyword
import re
import sys

from scaffold.errors import ScaffoldError
from scaffold.template import template_config

# Longer names push generated import lines past the line length.
MAX_PACKAGE_NAME = 40

_PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_PACKAGE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def reserved(kind: str) -> frozenset[str]:
    """Returns the reserved names of a kind, "project" or "package"."""
    return frozenset(template_config()[f"reserved_{kind}_names"]["default"])


def package_name_for(project_name: str) -> str:
    """Returns the import name of a project: lowercase, runs of '-' and '.' as '_'."""
    return re.sub(r"[-.]+", "_", project_name).lower()


def distribution_name(project_name: str) -> str:
    """Returns a project's distribution name as installers compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", project_name).lower()


def check_project_name(name: str) -> None:
    """Raises ScaffoldError unless `name` can name a project folder and distribution."""
    if not _PROJECT_NAME.fullmatch(name):
        raise ScaffoldError(
            f"'{name}' is not a valid project name: start with a letter and use only "
            "letters, digits, '.', '_' and '-'."
        )
    if distribution_name(name) in reserved("project"):
        raise ScaffoldError(
            f"'{name}' is the name of a distribution that projects install, which "
            "installing the project would replace; choose another name."
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
    if name in reserved("package"):
        raise ScaffoldError(
            f"'{name}' would shadow a module of the same name that projects import, "
            "or a name of their layout."
        )
