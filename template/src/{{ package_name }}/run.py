"""A training run in its workdir: train, resume, evaluate and predict.

A workdir holds `config.json`, `metrics.jsonl` (an object per epoch) and
`checkpoints/`. An epoch is one jitted `lax.scan` over the training split on the
device, cut only at steps that save. Each step's data order and key follow from the
seed and the step, so a resumed run computes exactly what the run would have.
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
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from . import model
from . import train as framework
from .checkpoint import CHECKPOINT_DIR, Checkpoints
from .config import Config
from .data import Dataset, load_dataset
from .errors import UsageError

CONFIG_FILE, METRICS_FILE, LOCK_FILE = "config.json", "metrics.jsonl", ".lock"


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


def train(config: Config, workdir: Path, *, restart: bool = False) -> dict[str, Any]:
    """Trains in `workdir`, resuming its run; returns the last epoch's metrics.

    Raises:
      UsageError: if the workdir is in use or holds a run of other settings, the
        loss stops being finite, or a signal stopped the run (after a checkpoint).
    """
    with _locked(workdir):
        if restart:
            for name in (CONFIG_FILE, METRICS_FILE):
                (workdir / name).unlink(missing_ok=True)
            shutil.rmtree(workdir / CHECKPOINT_DIR, ignore_errors=True)
        if (workdir / CONFIG_FILE).exists():
            old, new = read_config(workdir).to_dict(), config.to_dict()
            diff = [
                f"{k} {old[k]} there, {new[k]} here" for k in new if old[k] != new[k]
            ]
            if diff:
                raise UsageError(
                    f"{workdir} holds a run of other settings ({'; '.join(diff)}); "
                    "give its settings to resume it, or --restart to start over."
                )
        _write(workdir / CONFIG_FILE, config.to_dict())
        dataset = load_dataset(config.dataset)
        with Checkpoints(workdir, config.keep_checkpoints) as checkpoints:
            return _fit(config, workdir, dataset, checkpoints)


def _fit(
    config: Config, workdir: Path, dataset: Dataset, checkpoints: Checkpoints
) -> dict[str, Any]:
    """Trains from the latest checkpoint (or the start) to the end of the run."""
    steps = dataset.steps_per_epoch(config.batch_size)
    total, every = config.epochs * steps, config.checkpoint_every_steps
    saving = [n for n in (every, config.checkpoint_every_epochs * steps) if n]
    init_key, data_key, step_key = jax.random.split(jax.random.key(config.seed), 3)
    state = framework.create_train_state(config, dataset, init_key)
    arrays = on_device({"state": state, "sums": zero_sums(config, state, dataset)})
    step, history = 0, []
    if restored := checkpoints.restore_latest(arrays, config.to_dict()):
        arrays, meta = restored
        step, history = meta["step"], meta["history"]
    _write(workdir / METRICS_FILE, history)
    data = jax.device_put((dataset.train_images, dataset.train_labels))
    tests = _padded(dataset.test_images, dataset.test_labels, config.batch_size)
    stopped: list[int] = []
    started = time.perf_counter()
    with _stop_on_signals(stopped), tqdm(total=total, initial=step) as bar:
        while step < total:
            epoch, within = divmod(step, steps)
            # A stretch of steps ends with the epoch, or at a step that saves.
            end = min(steps, within + every - step % every) if every else steps
            order = jax.random.permutation(
                jax.random.fold_in(data_key, epoch), len(dataset.train_labels)
            )
            order = order[: steps * config.batch_size].reshape(steps, -1)[within:end]
            arrays, losses = train_stretch(config, arrays, data, order, step, step_key)
            if not np.isfinite(losses).all():
                bad = step + int(np.argmin(np.isfinite(losses))) + 1
                raise UsageError(
                    f"The loss is not finite at step {bad} (epoch {epoch + 1}), so "
                    f"training stopped; {checkpoints.describe_latest()}. Try a lower "
                    "learning rate, with --restart."
                )
            bar.update(len(losses))
            step, metrics = step + len(losses), None
            if step % steps == 0:
                seconds = time.perf_counter() - started
                metrics = {
                    "epoch": epoch + 1,
                    "step": step,
                    **_means("train", arrays["sums"]),
                    **_means("test", _evaluate(arrays["state"], *tests)),
                    "seconds": round(seconds, 3),
                }
                history.append(metrics)
                _write(workdir / METRICS_FILE, history)
                bar.set_postfix(test_accuracy=f"{metrics['test_accuracy']:.4f}")
                arrays["sums"] = on_device(jax.tree.map(jnp.zeros_like, arrays["sums"]))
                started = time.perf_counter()
            if step == total or stopped or any(step % n == 0 for n in saving):
                # A copy: Orbax writes it in the background, while the run goes on.
                meta = {"config": config.to_dict(), "history": [*history]}
                checkpoints.save(step, arrays, meta, metrics)
            if stopped and step < total:
                raise UsageError(
                    f"Stopped by {signal.Signals(stopped[0]).name} at step {step} of "
                    f"{total}, with a checkpoint in {checkpoints.directory}; run the "
                    "same command to resume.",
                    exit_code=128 + stopped[0],
                )
    return history[-1]


@functools.partial(jax.jit, static_argnames="config", donate_argnames="arrays")
def train_steps(
    arrays: dict[str, Any],
    images: jax.Array,
    labels: jax.Array,
    order_SxB: jax.Array,
    first_step: jax.Array,
    step_key: jax.Array,
    *,
    config: Config,
) -> tuple[dict[str, Any], jax.Array]:
    """A train step per row of `order_SxB` (indices into `images`), in one scan.

    Adds each step's metrics to the running sums; returns each step's mean loss.
    """

    def step(arrays: dict[str, Any], inputs: Any) -> tuple[dict[str, Any], jax.Array]:
        index, indices = inputs
        key = jax.random.fold_in(step_key, first_step + index)
        batch = (images[indices], labels[indices])
        state, metrics = framework.train_step(arrays["state"], batch, key, config)
        sums = jax.tree.map(jnp.add, arrays["sums"], metrics)
        return {"state": state, "sums": sums}, metrics["loss"] / metrics["count"]

    inputs = (jnp.arange(len(order_SxB)), order_SxB)  # Four steps an iteration,
    return jax.lax.scan(step, arrays, inputs, unroll=4)  # so less loop overhead.


def program_size(stretch: int) -> int:
    """Steps per program: a whole stretch, or on the CPU the model's number if any."""
    cpu = jax.default_backend() == "cpu"
    return (cpu and getattr(model, "STEPS_PER_PROGRAM_ON_CPU", 0)) or stretch


def train_stretch(
    config: Config,
    arrays: dict[str, Any],
    data: tuple[jax.Array, jax.Array],
    order_SxB: jax.Array,
    step: int,
    key: jax.Array,
) -> tuple[dict[str, Any], np.ndarray]:
    """`train_steps` over a stretch, in programs of `program_size`; the losses."""
    losses, size = [], program_size(len(order_SxB))
    for start in range(0, len(order_SxB), size):
        order = order_SxB[start : start + size]
        arrays, loss = train_steps(
            arrays, *data, order, step + start, key, config=config
        )
        losses.append(loss)
    return arrays, np.concatenate(jax.device_get(losses))


def zero_sums(config: Config, state: Any, dataset: Dataset) -> Any:
    """Zeros shaped like the metrics a train step returns."""
    batch = (
        jax.ShapeDtypeStruct((config.batch_size, *dataset.image_shape), jnp.float32),
        jax.ShapeDtypeStruct((config.batch_size,), jnp.int32),
    )
    step = functools.partial(framework.train_step, config=config)
    _, metrics = jax.eval_shape(step, state, batch, jax.random.key(0))
    return jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics)


def on_device(tree: Any) -> Any:
    """`tree` as restored: on the device, strongly typed (one program for both)."""
    strong = jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), tree)
    return jax.device_put(strong)


def _padded(images: np.ndarray, labels: np.ndarray, size: int) -> tuple[jax.Array, ...]:
    """Batches (N, size, ...) of the examples and a mask, 0 on the last's padding."""
    padding = -len(labels) % size
    arrays = (images, labels, np.ones(len(labels), np.float32))
    padded = [np.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1)) for x in arrays]
    return jax.device_put(tuple(x.reshape(-1, size, *x.shape[1:]) for x in padded))


@jax.jit
def _evaluate(state: Any, images: jax.Array, labels: jax.Array, mask: jax.Array) -> Any:
    """Each metric's sum over the padded batches."""
    batches = (images, labels, mask)
    sums = jax.lax.map(lambda batch: framework.eval_step(state, batch), batches)
    return jax.tree.map(lambda total: total.sum(0), sums)


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
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"Another `train` is using {workdir}.") from None
        yield


def _write(path: Path, content: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Replaces `path` with `content` at once, so a reader never sees half of it.

    A list becomes JSON lines, an object one JSON object.
    """
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


def restore(workdir: Path, checkpoint: str) -> tuple[Config, Dataset, Any, int]:
    """The run's settings and dataset, and the state and step of `checkpoint`."""
    config = read_config(workdir)
    dataset = load_dataset(config.dataset)
    if not (workdir / CHECKPOINT_DIR).is_dir():
        raise UsageError(f"{workdir} holds no checkpoint yet; run `train` first.")
    create = functools.partial(framework.create_train_state, config, dataset)
    state = jax.eval_shape(create, jax.random.key(0))
    target = {"state": state, "sums": zero_sums(config, state, dataset)}
    with Checkpoints(workdir, config.keep_checkpoints) as checkpoints:
        step = checkpoints.resolve(checkpoint)
        return config, dataset, checkpoints.restore(step, target)[0]["state"], step


def evaluate(workdir: Path, checkpoint: str = "best") -> dict[str, Any]:
    """The step and test metrics of a checkpoint of the run in `workdir`."""
    config, dataset, state, step = restore(workdir, checkpoint)
    tests = _padded(dataset.test_images, dataset.test_labels, config.batch_size)
    return {"step": step, **_means("test", _evaluate(state, *tests))}


def load_images(path: Path, image_shape: tuple[int, int, int]) -> np.ndarray:
    """Images from an .npy file, or an .npz file's `images`, scaled as the data's.

    Shaped (N, H, W, C), (N, H, W) or (N, H * W * C), or without the N; no pickles.
    """
    if not path.is_file():  # A folder, a FIFO or a device would not do.
        raise UsageError(f"{path} is not a file.")
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
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise UsageError(f"{path} holds values that are not finite numbers.")
    shapes = [image_shape, (int(np.prod(image_shape)),)]
    shapes += [image_shape[:2]] if image_shape[2] == 1 else []
    for shape in shapes:
        if array.shape[-len(shape) :] == shape and array.ndim - len(shape) in (0, 1):
            return array.reshape(-1, *image_shape).astype(np.float32)
    raise UsageError(
        f"{path} holds an array of shape {array.shape}; the model takes images of "
        f"shape {image_shape}, one or a batch of them."
    )


def predict(
    workdir: Path, images_path: Path, checkpoint: str = "best"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Classes (N,) and probabilities (N, K) of a file's images, and the step."""
    config, dataset, state, step = restore(workdir, checkpoint)
    images = load_images(images_path, dataset.image_shape)
    batches = _padded(images, np.zeros(len(images), np.int32), config.batch_size)[0]
    logits = jax.lax.map(lambda batch: framework.predict(state, batch), batches)
    logits = logits.reshape(-1, logits.shape[-1])[: len(images)].astype(jnp.float32)
    probabilities = np.asarray(jax.nn.softmax(logits))
    return probabilities.argmax(axis=-1), probabilities, step
