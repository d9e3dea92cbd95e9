"""The repository around a generated project: CI, pre-commit, a license, updates.

Each is a question of `copier.yml`. The workflows are checked against GitHub's
schema as check-jsonschema vendors it, offline; CI's commands run, in order, in a
fresh virtual environment; the pre-commit hooks run on a fresh project; and the
update workflow's install step and script run against local stand-ins for the
template's repository, GitHub's `gh` and the pushed-to remote.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import sysconfig
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_copie.plugin import Copie
from typer.testing import CliRunner

from scaffold.cli import app
from scaffold.history import TEMPLATE_URL
from tests.conftest import (
    CI_COMBINATION,
    Project,
    combination_id,
    render,
    run,
)
from tests.test_update import (
    GIT_IDENTITY,
    NEW_LINE,
    OLD_LINE,
    build_releases,
    edit,
    git,
    jaxscaffold,
    set_version,
)

REPOSITORY_QUESTIONS = {"ci", "pre_commit", "license", "update_workflow"}
CI = ".github/workflows/ci.yml"
UPDATE = ".github/workflows/update.yml"
UPDATE_SCRIPT = ".github/update.sh"
PRE_COMMIT = ".pre-commit-config.yaml"
# Any request for the web goes to a closed port.
OFFLINE = dict.fromkeys(
    ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), "http://127.0.0.1:9"
)
# Each license's text with its copyright line as the standard text has it, words
# joined by single spaces: SHA-256 of the SPDX texts (license-list-XML, the
# default of each alternative), and of apache.org's LICENSE-2.0.txt byte for byte.
LICENSE_TEXTS = {
    "MIT": (
        "Copyright (c) <year> <copyright holders>",
        "c963879647034d6c5d7027d8e2b024213589b749d11ba7320032802307bced9c",
    ),
    "BSD-3-Clause": (
        "Copyright (c) <year> <owner>.",
        "65e7987f847f2785421ef9f25c5fa9f23ae284b4c37894d1bc956dc751d36cf2",
    ),
    "Apache-2.0": (
        "Copyright [yyyy] [name of copyright owner]",
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    ),
}
COPYRIGHT_LINES = {
    "MIT": "Copyright (c) {year} {holder}",
    "BSD-3-Clause": "Copyright (c) {year} {holder}",
    "Apache-2.0": "Copyright {year} {holder}",
}


def workflow(project: Project, name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((project.path / name).read_text())
    return loaded


def extra_requirements(project: Project) -> list[str]:
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    extra: list[str] = pyproject["project"]["optional-dependencies"]["test"]
    return extra


def repository_files(project: Project) -> set[str]:
    """The files of the repository questions that a project holds."""
    names = {CI, UPDATE, UPDATE_SCRIPT, PRE_COMMIT, "LICENSE"}
    return {name for name in names if (project.path / name).is_file()}


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"ci": False},
        {"pre_commit": False},
        {"update_workflow": False},
        {"license": "none"},
        {"ci": False, "update_workflow": False},
        {"ci": False, "pre_commit": False, "license": "none", "update_workflow": False},
    ],
    ids=lambda answers: "-".join(f"{k}={v}" for k, v in answers.items()) or "all",
)
def test_each_question_adds_its_files_only_when_on(
    copie: Copie, answers: dict[str, Any]
) -> None:
    project = render(copie, project_name="my-project", **answers)
    on = {
        "ci": answers.get("ci", True),
        "pre_commit": answers.get("pre_commit", True),
        "license": answers.get("license", "MIT") != "none",
        "update_workflow": answers.get("update_workflow", True),
    }
    expected = {
        *([CI] if on["ci"] else []),
        *([PRE_COMMIT] if on["pre_commit"] else []),
        *(["LICENSE"] if on["license"] else []),
        *([UPDATE, UPDATE_SCRIPT] if on["update_workflow"] else []),
    }
    assert repository_files(project) == expected
    # No empty folder is left where every file was skipped.
    github = project.path / ".github"
    assert github.exists() == (on["ci"] or on["update_workflow"])
    assert (
        any(name.startswith("pre-commit>=") for name in extra_requirements(project))
        == (on["pre_commit"])
    )
    readme = (project.path / "README.md").read_text()
    assert ("`pre-commit install`" in readme) == on["pre_commit"]
    assert (CI in readme) == on["ci"]
    assert (UPDATE in readme) == on["update_workflow"]
    assert "uv sync --extra test" in readme
    assert "uv run my_project train" in readme

    # Recorded for updates: the answers, and the copyright only with a license.
    recorded = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert recorded.keys() >= REPOSITORY_QUESTIONS
    assert recorded["ci"] is on["ci"]
    has_copyright = {"copyright_holder", "copyright_year"} <= recorded.keys()
    assert has_copyright == on["license"]


@pytest.mark.parametrize("license_id", ["MIT", "Apache-2.0", "BSD-3-Clause"])
def test_the_license_is_its_standard_text_and_pyproject_names_it(
    copie: Copie, license_id: str
) -> None:
    project = render(
        copie,
        license=license_id,
        copyright_holder="Ada Lovelace & Co",
        copyright_year="2024-2026",
    )
    text = (project.path / "LICENSE").read_text()
    copyright = COPYRIGHT_LINES[license_id].format(
        year="2024-2026", holder="Ada Lovelace & Co"
    )
    assert text.count(copyright) == 1, text
    placeholder, digest = LICENSE_TEXTS[license_id]
    standard = text.replace(copyright, placeholder)
    if license_id != "Apache-2.0":  # The SPDX texts are compared word for word.
        standard = " ".join(standard.split())
    assert hashlib.sha256(standard.encode()).hexdigest() == digest
    metadata = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert metadata["project"]["license"] == license_id
    assert metadata["project"]["license-files"] == ["LICENSE"]


def test_no_license_means_no_file_and_no_license_field(copie: Copie) -> None:
    project = render(copie, license="none")
    assert not (project.path / "LICENSE").exists()
    metadata = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert "license" not in metadata["project"]
    assert "license-files" not in metadata["project"]
    assert "**License.** None" in (project.path / "README.md").read_text()


def test_the_copyright_defaults_to_this_year_and_the_projects_authors(
    copie: Copie,
) -> None:
    project = render(copie, project_name="digits")
    year = str(datetime.datetime.now(tz=datetime.UTC).year)
    assert project.answers["copyright_year"] == year
    assert project.answers["copyright_holder"] == "The digits authors"
    license_text = (project.path / "LICENSE").read_text()
    assert f"Copyright (c) {year} The digits authors\n" in license_text


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"license": "GPL-3.0"}, "Invalid choice"),
        ({"copyright_year": "next year"}, "a year such as 2026"),
        ({"copyright_year": "26"}, "a year such as 2026"),
        ({"copyright_holder": "two\nlines"}, "one non-empty line"),
        ({"copyright_holder": ""}, "one non-empty line"),
    ],
)
def test_plain_copier_refuses_bad_license_answers(
    copie: Copie, answers: dict[str, Any], message: str
) -> None:
    result = copie.copy(extra_answers={"project_name": "ok", **answers})
    assert result.exception is not None
    assert message in str(result.exception)


def test_jaxscaffold_new_takes_each_question_as_a_flag(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            *("new", str(tmp_path / "digits"), "--no-git", "--ci", "no"),
            *("--pre-commit", "False", "--update-workflow", "n"),
            *("--license", "apache-2.0", "--copyright-holder", "Ada Lovelace"),
        ],
    )
    assert result.exit_code == 0, result.output
    project = tmp_path / "digits"
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["license"] == "Apache-2.0"
    assert recorded["copyright_holder"] == "Ada Lovelace"
    assert (recorded["ci"], recorded["pre_commit"], recorded["update_workflow"]) == (
        False,
        False,
        False,
    )
    assert not (project / ".github").exists()
    assert "Copyright 20" in (project / "LICENSE").read_text()

    # Not yes or no: refused, as Copier itself would take it for yes.
    for args in (["--ci", "maybe"], ["-d", "ci=maybe"]):
        result = runner.invoke(app, ["new", str(tmp_path / "other"), *args])
        assert result.exit_code == 1
        assert "ci takes yes or no, not 'maybe'" in result.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("license_id", ["MIT", "none"])
def test_a_built_wheel_declares_the_license(
    copie: Copie, tmp_path: Path, license_id: str
) -> None:
    project = render(copie, project_name="digits", license=license_id)
    built = run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(tmp_path)),
            str(project.path),
        ],
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("digits-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(
            archive.read("digits-0.1.0.dist-info/METADATA").decode()
        )
        names = archive.namelist()
    if license_id == "none":
        assert "License-Expression" not in metadata
        assert not [name for name in names if "/licenses/" in name]
    else:
        assert metadata["License-Expression"] == license_id
        assert metadata["License-File"] == "LICENSE"
        assert "digits-0.1.0.dist-info/licenses/LICENSE" in names


def check_jsonschema(*files: Path) -> Any:
    """Validates workflows against GitHub's schema as check-jsonschema vendors it."""
    return run(
        [
            *(sys.executable, "-m", "check_jsonschema", "--no-cache"),
            *("--builtin-schema", "vendor.github-workflows", *map(str, files)),
        ],
        cwd=files[0].parent,
        env={**os.environ, **OFFLINE},
    )


def test_workflows_are_valid_for_github_offline(copie: Copie, tmp_path: Path) -> None:
    project = render(copie)
    files = [project.path / CI, project.path / UPDATE]
    result = check_jsonschema(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    # The schema is really applied: a misspelt key fails it.
    broken = tmp_path / "broken.yml"
    broken.write_text((project.path / CI).read_text().replace("steps:", "stepz:"))
    result = check_jsonschema(broken)
    assert result.returncode == 1
    assert "'stepz' was unexpected" in result.stdout


def test_ci_lints_and_tests_with_the_compilation_cache(copie: Copie) -> None:
    ci = workflow(render(copie), CI)
    triggers = ci[True]  # YAML 1.1 reads the key `on` as true.
    assert triggers["push"] == {"branches": ["main", "master"]}
    assert "pull_request" in triggers
    assert ci["permissions"] == {"contents": "read"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    (job,) = ci["jobs"].values()
    assert job["timeout-minutes"] > 0
    assert job["env"]["JAX_PLATFORMS"] == "cpu"
    assert job["env"]["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    cache_dir = job["env"]["JAX_COMPILATION_CACHE_DIR"]
    assert cache_dir.startswith("${{ github.workspace }}/")
    steps = {step.get("uses", "").partition("@")[0]: step for step in job["steps"]}
    python = steps["actions/setup-python"]["with"]
    assert python["cache"] == "pip"
    assert python["cache-dependency-path"] == "pyproject.toml"
    cache = steps["actions/cache"]["with"]
    assert cache["path"] == "${{ env.JAX_COMPILATION_CACHE_DIR }}"
    assert "hashFiles('src/**', 'pyproject.toml')" in cache["key"]
    assert cache["key"].startswith(cache["restore-keys"])
    assert [step["run"] for step in job["steps"] if "run" in step] == [
        'python -m pip install -e ".[test]"',
        "ruff check .",
        "ruff format --check .",
        "python -m pytest",
    ]


def test_the_update_workflow_is_monthly_and_may_open_pull_requests(
    copie: Copie,
) -> None:
    update = workflow(render(copie), UPDATE)
    triggers = update[True]
    (schedule,) = triggers["schedule"]
    _minute, _hour, day, month, weekday = schedule["cron"].split()
    assert (day, month, weekday) == ("1", "*", "*")
    assert "workflow_dispatch" in triggers
    assert update["permissions"] == {"contents": "write", "pull-requests": "write"}
    (job,) = update["jobs"].values()
    assert job["env"]["TEMPLATE_URL"] == TEMPLATE_URL
    # The workflow's own token, unless the repository has one that may push
    # workflow files and start CI.
    expression = "${{ secrets.TEMPLATE_UPDATE_TOKEN || github.token }}"
    (checkout,) = [s for s in job["steps"] if "actions/checkout" in s.get("uses", "")]
    assert checkout["with"]["token"] == expression
    (propose,) = [step for step in job["steps"] if UPDATE_SCRIPT in step.get("run", "")]
    assert propose["env"] == {"GH_TOKEN": expression}


def test_pre_commit_hooks_run_the_projects_ruff_offline(
    copie: Copie, tmp_path: Path
) -> None:
    project = render(copie)
    env = {
        **os.environ,
        **OFFLINE,
        **GIT_IDENTITY,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        # The ruff of this environment, as the test extra installs it.
        "PATH": f"{sysconfig.get_path('scripts')}{os.pathsep}{os.environ['PATH']}",
    }

    def pre_commit(*args: str) -> Any:
        return run(
            [sys.executable, "-m", "pre_commit", *args], cwd=project.path, env=env
        )

    result = pre_commit("validate-config", PRE_COMMIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower()
    git("init", "--quiet", cwd=project.path)
    git("add", "--all", cwd=project.path)
    result = pre_commit("run", "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ruff check" in result.stdout
    assert "ruff format" in result.stdout

    # The hooks fix what they can, and fail the commit so that it can be looked at.
    messy = project.path / "src" / project.package / "messy.py"
    messy.write_text("import os\nx = {'a':1}\n")
    git("add", "--all", cwd=project.path)
    result = pre_commit("run", "--all-files")
    assert result.returncode == 1
    assert "files were modified by this hook" in result.stdout
    assert messy.read_text() == 'x = {"a": 1}\n'


def fake_command(folder: Path, name: str, body: str) -> None:
    """Writes an executable Python script `name` into `folder`."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


def run_step(
    command: str, *, cwd: Path, env: dict[str, str], timeout: float = 600
) -> Any:
    """Runs a step's `run:` as GitHub's runners do, with `bash -e`."""
    return run(["bash", "-e", "-c", command], cwd=cwd, env=env, timeout=timeout)


def test_the_update_workflow_installs_the_newest_release(
    copie: Copie, tmp_path: Path
) -> None:
    project = render(copie)
    (job,) = workflow(project, UPDATE)["jobs"].values()
    (install,) = [step for step in job["steps"] if "pip install" in step.get("run", "")]
    # The template's repository, with release tags among others.
    template = tmp_path / "template"
    template.mkdir()
    git("init", "--quiet", cwd=template)
    git("commit", "--quiet", "--allow-empty", "-m", "Start", cwd=template)
    bin_dir = tmp_path / "bin"
    fake_command(
        bin_dir,
        "python",
        "import json, os, sys\n"
        "with open(os.environ['PYTHON_LOG'], 'a') as log:\n"
        "    log.write(json.dumps(sys.argv[1:]) + '\\n')\n",
    )
    env = {
        **os.environ,
        **job["env"],
        "TEMPLATE_URL": str(template),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHON_LOG": str(tmp_path / "python.log"),
    }
    result = run_step(install["run"], cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert f"No tag vX.Y.Z at {template}" in result.stderr
    assert not (tmp_path / "python.log").exists()

    for name in ("v0.2.0", "v0.10.0", "v0.9.3", "v1.0.0rc1", "latest", "xv9.9.9"):
        git("tag", name, cwd=template)
    result = run_step(install["run"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    calls = [
        json.loads(line) for line in (tmp_path / "python.log").read_text().splitlines()
    ]
    assert calls == [["-m", "pip", "install", f"git+{template}@v0.10.0"]]


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkouts of this template as release v1, and of v2, which rewords a line."""

    def reword(checkout: Path) -> None:
        edit(checkout / "template" / "README.md.jinja", OLD_LINE, NEW_LINE)
        set_version(checkout, "2")

    return build_releases(tmp_path_factory.mktemp("releases"), reword)


class Remote:
    """A project pushed to a bare repository, as GitHub holds it, and a fake `gh`."""

    def __init__(self, project: Path, tmp_path: Path) -> None:
        self.project = project
        self.origin = tmp_path / "origin.git"
        git("init", "--quiet", "--bare", str(self.origin), cwd=tmp_path)
        git("branch", "--move", "main", cwd=project)
        git("remote", "add", "origin", str(self.origin), cwd=project)
        git("push", "--quiet", "origin", "main", cwd=project)
        self.bin = tmp_path / "bin"
        self.log = tmp_path / "gh.log"
        # `gh pr list` answers as the script's --jq asks: number and branch.
        fake_command(
            self.bin,
            "gh",
            "import json, os, sys\n"
            "args = sys.argv[1:]\n"
            "with open(os.environ['GH_LOG'], 'a') as log:\n"
            "    log.write(json.dumps(args) + '\\n')\n"
            "if args[:2] == ['pr', 'create']:\n"
            "    print('https://github.com/ada/digits/pull/8')\n"
            "elif args[:2] == ['pr', 'list']:\n"
            "    assert args[args.index('--jq') + 1] == "
            "'.[] | \"\\\\(.number) \\\\(.headRefName)\"', args\n"
            "    for number, branch in json.loads(os.environ['GH_OPEN']):\n"
            "        print(number, branch)\n",
        )

    def update(
        self, release: Path, open_prs: list[tuple[int, str]] | None = None
    ) -> Any:
        """Runs the project's update script as the workflow does, with `release`."""
        fake_command(
            self.bin,
            "jaxscaffold",
            "import os, sys\n"
            "os.execv(sys.executable, "
            "[sys.executable, '-m', 'scaffold', *sys.argv[1:]])\n",
        )
        # A runner's git knows no user; the script names the committer itself.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(release),
            "GH_LOG": str(self.log),
            "GH_OPEN": json.dumps(open_prs or []),
            "GH_TOKEN": "token",
        }
        return run(["bash", UPDATE_SCRIPT], cwd=self.project, env=env)

    def calls(self) -> list[list[str]]:
        """The commands `gh` was given, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def show(self, branch: str, name: str) -> str:
        """A file as the remote holds it on `branch`."""
        return git("show", f"{branch}:{name}", cwd=self.origin)


def new_project(release: Path, tmp_path: Path) -> Path:
    """A project made by `release`'s `jaxscaffold new`, committed by it."""
    made = jaxscaffold(release, "new", "digits", "-y", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path / "digits"


def option(call: list[str], name: str) -> str:
    """The value of option `name` in a recorded command line."""
    return call[call.index(name) + 1]


def test_the_update_script_proposes_a_release_keeping_clashing_edits(
    releases: dict[str, Path], tmp_path: Path
) -> None:
    project = new_project(releases["v1"], tmp_path)
    edit(project / "README.md", OLD_LINE, "on my own digits, with checkpoints saved by")
    git("commit", "--quiet", "--all", "-m", "Reword", cwd=project)
    remote = Remote(project, tmp_path)
    main = git("rev-parse", "main", cwd=remote.origin)

    result = remote.update(
        releases["v2"], open_prs=[(5, "feature"), (7, "jaxscaffold/update-v0.9.0")]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    branch = "jaxscaffold/update-v2"
    # The clash is committed with both sides and markers, never the template's alone.
    readme = remote.show(branch, "README.md")
    assert "on my own digits, with checkpoints saved by" in readme
    assert NEW_LINE in readme
    assert "<<<<<<< before updating" in readme
    assert ">>>>>>> after updating" in readme
    assert yaml.safe_load(remote.show(branch, ".copier-answers.yml"))["_commit"] == "v2"
    assert git("log", "-1", "--format=%an", branch, cwd=remote.origin).strip() == (
        "github-actions[bot]"
    )
    assert git("rev-parse", "main", cwd=remote.origin) == main

    create, listed, close = remote.calls()
    assert create[:2] == ["pr", "create"]
    assert option(create, "--base") == "main"
    assert option(create, "--head") == branch
    assert option(create, "--title") == "Update the template to jaxscaffold v2"
    body = option(create, "--body")
    assert "from v1 to v2" in body
    assert "clash with the template's changes" in body
    assert "\n- `README.md`" in body
    assert body.count("\n- ") == 1, body
    assert listed[:2] == ["pr", "list"]
    # The earlier release's pull request is superseded; others are left alone.
    assert close == [
        *("pr", "close", "7", "--comment"),
        "Superseded by https://github.com/ada/digits/pull/8.",
    ]

    # A later run finds the release proposed, and keeps what its branch holds.
    git("switch", "--quiet", "--force", "main", cwd=project)
    git("clean", "--quiet", "--force", "-d", cwd=project)
    proposed = git("rev-parse", branch, cwd=remote.origin)
    result = remote.update(releases["v2"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"already proposed on the branch {branch}" in result.stdout
    assert git("rev-parse", branch, cwd=remote.origin) == proposed
    assert len(remote.calls()) == 3


def test_the_update_script_says_when_nothing_clashes_or_changes(
    releases: dict[str, Path], tmp_path: Path
) -> None:
    project = new_project(releases["v1"], tmp_path)
    remote = Remote(project, tmp_path)
    result = remote.update(releases["v2"])
    assert result.returncode == 0, result.stdout + result.stderr
    (create, _) = remote.calls()
    body = option(create, "--body")
    assert "none clashes with its changes" in body
    readme = remote.show("jaxscaffold/update-v2", "README.md")
    assert NEW_LINE in readme
    assert "<<<<<<< before updating" not in readme

    # Merged, the project is up to date: nothing is pushed or proposed.
    git("push", "--quiet", "origin", "jaxscaffold/update-v2:main", cwd=project)
    git("switch", "--quiet", "main", cwd=project)
    git("pull", "--quiet", "--ff-only", "origin", "main", cwd=project)
    result = remote.update(releases["v2"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date at template v2" in result.stdout
    assert len(remote.calls()) == 2
    # A jaxscaffold older than the project refuses, and so the workflow fails.
    result = remote.update(releases["v1"])
    assert result.returncode == 1
    assert "newer than this jaxscaffold" in result.stderr
    assert len(remote.calls()) == 2
    assert git("status", "--porcelain", cwd=project) == ""


@pytest.mark.slow
def test_ci_commands_pass_in_a_fresh_environment(copie: Copie, tmp_path: Path) -> None:
    """Each `run:` of ci.yml in order, with the job's environment, as on a runner.

    The last runs the generated suite whole: this is the default combination's run
    of it (tests/test_generated.py leaves it out).
    """
    project = render(copie, project_name="ci-project")
    chosen = ("framework", "model_type", "optimizer")
    assert combination_id({key: project.answers[key] for key in chosen}) == (
        CI_COMBINATION
    )
    (job,) = workflow(project, CI)["jobs"].values()
    job_env = {
        name: str(value).replace("${{ github.workspace }}", str(project.path))
        for name, value in job["env"].items()
    }
    assert not [value for value in job_env.values() if "${{" in value], job_env
    # A fresh environment that sees this one's packages through a .pth file, so
    # installing needs no download. Not --system-site-packages: from a virtual
    # environment, that shows the base interpreter's packages instead, pytest
    # plugins included, which a runner would not have.
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (site,) = venv.glob("lib/python*/site-packages")
    paths = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "outer.pth").write_text("".join(f"{path}\n" for path in paths))
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        # No index: pip installs from this environment's packages alone, without
        # build isolation (which pip reads "0" as turning off). No proxy either: the
        # suite serves downloads and joins processes on 127.0.0.1.
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "VIRTUAL_ENV": str(venv),
        # The venv first; then this environment's scripts, such as ruff, which pip
        # leaves where they are since their packages are installed already.
        "PATH": os.pathsep.join(
            [str(venv / "bin"), sysconfig.get_path("scripts"), os.environ["PATH"]]
        ),
        **job_env,
    }
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands[-1] == "python -m pytest"
    for command in commands:
        # The whole suite trains in killed processes and process groups: minutes.
        result = run_step(command, cwd=project.path, env=env, timeout=1800)
        report = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}:\n{report}"
    assert " passed" in report
    assert " failed" not in report
    assert " skipped" not in report
    assert any((project.path / ".jax-cache").iterdir())
