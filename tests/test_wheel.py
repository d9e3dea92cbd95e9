"""The built wheel carries the template and generates projects from it alone."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from scaffold import __version__
from scaffold.history import BUNDLE, releases, tag, template_files
from tests.conftest import REPO, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this repository, built without network access."""
    out = tmp_path_factory.mktemp("dist")
    result = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(out),
            str(REPO),
        ],
        cwd=out,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("jaxscaffold-*.whl")
    return built


def test_wheel_holds_the_template_byte_for_byte(wheel: Path) -> None:
    expected = {
        f"scaffold/_template/{name}": REPO / name for name in template_files(REPO)
    }
    with zipfile.ZipFile(wheel) as archive:
        packed = {
            name
            for name in archive.namelist()
            if name.startswith("scaffold/_template/")
        }
        assert packed == {*expected, f"scaffold/_template/{BUNDLE}"}
        for name, source in expected.items():
            assert archive.read(name) == source.read_bytes(), name


def test_wheel_history_holds_this_release_as_packaged(
    wheel: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        bundle = tmp_path / BUNDLE
        bundle.write_bytes(archive.read(f"scaffold/_template/{BUNDLE}"))
    release = tag(__version__)
    assert list(releases(bundle))[-1] == release
    checkout = tmp_path / "release"
    cloned = run(
        ["git", "clone", "--quiet", "--branch", release, str(bundle), str(checkout)],
        cwd=tmp_path,
    )
    assert cloned.returncode == 0, cloned.stderr
    files = sorted(template_files(checkout))
    assert files == sorted(template_files(REPO))
    for name in files:
        assert (checkout / name).read_bytes() == (REPO / name).read_bytes(), name


def test_wheel_generates_a_project_without_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = (
        "import sys\n"
        "from scaffold.cli import main\n"
        "from scaffold.template import template_root\n"
        f"assert str(template_root()) == {str(site / 'scaffold' / '_template')!r}\n"
        "main()\n"
    )
    result = run(
        [sys.executable, "-c", code, "new", str(tmp_path / "proj"), "-y"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "proj" / "src" / "proj" / "train.py").is_file()
