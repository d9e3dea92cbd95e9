"""Updating a generated project to a later template release, offline.

Copier does the three-way merge: it renders the release the project was made with
and the new one, and applies the difference to the project, so the user's edits stay
and clashing hunks get conflict markers. This module supplies what Copier needs
without the network: the template's release history, rebuilt from the installed
package (`scaffold.history`), stands in for the canonical repository the project's
answers file names. It also checks everything it can before Copier touches a file,
and puts the project back as it was committed if the update fails.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaffold import __version__
from scaffold.errors import ScaffoldError
from scaffold.generate import (
    ANSWERS_FILE,
    CASTS,
    answer_error,
    check_answers,
    questions,
    read_answers,
    template_root,
)
from scaffold.history import (
    BUNDLE,
    TEMPLATE_URLS,
    build_history,
    git,
    git_redirect,
    known_versions,
    tag,
    version_of,
)

# Answers that name files and folders: changing them would leave the old ones behind.
FIXED_ANSWERS = ("project_name", "package_name")


@dataclass(frozen=True)
class Update:
    """What an update did.

    Attributes:
      project: the project's folder.
      old: the release the project was at, e.g. "v0.1.0".
      new: the release it is at now.
      changed: files the update changed, added or removed, relative to the project.
      conflicts: files with conflict markers, relative to the project.
    """

    project: Path
    old: str
    new: str
    changed: tuple[str, ...]
    conflicts: tuple[str, ...]


@contextlib.contextmanager
def template_history() -> Iterator[tuple[Path, list[str]]]:
    """Yields the installed template's release history and its release tags.

    A wheel carries it as a git bundle; a source checkout builds it from its tags.
    """
    root = template_root()
    bundle = root / BUNDLE
    if bundle.is_file():
        yield bundle, known_versions(bundle)
        return
    with tempfile.TemporaryDirectory(prefix="jaxscaffold-history-") as scratch:
        history = Path(scratch) / "history.git"
        yield history, build_history(root, __version__, history)


def _check_project(project: Path) -> dict[str, Any]:
    """Refuses anything but a committed jaxscaffold project; returns its answers."""
    if not project.is_dir():
        raise ScaffoldError(f"{project} is not a folder.")
    if not (project / ANSWERS_FILE).is_file():
        raise ScaffoldError(
            f"{project} is not a generated project: it has no {ANSWERS_FILE}."
        )
    try:
        answers = read_answers(project)
    except yaml.YAMLError:
        raise ScaffoldError(
            f"{project}/{ANSWERS_FILE} is not valid YAML; restore it from git."
        ) from None
    if not isinstance(answers, dict) or answers.get("_src_path") not in TEMPLATE_URLS:
        source = answers.get("_src_path") if isinstance(answers, dict) else None
        raise ScaffoldError(
            f"{project} was not made from jaxscaffold's template "
            f"(its {ANSWERS_FILE} names {source or 'no template'}); "
            "update it with plain `copier update`."
        )
    if version_of(str(answers.get("_commit", ""))) is None:
        raise ScaffoldError(
            f"{project}/{ANSWERS_FILE} names no template release in _commit, "
            "so there is nothing to update from."
        )
    try:
        git("rev-parse", "--verify", "--quiet", "HEAD", cwd=project)
    except ScaffoldError:
        raise ScaffoldError(
            f"{project} is not in a git repository with a commit; commit the project "
            "first (git init, git add --all, git commit), so the update can be "
            "reviewed and undone."
        ) from None
    dirty = _status(project)
    if dirty:
        shown = ", ".join(dirty[:3]) + (", ..." if len(dirty) > 3 else "")
        raise ScaffoldError(
            f"{project} has uncommitted changes ({shown}); "
            "commit or stash them first, so the update can be reviewed and undone."
        )
    return answers


@contextlib.contextmanager
def _environ(variables: Mapping[str, str]) -> Iterator[None]:
    """Sets environment variables for this process while the block runs.

    Copier runs git through plumbum, whose environment is its own copy, and reads
    `COPIER_CACHE_DIR` from `os.environ`: `update_project` sets both.
    """
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _status(project: Path) -> list[str]:
    """Returns the files under `project` that differ from HEAD, untracked included."""
    out = git("status", "--porcelain", "--untracked-files=all", "--", ".", cwd=project)
    top = Path(git("rev-parse", "--show-toplevel", cwd=project).strip())
    prefix = project.resolve().relative_to(top.resolve())
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in out.splitlines()]
    return sorted(Path(path).relative_to(prefix).as_posix() for path in paths)


def _conflicts(project: Path) -> list[str]:
    """Returns the files under `project` left with conflicts by the update."""
    unmerged = git(
        "diff", "--name-only", "--relative", "--diff-filter=U", "--", ".", cwd=project
    ).split()
    rejected = git(
        "ls-files", "--others", "--exclude-standard", "--", "*.rej", cwd=project
    ).split()
    return sorted({*unmerged, *rejected})


def _restore(project: Path) -> None:
    """Puts the project's files back as committed, as they were before the update.

    Safe only because the update starts from a clean tree: nothing untracked (but
    ignored files, which are left alone) existed before it.
    """
    with contextlib.suppress(ScaffoldError):
        git("checkout", "--quiet", "--force", "HEAD", "--", ".", cwd=project)
        git("clean", "--quiet", "--force", "-d", "--", ".", cwd=project)


def _follow_defaults(
    answers: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Returns new values for the answers that `changes` moves along with them.

    An answer left at a default computed from other answers follows them: with the
    optimizer changed, a learning rate that was the old optimizer's default becomes
    the new one's. Copier itself would keep the recorded value, as if chosen.
    """
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment()
    new_answers = {**answers, **changes}
    moved = {}
    for name, spec in questions().items():
        default = spec.get("default")
        if name in changes or name not in answers or not isinstance(default, str):
            continue
        if "{{" not in default:
            continue
        cast = CASTS.get(spec.get("type", "str"), str)
        try:
            template = environment.from_string(default)
            old = cast(template.render(**answers))
            new = cast(template.render(**new_answers))
        except Exception:  # noqa: BLE001, S112 - a default it cannot render stays.
            continue
        if answers[name] == old and new != old:
            moved[name] = new
    return moved


def _target(to: str | None, old: str, known: list[str]) -> str:
    """Checks the release to update to against those known; returns its tag."""
    new = tag(to or __version__)
    new_version, old_version = version_of(new), version_of(old)
    newest = version_of(known[-1])
    if new_version is None:
        raise ScaffoldError(f"'{to}' is not a release version such as {__version__}.")
    if old not in known:
        if old_version is not None and newest is not None and old_version > newest:
            raise ScaffoldError(
                f"The project is at template {old}, newer than this jaxscaffold "
                f"({__version__}); upgrade jaxscaffold."
            )
        raise ScaffoldError(
            f"jaxscaffold {__version__} does not know the project's template {old} "
            f"(it knows {', '.join(known)}); update with plain `copier update`."
        )
    if new not in known:
        raise ScaffoldError(
            f"jaxscaffold {__version__} knows template releases {', '.join(known)}, "
            f"not {new}."
        )
    if old_version is not None and new_version < old_version:
        raise ScaffoldError(
            f"The project is at template {old}; updating to the older {new} "
            "is not possible."
        )
    return new


def update_project(
    project: Path, *, to: str | None = None, data: Mapping[str, Any] | None = None
) -> Update:
    """Updates a generated project to a template release, keeping the user's edits.

    Args:
      project: the project's folder: a jaxscaffold project committed to git, with a
        clean tree.
      to: the release to update to, e.g. "0.2.0" or "v0.2.0"; by default this
        package's version. Re-rendering the current release with changed `data` is
        an update too.
      data: answers to change; questions new in the release that `data` does not
        answer take their defaults.

    Returns:
      What changed, and which files have conflicts (inline `<<<<<<<` markers)
      between the user's edits and the template's changes.

    Raises:
      ScaffoldError: if the project cannot be updated; nothing has been changed then.
    """
    project = project.expanduser().absolute()
    data = dict(data or {})
    answers = _check_project(project)
    check_answers(data)
    for key in FIXED_ANSWERS:
        if key in data and data[key] != answers.get(key):
            raise ScaffoldError(
                f"{key} cannot change in an update; it names the project's files."
            )
    data.update(_follow_defaults(answers, data))
    # Copier takes a fifth of a second to import: only commands that use it pay.
    import copier
    from copier.errors import CopierError
    from plumbum import ProcessExecutionError, local

    old = str(answers["_commit"])
    with (
        template_history() as (history, known),
        tempfile.TemporaryDirectory(prefix="jaxscaffold-copier-") as cache,
    ):
        new = _target(to, old, known)
        # Copier keeps mirrors of remote templates in a cache; a scratch one keeps
        # the local history out of the user's cache of the canonical repository.
        environment = {**git_redirect(history), "COPIER_CACHE_DIR": cache}
        try:
            try:
                with local.env(**environment), _environ(environment):
                    copier.run_update(
                        project,
                        data=data,
                        defaults=True,
                        overwrite=True,
                        conflict="inline",
                        vcs_ref=new,
                        quiet=True,
                        unsafe=True,
                    )
            except BaseException:
                _restore(project)
                raise
        except KeyboardInterrupt:
            raise ScaffoldError("Cancelled; the project is as it was.") from None
        except ValueError as error:
            raise ScaffoldError(
                f"{answer_error(error).rstrip('.')}; the project is as it was."
            ) from None
        except (CopierError, ProcessExecutionError, OSError) as error:
            lines = str(error).strip().splitlines()
            raise ScaffoldError(
                f"The update failed ({lines[0] if lines else type(error).__name__}); "
                "the project is as it was."
            ) from None
    return Update(
        project=project,
        old=old,
        new=new,
        changed=tuple(_status(project)),
        conflicts=tuple(_conflicts(project)),
    )
