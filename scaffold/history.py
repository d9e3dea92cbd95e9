"""The template's release history as a git repository, for offline updates.

Copier updates a project by rendering the template at the version the project was
made with and at the new one, so it needs the template's history, not just its
files. A project records the canonical repository (`TEMPLATE_URL`) and its release
tag (`v` and the package version); that is all plain `copier update` needs, with
network. For `jaxscaffold update` to work offline, this module rebuilds that history
from what an installation has:

- every release of the source checkout up to the package's version (a commit that
  `RELEASES_FILE` records, or a tag `vX.Y.Z`), each as one commit holding just the
  template (`TEMPLATE_PATHS` as they were then);
- the template files themselves as the commit of the package's own version.

A wheel carries the result as a git bundle (`history.bundle`, made at build time by
`hatch_build.py`); a source checkout builds it when asked. Commits have a fixed
author and date, so the same tags give the same history everywhere, and Copier, which
checks out tags by name, cannot tell it from the canonical repository's.

Only the standard library is used: the build hook imports this module too.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from packaging.version import InvalidVersion, Version

from scaffold.errors import ScaffoldError

TEMPLATE_URL = "https://github.com/jaxscaffold/jaxscaffold.git"
"""The canonical repository of the template; its tags are the releases."""

# Spellings of TEMPLATE_URL a project's `_src_path` may hold (`copier copy
# gh:jaxscaffold/jaxscaffold` records the first), each with the git URL Copier
# fetches for it, which `isolated_git` sends to the local history.
_SSH_URL = "git@github.com:jaxscaffold/jaxscaffold.git"
TEMPLATE_URLS = {
    "gh:jaxscaffold/jaxscaffold": TEMPLATE_URL,
    "https://github.com/jaxscaffold/jaxscaffold": TEMPLATE_URL,
    TEMPLATE_URL: TEMPLATE_URL,
    _SSH_URL: _SSH_URL,
}

TEMPLATE_PATHS = ("copier.yml", "template", "migrations")
"""What of the repository makes up the template, and so each release commit."""

BUNDLE = "history.bundle"

RELEASES_FILE = "releases.txt"
"""Releases recorded in the repository itself, as tags do not travel with a clone:
each line a version and the commit whose template is that release."""

AUTHOR_EMAIL = "jaxscaffold@users.noreply.github.com"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "jaxscaffold",
    "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "jaxscaffold",
    "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000",
}
_SKIPPED = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def tag(version: str) -> str:
    """Returns the release tag of a version: '0.2.0' -> 'v0.2.0'."""
    return version if version.startswith("v") else f"v{version}"


def version_of(name: str) -> Version | None:
    """Returns the version a release tag names ('v0.2.0' -> 0.2.0), or None."""
    if not name.startswith("v"):
        return None
    try:
        return Version(name[1:])
    except InvalidVersion:
        return None


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> str:
    """Runs git and returns its output; failures become `ScaffoldError`.

    Paths are bytes to git: its output is decoded as UTF-8, and anything else is
    kept as surrogate escapes, so a path read here names the same file again.
    """
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
    except FileNotFoundError:
        raise ScaffoldError("git is not installed: it is not on PATH.") from None
    if result.returncode != 0:
        command = next(
            arg for arg in args if not arg.startswith("-") and "=" not in arg
        )
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ScaffoldError(
            f"git {command} failed: {detail[-1] if detail else result.returncode}"
        )
    return result.stdout


def git_paths(command: str, *args: str, cwd: Path) -> list[str]:
    """Runs a git command that lists paths, NUL-separated (`-z`), and returns them."""
    return [path for path in git(command, "-z", *args, cwd=cwd).split("\0") if path]


def template_files(root: Path) -> Iterator[str]:
    """Yields the template's files under `root`: relative, sorted, no caches."""
    for name in TEMPLATE_PATHS:
        path = root / name
        if path.is_file():
            yield name
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(root)
                if (
                    file.is_file()
                    and not set(relative.parts) & set(_SKIPPED)
                    and file.suffix not in _SKIPPED_SUFFIXES
                ):
                    yield relative.as_posix()


def _is_repository(root: Path) -> bool:
    """Tells whether `root` is the top of a git work tree."""
    try:
        top = git("rev-parse", "--show-toplevel", cwd=root).strip()
    except ScaffoldError:
        return False
    return Path(top).resolve() == root.resolve()


def _releases(root: Path, version: str) -> list[tuple[str, str]]:
    """Returns the releases of the checkout `root` up to `version`, oldest first.

    Each is its tag and the revision of `root` that holds it: a commit recorded in
    `RELEASES_FILE`, or else a tag `vX.Y.Z` of the checkout.
    """
    if not _is_repository(root):
        return []
    limit = Version(version)
    found: dict[Version, tuple[str, str]] = {}
    for name in git("tag", "--list", "v*", cwd=root).split():
        release = version_of(name)
        if release is not None and release <= limit:
            found[release] = (name, f"refs/tags/{name}")
    for number, commit in recorded_releases(root).items():
        # A shallow clone may lack the commit, as any clone may lack the tags.
        if (release := Version(number)) <= limit and _has_commit(root, commit):
            found[release] = (tag(number), commit)
    return [found[release] for release in sorted(found)]


def _has_commit(root: Path, commit: str) -> bool:
    """Tells whether the checkout `root` holds `commit`."""
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}", cwd=root)
    except ScaffoldError:
        return False
    return True


def recorded_releases(root: Path) -> dict[str, str]:
    """Returns the releases `RELEASES_FILE` records under `root`: version to commit."""
    path = root / RELEASES_FILE
    if not path.is_file():
        return {}
    releases = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            number, commit = line.split()
            releases[number] = commit
    return releases


def _commit(history: Path, tree: str, parent: str | None, version: str) -> str:
    """Commits `tree` as the release `version` and tags it."""
    parents = ["-p", parent] if parent else []
    commit = git(
        "commit-tree",
        tree,
        *parents,
        "-m",
        f"jaxscaffold template {tag(version)}",
        cwd=history,
        env=_IDENTITY,
    ).strip()
    git("update-ref", f"refs/tags/{tag(version)}", commit, cwd=history)
    return commit


def _tree_at(history: Path, root: Path, name: str, revision: str) -> str:
    """Imports the template's part of `revision` of `root`; returns its tree."""
    git(
        *("fetch", "--quiet", "--no-tags", str(root.resolve())),
        f"{revision}:refs/source/{name}",
        cwd=history,
    )
    entries = git(
        "ls-tree", f"refs/source/{name}^{{commit}}", "--", *TEMPLATE_PATHS, cwd=history
    )
    tree = git("mktree", cwd=history, input=entries).strip()
    git("update-ref", "-d", f"refs/source/{name}", cwd=history)
    return tree


def _tree_of_files(history: Path, root: Path) -> str:
    """Stores the template's files under `root` and returns their tree."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "GIT_INDEX_FILE": str(Path(scratch) / "index"),
            "GIT_WORK_TREE": str(root.resolve()),
        }
        files = "\n".join(template_files(root))
        git(
            "update-index", "--add", "--stdin", cwd=history, env=env, input=f"{files}\n"
        )
        return git("write-tree", cwd=history, env=env).strip()


def build_history(root: Path, version: str, destination: Path) -> list[str]:
    """Writes the template's history as a bare git repository at `destination`.

    Args:
      root: a folder with the template (`copier.yml`, `template/`, ...), and when it
        is a git checkout, the release tags of earlier versions.
      version: the version of the template files in `root`.
      destination: a folder to create.

    Returns:
      The release tags in the history, oldest first.

    Raises:
      ScaffoldError: if git fails, or `root` has a tag of `version` whose template
        differs from its files: a released version must not change.
    """
    git("init", "--quiet", "--bare", str(destination))
    parent = None
    tags = []
    for name, revision in _releases(root, version):
        tree = _tree_at(destination, root, name, revision)
        if name == tag(version):
            if tree != _tree_of_files(destination, root):
                raise ScaffoldError(
                    f"The template differs from its release {name}; "
                    "a released template must not change, so raise the version."
                )
            continue
        parent = _commit(destination, tree, parent, name)
        tags.append(name)
    _commit(destination, _tree_of_files(destination, root), parent, version)
    tags.append(tag(version))
    return tags


def build_bundle(root: Path, version: str, bundle: Path) -> list[str]:
    """Writes the template's history (see `build_history`) as a git bundle."""
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "history.git"
        tags = build_history(root, version, repository)
        partial = bundle.with_name(f".{bundle.name}.partial")
        git(
            "bundle",
            "create",
            "--quiet",
            str(partial.resolve()),
            "--tags",
            cwd=repository,
        )
        partial.replace(bundle)
    return tags


def releases(history: Path) -> dict[str, str]:
    """Returns the release tags of a history (repo or bundle), oldest first: commits."""
    if history.is_file():
        lines = git("bundle", "list-heads", str(history)).splitlines()
    else:
        lines = git(
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/tags",
            cwd=history,
        ).splitlines()
    commits = {}
    for line in lines:
        commit, _, ref = line.partition(" ")
        name = ref.removeprefix("refs/tags/")
        version = version_of(name)
        if ref.startswith("refs/tags/") and version is not None:
            commits[version] = (name, commit)
    return dict(commits[version] for version in sorted(commits))


def isolated_git(history: Path, carried: Mapping[str, list[str]]) -> dict[str, str]:
    """Returns environment variables that make git fetch `TEMPLATE_URL` from `history`.

    Git reads no system or global configuration, whose `url.*.insteadOf` could send
    the canonical URL elsewhere; the only settings are `url.<history>.insteadOf` for
    each git URL Copier makes of `TEMPLATE_URLS`, and the `carried` settings (the
    user's excludes, safe directories) as `GIT_CONFIG_COUNT` variables, which
    replace any the caller had. Copier and the answers file keep naming the
    canonical repository while git reads the local copy.
    """
    settings = [
        (f"url.{history.resolve()}.insteadOf", url)
        for url in sorted(set(TEMPLATE_URLS.values()))
    ]
    settings += [(key, value) for key, values in carried.items() for value in values]
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_CONFIG_COUNT": str(len(settings)),
    }
    for index, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
