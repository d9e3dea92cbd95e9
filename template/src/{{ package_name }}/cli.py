"""The command line: `train`, `evaluate`, `predict`, `plot`, `bench` and `data`.

`train` and `bench` take each field of `Config` as an option, its comment as help:
a field added to the config is an option at once. JAX loads only when needed, with
its compiled programs cached on disk (in JAX_COMPILATION_CACHE_DIR if set, else
under ~/.cache), so a second run of anything starts without compiling.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn

from .config import Config
from .errors import Stopped, UsageError
from .track import TRACKERS


class _Parser(argparse.ArgumentParser):
    """Reports a bad option in one line, as every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"Error: {message}; see {self.prog} --help.\n")


def _add_config_options(
    parser: argparse.ArgumentParser, only: Sequence[str] = ()
) -> None:
    """Adds `--field-name` for each field of `Config`, its comment as help.

    With `only`, just the fields it names.
    """
    comments: dict[str, str] = {}
    comment, after_field = "", False
    for line in inspect.getsource(Config).splitlines():
        text, name = line.strip(), line.strip().partition(":")[0]
        if text.startswith("#"):
            comment = text[2:] if after_field else f"{comment} {text[2:]}".strip()
            after_field = False
        elif name.isidentifier() and comment:
            comments[name], after_field = comment, True  # b1 and b2 share one.
        else:
            comment, after_field = "", False
    for name, kind in typing.get_type_hints(Config).items():
        if only and name not in only:
            continue
        default = getattr(Config(), name)
        choices = typing.get_args(kind) if typing.get_origin(kind) is Literal else None
        parse: Any = str.lower if choices else type(default)
        metavar = {int: "N", float: "X"}.get(parse)
        if isinstance(default, tuple):  # Sizes, written 256,128.
            parse, metavar = lambda text: tuple(map(int, text.split(","))), "N,N"
            default = ",".join(map(str, default))
        flag, help = (
            f"--{name.replace('_', '-')}",
            f"{comments[name]} (default: {default})",
        )
        parser.add_argument(
            flag, type=parse, choices=choices, metavar=metavar, help=help
        )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line; a dataset's path made absolute."""
    from .data import DATASETS

    names = {field.name for field in dataclasses.fields(Config)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    path = Path(given.get("dataset", "digits")).expanduser()
    if path.exists() and str(path) not in ("digits", "synthetic-mnist", *DATASETS):
        given["dataset"] = str(path.absolute())
    return given


def _parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = _Parser(description=sys.modules[__package__].__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    shown = " (default: %(default)s)"  # Filled in by argparse.
    workdir: Any = {
        "type": Path,
        "default": "runs/default",
        "help": "run folder" + shown,
    }
    checkpoint: Any = {"default": "best", "help": "best, latest or a step" + shown}
    data_dir: Any = {
        "type": Path,
        "help": "where datasets are downloaded and decoded (default: "
        f"$XDG_CACHE_HOME or ~/.cache, then /{__package__}/data)",
    }
    train = commands.add_parser("train", help="train, or resume the workdir's run")
    train.add_argument("--workdir", **workdir)
    train.add_argument("--data-dir", **data_dir)
    train.add_argument("--restart", action="store_true", help="delete the run first")
    train.add_argument(
        "--tracker",
        action="append",
        default=[],
        choices=list(TRACKERS),
        help="also log to TensorBoard or W&B (repeatable; each an extra)",
    )
    _add_config_options(train)
    joined = train.add_argument_group(
        "processes", "launched as several (SLURM and Open MPI set these themselves)"
    )
    for name, kind, about in (
        ("coordinator-address", str, "HOST:PORT where process 0 listens"),
        ("num-processes", int, "processes in all"),
        ("process-id", int, "this process's number, from 0"),
    ):
        variable = f"JAX_{name.upper().replace('-', '_')}"
        joined.add_argument(
            f"--{name}",
            type=kind,
            default=os.environ.get(variable),
            help=f"{about} (default: ${variable})",
        )
    joined.add_argument(
        "--coordinator-timeout", type=int, default=300, help="seconds to wait" + shown
    )
    evaluate = commands.add_parser("evaluate", help="test metrics of a checkpoint")
    evaluate.add_argument("--workdir", **workdir)
    evaluate.add_argument("--checkpoint", **checkpoint)
    evaluate.add_argument("--data-dir", **data_dir)
    predict = commands.add_parser(
        "predict", help="classes of images (.npy, .npz, .png, .jpg)"
    )
    predict.add_argument("images", type=Path)
    predict.add_argument("--workdir", **workdir)
    predict.add_argument("--checkpoint", **checkpoint)
    predict.add_argument("--data-dir", **data_dir)
    predict.add_argument(
        "--output", type=Path, help="an .npz file for the classes (default: print them)"
    )
    plot = commands.add_parser("plot", help="draw the run's curves into an image")
    plot.add_argument("--workdir", **workdir)
    plot.add_argument(
        "--output", type=Path, help=".png, .pdf or .svg (default: WORKDIR/curves.png)"
    )
    bench = commands.add_parser("bench", help="examples/s, compile time, memory")
    bench.add_argument("--steps", type=int, default=50, help="timed steps" + shown)
    bench.add_argument(
        "--peak-tflops", type=float, help="one device's, for a share (default: none)"
    )
    bench.add_argument("--data-dir", **data_dir)
    _add_config_options(bench)
    data = commands.add_parser("data", help="download a dataset, or describe it")
    data.add_argument(
        "action",
        choices=["prepare", "info"],
        help="prepare: download, verify and decode it into the cache (for machines "
        "without a network); info: its shapes, classes, sizes and place",
    )
    data.add_argument("dataset", help="a name, such as mnist, or a path")
    data.add_argument("--data-dir", **data_dir)
    _add_config_options(data, only=("image_size", "test_fraction"))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Runs one command; an error is one line on stderr and a non-zero exit."""
    args = _parser().parse_args(argv)
    try:
        _command(args)
    except KeyboardInterrupt:  # Before training started, or outside `train`.
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    except (UsageError, OSError, MemoryError) as error:
        message = str(error) or "out of memory; try smaller sizes or batches."
        if isinstance(error, OSError):
            message = f"{error.filename or 'a file'}: {error.strerror}."
        # A stop the user asked for is no error; its exit status still says stopped.
        asked = isinstance(error, Stopped)
        print(message if asked else f"Error: {message}", file=sys.stderr)
        if "jax" in sys.modules:  # The run's other processes stop too.
            from .parallel import leave

            leave("" if asked else message, getattr(error, "exit_code", 1))
        sys.exit(getattr(error, "exit_code", 1))


def _command(args: argparse.Namespace) -> None:
    """Runs the command `args` names."""
    if args.command == "plot":
        from .plot import plot

        print(plot(args.workdir, args.output))
        return
    if args.command == "data":
        print(_describe(args))
        return
    import jax

    from . import parallel, run

    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # JAX's own, if given.
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        jax.config.update("jax_compilation_cache_dir", str(cache / __package__ / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

    if args.command == "train":
        started = time.perf_counter()
        parallel.join(
            args.coordinator_address,
            args.num_processes,
            args.process_id,
            args.coordinator_timeout,
        )
        config = run.config_for(args.workdir, _settings(args), args.restart)
        trained = run.train(
            config,
            args.workdir,
            restart=args.restart,
            data_dir=args.data_dir,
            trackers=args.tracker,
        )
        parallel.leave()
        if parallel.primary():
            seconds = time.perf_counter() - started
            print(_summary(args.workdir, config, trained, seconds))
    elif args.command == "evaluate":
        print(json.dumps(run.evaluate(args.workdir, args.checkpoint, args.data_dir)))
    elif args.command == "predict":
        classes, probabilities, names = run.predict(
            args.workdir, args.images, args.checkpoint, args.data_dir
        )
        if args.output is None:
            print("\n".join(names[c] for c in classes))
        else:
            import numpy as np

            named = np.array(names)[classes]
            np.savez(
                args.output, classes=classes, names=named, probabilities=probabilities
            )
    elif args.command == "bench":
        from .bench import bench

        config = dataclasses.replace(Config(), **_settings(args))
        print(json.dumps(bench(config, args.steps, args.peak_tflops, args.data_dir)))


def _describe(args: argparse.Namespace) -> str:
    """`data prepare` or `data info`: the dataset's shapes, classes, size and place."""
    from .data import load_dataset

    config = dataclasses.replace(Config(), **_settings(args))
    dataset = load_dataset(config, args.data_dir, download=args.action == "prepare")
    images = (dataset.train_images, dataset.test_images)
    shape = "x".join(map(str, dataset.image_shape))
    megabytes = sum(x.nbytes + len(x) * 4 for x in images) / 2**20
    where = f"in {dataset.cache}" if dataset.cache else "made in memory"
    return (
        f"{dataset.name}: {len(images[0]):,} training and {len(images[1]):,} test "
        f"images of {shape}, {megabytes:,.1f} MB {where}.\n"
        f"{dataset.num_classes} classes: {', '.join(dataset.classes)}.\n"
        f"Mean {dataset.mean} and std {dataset.std} per channel, of training images."
    )


def _summary(workdir: Path, config: Config, trained: Any, seconds: float) -> str:
    """What `train` did, in a few lines: accuracy, speed, files and next commands."""
    from .checkpoint import rank  # The order of `evaluate`'s best checkpoint.

    history, name, at = trained.history, __package__, f"--workdir {workdir}"
    best = max(history, key=rank)
    last, steps = history[-1], history[0]["step"]
    examples = steps * config.batch_size * len(history)
    rate = examples / max(sum(record["seconds"] for record in history), 1e-9)
    done = (
        f"Trained {trained.steps:,} steps in {seconds:.1f} s"
        if trained.steps
        else "The run had finished already"
    )
    return (
        f"{done}: {last['epoch']} epochs of {config.dataset}, {rate:,.0f} examples/s.\n"
        f"Test accuracy {last['test_accuracy']:.4f} after the last epoch, best "
        f"{best['test_accuracy']:.4f} after epoch {best['epoch']}.\n"
        f"Checkpoints in {workdir / 'checkpoints'}, metrics per epoch in "
        f"{workdir / 'metrics.jsonl'} and per {config.log_every_steps} steps in "
        f"{workdir / 'steps.jsonl'}.\n"
        f"Next: {name} evaluate {at}\n"
        f"      {name} plot {at}\n"
        f"      {name} train --epochs {2 * last['epoch']} {at}   # trains on"
    )
