"""Generating a project: plain functions around Copier's Python API.

Nothing here imports JAX; the CLI calls these functions and turns `ScaffoldError`
into a message and an exit code.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from scaffold import __version__
from scaffold.errors import ScaffoldError
from scaffold.history import (
    AUTHOR_EMAIL,
    BUNDLE,
    TEMPLATE_URL,
    build_history,
    git,
    tag,
    template_files,
)
from scaffold.names import (
    check_package_name,
    check_project_name,
    package_name_for,
)

ANSWERS_FILE = ".copier-answers.yml"
CASTS: dict[str, type] = {"int": int, "float": float, "str": str}
_TYPE_NAMES = {"int": "a whole number", "float": "a number"}


@functools.cache
def template_root() -> Path:
    """Returns the folder holding `copier.yml` and `template/`.

    An installed wheel carries them in `scaffold/_template`; a source checkout (an
    editable install) has them beside the package.
    """
    here = Path(__file__).resolve().parent
    for root in (here / "_template", here.parent):
        if (root / "copier.yml").is_file() and (root / "template").is_dir():
            return root
    raise ScaffoldError(
        "This installation of jaxscaffold lacks its template; reinstall jaxscaffold."
    )


@functools.cache
def questions() -> dict[str, dict[str, Any]]:
    """Returns the questions of `copier.yml` by name, settings (`_...`) left out."""
    config = yaml.safe_load((template_root() / "copier.yml").read_text())
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and spec.get("when") is not False
    }


def choices(question: str) -> list[str]:
    """Returns the values a multiple-choice question accepts, in offered order."""
    return [str(value) for value in questions()[question]["choices"].values()]


def parse_data(items: list[str]) -> dict[str, Any]:
    """Parses `KEY=VALUE` answers, checking each key and casting each value.

    Raises:
      ScaffoldError: for an item without '=' or a value of the wrong type.
    """
    answers: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ScaffoldError(f"--data takes KEY=VALUE, not '{item}'.")
        kind = questions().get(key, {}).get("type", "str")
        try:
            answers[key] = CASTS.get(kind, str)(value)
        except ValueError:
            raise ScaffoldError(
                f"{key} must be {_TYPE_NAMES.get(kind, kind)}, not '{value}'."
            ) from None
    return answers


def check_answers(answers: Mapping[str, Any]) -> None:
    """Refuses an answer to no question, or a choice the question does not offer.

    Copier checks the rest (types and validators) while it renders.
    """
    for key, value in answers.items():
        if key not in questions():
            known = ", ".join(questions())
            raise ScaffoldError(
                f"There is no question '{key}'; the questions are: {known}."
            )
        if "choices" in questions()[key] and str(value) not in choices(key):
            offered = ", ".join(choices(key))
            raise ScaffoldError(
                f"Unknown {key.replace('_', ' ')} '{value}'; choose one of: {offered}."
            )


def _check_destination(path: Path) -> None:
    """Refuses a destination that exists with content or cannot be written."""
    if path.exists() and not path.is_dir():
        raise ScaffoldError(f"{path} already exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()):
        raise ScaffoldError(
            f"{path} already exists and is not empty; "
            "jaxscaffold new never overwrites files, so choose a new folder."
        )
    parent = path.parent
    if not parent.is_dir():
        raise ScaffoldError(f"The folder {parent} does not exist; create it first.")
    # Root may write anywhere, but a folder with no write bit is read-only on
    # purpose: it is refused for everyone, as `rm` asks before removing such files.
    read_only = not parent.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    if read_only or not os.access(parent, os.W_OK | os.X_OK):
        raise ScaffoldError(f"The folder {parent} is not writable.")


def new_project(
    path: Path, *, answers: Mapping[str, Any], prompt: bool, init_git: bool = True
) -> Path:
    """Generates a project into `path`, whole or not at all.

    The project is rendered into a hidden folder beside `path` and moved into place
    only once every file is written (renamed, or for an existing empty folder moved
    into it entry by entry), so a failure or an interrupt leaves nothing behind.

    Args:
      path: the folder to create; it may exist if it is empty. Its name is the
        project name unless `answers` says otherwise.
      answers: answers to Copier's questions; they are never asked.
      prompt: ask the questions not in `answers` in the terminal; when False, they
        take their defaults.
      init_git: make the project a git repository with the generated files as its
        first commit, which `update_project` needs, unless it lies inside a git
        work tree already or git is not installed.

    Returns:
      The absolute path of the generated project.

    Raises:
      ScaffoldError: if the destination or an answer is not valid, or generation fails.
    """
    path = path.expanduser().absolute()
    data = dict(answers)
    # Copier takes a fifth of a second to import: only `new` pays for it, not --help.
    import copier
    from copier.errors import CopierAnswersInterrupt, CopierError

    check_answers(data)
    data.setdefault("project_name", path.name)
    data.setdefault("package_name", package_name_for(data["project_name"]))
    check_project_name(data["project_name"])
    check_package_name(data["package_name"])
    _check_destination(path)
    _check_release()

    # Made with mkdir, not mkdtemp, so the project gets the usual permissions.
    staging = path.parent / f".{path.name}.jaxscaffold-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
    except OSError as error:
        raise ScaffoldError(
            f"Cannot write into {path.parent}: {error.strerror}."
        ) from None
    try:
        with tempfile.TemporaryDirectory() as source:
            # Render from a plain copy: Copier treats a git checkout as a versioned
            # template and would stamp an unreleased commit into the answers.
            _copy_template(Path(source))
            copier.run_copy(
                source,
                staging,
                data=data,
                defaults=not prompt,
                quiet=True,
                cleanup_on_error=False,
                # The template is part of this package: trusting its tasks and
                # migrations is trusting the package, which is already running.
                unsafe=True,
            )
        _record_source(staging / ANSWERS_FILE)
        if init_git and shutil.which("git") and not _in_work_tree(staging):
            _first_commit(staging)
        if path.is_dir():
            # Empty, as checked. Fill it rather than replace it: a shell may be in it.
            _move_entries(staging, path)
        else:
            staging.rename(path)
    except CopierAnswersInterrupt:
        raise ScaffoldError("Cancelled; nothing was written.") from None
    except ValueError as error:
        raise ScaffoldError(answer_error(error)) from None
    except (CopierError, OSError) as error:
        raise ScaffoldError(f"Could not generate the project: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _move_entries(source: Path, destination: Path) -> None:
    """Moves everything in `source` into the empty `destination`, or nothing."""
    moved: list[Path] = []
    try:
        for entry in sorted(source.iterdir()):
            target = destination / entry.name
            entry.rename(target)
            moved.append(target)
    except OSError:
        for target in moved:  # Leave the folder empty, as it was.
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        raise


def read_answers(project: Path) -> dict[str, Any]:
    """Returns the answers a generated project was made with."""
    answers: dict[str, Any] = yaml.safe_load((project / ANSWERS_FILE).read_text())
    return answers


def _copy_template(destination: Path) -> None:
    """Copies the template's files (`scaffold.history.template_files`) into place."""
    root = template_root()
    for name in template_files(root):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def _record_source(answers_file: Path) -> None:
    """Records the canonical template and release in place of the temporary copy.

    The files just rendered are those of release `v<version>` of `TEMPLATE_URL`, and
    the installed package can rebuild that release (`scaffold.history`), so both plain
    `copier update` and `jaxscaffold update` can render it again. Copier writes the
    answers sorted, `_commit` first, and a non-git source gets no `_commit` line.
    """
    source = f"_commit: {tag(__version__)}\n_src_path: {TEMPLATE_URL}\n"
    lines = answers_file.read_text().splitlines(keepends=True)
    answers_file.write_text(
        "".join(
            source if line.startswith("_src_path:") else line
            for line in lines
            if not line.startswith("_commit:")
        )
    )


def _check_release() -> None:
    """Refuses to record a release whose template a source checkout has changed.

    A wheel's history is built from its own files; a checkout's is built from its
    tags, and a project recording release `v<version>` must have that release's
    files, or its updates would take the difference for the user's edits.
    """
    root = template_root()
    if not (root / BUNDLE).is_file() and shutil.which("git"):
        with tempfile.TemporaryDirectory(prefix="jaxscaffold-history-") as scratch:
            build_history(root, __version__, Path(scratch) / "history.git")


def _in_work_tree(path: Path) -> bool:
    """Tells whether `path` lies inside a git work tree."""
    try:
        git("rev-parse", "--is-inside-work-tree", cwd=path)
    except ScaffoldError:
        return False
    return True


def _first_commit(project: Path) -> None:
    """Makes `project` a git repository whose first commit holds every file.

    The commit is the user's when git knows who they are, and jaxscaffold's
    otherwise; hooks and signing are skipped, since nothing here is the user's yet.
    """
    git("init", "--quiet", cwd=project)
    git("add", "--all", cwd=project)
    try:
        git("config", "user.email", cwd=project)
        identity: list[str] = []
    except ScaffoldError:
        identity = ["-c", "user.name=jaxscaffold", "-c", f"user.email={AUTHOR_EMAIL}"]
    git(
        *identity,
        "commit",
        "--quiet",
        "--no-verify",
        "--no-gpg-sign",
        "--message",
        f"Generate the project with jaxscaffold {__version__}",
        cwd=project,
    )


def answer_error(error: ValueError) -> str:
    """Turns Copier's message for a refused answer into one plain sentence."""
    message = str(error)
    prefix, sep, reason = message.partition("': ")
    if sep and prefix.startswith("Validation error for question '"):
        return reason.strip()
    return message.rstrip(".") + "."
