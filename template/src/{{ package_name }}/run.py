"""A training run in its workdir: train, resume, evaluate and predict.

A workdir holds `config.json`, `metrics.jsonl` (an object per epoch),
`steps.jsonl` (one per `log_every_steps` steps), `checkpoints/` and what `track`
adds. An epoch is one jitted `lax.scan` over the training split on the
device (or, for a large one, over its batches sent from the host), cut only at
steps that save; images stay uint8 until the step normalises them. Each step's
data order and key follow from the seed and the step, so a resumed run computes
exactly what the run would have. Every process of a run (see `parallel`) runs this
code; process 0 alone writes the workdir's files and shows progress.
SIGINT and SIGTERM stop a run with a checkpoint; a NaN loss stops it unsaved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from . import model, optimizer, parallel
from . import train as framework
from .checkpoint import CHECKPOINT_DIR, Checkpoints, rank
from .config import Config
from .data import IMAGE_SUFFIXES, Dataset, as_uint8, load_dataset, read_image
from .errors import Stopped, UsageError
from .track import TENSORBOARD_DIR, WANDB_ID_FILE, Trackers, read_log, require

CONFIG_FILE, METRICS_FILE, LOCK_FILE = "config.json", "metrics.jsonl", ".lock"
STEPS_FILE = "steps.jsonl"
# What `train_stretch` reports every few steps to: the step, each step's metrics.
Report = Callable[[int, dict[str, np.ndarray]], None]


def config_for(workdir: Path, overrides: dict[str, Any], restart: bool) -> Config:
    """The settings `train` uses: the workdir's run's (or the defaults), overridden."""
    base = Config() if restart else read_config(workdir, missing_ok=True)
    return dataclasses.replace(base, **overrides)


def read_config(workdir: Path, *, missing_ok: bool = False) -> Config:
    """The settings of the run in `workdir` (with `missing_ok`, the defaults)."""
    path = workdir / CONFIG_FILE
    try:
        return Config.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        if missing_ok:
            return Config()
        raise UsageError(f"{workdir} holds no run; run `train` first.") from None
    except (OSError, ValueError, UsageError) as error:
        raise UsageError(f"{path} does not hold this project's: {error}") from None


@dataclasses.dataclass(frozen=True)
class Trained:
    """What `train` did: every epoch's metrics, and how many steps it trained now."""

    history: list[dict[str, Any]]
    steps: int  # 0 when the run had finished already.


def train(
    config: Config,
    workdir: Path,
    *,
    restart: bool = False,
    data_dir: Path | None = None,
    trackers: Sequence[str] = (),
) -> Trained:
    """Trains in `workdir`, resuming (or extending to more epochs) its run.

    The dataset is read from (or downloaded into) `data_dir`, by default the cache;
    metrics go to `trackers` too (names in `track.TRACKERS`).

    Raises:
      UsageError: if the workdir is in use or holds a run of other settings, or the
        loss stops being finite; `Stopped` if a signal stopped the run.
    """
    require(trackers)
    with jax.set_mesh(_mesh(config)), _locked(workdir):
        if restart and parallel.primary():
            for name in (CONFIG_FILE, METRICS_FILE, STEPS_FILE, WANDB_ID_FILE):
                (workdir / name).unlink(missing_ok=True)
            for name in (CHECKPOINT_DIR, TENSORBOARD_DIR):
                shutil.rmtree(workdir / name, ignore_errors=True)
        parallel.barrier("restarted")
        if (workdir / CONFIG_FILE).exists():
            old, new = _resumable(read_config(workdir)), _resumable(config)
            diff = [
                f"{k} {old[k]} there, {new[k]} here" for k in new if old[k] != new[k]
            ]
            if diff:
                raise UsageError(
                    f"{workdir} holds a run of other settings ({'; '.join(diff)}); "
                    "give its settings to resume it (only --epochs and "
                    "--device-data-mb and --fsdp may change), or --restart."
                )
        # Process 0 downloads and decodes; the others then read its cache.
        dataset = load_dataset(config, data_dir) if parallel.primary() else None
        parallel.barrier("data")
        dataset = dataset or load_dataset(config, data_dir)
        if parallel.primary():
            print(parallel.describe(), file=sys.stderr, flush=True)
        with Checkpoints(workdir, config.keep_checkpoints) as checkpoints:
            return _fit(config, workdir, dataset, checkpoints, trackers)


def _resumable(config: Config) -> dict[str, Any]:
    """The settings a run must keep to be resumed.

    All but `epochs`, which may grow (a decaying schedule follows the new length
    from where the run is), and where the data and state are kept, which changes
    results only by the order of float sums.
    """
    changeable = ("epochs", "device_data_mb", "fsdp", "log_every_steps")
    return {k: v for k, v in config.to_dict().items() if k not in changeable}


def _fit(
    config: Config,
    workdir: Path,
    dataset: Dataset,
    checkpoints: Checkpoints,
    trackers: Sequence[str],
) -> Trained:
    """Trains from the latest checkpoint (or the start) to the end of the run."""
    steps = dataset.steps_per_epoch(config.batch_size)
    total, every = config.epochs * steps, config.checkpoint_every_steps
    init_key, step_key = jax.random.split(jax.random.key(config.seed))
    create, target = _target(config, dataset)
    step, history = 0, []
    if restored := checkpoints.restore_latest(target, _resumable(config)):
        target, meta = restored
        step, history, dataset = meta["step"], meta["history"], _as_saved(dataset, meta)
        if step > total:
            raise UsageError(
                f"{workdir} holds a run {len(history)} epochs long already; give "
                "--epochs that many or more to extend it, or --restart."
            )
    else:
        target["state"] = create(init_key)
    _write(workdir / CONFIG_FILE, config.to_dict())
    _write(workdir / METRICS_FILE, history)
    logged = read_log(workdir / STEPS_FILE)  # Those after `step` come again.
    _write(workdir / STEPS_FILE, [r for r in logged if r["step"] <= step])
    if step == total:
        return Trained(history, 0)
    arrays, data = on_device(target), training_data(config, dataset)
    augment = augments(config, dataset)
    epochs, minutes = config.checkpoint_every_epochs, config.checkpoint_every_minutes
    resumed = step  # Where this call starts.
    stopped: list[int] = []  # The signals received.
    # The best epoch since the last save (step, arrays, history), held on the host
    # until the next save, so the best checkpoint is the best epoch's.
    best: tuple[int, Any, list[dict[str, Any]]] | None = None
    top = max(map(rank, history), default=None)
    bar = tqdm(total=total, initial=step, disable=not parallel.primary())
    rates, clock = optimizer.learning_rates(config, steps), time.perf_counter()
    names = trackers if parallel.primary() else ()  # Process 0 logs for all.
    tracker = Trackers(names, workdir, config.to_dict(), step)

    def report(at: int, metrics: dict[str, np.ndarray]) -> None:
        """Logs the steps up to `at`, run since `clock`."""
        nonlocal clock
        count, seconds = metrics["count"].sum(), time.perf_counter() - clock
        logged = {
            "train_loss": float(metrics["loss"].sum() / count),
            "train_accuracy": float(metrics["accuracy"].sum() / count),
            "learning_rate": float(rates[at - 1]),
            "grad_norm": float(metrics["grad_norm"].mean()),
            "examples_per_second": round(float(count) / seconds, 1),
        }
        if parallel.primary():
            with (workdir / STEPS_FILE).open("a") as file:
                file.write(json.dumps({"step": at, **logged}) + "\n")
        tracker.log(at, logged)
        bar.update(len(metrics["count"]))
        clock = time.perf_counter()

    with _stop_on_signals(stopped), bar, tracker:
        # Compiled before the clock starts, so the epochs' times and the bar's
        # estimate are of training alone.
        first = _stretch_end(step, steps, every) - step % steps
        size = program_size(config, data, first)
        for length in {size, first % size or size}:
            zeros = np.zeros((length, config.batch_size), np.int32)
            train_steps.lower(
                arrays, *feed(data, zeros), 0, step_key, config=config, augment=augment
            ).compile()
        test = next(
            _batches(dataset.test_images, dataset.test_labels, config.batch_size)
        )
        _eval_step.lower(arrays["state"], *_placed(test, _stats(dataset))).compile()
        parallel.barrier("compiled")  # Processes that compiled longer catch up.
        bar.unpause()
        started = last_save = clock = time.perf_counter()
        while step < total:
            epoch, within = divmod(step, steps)
            end = _stretch_end(step, steps, every)
            order = _order(config, epoch, len(dataset.train_labels))[within:end]
            arrays, losses = train_stretch(
                config, arrays, data, order, step, step_key, augment, report
            )
            if not np.isfinite(losses).all():
                bad = step + int(np.argmin(np.isfinite(losses))) + 1
                raise UsageError(
                    f"The loss is not finite at step {bad} (epoch {epoch + 1}), so "
                    f"training stopped; {checkpoints.describe_latest()}. Try a lower "
                    "learning rate, with --restart."
                )
            step, save = step + len(losses), False
            if step % steps == 0:
                test = _evaluate(config, arrays["state"], dataset)
                metrics = {
                    "epoch": epoch + 1,
                    "step": step,
                    **_means("train", arrays["sums"]),
                    **_means("test", test),
                    "learning_rate": float(rates[step - 1]),
                    "seconds": round(time.perf_counter() - started, 3),
                }
                history.append(metrics)
                _write(workdir / METRICS_FILE, history)
                tested = {k: v for k, v in metrics.items() if k.startswith("test_")}
                tracker.log(step, {"epoch": epoch + 1, **tested})
                bar.set_postfix(test_accuracy=f"{metrics['test_accuracy']:.4f}")
                arrays["sums"] = on_device(jax.tree.map(jnp.zeros_like, arrays["sums"]))
                if top is None or rank(metrics) > top:
                    top = rank(metrics)
                    best = (step, jax.tree.map(jnp.copy, arrays), [*history])
                started = clock = time.perf_counter()
                save = epochs > 0 and (epoch + 1) % epochs == 0
                save = save or (minutes > 0 and started - last_save >= 60 * minutes)
            save, stop = parallel.agree(save, bool(stopped))  # As one, or deadlock.
            if save or step == total or stop or (every > 0 and step % every == 0):
                if best and best[0] < step:  # Saved first: steps only grow.
                    _save(checkpoints, config, dataset, *best)
                # A copy: Orbax writes it in the background, while the run goes on.
                _save(checkpoints, config, dataset, step, arrays, [*history])
                tracker.flush()  # What the checkpoint holds is logged.
                best, last_save = None, time.perf_counter()
            if stop and step < total:
                signum = stopped[0] if stopped else signal.SIGTERM  # Another's.
                raise Stopped(
                    f"Stopped by {signal.Signals(signum).name} at step {step} of "
                    f"{total}, with a checkpoint in {checkpoints.directory}; run the "
                    "same command to resume.",
                    exit_code=128 + signum,
                )
    return Trained(history, total - resumed)


def _save(
    checkpoints: Checkpoints,
    config: Config,
    dataset: Dataset,
    step: int,
    arrays: Any,
    history: list[dict[str, Any]],
) -> None:
    """Saves the arrays of `step` with the run's settings and metrics so far.

    And the dataset's class names and statistics, which `evaluate` and `predict` use.
    """
    metrics = history[-1] if history and history[-1]["step"] == step else None
    data = {k: list(getattr(dataset, k)) for k in ("classes", "mean", "std")}
    meta = {"config": config.to_dict(), "history": history, "data": data}
    checkpoints.save(step, arrays, meta, metrics)


def _as_saved(dataset: Dataset, meta: dict[str, Any]) -> Dataset:
    """`dataset` with the class names and statistics its run saved."""
    if "data" not in meta:
        raise UsageError(
            "The run's checkpoints come from an older release of this project, "
            "which scaled images otherwise; train it again with --restart."
        )
    saved = {k: tuple(meta["data"][k]) for k in ("classes", "mean", "std")}
    return dataclasses.replace(dataset, **saved)  # type: ignore[arg-type]


def _order(config: Config, epoch: int, examples: int) -> np.ndarray:
    """The epoch's batches (steps, batch_size) of indices into the training split.

    Drawn by NumPy on the host from the seed and the epoch: a shuffle of 60,000 takes
    it a millisecond, and the device a sort.
    """
    order = np.random.default_rng([config.seed, epoch]).permutation(examples)
    steps = examples // config.batch_size
    return order[: steps * config.batch_size].reshape(steps, -1).astype(np.int32)


def _stretch_end(step: int, steps: int, every: int) -> int:
    """Where in its epoch of `steps` the stretch from `step` ends.

    With the epoch, or at the next step that saves (each `every`, if any).
    """
    within = step % steps
    return min(steps, within + every - step % every) if every else steps


def training_data(config: Config, dataset: Dataset) -> dict[str, Any]:
    """The training split and its statistics.

    On the device if the images fit in `config.device_data_mb`, else on the host
    (perhaps memory-mapped).
    """
    data = {
        "images": dataset.train_images,
        "labels": dataset.train_labels,
        "stats": _stats(dataset),
    }
    on_device = dataset.train_images.nbytes <= config.device_data_mb * 2**20
    return jax.device_put(data, P()) if on_device else data  # On every device.


def _stats(dataset: Dataset) -> np.ndarray:
    """The mean and std of each channel, shaped (2, 1, 1, 1, C) for images."""
    return np.array([dataset.mean, dataset.std], np.float32).reshape(2, 1, 1, 1, -1)


def augments(config: Config, dataset: Dataset) -> bool:
    """Whether training crops and flips the images."""
    return config.augment == "on" or (config.augment == "auto" and dataset.augment)


def feed(data: dict[str, Any], order_SxB: np.ndarray) -> tuple[Any, Any]:
    """The data and order for one program: from the host, just its batches.

    Each batch is split over the devices; from the host, each process gathers its
    own devices' parts (and the order is None: the data is the batches).
    """
    sharding = NamedSharding(jax.sharding.get_mesh(), P(None, *parallel.BATCH))
    if not isinstance(data["images"], np.ndarray):  # On every device already.
        return data, jax.device_put(order_SxB, sharding)

    def batches(array: np.ndarray) -> jax.Array:
        def part(index: tuple[slice, ...]) -> np.ndarray:  # A device's.
            return array[order_SxB[index[:2]]]

        shape = (*order_SxB.shape, *array.shape[1:])
        return jax.make_array_from_callback(shape, sharding, part)  # type: ignore[arg-type]

    stats = jax.device_put(data["stats"], P())
    images, labels = batches(data["images"]), batches(data["labels"])
    return {"images": images, "labels": labels, "stats": stats}, None


def normalize(images: jax.Array, stats: jax.Array) -> jax.Array:
    """uint8 images as the model takes them: minus the mean, over the std."""
    return (images.astype(jnp.float32) - stats[0]) / stats[1]


def crop_and_flip(images_BxHxWxC: jax.Array, key: jax.Array) -> jax.Array:
    """Each image cropped at random, and flipped left to right half the time.

    The crop is of the image padded with zeros by an eighth of its height (a pixel
    at least).
    """
    batch, height, width, channels = images_BxHxWxC.shape
    pad = max(1, height // 8)
    padded = jnp.pad(images_BxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    crop_key, flip_key = jax.random.split(key)
    corners_Bx2 = jax.random.randint(crop_key, (batch, 2), 0, 2 * pad + 1)

    def crop(image: jax.Array, corner: jax.Array) -> jax.Array:
        start = (corner[0], corner[1], 0)
        return jax.lax.dynamic_slice(image, start, (height, width, channels))

    crops = jax.vmap(crop)(padded, corners_Bx2)
    flips = jax.random.bernoulli(flip_key, 0.5, (batch, 1, 1, 1))
    return jnp.where(flips, crops[:, :, ::-1], crops)


@functools.partial(
    jax.jit, static_argnames=("config", "augment"), donate_argnames="arrays"
)
def train_steps(
    arrays: dict[str, Any],
    data: dict[str, jax.Array],
    order_SxB: jax.Array | None,
    first_step: jax.Array,
    step_key: jax.Array,
    *,
    config: Config,
    augment: bool,
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """A train step per row of `order_SxB` (indices into `data`), in one scan.

    Without an order, a step per batch of `data`. Adds each step's metrics to the
    running sums, and returns them too (and each step's `grad_norm`).
    """

    def step(arrays: dict[str, Any], inputs: Any) -> tuple[dict[str, Any], Any]:
        index, indices = inputs
        key = jax.random.fold_in(step_key, first_step + index)
        rows = index if indices is None else indices
        images, labels = data["images"][rows], data["labels"][rows]
        images, labels = jax.lax.with_sharding_constraint(
            (images, labels), parallel.BATCH
        )
        if augment:
            key, augment_key = jax.random.split(key)
            images = crop_and_flip(images, augment_key)
        batch = (normalize(images, data["stats"]), labels)
        state, metrics = framework.train_step(arrays["state"], batch, key, config)
        state = jax.lax.with_sharding_constraint(state, parallel.state_specs(state))
        sums = {name: total + metrics[name] for name, total in arrays["sums"].items()}
        return {"state": state, "sums": sums}, metrics

    steps = len(data["labels"]) if order_SxB is None else len(order_SxB)
    inputs = (jnp.arange(steps), order_SxB)  # Four steps an iteration,
    return jax.lax.scan(step, arrays, inputs, unroll=4)  # so less loop overhead.


def program_size(config: Config, data: dict[str, Any], stretch: int) -> int:
    """Steps per program: a whole stretch, or on the CPU the model's number if any.

    At most `config.log_every_steps`, whose metrics then come a program behind; from
    the host, batches of at most a quarter of `config.device_data_mb`.
    """
    size = stretch
    if jax.default_backend() == "cpu":
        size = getattr(model, "STEPS_PER_PROGRAM_ON_CPU", 0) or stretch
    if isinstance(data["images"], np.ndarray):
        batch_bytes = config.batch_size * data["images"][0].nbytes
        size = min(size, config.device_data_mb * 2**20 // (4 * batch_bytes))
    return max(1, min(size, config.log_every_steps))


def train_stretch(
    config: Config,
    arrays: dict[str, Any],
    data: dict[str, Any],
    order_SxB: np.ndarray,
    step: int,
    key: jax.Array,
    augment: bool,
    report: Report = lambda step, metrics: None,
) -> tuple[dict[str, Any], np.ndarray]:
    """`train_steps` over a stretch, in programs of `program_size`; the losses.

    Each `log_every_steps` steps or so, and at the end, `report` gets the step and
    the metrics of each step since, fetched while the device runs the next program
    (JAX dispatches asynchronously), as the next batches are gathered from the host.
    """
    size = program_size(config, data, len(order_SxB))
    losses, window, pending, reported = [], [], None, 0
    for start in range(0, len(order_SxB), size):
        stop = min(start + size, len(order_SxB))
        program = feed(data, order_SxB[start:stop])
        arrays, metrics = train_steps(
            arrays, *program, step + start, key, config=config, augment=augment
        )
        window.append(metrics)
        if pending:
            losses.append(_fetch(*pending, report))
            pending = None
        if stop - reported >= config.log_every_steps or stop == len(order_SxB):
            pending, window, reported = (step + stop, window), [], stop
    if pending:
        losses.append(_fetch(*pending, report))
    return arrays, np.concatenate(losses)


def _fetch(step: int, window: list[dict[str, jax.Array]], report: Report) -> np.ndarray:
    """Reports the window of steps up to `step` from the device; their losses."""
    programs = jax.device_get(window)
    metrics = {k: np.concatenate([m[k] for m in programs]) for k in programs[0]}
    report(step, metrics)
    return metrics["loss"] / metrics["count"]


def _target(config: Config, dataset: Dataset) -> tuple[Any, dict[str, Any]]:
    """What builds the train state from a key, and the arrays a checkpoint holds.

    The one program that builds the state places it on the current mesh; the
    arrays (the state and the metric sums) are its shapes and places only.
    """
    build = functools.partial(framework.create_train_state, config, dataset)
    specs = parallel.state_specs(jax.eval_shape(build, jax.random.key(0)))
    create = jax.jit(build, out_shardings=specs)  # Faster than op by op.
    state = jax.eval_shape(create, jax.random.key(0))
    return create, {
        "state": state,
        "sums": on_device(zero_sums(config, state, dataset)),
    }


def zero_sums(config: Config, state: Any, dataset: Dataset) -> Any:
    """Zeros shaped like the metrics a train step returns."""
    batch = (
        jax.ShapeDtypeStruct((config.batch_size, *dataset.image_shape), jnp.float32),
        jax.ShapeDtypeStruct((config.batch_size,), jnp.int32),
    )
    step = functools.partial(framework.train_step, config=config)
    _, metrics = jax.eval_shape(step, state, batch, jax.random.key(0))
    metrics.pop("grad_norm")  # A step's, not a sum over examples.
    return jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics)


def on_device(tree: Any) -> Any:
    """`tree` as restored: on the mesh, strongly typed (one program for both)."""
    strong = jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), tree)
    return jax.device_put(strong, parallel.state_specs(strong))


def _batches(
    images: np.ndarray, labels: np.ndarray, batch_size: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """The examples in batches (images, labels, mask) for evaluation, from the host.

    A batch holds four training batches (`batch_size` examples each): without
    gradients to keep, they fit where training fits. The last is padded, mask 0.
    """
    size = 4 * batch_size
    for start in range(0, len(labels), size):
        labels_B = labels[start : start + size]
        batch = (images[start : start + size], labels_B, np.ones(len(labels_B)))
        padding = size - len(labels_B)
        yield tuple(np.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1)) for x in batch)


# A program a batch, looped over in Python: on the CPU, XLA compiles convolutions
# inside a loop into far slower code.
def _placed(batch: tuple[np.ndarray, ...], stats: np.ndarray) -> tuple[Any, Any]:
    """A batch split over the devices, and the statistics on each."""
    return jax.device_put(batch, parallel.BATCH), jax.device_put(stats, P())


@jax.jit
def _eval_step(state: Any, batch: tuple[jax.Array, ...], stats: jax.Array) -> Any:
    images, labels, mask = batch
    return framework.eval_step(state, (normalize(images, stats), labels, mask))


@jax.jit
def _predict(state: Any, images: jax.Array, stats: jax.Array) -> jax.Array:
    return framework.predict(state, normalize(images, stats))


def _evaluate(config: Config, state: Any, dataset: Dataset) -> Any:
    """Each metric's sum over the test split."""
    images, labels, stats = dataset.test_images, dataset.test_labels, _stats(dataset)
    batches = _batches(images, labels, config.batch_size)
    sums = [_eval_step(state, *_placed(batch, stats)) for batch in batches]
    return jax.tree.map(lambda *totals: functools.reduce(jnp.add, totals), *sums)


def _means(split: str, sums: Any) -> dict[str, float]:
    """Each metric's mean over the examples, named `<split>_<metric>`."""
    sums = jax.device_get(sums)
    count = sums.pop("count")
    return {f"{split}_{name}": float(total / count) for name, total in sums.items()}


@contextlib.contextmanager
def _stop_on_signals(stopped: list[int]) -> Iterator[None]:
    """Adds SIGINT or SIGTERM to `stopped`; a second signal stops the process."""

    def handle(signum: int, frame: object) -> None:
        if stopped:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        stopped.append(signum)
        tqdm.write(f"{signal.Signals(signum).name}: stopping after a checkpoint.")

    if threading.current_thread() is not threading.main_thread():
        yield  # Only the main thread can handle signals.
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, handle) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _locked(workdir: Path) -> Iterator[None]:
    """Holds the workdir for one `train`, until the process ends however it ends."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        lock = (workdir / LOCK_FILE).open("a")
    except OSError as error:
        raise UsageError(f"Cannot use {workdir} ({error.strerror}).") from None
    with lock:
        try:
            if parallel.primary():  # For all of the run's processes.
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"Another `train` is using {workdir}.") from None
        yield


def _write(path: Path, content: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Replaces `path` with `content` at once, so a reader never sees half of it.

    A list becomes JSON lines, an object one JSON object.
    """
    if not parallel.primary():
        return
    lines = content if isinstance(content, list) else [content]
    try:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
            indent = None if isinstance(content, list) else 2
            file.writelines(json.dumps(line, indent=indent) + "\n" for line in lines)
        umask = os.umask(0)
        os.umask(umask)
        Path(file.name).chmod(0o666 & ~umask)  # As `open` would make it.
        Path(file.name).replace(path)
    except OSError as error:
        raise UsageError(f"Cannot write {path} ({error.strerror}).") from None


def restore(
    workdir: Path, checkpoint: str, data_dir: Path | None = None
) -> tuple[Config, Dataset, Any, int]:
    """The run's settings and dataset (as saved), and `checkpoint`'s state and step."""
    config = read_config(workdir)
    dataset = load_dataset(config, data_dir)
    if not (workdir / CHECKPOINT_DIR).is_dir():
        raise UsageError(f"{workdir} holds no checkpoint yet; run `train` first.")
    with jax.set_mesh(_mesh(config)):
        target = _target(config, dataset)[1]
    with Checkpoints(workdir, config.keep_checkpoints) as checkpoints:
        step = checkpoints.resolve(checkpoint)
        arrays, meta = checkpoints.restore(step, target)
        return config, _as_saved(dataset, meta), arrays["state"], step


def evaluate(
    workdir: Path, checkpoint: str = "best", data_dir: Path | None = None
) -> dict[str, Any]:
    """The step and test metrics of a checkpoint of the run in `workdir`."""
    config, dataset, state, step = restore(workdir, checkpoint, data_dir)
    with jax.set_mesh(_mesh(config)):
        return {"step": step, **_means("test", _evaluate(config, state, dataset))}


def _mesh(config: Config) -> jax.sharding.Mesh:
    """The mesh of a run of `config` on this process's devices."""
    return parallel.make_mesh(config.fsdp, config.batch_size)


def load_images(path: Path, image_shape: tuple[int, int, int]) -> np.ndarray:
    """Images as uint8 (as `data.as_uint8` takes them) from a file.

    A .png or .jpg file is resized to `image_shape`; an .npy file or an .npz file's
    `images` (or first array) are taken as they are.

    Arrays are shaped (N, H, W, C), (N, H, W) or (N, H * W * C), or without the N;
    nothing is unpickled.
    """
    if not path.is_file():  # A folder, a FIFO or a device would not do.
        raise UsageError(f"{path} is not a file.")
    height, width, channels = image_shape
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_image(path, "L" if channels == 1 else "RGB", (width, height))[None]
    try:
        with contextlib.ExitStack() as stack:
            loaded = np.load(path, mmap_mode="r", allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                stack.enter_context(loaded)
                name = "images" if "images" in loaded.files else loaded.files[0]
                loaded = loaded[name]
            array = np.array(loaded)
    except (OSError, ValueError, EOFError, MemoryError, IndexError) as error:
        raise UsageError(f"{path} is not a NumPy file of images ({error}).") from None
    shapes = [image_shape, (height * width * channels,)]
    shapes += [image_shape[:2]] if channels == 1 else []
    for shape in shapes:
        if array.shape[-len(shape) :] == shape and array.ndim - len(shape) in (0, 1):
            return as_uint8(array.reshape(-1, *image_shape), path)
    raise UsageError(
        f"{path} holds an array of shape {array.shape}; the model takes images of "
        f"shape {image_shape}, one or a batch of them."
    )


def predict(
    workdir: Path,
    images_path: Path,
    checkpoint: str = "best",
    data_dir: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Classes (N,) and probabilities (N, K) of a file's images, and class names."""
    config, dataset, state, _ = restore(workdir, checkpoint, data_dir)
    with jax.set_mesh(_mesh(config)):
        images = load_images(images_path, dataset.image_shape)
        labels = np.zeros(len(images), np.int32)
        batches = _batches(images, labels, config.batch_size)
        placed = [_placed(batch, _stats(dataset)) for batch in batches]
        logits = jnp.concatenate([_predict(state, b[0], s) for b, s in placed])
    logits = logits[: len(images)].astype(jnp.float32)
    probabilities = np.asarray(jax.nn.softmax(logits))
    return probabilities.argmax(axis=-1), probabilities, dataset.classes
