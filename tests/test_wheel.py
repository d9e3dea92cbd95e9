"""The built wheel carries the template and generates projects from it alone."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

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
    files = [
        REPO / "copier.yml",
        *(p for p in (REPO / "template").rglob("*") if p.is_file()),
    ]
    expected = {f"scaffold/_template/{p.relative_to(REPO)}": p for p in files}
    with zipfile.ZipFile(wheel) as archive:
        packed = {
            name
            for name in archive.namelist()
            if name.startswith("scaffold/_template/")
        }
        assert packed == set(expected)
        for name, source in expected.items():
            assert archive.read(name) == source.read_bytes(), name


def test_wheel_generates_a_project_without_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = (
        "import sys\n"
        "from scaffold.cli import main\n"
        "from scaffold.generate import template_root\n"
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
