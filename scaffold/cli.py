"""The `jaxscaffold` command line.

Commands declare their options and call one plain function of `scaffold`. Every error
a user can cause, from a bad flag to an existing folder, ends as one red line on stderr
and a non-zero exit.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from scaffold import __version__
from scaffold.errors import ScaffoldError
from scaffold.generate import choices, new_project, parse_data, read_answers


def _error(message: str) -> None:
    """Prints `message` as the one line of an error."""
    sentence = message if message.endswith((".", "!", "?")) else f"{message}."
    typer.secho(f"Error: {sentence}", err=True, fg=typer.colors.RED)


class _OneLineErrors(TyperGroup):
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
        ),
    ] = False,
) -> None:
    """Start a JAX training project, tests included."""


@app.command()
def new(
    path: Annotated[
        Path,
        typer.Argument(
            help="Folder to create (new or empty); its name is the project's name.",
            show_default=False,
        ),
    ],
    framework: Annotated[
        str | None,
        typer.Option(help=f"Library: {' | '.join(choices('framework'))}."),
    ] = None,
    model_type: Annotated[
        str | None,
        typer.Option(help=f"Model: {' | '.join(choices('model_type'))}."),
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(help=f"Optax optimizer: {' | '.join(choices('optimizer'))}."),
    ] = None,
    lr_schedule: Annotated[
        str | None,
        typer.Option(
            help=f"Learning-rate schedule: {' | '.join(choices('lr_schedule'))}."
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Default number of training epochs.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Default examples per training step.")
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(help="Default peak learning rate (default: the optimizer's)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Default random seed.")
    ] = None,
    package_name: Annotated[
        str | None,
        typer.Option(
            help="Import name of the package (default: from the folder name)."
        ),
    ] = None,
    defaults: Annotated[
        bool,
        typer.Option(
            "--defaults",
            "-y",
            help="Ask nothing: questions without a flag take their defaults.",
        ),
    ] = False,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            metavar="KEY=VALUE",
            help="Answer any template question, e.g. -d description='Digits'.",
        ),
    ] = None,
) -> None:
    """Generate a training project in PATH.

    Flags answer the template's questions; in a terminal the others are asked,
    otherwise (or with --defaults) they take their defaults.
    """
    flags = {
        "framework": framework,
        "model_type": model_type,
        "optimizer": optimizer,
        "lr_schedule": lr_schedule,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "package_name": package_name,
    }
    try:
        answers = parse_data(data or [])
        answers.update(
            {key: value for key, value in flags.items() if value is not None}
        )
        prompt = not defaults and sys.stdin.isatty() and sys.stdout.isatty()
        project = new_project(path, answers=answers, prompt=prompt)
    except ScaffoldError as error:
        _error(str(error))
        raise typer.Exit(code=1) from None
    package = read_answers(project)["package_name"]
    typer.secho(f"Created {project}", fg=typer.colors.GREEN)
    typer.echo(
        "Next:\n"
        f"  cd {project.name}\n"
        "  python -m pip install -e '.[test]'\n"
        f"  {package} train\n"
        "  python -m pytest"
    )


def main() -> None:
    """Runs the `jaxscaffold` command line."""
    app()
