"""Datasets, loaded whole into memory as NumPy arrays.

Images are float32, channels-last (N, H, W, C) and scaled to [0, 1]; labels are int32
class indices. Each dataset has a fixed train/test split that does not depend on the
run's seed, so test metrics compare across runs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from .errors import UsageError


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset split into train and test examples."""

    name: str
    train_images: np.ndarray  # (N, H, W, C) float32 in [0, 1]
    train_labels: np.ndarray  # (N,) int32
    test_images: np.ndarray  # (M, H, W, C) float32 in [0, 1]
    test_labels: np.ndarray  # (M,) int32
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape (height, width, channels) of one image."""
        height, width, channels = self.train_images.shape[1:]
        return height, width, channels

    def steps_per_epoch(self, batch_size: int) -> int:
        """The number of full batches of `batch_size` in the training split."""
        if batch_size > len(self.train_labels):
            raise UsageError(
                f"batch_size {batch_size} is larger than the {len(self.train_labels)} "
                f"training examples of {self.name}."
            )
        return len(self.train_labels) // batch_size


def load_digits() -> Dataset:
    """Scikit-learn's 1,797 handwritten 8x8 digits, 20% held out; works offline.

    Read from the file scikit-learn ships them in, without the second it takes to
    import scikit-learn.
    """
    sklearn = importlib.util.find_spec("sklearn")
    folder = Path(sklearn.origin if sklearn and sklearn.origin else "").parent
    rows = np.loadtxt(folder / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    images = (rows[:, :-1] / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    labels = rows[:, -1].astype(np.int32)
    # A fixed generator, not the run's seed: the split is part of the dataset.
    order = np.random.default_rng(0).permutation(len(labels))
    test, train = order[: len(labels) // 5], order[len(labels) // 5 :]
    return Dataset(
        "digits", images[train], labels[train], images[test], labels[test], 10
    )


def make_synthetic_mnist(num_train: int = 60_000, num_test: int = 10_000) -> Dataset:
    """Random 28x28x1 images in [0, 1], labelled by a fixed random linear teacher.

    Each is a random 7x7 pattern scaled up, blended with noise; its label is the
    class whose teacher weights best match the pattern, which a linear model learns.
    """
    side, block = 7, 4
    teacher = np.random.default_rng(0).standard_normal((side * side, 10), np.float32)
    rng = np.random.default_rng(1)
    size = num_train + num_test
    patterns = rng.random((size, side, side, 1), dtype=np.float32)
    noise = rng.random((size, side * block, side * block, 1), dtype=np.float32)
    images = 0.75 * patterns.repeat(block, axis=1).repeat(block, axis=2) + 0.25 * noise
    labels = ((patterns.reshape(size, -1) - 0.5) @ teacher).argmax(1).astype(np.int32)
    train, test = slice(num_train), slice(num_train, None)
    return Dataset(
        "synthetic-mnist", images[train], labels[train], images[test], labels[test], 10
    )


def load_dataset(name: str) -> Dataset:
    """Loads the dataset called `name` (a `Config.dataset` choice)."""
    if name == "digits":
        return load_digits()
    if name == "synthetic-mnist":
        return make_synthetic_mnist()
    raise UsageError(f"there is no dataset {name!r}.")
