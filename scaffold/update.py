"""Updating a generated project to a later template release, offline.

Copier does the three-way merge: it renders the release the project was made with
and the new one, and applies the difference to the project, so the user's edits stay
and clashing hunks get conflict markers. This module supplies what Copier needs
without the network: the template's release history, rebuilt from the installed
package (`scaffold.history`), stands in for the canonical repository the project's
answers file names. Git runs without the user's global and system configuration
while Copier fetches, and the commits it would fetch must be this package's
releases before anything runs. Everything else is checked before Copier touches a
file, and a failed update puts the project back as it was committed, or says which
files it could not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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
)
from scaffold.history import (
    BUNDLE,
    TEMPLATE_URLS,
    build_history,
    git,
    git_paths,
    isolated_git,
    releases,
    tag,
    version_of,
)
from scaffold.template import template_root

# Answers that name files and folders: changing them would leave the old ones behind.
FIXED_ANSWERS = ("project_name", "package_name")

# Operations that the next commit finishes: an update in their middle would be
# folded into that commit. By the file git keeps in its folder meanwhile.
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
}

# The user's git settings that the isolated git of an update keeps: what git
# ignores (else ignored files would look untracked), and which folders it trusts.
CARRIED_SETTINGS = ("core.excludesFile", "safe.directory")

UNDO = "git checkout --force HEAD -- . && git clean --force -d -- ."


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
def template_history() -> Iterator[tuple[Path, dict[str, str]]]:
    """Yields the installed template's release history and its releases' commits.

    A wheel carries it as a git bundle; a source checkout builds it from its
    recorded releases and tags.
    """
    root = template_root()
    bundle = root / BUNDLE
    if bundle.is_file():
        yield bundle, releases(bundle)
        return
    with tempfile.TemporaryDirectory(prefix="jaxscaffold-history-") as scratch:
        history = Path(scratch) / "history.git"
        build_history(root, __version__, history)
        yield history, releases(history)


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
    _check_repository(project)
    return answers


def _check_repository(project: Path) -> None:
    """Refuses a project that git cannot show and undo the update of."""
    if shutil.which("git") is None:
        raise ScaffoldError(
            "git is not installed (it is not on PATH); jaxscaffold update needs it "
            "to merge your edits and to undo a failed update."
        )
    try:
        git("rev-parse", "--verify", "--quiet", "HEAD", cwd=project)
    except ScaffoldError:
        raise ScaffoldError(
            f"{project} is not in a git repository with a commit; commit the project "
            "first (git init, git add --all, git commit), so the update can be "
            "reviewed and undone."
        ) from None
    git_dir = Path(git("rev-parse", "--absolute-git-dir", cwd=project).rstrip("\n"))
    for name, operation in IN_PROGRESS.items():
        if (git_dir / name).exists():
            raise ScaffoldError(
                f"{project} is in the middle of {operation}; finish or abort it "
                "first, so the update is not folded into its commit."
            )
    dirty = _status(project)
    if dirty:
        raise ScaffoldError(
            f"{project} has uncommitted changes ({_shown(dirty)}); "
            "commit or stash them first, so the update can be reviewed and undone."
        )


def _shown(names: list[str]) -> str:
    """Names the first three of `names`, and that there are more."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _check_tracked(
    project: Path, history: Path, old: str, answers: Mapping[str, Any]
) -> None:
    """Refuses a project whose files from the template git does not track.

    Copier takes what git does not hold for the user's deletions, and deletes the
    file; this happens to a project inside a repository that ignores it. The files
    are those release `old` renders from `answers`.
    """
    import copier

    with tempfile.TemporaryDirectory(prefix="jaxscaffold-old-") as scratch:
        copier.run_copy(
            str(history),
            scratch,
            data={key: value for key, value in answers.items() if key[0] != "_"},
            vcs_ref=old,
            defaults=True,
            quiet=True,
            skip_tasks=True,
        )
        rendered = sorted(
            path.relative_to(scratch).as_posix()
            for path in Path(scratch).rglob("*")
            if not path.is_dir()
        )
    tracked = set(git_paths("ls-files", cwd=project))
    missing = [
        name
        for name in rendered
        if name not in tracked and os.path.lexists(project / name)
    ]
    if missing:
        rule = git(
            *("check-ignore", "-z", "--verbose", "--stdin"),
            cwd=project,
            input=f"{missing[0]}\0",
        )
        top = git("rev-parse", "--show-toplevel", cwd=project).rstrip("\n")
        # A .gitignore is named from the top of the work tree; other files in full.
        source = Path(top, rule.partition("\0")[0])
        raise ScaffoldError(
            f"git does not track {_shown(missing)} in {project} ({source} ignores "
            "them), so an update would take them for deleted; add them with "
            "`git add --force` and commit first."
        )


def _check_source(url: str, commits: Mapping[str, str], *names: str) -> None:
    """Refuses unless git fetches the releases `names` of `url` from `commits`."""
    refs = [f"refs/tags/{name}" for name in names]
    listed = git("ls-remote", url, *refs).splitlines()
    found = {}
    for line in listed:
        commit, _, ref = line.partition("\t")
        found[ref] = commit
    for name, ref in zip(names, refs, strict=True):
        if found.get(ref) != commits[name]:
            raise ScaffoldError(
                f"git fetches {url} from somewhere other than this jaxscaffold's "
                f"releases (its {name} is another commit), so nothing was run; "
                "look for url.*.insteadOf in `git config --show-origin --list`."
            )


def _carried(project: Path) -> dict[str, list[str]]:
    """Returns the user's values of `CARRIED_SETTINGS`, as git reads them here."""
    carried = {}
    for key in CARRIED_SETTINGS:
        try:
            values = git("config", "--get-all", "--type=path", key, cwd=project)
        except ScaffoldError:  # Not set.
            continue
        carried[key] = values.splitlines()
    return carried


@contextlib.contextmanager
def _environ(variables: Mapping[str, str]) -> Iterator[None]:
    """Sets environment variables for this process and its plumbum commands.

    Copier runs git through plumbum, whose environment is its own copy, and reads
    `COPIER_CACHE_DIR` from `os.environ`: `update_project` sets both.
    """
    from plumbum import local

    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        with local.env(**variables):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _status(project: Path) -> list[str]:
    """Returns the files under `project` that differ from HEAD, untracked included."""
    records = git_paths(
        "status",
        "--porcelain=v1",
        "--untracked-files=all",
        "--no-renames",
        "--",
        ".",
        cwd=project,
    )
    prefix = git("rev-parse", "--show-prefix", cwd=project).rstrip("\n")
    return sorted(record[3:].removeprefix(prefix) for record in records)


def _conflicts(project: Path) -> list[str]:
    """Returns the files under `project` left with conflicts by the update."""
    unmerged = git_paths(
        "diff", "--name-only", "--relative", "--diff-filter=U", "--", ".", cwd=project
    )
    rejected = git_paths(
        "ls-files", "--others", "--exclude-standard", "--", "*.rej", cwd=project
    )
    return sorted({*unmerged, *rejected})


def _restore(project: Path) -> str:
    """Puts the project's files back as committed, as they were before the update.

    Safe only because the update starts from a clean tree: nothing untracked (but
    ignored files, which are left alone) existed before it.

    Returns:
      What could not be restored, in words, or "" if the project is as it was.
    """
    errors = []
    for args in (
        ("checkout", "--quiet", "--force", "HEAD", "--", "."),
        ("clean", "--quiet", "--force", "-d", "--", "."),
    ):
        try:
            git(*args, cwd=project)
        except ScaffoldError as error:
            errors.append(str(error))
    try:
        left = _status(project)
    except ScaffoldError as error:
        return "; ".join([*errors, str(error), "which files differ is not known"])
    if not left:
        return ""
    return "; ".join([*errors, f"files differing from the commit: {_shown(left)}"])


def _reason(error: BaseException) -> str | None:
    """Says in words why Copier failed, or None for an error that is a bug."""
    from copier.errors import CopierError
    from plumbum import ProcessExecutionError

    if isinstance(error, KeyboardInterrupt):
        return "Cancelled"
    if isinstance(error, ValueError):
        return answer_error(error).rstrip(".")
    if isinstance(error, CopierError | ProcessExecutionError | OSError):
        lines = str(error).strip().splitlines()
        return f"The update failed ({lines[0] if lines else type(error).__name__})"
    return None


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
    new = tag(__version__ if to is None else to)
    new_version, old_version = version_of(new), version_of(old)
    newest = version_of(known[-1])
    if new_version is None:
        raise ScaffoldError(
            f"--to '{to}' is not a release version such as {__version__}; "
            "leave it out for the latest."
        )
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
      ScaffoldError: if the project cannot be updated; nothing has been changed
        then, or the message says which files could not be restored.
    """
    project = project.expanduser().absolute()
    data = dict(data or {})
    answers = _check_project(project)
    data = check_answers(data)
    for key in FIXED_ANSWERS:
        if key in data and data[key] != answers.get(key):
            raise ScaffoldError(
                f"{key} cannot change in an update; it names the project's files."
            )
    data.update(_follow_defaults(answers, data))
    # Copier takes a fifth of a second to import: only commands that use it pay.
    import copier

    old = str(answers["_commit"])
    with (
        template_history() as (history, commits),
        tempfile.TemporaryDirectory(prefix="jaxscaffold-copier-") as cache,
    ):
        new = _target(to, old, list(commits))
        # Copier keeps mirrors of remote templates in a cache; a scratch one keeps
        # the local history out of the user's cache of the canonical repository.
        environment = {
            **isolated_git(history, _carried(project)),
            "COPIER_CACHE_DIR": cache,
        }
        with _environ(environment):
            _check_source(TEMPLATE_URLS[answers["_src_path"]], commits, old, new)
            _check_tracked(project, history, old, answers)
        try:
            with _environ(environment):
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
        except BaseException as error:
            left = _restore(project)
            reason = _reason(error)
            if reason is None:
                raise
            if left:
                raise ScaffoldError(
                    f"{reason}, and restoring the project failed ({left}); put it "
                    f"back with `{UNDO}` in {project} once the cause is fixed."
                ) from None
            raise ScaffoldError(f"{reason}; the project is as it was.") from None
    return Update(
        project=project,
        old=old,
        new=new,
        changed=tuple(_status(project)),
        conflicts=tuple(_conflicts(project)),
    )
