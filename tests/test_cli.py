"""Tests of the `jaxscaffold` command line, through Typer's test runner."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from copier.errors import CopierAnswersInterrupt
from typer.testing import CliRunner

import scaffold
from scaffold import generate
from scaffold.cli import app
from scaffold.generate import questions

runner = CliRunner()


def new(*args: str) -> Any:
    """Runs `jaxscaffold new`; stdin is not a terminal, so nothing is asked."""
    return runner.invoke(app, ["new", *args])


def answers_of(project: Path) -> dict[str, Any]:
    """The answers recorded in a generated project."""
    recorded: dict[str, Any] = yaml.safe_load(
        (project / ".copier-answers.yml").read_text()
    )
    return recorded


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"jaxscaffold {scaffold.__version__}\n"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_the_options(flag: str) -> None:
    result = runner.invoke(app, ["new", flag])
    assert result.exit_code == 0, result.output
    for option in ("--model-type", "--optimizer", "--epochs", "--defaults", "--data"):
        assert option in result.stdout
    # Every question of copier.yml is a flag, with its help and choices.
    for name in questions().keys() - {"project_name"}:
        assert f"--{name.replace('_', '-')}" in result.stdout
    assert "flax-linen" in result.stdout


def test_new_writes_a_project_with_the_given_answers(tmp_path: Path) -> None:
    target = tmp_path / "my-proj"
    result = new(
        str(target),
        "--model-type=cnn",
        "--optimizer=adamw",
        "--epochs=10",
        "--batch-size=64",
        "--learning-rate=0.002",
        "--seed=3",
        "--data",
        "description=Digits with a CNN",
    )
    assert result.exit_code == 0, result.output
    assert "my_proj train" in result.stdout
    answers = answers_of(target)
    assert answers["project_name"] == "my-proj"
    assert answers["package_name"] == "my_proj"
    assert answers["model_type"] == "cnn"
    assert answers["optimizer"] == "adamw"
    assert answers["epochs"] == 10
    assert answers["batch_size"] == 64
    assert answers["learning_rate"] == pytest.approx(0.002)
    assert answers["seed"] == 3
    assert answers["description"] == "Digits with a CNN"
    assert (target / "src" / "my_proj" / "train.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-proj"]
    # The project gets ordinary permissions, not those of a private temp folder.
    assert (target.stat().st_mode & 0o777) == (0o777 & ~_umask())


def _umask() -> int:
    """The process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_without_flags_defaults_are_taken(tmp_path: Path) -> None:
    result = new(str(tmp_path / "plain"), "--defaults")
    assert result.exit_code == 0, result.output
    answers = answers_of(tmp_path / "plain")
    assert (answers["model_type"], answers["optimizer"]) == ("mlp", "adam")


def test_package_name_can_be_chosen(tmp_path: Path) -> None:
    result = new(str(tmp_path / "proj"), "-y", "--package-name", "digits_model")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "proj" / "src" / "digits_model").is_dir()


def test_an_empty_existing_folder_is_filled_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    inode = target.stat().st_ino
    monkeypatch.chdir(target)  # As after `mkdir empty && cd empty`.
    result = new(".", "-y")
    assert result.exit_code == 0, result.output
    assert (target / "pyproject.toml").is_file()
    assert (target / "src" / "empty" / "train.py").is_file()
    # The same folder, not a new one in its place, and nothing left beside it.
    assert target.stat().st_ino == inode
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["class"], "'class' is a Python keyword"),
        (["1abc"], "The project name must start with a letter"),
        (["jax"], "is the name of a distribution that projects install"),
        (["ok", "--package-name", "flax"], "would shadow a module"),
        (["optax"], "is the name of a distribution that projects install"),
        (["test"], "or a name of their layout"),
        (["json"], "would shadow a module"),
        (["ok", "--package-name", "os"], "would shadow a module"),
        (["ok", "--epochs", "0"], "Epochs must be a whole number of at least 1."),
        (["ok", "--epochs", "-3"], "Epochs must be a whole number of at least 1."),
        (["ok", "--epochs", "abc"], "epochs takes a whole number, such as 30, not"),
        (["ok", "--batch-size", "0"], "The batch size must be a whole number"),
        (["ok", "--learning-rate", "0"], "must be a finite number greater than 0."),
        (["ok", "--learning-rate", "inf"], "must be a finite number greater than 0."),
        (["ok", "--learning-rate", "nan"], "must be a finite number greater than 0."),
        (["ok", "--learning-rate", "abc"], "learning_rate takes a number, such as"),
        (["ok", "--model-type", "rnn"], "Unknown model type 'rnn'"),
        (["ok", "--framework", "pytorch"], "Unknown framework 'pytorch'"),
        (["ok", "-d", 'description=say "hi"'], "without double quotes or backslashes"),
        (
            ["ok", "-d", "description=a\rb"],
            "one non-empty line of printable characters",
        ),
        (["ok", "-d", "description=a\x1b[31mb"], "of printable characters"),
        (["ok", "-d", "description=a\x7fb"], "of printable characters"),
        (["ok", "-d", "description=a\tb"], "of printable characters"),
        (["ok", "-d", "description=a\udc80b"], "of printable characters"),
        (["ok", "--seed", "4294967296"], "The seed must be a whole number from 0 to"),
        (["ok", "--seed", "1180591620717411303424"], "from 0 to 4294967295."),
        (["ml_dtypes"], "is the name of a distribution that projects install"),
        (["orbax-checkpoint"], "is the name of a distribution that projects install"),
        (["ok", "--package-name", "ml_dtypes"], "would shadow a module"),
        (["ok", "--package-name", "absl"], "would shadow a module"),
        (["ok", "--package-name", "google"], "would shadow a module"),
        (["ok", "--package-name", "yaml"], "would shadow a module"),
        (["ok", "--package-name", "tensorstore"], "would shadow a module"),
        (["ok", "--optimizer", "lamb"], "Unknown optimizer 'lamb'"),
        (["ok", "--lr-schedule", "linear"], "Unknown lr schedule 'linear'"),
        (["ok", "--data", "colour=red"], "There is no question 'colour'"),
        (["ok", "--data", "epochs=abc"], "epochs takes a whole number, such as"),
        (["ok", "--data", "epochs=0"], "Epochs must be a whole number of at least 1."),
        (["ok", "--data", "noequals"], "--data takes KEY=VALUE"),
        ([], "Missing argument"),
    ],
)
def test_bad_input_fails_with_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = new(*args, "--defaults")
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("epochs", "abc"), ("epochs", "0"), ("learning_rate", "x"), ("optimizer", "lamb")],
)
def test_a_bad_value_is_told_alike_from_a_flag_and_from_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    flag = new("ok", f"--{name.replace('_', '-')}", value, "-y")
    data = new("ok", "-d", f"{name}={value}", "-y")
    assert (flag.exit_code, flag.stderr) == (data.exit_code, data.stderr)
    assert flag.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_choices_are_taken_in_any_case(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    result = new(str(target), "--optimizer", "AdamW", "-d", "framework=Equinox", "-y")
    assert result.exit_code == 0, result.output
    answers = answers_of(target)
    assert (answers["optimizer"], answers["framework"]) == ("adamw", "equinox")


def test_help_shows_every_default_and_fits_80_columns() -> None:
    result = runner.invoke(app, ["new", "--help"], env={"COLUMNS": "80"}, color=False)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "…" not in result.stdout  # No option name cut short.
    assert max(map(len, result.stdout.splitlines())) <= 80
    assert text.count("(default: ") == len(questions()) - 1  # PATH names the project.
    assert "by optimizer: adam 0.001, adamw 0.001, sgd 0.05" in text
    assert "<bool>" not in text


def test_a_project_inside_another_repository_says_how_to_update(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "--quiet"], cwd=tmp_path, check=True)
    result = new(str(tmp_path / "proj"), "-y")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "proj" / ".git").exists()
    assert f"inside the git work tree of {tmp_path}, so it has no repository" in (
        " ".join(result.stdout.split())
    )


def test_a_folder_with_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("my notes\n")
    result = new(str(target), "-y")
    assert result.exit_code == 1
    assert "already exists and is not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_failure_while_filling_an_empty_folder_leaves_it_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    real_link = os.link
    moved: list[str] = []

    def link_then_fail(source: str, destination: str, **kwargs: Any) -> None:
        if moved:
            raise OSError(28, "No space left on device")
        moved.append(destination)
        real_link(source, destination, **kwargs)

    monkeypatch.setattr(os, "link", link_then_fail)
    result = new(str(target), "-y")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert moved, "the failure should come after the first file was moved"
    assert list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def _write_after_rendering(
    monkeypatch: pytest.MonkeyPatch, path: Path, text: str
) -> None:
    """Makes `path` appear with `text` as soon as Copier has rendered the project."""
    import copier

    real_copy = copier.run_copy

    def copy_then_write(*args: Any, **kwargs: Any) -> Any:
        rendered = real_copy(*args, **kwargs)
        path.write_text(text)
        return rendered

    monkeypatch.setattr(copier, "run_copy", copy_then_write)


def test_a_file_written_into_the_folder_meanwhile_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    _write_after_rendering(monkeypatch, target / "README.md", "# Mine\n")
    result = new(str(target), "-y")
    assert result.exit_code == 1
    assert f"README.md appeared in {target}" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert [p.name for p in target.iterdir()] == ["README.md"]
    assert (target / "README.md").read_text() == "# Mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_a_new_folder_is_claimed_and_left_to_whoever_writes_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "proj"
    _write_after_rendering(monkeypatch, target / "notes.txt", "theirs\n")
    result = new(str(target), "-y")
    assert result.exit_code == 1
    assert f"appeared in {target}" in result.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "theirs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]


@pytest.mark.parametrize("git", ["--git", "--no-git"])
def test_two_runs_at_once_leave_one_whole_project(tmp_path: Path, git: str) -> None:
    (tmp_path / "reference").mkdir()
    reference = new(str(tmp_path / "reference" / "same"), "-y", git)
    assert reference.exit_code == 0, reference.output
    expected = _files(tmp_path / "reference" / "same")
    for attempt in range(3):
        folder = tmp_path / f"race{attempt}"
        folder.mkdir()
        command = [sys.executable, "-m", "scaffold", "new", "same", "-y", git]
        runs = [
            subprocess.Popen(
                command,
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = [(run.wait(timeout=120), *run.communicate()) for run in runs]
        codes = sorted(code for code, _, _ in outcomes)
        assert codes == [0, 1], outcomes
        (failed,) = [err for code, _, err in outcomes if code == 1]
        assert failed.count("\n") == 1, failed
        assert _files(folder / "same") == expected
        assert [p.name for p in folder.iterdir()] == ["same"]


def _files(project: Path) -> dict[str, bytes]:
    """A project's files by relative path (its git objects left out)."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def test_an_empty_folder_on_another_filesystem_is_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a mount point: nothing can be renamed or linked across its boundary."""
    target = tmp_path / "volume"
    target.mkdir()
    real_rename, real_link = os.rename, os.link

    def crosses(source: Any, destination: Any) -> bool:
        inside = [
            Path(p).absolute().is_relative_to(target) for p in (source, destination)
        ]
        return inside[0] != inside[1]

    def rename(source: Any, destination: Any, **kwargs: Any) -> None:
        if crosses(source, destination):
            raise OSError(18, "Invalid cross-device link")
        real_rename(source, destination, **kwargs)

    def link(source: Any, destination: Any, **kwargs: Any) -> None:
        if crosses(source, destination):
            raise OSError(18, "Invalid cross-device link")
        real_link(source, destination, **kwargs)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "link", link)
    monkeypatch.chdir(target)
    result = new(".", "-y")
    assert result.exit_code == 0, result.output
    assert (target / "src" / "volume" / "train.py").is_file()
    assert not list(target.glob(".jaxscaffold-*"))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_an_empty_mount_point_is_filled(tmp_path: Path) -> None:
    target = tmp_path / "volume"
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = run_new_in(target, ".", "-y")
        assert result.returncode == 0, result.stderr
        assert (target / "src" / "volume" / "train.py").is_file()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["volume"]
    finally:
        subprocess.run(["umount", str(target)], check=True)


def run_new_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `jaxscaffold new` in a process of its own, in `folder`."""
    return subprocess.run(
        [sys.executable, "-m", "scaffold", "new", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_folder_name_too_long_for_the_filesystem_is_refused(tmp_path: Path) -> None:
    result = new(str(tmp_path / ("a" * 256)), "-y", "--package-name", "long")
    assert result.exit_code == 1
    assert "is longer than the 255 bytes a name may have here" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_name_near_the_limit_works(tmp_path: Path) -> None:
    result = new(str(tmp_path / ("a" * 250)), "-y", "--package-name", "long")
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["a" * 250]


def test_an_empty_folder_without_write_bits_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "locked"
    target.mkdir()
    target.chmod(0o555)
    try:
        result = new(str(target), "-y")
    finally:
        target.chmod(0o755)
    assert result.exit_code == 1
    assert f"The folder {target} is not writable." in result.stderr
    assert list(target.iterdir()) == []


def test_staging_folders_of_killed_runs_are_removed(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(ended.stdout)
    target = tmp_path / "empty"
    target.mkdir()
    host = generate._host_id()
    stale = [
        tmp_path / f".jaxscaffold-{host}-{dead}-0badc0de",
        target / f".jaxscaffold-{host}-{dead}-0badc0de",
    ]
    alive = tmp_path / f".jaxscaffold-{host}-{os.getpid()}-0badc0de"
    other_host = tmp_path / f".jaxscaffold-00000000-{dead}-0badc0de"
    for folder in [*stale, alive, other_host]:
        (folder / "src").mkdir(parents=True)
        (folder / "src" / "half.py").write_text("# half written\n")
    result = new(str(target), "-y")
    assert result.exit_code == 0, result.output
    assert not any(folder.exists() for folder in stale)
    assert alive.is_dir()
    assert other_host.is_dir()


def test_the_commit_is_jaxscaffolds_when_git_knows_no_name(tmp_path: Path) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\temail = ada@example.com\n\tuseConfigOnly = true\n")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GIT_")
    }
    environment |= {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "scaffold", "new", "proj", "-y"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae>"],
        cwd=tmp_path / "proj",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout == "jaxscaffold <jaxscaffold@users.noreply.github.com>\n"


def test_a_repository_that_ignores_the_folder_does_not_count(tmp_path: Path) -> None:
    outer = tmp_path / "dotfiles"
    outer.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=outer, check=True)
    (outer / ".gitignore").write_text("*\n!.gitignore\n")
    result = new(str(outer / "proj"), "-y")
    assert result.exit_code == 0, result.output
    assert "as a git repository with a first commit" in result.stdout
    assert (outer / "proj" / ".git").is_dir()


def test_an_existing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("data\n")
    result = new(str(tmp_path / "taken"), "-y")
    assert result.exit_code == 1
    assert "is not a folder" in result.stderr
    assert (tmp_path / "taken").read_text() == "data\n"


def test_a_missing_parent_folder_is_refused(tmp_path: Path) -> None:
    result = new(str(tmp_path / "missing" / "proj"), "-y")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_parent_folder_is_refused(tmp_path: Path) -> None:
    # Refused for root too: a folder without write bits is read-only on purpose.
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = new(str(parent / "proj"), "-y")
    finally:
        parent.chmod(0o755)
    assert result.exit_code == 1
    assert "is not writable" in result.stderr
    assert list(parent.iterdir()) == []


def test_a_parent_where_no_folder_can_be_made_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "mkdir", no_space)
    result = new(str(tmp_path / "proj"), "-y")
    assert result.exit_code == 1
    assert f"Cannot write into {tmp_path}: No space left on device." in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_system_folder_is_refused() -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc")
    result = new("/proc/jaxscaffold-test-project", "-y")
    assert result.exit_code == 1
    assert "The folder /proc is not writable." in result.stderr


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (CopierAnswersInterrupt(None, None, None), "Cancelled; nothing was written."),  # type: ignore[arg-type]
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
)
def test_a_failure_while_rendering_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    message: str,
) -> None:
    def half_then_fail(src_path: str, dst_path: Path, **kwargs: Any) -> NoReturn:
        (Path(dst_path) / "pyproject.toml").write_text("half-written\n")
        raise error

    monkeypatch.setattr("copier.run_copy", half_then_fail)
    result = new(str(tmp_path / "proj"), "-y")
    assert result.exit_code == 1
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_cli_never_imports_jax(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from scaffold.cli import app\n"
        f"result = CliRunner().invoke(app, ['new', {str(tmp_path / 'p')!r}, '-y'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = {'jax', 'jaxlib', 'flax', 'optax', 'orbax', 'numpy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_in_a_terminal_only_unanswered_questions_are_asked(tmp_path: Path) -> None:
    status, text = in_terminal(tmp_path, ["--model-type=cnn"], [])
    assert status == 0, text
    assert "Default number of training epochs" in text
    assert "Optax optimizer" in text
    assert "Model to train" not in text  # Given as a flag.
    answers = answers_of(tmp_path / "proj")
    assert (answers["model_type"], answers["optimizer"]) == ("cnn", "adam")


def test_the_prompt_names_the_question_an_answer_of_the_wrong_type_is_for(
    tmp_path: Path,
) -> None:
    given = ["--framework=flax-nnx", "--model-type=mlp", "--optimizer=adam"]
    given += ["--lr-schedule=constant", "--batch-size=32", "--learning-rate=0.001"]
    given += ["--seed=0", "--package-name=proj", "--description=Digits"]
    # Only epochs is asked; each answer first clears the default (Ctrl-U).
    replies = [(b"training epochs", b"\x15abc\r"), (b"not 'abc'", b"\x155\r")]
    status, text = in_terminal(tmp_path, given, replies)
    assert status == 0, text
    assert "epochs takes a whole number, such as 30, not 'abc'." in text
    assert answers_of(tmp_path / "proj")["epochs"] == 5


def in_terminal(
    folder: Path, flags: list[str], replies: list[tuple[bytes, bytes]]
) -> tuple[int, str]:
    """Runs `jaxscaffold new proj FLAGS` in `folder` in a terminal, as a person does.

    Types each reply's text once the screen shows what it answers; with none left,
    Enter whenever the program waits, taking the prompt's default. Returns the exit
    status and everything the terminal showed.
    """
    pid, terminal = pty.fork()
    if pid == 0:  # The child: jaxscaffold in a terminal.
        try:
            os.chdir(folder)
            os.execv(  # noqa: S606 - runs this interpreter directly, no shell.
                sys.executable,
                [sys.executable, "-m", "scaffold", "new", "proj", *flags],
            )
        finally:
            os._exit(127)  # Only if exec failed: never return into pytest.
    screen, start = b"", 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if replies and (found := screen.find(replies[0][0], start)) >= 0:
                start = found + len(replies[0][0])
                os.write(terminal, replies.pop(0)[1])
            try:
                if not select.select([terminal], [], [], 0.5)[0]:
                    if not replies:
                        os.write(terminal, b"\r")  # At a prompt: its default.
                    continue
                chunk = os.read(terminal, 4096)
            except OSError:  # The child closed the terminal: it has finished.
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")
