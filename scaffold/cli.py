"""The `jaxscaffold` command line.

Commands declare their options and call one plain function of `scaffold`. Every error
a user can cause, from a bad flag to an existing folder, ends as one red line on stderr
and a non-zero exit.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from scaffold import __version__
from scaffold.errors import ScaffoldError
from scaffold.generate import (
    cast_answer,
    choices,
    enclosing_work_tree,
    new_project,
    parse_data,
    questions,
    read_answers,
)

# What `--help` shows for the value of an option, by the question's type.
METAVARS = {"int": "N", "float": "X", "str": "TEXT", "bool": "yes|no"}


def _error(message: str) -> None:
    """Prints `message` as the one line of an error."""
    sentence = message if message.endswith((".", "!", "?")) else f"{message}."
    typer.secho(f"Error: {sentence}", err=True, fg=typer.colors.RED)


class _BareHelp:
    """Shows `--help` without a value type, as every other flag."""

    def get_help_option(self, ctx: Any) -> Any:  # noqa: ANN401 - click's types.
        """The help option, without a metavar."""
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class _Command(_BareHelp, TyperCommand):
    """A command of `jaxscaffold`."""


class _OneLineErrors(_BareHelp, TyperGroup):
    """Reports usage errors (a bad flag value, a missing argument) in one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,  # noqa: ANN401 - passed on to click as it is.
    ) -> Any:  # noqa: ANN401 - whatever the command returns, as click's.
        """Runs the command; in standalone mode, click's errors become one line."""
        run = functools.partial(
            super().main,
            args,
            prog_name,
            complete_var,
            standalone_mode=False,
            windows_expand_args=windows_expand_args,
            **extra,
        )
        if not standalone_mode:
            return run()
        try:
            code = run()
        except typer.TyperException as error:
            _error(error.format_message())
            sys.exit(error.exit_code)
        except typer.Abort:
            _error("Aborted; nothing was written.")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Start a JAX training project: model, Optax optimizer, jitted training "
    "loop, Orbax checkpoints, command line and tests.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    """Prints the version and exits, before any other option is looked at."""
    if value:
        typer.echo(f"jaxscaffold {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Start a JAX training project, tests included."""


def _data_option(help: str) -> Any:  # noqa: ANN401 - typer's OptionInfo.
    """The repeatable `--data KEY=VALUE` option, with `help`."""
    return typer.Option("--data", "-d", metavar="KEY=VALUE", help=help)


def new(
    path: Annotated[
        Path,
        typer.Argument(
            help="Folder to create (new or empty); its name is the project's name.",
            show_default=False,
        ),
    ],
    defaults: Annotated[
        bool,
        typer.Option(
            "--defaults",
            "-y",
            help="Ask nothing: questions without a flag take their defaults.",
            metavar="",
        ),
    ] = False,
    data: Annotated[
        list[str] | None,
        _data_option("Answer any template question, e.g. -d description='Digits'."),
    ] = None,
    git: Annotated[
        bool,
        typer.Option(
            help="Make the project a git repository with a first commit (skipped "
            "inside a git work tree that tracks it, or without git).",
            metavar="",
        ),
    ] = True,
    **flags: Any,  # noqa: ANN401 - one option per question of copier.yml.
) -> None:
    """Generate a training project in PATH.

    Flags answer the template's questions; in a terminal the others are asked,
    otherwise (or with --defaults) they take their defaults.
    """
    try:
        answers = parse_data(data or [])
        # Flags are read as text and cast as -d and the prompt cast: the same bad
        # value gets the same sentence wherever it comes from.
        answers.update(
            {key: cast_answer(key, text) for key, text in flags.items() if text}
        )
        prompt = not defaults and sys.stdin.isatty() and sys.stdout.isatty()
        project = new_project(path, answers=answers, prompt=prompt, init_git=git)
    except ScaffoldError as error:
        _error(str(error))
        raise typer.Exit(code=1) from None
    package = read_answers(project)["package_name"]
    if (project / ".git").is_dir():
        typer.secho(
            f"Created {project} as a git repository with a first commit.",
            fg=typer.colors.GREEN,
        )
    elif around := enclosing_work_tree(project):
        typer.secho(f"Created {project}.", fg=typer.colors.GREEN)
        typer.echo(
            f"It is inside the git work tree of {around}, so it has no repository "
            "of its own. Commit it there before `jaxscaffold update`, or move it "
            "out and run `git init` in it."
        )
    else:
        typer.secho(f"Created {project}, without git.", fg=typer.colors.GREEN)
    typer.echo(
        "Next:\n"
        f"  cd {project}\n"
        "  python -m pip install -e '.[test]'\n"
        f"  {package} train\n"
        "  python -m pytest"
    )


def _default_text(name: str, spec: dict[str, Any]) -> str:
    """A question's default as `--help` shows it, spelling out a computed one."""
    if isinstance(spec.get("default"), bool):
        return "yes" if spec["default"] else "no"
    default = str(spec.get("default", ""))
    if "{{" not in default:
        return default
    if name == "package_name":
        return "the project's name in lowercase, '-' and '.' as '_'"
    import jinja2.meta

    # Copier's filters, such as strftime, as its defaults use them.
    jinja = jinja2.Environment(  # noqa: S701 - not HTML.
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]
    )
    source = default.strip()
    names = jinja2.meta.find_undeclared_variables(jinja.parse(source))
    render = jinja.from_string(source).render
    asked = [other for other in names if "choices" in questions().get(other, {})]
    if not asked:
        # Free answers, or none: the default with each answer named in its place.
        return render({other: f"<{other.replace('_', ' ')}>" for other in names})
    if len(asked) != 1:
        return "computed from the other answers"
    # A default computed from one multiple-choice answer: its value for each choice.
    values = [f"{choice} {render({asked[0]: choice})}" for choice in choices(asked[0])]
    return f"by {asked[0].replace('_', ' ')}: {', '.join(values)}"


def _question_options() -> list[inspect.Parameter]:
    """An option per question of `copier.yml` (but the project's name, PATH's)."""
    options = []
    for name, spec in questions().items():
        if name == "project_name":
            continue
        help = spec["help"].rstrip(".")
        if "choices" in spec:
            help += f": {' | '.join(choices(name))}"
        help += f" (default: {_default_text(name, spec).rstrip('.')})."
        metavar = "NAME" if "choices" in spec else METAVARS.get(spec["type"], "TEXT")
        option = typer.Option(help=help, metavar=metavar, show_default=False)
        annotation = Annotated[str | None, option]
        options.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=annotation,
            )
        )
    return options


# Typer reads a command's options from its signature: `new` takes `copier.yml`'s.
_signature = inspect.signature(new, eval_str=True)
new.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[
        *(p for p in _signature.parameters.values() if p.kind != p.VAR_KEYWORD),
        *_question_options(),
    ]
)
app.command(cls=_Command)(new)


@app.command(cls=_Command)
def update(
    path: Annotated[
        Path,
        typer.Argument(
            help="The generated project, committed to git.", show_default=False
        ),
    ] = Path(),
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="VERSION",
            help=f"Template release to update to (default: {__version__}, this "
            "jaxscaffold's).",
        ),
    ] = None,
    data: Annotated[
        list[str] | None,
        _data_option(
            "Change an answer, e.g. -d optimizer=adamw; what depends on it is "
            "generated again."
        ),
    ] = None,
) -> None:
    """Bring template changes into a generated project, keeping your edits.

    Works offline, from the template releases this jaxscaffold carries.
    The project must be committed to git with a clean tree; review the
    result with `git diff`. Where your edits and the template's changes
    clash, the file gets conflict markers, and the command lists it and
    exits with status 1.
    """
    from scaffold.update import update_project

    try:
        result = update_project(path, to=to, data=parse_data(data or []))
    except ScaffoldError as error:
        _error(str(error))
        raise typer.Exit(code=1) from None
    moved = (
        f"from template {result.old} to {result.new}"
        if result.old != result.new
        else f"at template {result.new}"
    )
    if not result.changed:
        typer.echo(f"{result.project} is up to date {moved}; nothing changed.")
        return
    count = len(result.changed)
    typer.secho(
        f"Updated {result.project} {moved}: {count} file{'s' * (count != 1)} changed.",
        fg=typer.colors.GREEN,
    )
    for name in result.changed:
        typer.echo(f"  {name}")
    if result.conflicts:
        listed = ", ".join(result.conflicts)
        _error(
            f"Your edits clash with the template's changes in {listed}; "
            "resolve the <<<<<<< markers there, then commit"
        )
        raise typer.Exit(code=1)
    typer.echo("Review the changes with `git diff`, then commit them.")


def main() -> None:
    """Runs the `jaxscaffold` command line."""
    app()
