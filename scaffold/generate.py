"""Generating a project: plain functions around Copier's Python API.

Nothing here imports JAX; the CLI calls these functions and turns `ScaffoldError`
into a message and an exit code.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import shutil
import socket
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
from scaffold.template import template_config, template_root

ANSWERS_FILE = ".copier-answers.yml"
# Staging folders are named `.jaxscaffold-HOST-PID-RANDOM`, so that a later run can
# tell one left by a killed process.
STAGING_PREFIX = ".jaxscaffold-"
# What a filesystem without hard links (FAT, some network shares) answers `link` with.
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
_TYPE_NAMES = {
    "int": "a whole number, such as 30",
    "float": "a number, such as 0.001",
    "bool": "yes or no",
}
# The words for yes and no that Copier's own prompt and answers files take.
_YES_NO = {
    **dict.fromkeys(("y", "yes", "true", "on", "1"), True),
    **dict.fromkeys(("n", "no", "false", "off", "0"), False),
}


def _yes_no(text: str) -> bool:
    """Reads a yes-or-no answer, refusing anything else (Copier takes it for yes)."""
    try:
        return _YES_NO[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


CASTS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": _yes_no,
}


@functools.cache
def questions() -> dict[str, dict[str, Any]]:
    """Returns the questions of `copier.yml` by name, settings (`_...`) left out."""
    return {
        name: spec
        for name, spec in template_config().items()
        if not name.startswith("_") and spec.get("when") is not False
    }


def choices(question: str) -> list[str]:
    """Returns the values a multiple-choice question accepts, in offered order."""
    offered = questions()[question]["choices"]  # A mapping of labels, or a list.
    values = offered.values() if isinstance(offered, dict) else offered
    return [str(value) for value in values]


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
        answers[key] = cast_answer(key, value)
    return answers


def cast_answer(key: str, text: str) -> Any:  # noqa: ANN401 - the question's type.
    """Casts the text of an answer to its question's type, as the prompt does.

    Raises:
      ScaffoldError: naming the question and what it takes.
    """
    kind = questions().get(key, {}).get("type", "str")
    try:
        return CASTS.get(kind, str)(text)
    except ValueError:
        raise ScaffoldError(type_error(key, kind, text)) from None


def type_error(key: str, kind: str, text: str) -> str:
    """The sentence for an answer that is not of its question's type."""
    return f"{key} takes {_TYPE_NAMES.get(kind, kind)}, not '{text}'."


def check_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Refuses an answer to no question, or a choice the question does not offer.

    Choices are taken in any case ('Adam' is adam). Copier checks the rest (types
    and validators) while it renders.

    Returns:
      The answers, each choice spelt as the question offers it.
    """
    checked = dict(answers)
    for key, value in answers.items():
        if key not in questions():
            known = ", ".join(questions())
            raise ScaffoldError(
                f"There is no question '{key}'; the questions are: {known}."
            )
        if "choices" not in questions()[key]:
            continue
        spelt = {choice.lower(): choice for choice in choices(key)}
        checked[key] = spelt.get(str(value).lower())
        if checked[key] is None:
            offered = ", ".join(choices(key))
            raise ScaffoldError(
                f"Unknown {key.replace('_', ' ')} '{value}'; choose one of: {offered}."
            )
    return checked


def _check_writable(folder: Path) -> None:
    """Refuses a folder that cannot be written, or has no write bits on purpose."""
    # Root may write anywhere, but a folder with no write bit is read-only on
    # purpose: it is refused for everyone, as `rm` asks before removing such files.
    read_only = not folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    if read_only or not os.access(folder, os.W_OK | os.X_OK):
        raise ScaffoldError(f"The folder {folder} is not writable.")


def _check_destination(path: Path) -> None:
    """Refuses a destination that exists with content or cannot be written."""
    parent = path.parent
    if not parent.is_dir():
        raise ScaffoldError(f"The folder {parent} does not exist; create it first.")
    try:
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):  # Not known here: POSIX's usual limit.
        limit = 255
    if len(os.fsencode(path.name)) > limit:
        raise ScaffoldError(
            f"The folder name {path.name[:20]}... is longer than the {limit} bytes "
            "a name may have here; choose a shorter one."
        )
    if path.exists() and not path.is_dir():
        raise ScaffoldError(f"{path} already exists and is not a folder.")
    if path.is_dir():
        _remove_stale_staging(path)
        if any(path.iterdir()):
            raise ScaffoldError(
                f"{path} already exists and is not empty; "
                "jaxscaffold new never overwrites files, so choose a new folder."
            )
    _check_writable(path if path.is_dir() else parent)


def new_project(
    path: Path, *, answers: Mapping[str, Any], prompt: bool, init_git: bool = True
) -> Path:
    """Generates a project into `path`, whole or not at all.

    A new folder is claimed (created empty) first, the project is rendered into a
    hidden staging folder beside it and renamed onto it once complete, which
    succeeds only while the claimed folder is still empty. An existing empty
    folder is staged inside (so on its filesystem, even a mount point) and filled
    entry by entry, never replacing anything that appears meanwhile. A failure or
    an interrupt removes only what this run created.

    Args:
      path: the folder to create; it may exist if it is empty. Its name is the
        project name unless `answers` says otherwise.
      answers: answers to Copier's questions; they are never asked.
      prompt: ask the questions not in `answers` in the terminal; when False, they
        take their defaults.
      init_git: make the project a git repository with the generated files as its
        first commit, which `update_project` needs, unless a git work tree around
        it tracks it already or git is not installed.

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

    data = check_answers(data)
    # Copier derives the package name and checks both names (copier.yml).
    data.setdefault("project_name", path.name)
    try:
        _check_destination(path)
    except OSError as error:
        raise ScaffoldError(f"Cannot use {path}: {error.strerror}.") from None
    _check_release()
    _remove_stale_staging(path.parent)

    existing = path.is_dir()
    created: list[_Created] = []
    if not existing:
        try:
            path.mkdir()  # The claim: of runs started together, one creates it.
        except FileExistsError:
            raise ScaffoldError(
                f"{path} appeared while jaxscaffold new started; it never "
                "overwrites files, so choose a new folder."
            ) from None
        except OSError as error:
            raise ScaffoldError(
                f"Cannot write into {path.parent}: {error.strerror}."
            ) from None
        created.append(_Created.of(path))
    staging = (path if existing else path.parent) / _staging_name()
    try:
        staging.mkdir()
        with tempfile.TemporaryDirectory() as source:
            # Render from a plain copy: Copier treats a git checkout as a versioned
            # template and would stamp an unreleased commit into the answers.
            _copy_template(Path(source))
            with _typed_prompts() if prompt else contextlib.nullcontext():
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
        if init_git and shutil.which("git") and not _tracked_around(path):
            _first_commit(staging)
        if existing:
            for entry in sorted(staging.iterdir()):
                _move(entry, path / entry.name, created)
        else:
            try:
                staging.rename(path)  # Replaces the claimed folder only if empty.
            except OSError:
                raise _appeared(path) from None
    except CopierAnswersInterrupt:
        _roll_back(created)
        raise ScaffoldError("Cancelled; nothing was written.") from None
    except ValueError as error:
        _roll_back(created)
        raise ScaffoldError(answer_error(error)) from None
    except FileExistsError as error:
        _roll_back(created)
        raise _appeared(path, error.filename) from None
    except (CopierError, OSError) as error:
        _roll_back(created)
        raise ScaffoldError(f"Could not generate the project: {error}") from None
    except BaseException:
        _roll_back(created)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _appeared(path: Path, name: str | None = None) -> ScaffoldError:
    """The error for files that appeared in `path` while the project was made."""
    what = "Files"
    if name is not None and Path(name).is_relative_to(path) and name != str(path):
        what = Path(name).relative_to(path).as_posix()
    return ScaffoldError(
        f"{what} appeared in {path} while the project was generated; "
        "jaxscaffold new never overwrites files, so it wrote nothing there."
    )


@dataclass(frozen=True)
class _Created:
    """A file or folder this run created, known by its inode."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> _Created:
        """Records `path` as it is now."""
        info = path.lstat()
        return cls(path, info.st_dev, info.st_ino)

    def is_unchanged(self) -> bool:
        """Tells whether the path still names what this run created."""
        try:
            info = self.path.lstat()
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == (self.device, self.inode)


def _move(source: Path, target: Path, created: list[_Created]) -> None:
    """Moves `source` to `target`, never replacing anything there.

    Raises:
      FileExistsError: if `target` exists; what was moved so far is in `created`.
    """
    if source.is_dir() and not source.is_symlink():
        target.mkdir()
        created.append(_Created.of(target))
        for entry in sorted(source.iterdir()):
            _move(entry, target / entry.name, created)
        shutil.copymode(source, target)
        source.rmdir()
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as error:
        if error.errno not in NO_HARD_LINKS:
            raise
        with source.open("rb") as reader, target.open("xb") as writer:
            shutil.copyfileobj(reader, writer)
        shutil.copystat(source, target)
    created.append(_Created.of(target))
    source.unlink()


def _roll_back(created: list[_Created]) -> None:
    """Removes what this run created and nobody has replaced, newest first."""
    for entry in reversed(created):
        if not entry.is_unchanged():
            continue
        with contextlib.suppress(OSError):  # A folder someone else wrote into.
            if entry.path.is_dir() and not entry.path.is_symlink():
                entry.path.rmdir()
            else:
                entry.path.unlink()


def _staging_name() -> str:
    """A hidden name for a staging folder, saying which host and process own it."""
    return f"{STAGING_PREFIX}{_host_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@functools.cache
def _host_id() -> str:
    """A short, fixed-length stand-in for this machine's name."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _remove_stale_staging(folder: Path) -> None:
    """Removes staging folders in `folder` whose process on this host has ended.

    A run killed with SIGKILL cannot clean up; its process id proves it dead.
    """
    for entry in folder.glob(f"{STAGING_PREFIX}*"):
        host, _, rest = entry.name.removeprefix(STAGING_PREFIX).partition("-")
        pid = rest.partition("-")[0]
        if host == _host_id() and pid.isdigit() and not _is_running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _is_running(pid: int) -> bool:
    """Tells whether a process `pid` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # Another user's process, say: it exists.
        return True
    return True


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
    recorded releases and tags, and a project recording release `v<version>` must
    have that release's files, or its updates would take the difference for the
    user's edits.
    """
    root = template_root()
    if not (root / BUNDLE).is_file() and shutil.which("git"):
        with tempfile.TemporaryDirectory(prefix="jaxscaffold-history-") as scratch:
            build_history(root, __version__, Path(scratch) / "history.git")


def enclosing_work_tree(path: Path) -> Path | None:
    """The top folder of a git work tree around `path` that tracks it, if any."""
    if not shutil.which("git") or not _tracked_around(path):
        return None
    return Path(git("rev-parse", "--show-toplevel", cwd=path.parent).strip())


def _tracked_around(path: Path) -> bool:
    """Tells whether a git work tree around `path` would track it (not ignore it)."""
    try:
        git("rev-parse", "--is-inside-work-tree", cwd=path.parent)
    except ScaffoldError:
        return False
    try:
        git("check-ignore", "--quiet", "--", path.name, cwd=path.parent)
    except ScaffoldError:
        return True  # Exit status 1: not ignored.
    return False


def _first_commit(project: Path) -> None:
    """Makes `project` a git repository whose first commit holds every file.

    The commit is the user's when git knows their name and email, and
    jaxscaffold's otherwise; hooks and signing are skipped, since nothing here is
    the user's yet.
    """
    git("init", "--quiet", cwd=project)
    git("add", "--all", cwd=project)
    try:
        for ident in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
            git("-c", "user.useConfigOnly=true", "var", ident, cwd=project)
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


@contextlib.contextmanager
def _typed_prompts() -> Iterator[None]:
    """Makes Copier's prompt explain an answer of the wrong type.

    Where Copier says "Invalid input", it names the question and what it takes, as
    the flags and --data do.
    """
    from copier._user_data import Question  # No public hook for this message.

    structure = Question.get_questionary_structure

    def typed(question: Question) -> dict[str, Any]:
        result = structure(question)
        if validate := result.get("validate"):

            def explained(answer: str) -> str | bool:
                verdict = validate(answer)
                if verdict != "Invalid input":
                    return verdict  # type: ignore[no-any-return]
                return type_error(question.var_name, question.get_type_name(), answer)

            result["validate"] = explained
        return result

    Question.get_questionary_structure = typed  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Question.get_questionary_structure = structure  # type: ignore[method-assign]


def answer_error(error: ValueError) -> str:
    """Turns Copier's message for a refused answer into one plain sentence."""
    message = str(error)
    prefix, sep, reason = message.partition("': ")
    if sep and prefix.startswith("Validation error for question '"):
        return reason.strip()
    return message.rstrip(".") + "."
