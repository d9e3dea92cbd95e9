"""Datasets: uint8 images and int32 labels, and the statistics that normalise them.

`Config.dataset` is "digits" (offline), "synthetic-mnist" (made on the fly), a name
in `DATASETS` (downloaded), or the path of an .npz file or a folder of images.
Images are (N, H, W, C) uint8 from 0 to 255, labels (N,) int32. Downloads are
checked against their published size and sha256 before they are parsed. Each
downloaded or local source is decoded once into .npy files in the cache
(`--data-dir`), which later runs memory-map, so it need not fit in host memory.
Where a source has no test split, one is held out by a fixed generator, not the
run's seed, so test metrics compare across runs. To add a dataset, list its files
in CHECKSUMS and MIRRORS, and its parser in DATASETS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import http.client
import importlib.util
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from .config import Config
from .errors import UsageError

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # Train, test: x, y.
SPLITS = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset split into train and test examples."""

    name: str
    train_images: np.ndarray  # (N, H, W, C) uint8
    train_labels: np.ndarray  # (N,) int32
    test_images: np.ndarray  # (M, H, W, C) uint8
    test_labels: np.ndarray  # (M,) int32
    classes: tuple[str, ...]  # The name of each label.
    mean: tuple[float, ...]  # Each channel's over the training images: the model
    std: tuple[float, ...]  # sees images minus the mean, over the std.
    augment: bool = False  # Whether `augment="auto"` crops and flips its images.
    cache: Path | None = None  # The folder of its arrays, if it has one.

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

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


def parse_idx(path: Path) -> np.ndarray:
    """The array of a gzipped IDX file of bytes (MNIST's format).

    It holds 0 0 8, the number of dimensions, each (a big-endian uint32), the bytes.
    """
    with gzip.open(path) as file:
        data = file.read()
    if data[:3] != b"\0\0\x08":
        raise UsageError(f"{path} is not an IDX file of bytes.")
    shape = np.frombuffer(data, ">u4", data[3], offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(shape)).reshape(shape)


def parse_mnist(folder: Path) -> Arrays:
    """MNIST's (or Fashion-MNIST's) four IDX files."""
    x, y, x_test, y_test = (
        parse_idx(folder / f"{split}-{kind}-ubyte.gz")
        for split in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    )
    return x[..., None], y, x_test[..., None], y_test


def parse_cifar10(folder: Path) -> Arrays:
    """CIFAR-10's binary archive: records of a label byte and a 3x32x32 image."""
    with tarfile.open(folder / "cifar-10-binary.tar.gz") as tar:  # Not extracted.
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        members = [tar.extractfile(f"cifar-10-batches-bin/{f}.bin") for f in files]
        data = [member.read() if member else b"" for member in members]
    splits = (b"".join(data[:5]), data[5])
    records = [np.frombuffer(split, np.uint8).reshape(-1, 3073) for split in splits]
    x, x_test = (r[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) for r in records)
    return x, records[0][:, 0], x_test, records[1][:, 0]


# Each file's size in bytes and sha256, as TensorFlow Datasets publishes them (its
# url_checksums/mnist.txt, fashion_mnist.txt and cifar10.txt).
CHECKSUMS = """
mnist/train-images-idx3-ubyte.gz 9912422 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
mnist/train-labels-idx1-ubyte.gz 28881 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
mnist/t10k-images-idx3-ubyte.gz 1648877 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
mnist/t10k-labels-idx1-ubyte.gz 4542 f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
fashion-mnist/train-images-idx3-ubyte.gz 26421880 3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84
fashion-mnist/train-labels-idx1-ubyte.gz 29515 a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845
fashion-mnist/t10k-images-idx3-ubyte.gz 4422102 346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073
fashion-mnist/t10k-labels-idx1-ubyte.gz 5148 67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5
cifar10/cifar-10-binary.tar.gz 170052171 c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
"""  # noqa: E501
# Where each dataset's files are: each URL is a mirror and the file's name. The
# mirrors are tried in order.
MIRRORS = {
    "mnist": [
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ],
    "cifar10": [
        "https://www.cs.toronto.edu/~kriz/",
        "https://storage.googleapis.com/s4tf-hosted-binaries/datasets/CIFAR10/",
    ],
}
FASHION = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
CIFAR10 = "airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"
# Each dataset's parser, comma-separated class names, and whether augment="auto"
# crops and flips its images.
DATASETS: dict[str, tuple[Callable[[Path], Arrays], str, bool]] = {
    "mnist": (parse_mnist, "0,1,2,3,4,5,6,7,8,9", False),
    "fashion-mnist": (parse_mnist, FASHION, False),
    "cifar10": (parse_cifar10, CIFAR10, True),
}
TIMEOUT_SECONDS = 10  # For a download's connection, and each of its reads.


def default_data_dir() -> Path:
    """The cache of datasets: $XDG_CACHE_HOME (or ~/.cache)/<package>/data."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / __package__ / "data"


def load_dataset(
    config: Config, data_dir: Path | None = None, *, download: bool = True
) -> Dataset:
    """The dataset `config.dataset` names, decoded into `data_dir` once.

    Without `download`, a dataset whose files are not there yet is refused.
    """
    data_dir, name = data_dir or default_data_dir(), config.dataset
    if name in ("digits", "synthetic-mnist"):
        arrays = (
            _split(*_digits(), config.test_fraction)
            if name == "digits"
            else make_synthetic_mnist()
        )
        mean, std = _statistics(arrays[0])
        return Dataset(name, *arrays, tuple("0123456789"), mean, std)
    if name in DATASETS:
        parse, classes, augment = DATASETS[name]

        def decode(out: Path) -> Sequence[str]:
            folder = fetch(name, data_dir / name, download)
            return _save(out, parse(folder), classes.split(","), folder)

        return _cached(name, data_dir / name / "arrays", decode, augment)
    path = Path(name).expanduser().absolute()
    if not path.exists():
        raise UsageError(
            f"There is no dataset {name!r}: name digits, synthetic-mnist or one of "
            f"{', '.join(DATASETS)}, or give an .npz file or a folder of images."
        )
    # Decoded again when a file, or a setting that decoding uses, changes.
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = json.dumps([stats, config.image_size, config.test_fraction]).encode()
    cache = data_dir / "local" / f"{path.name}-{hashlib.sha256(key).hexdigest()[:16]}"
    if path.is_dir():
        return _cached(name, cache, lambda out: _decode_folder(path, config, out))
    if path.suffix != ".npz":
        raise UsageError(f"{path} is neither an .npz file nor a folder of images.")
    return _cached(name, cache, lambda out: _decode_npz(path, config, out))


def checksums(name: str) -> dict[str, tuple[int, str]]:
    """The published (size, sha256) of each file of the dataset `name`, by file."""
    rows = [line.split() for line in CHECKSUMS.split("\n") if line]
    prefix = f"{name}/"
    return {
        p.removeprefix(prefix): (int(n), h) for p, n, h in rows if p.startswith(prefix)
    }


def fetch(name: str, folder: Path, download: bool = True) -> Path:
    """`folder`, holding the files of the dataset `name`, each verified.

    A file that is missing or differs from the published one is downloaded from
    each mirror in turn until one gives the published file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for file, (size, sha256) in checksums(name).items():
        path, tried = folder / file, []
        if path.exists() and not _is_published(path, size, sha256):
            path.unlink()
        for url in [mirror + file for mirror in MIRRORS[name]] if download else []:
            if not path.exists() and (reason := _download(url, path, size, sha256)):
                tried.append(f"{url} ({reason})")
        if not path.exists():
            raise UsageError(
                f"{name}'s file {file} is not in {folder} "
                f"({'tried ' + '; '.join(tried) if tried else 'not downloading'}); "
                f"put a good copy there, or run `{__package__} data prepare {name}` "
                "where there is a network and copy the folder."
            )
    return folder


def _is_published(path: Path, size: int, sha256: str) -> bool:
    """Whether the file `path` has the published `size` and `sha256`."""
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    return path.stat().st_size == size and digest == sha256


def _download(url: str, path: Path, size: int, sha256: str) -> str | None:
    """Downloads `url` into `path` if it is the published file; else says why not.

    The file has another name until it is complete and verified.
    """
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with (
            urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response,
            part.open("wb") as file,
            tqdm(total=size, unit="B", unit_scale=True, desc=path.name) as bar,
        ):
            while (chunk := response.read(2**20)) and bar.n <= size:
                bar.update(file.write(chunk))
        if not _is_published(part, size, sha256):
            return "its size or sha256 is not the published one"
        part.replace(path)
        return None
    except (OSError, ValueError, http.client.HTTPException) as error:
        return str(getattr(error, "reason", "") or error or type(error).__name__)
    finally:
        part.unlink(missing_ok=True)


def _cached(
    name: str,
    folder: Path,
    decode: Callable[[Path], Sequence[str]],
    augment: bool = False,
) -> Dataset:
    """The dataset in `folder`, which `decode` fills once with .npy files.

    `decode` writes into a folder of another name, renamed once complete, so one
    interrupted leaves nothing that looks whole; it returns the class names.
    """
    if not (folder / "meta.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            names = list(decode(scratch))
            mean, std = _statistics(np.load(scratch / "train_images.npy", "r"))
            meta = {"classes": names, "mean": mean, "std": std}
            (scratch / "meta.json").write_text(json.dumps(meta))
            with contextlib.suppress(OSError):  # Another process made it first.
                scratch.rename(folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    meta = json.loads((folder / "meta.json").read_text())
    x, y, x_test, y_test = (np.load(folder / f"{split}.npy", "r") for split in SPLITS)
    classes, mean, std = (tuple(meta[key]) for key in ("classes", "mean", "std"))
    return Dataset(name, x, y, x_test, y_test, classes, mean, std, augment, folder)


def _statistics(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each channel's mean and standard deviation (at least 1), a chunk at a time."""
    sums, count = np.zeros((2, images.shape[-1])), max(images[..., 0].size, 1)
    for start in range(0, len(images), 1024):
        chunk = images[start : start + 1024].reshape(-1, images.shape[-1])
        sums += [chunk.sum(0, np.float64), np.square(chunk, dtype=np.float64).sum(0)]
    mean, variance = sums[0] / count, sums[1] / count - (sums[0] / count) ** 2
    std = np.sqrt(np.maximum(variance, 1.0))
    return tuple(np.round(mean, 3).tolist()), tuple(np.round(std, 3).tolist())


def _split(images: np.ndarray, labels: np.ndarray, test_fraction: float) -> Arrays:
    """Train and test examples, `test_fraction` of them held out at random."""
    order = np.random.default_rng(0).permutation(len(labels))
    test, train = np.split(order, [int(len(labels) * test_fraction)])
    return images[train], labels[train], images[test], labels[test]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Scikit-learn's 1,797 handwritten 8x8 digits and their labels; offline.

    Read from the file scikit-learn ships them in, without the second it takes to
    import scikit-learn; its pixels, 0 to 16, are scaled to 0 to 255.
    """
    sklearn = importlib.util.find_spec("sklearn")
    folder = Path(sklearn.origin if sklearn and sklearn.origin else "").parent
    rows = np.loadtxt(folder / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    images = np.round(rows[:, :-1] * 255 / 16).astype(np.uint8)
    return images.reshape(-1, 8, 8, 1), rows[:, -1].astype(np.int32)


def make_synthetic_mnist(num_train: int = 60_000, num_test: int = 10_000) -> Arrays:
    """Random 28x28x1 images labelled by a fixed random linear teacher.

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
    images = np.round(images * 255).astype(np.uint8)
    train, test = slice(num_train), slice(num_train, None)
    return images[train], labels[train], images[test], labels[test]


def as_uint8(images: Any, source: Path) -> np.ndarray:
    """`images` as uint8; others than those below are refused.

    Whole numbers from 0 to 255 are kept as they are, numbers from 0 to 1 scaled.
    """
    images = np.asarray(images)
    low, high = (images.min(), images.max()) if images.size else (0, 0)
    if images.dtype.kind in "iu" and low >= 0 and high <= 255:
        return images.astype(np.uint8)
    if images.dtype.kind == "f" and low >= 0 and high <= 1:
        return np.round(images * 255).astype(np.uint8)
    raise UsageError(
        f"{source} holds images that are neither whole numbers from 0 to 255 nor "
        "numbers from 0 to 1."
    )


def _save(
    out: Path, arrays: Arrays, classes: Sequence[str] | None, source: Path
) -> Sequence[str]:
    """Writes `arrays` into `out` as .npy files, once checked to make a dataset.

    Returns the class names: `classes`, or by default the labels' numbers.
    """
    x, y, x_test, y_test = (np.asarray(array) for array in arrays)
    x, x_test = (i[..., None] if i.ndim == 3 else i for i in (x, x_test))
    shapes = [x.shape, y.shape, x_test.shape, y_test.shape]
    if (
        y.dtype.kind not in "iu"
        or y_test.dtype.kind not in "iu"
        or x.ndim != 4
        or x.shape[1:] != x_test.shape[1:]
        or not y.shape == x.shape[:1] != (0,)
        or not y_test.shape == x_test.shape[:1] != (0,)
    ):
        raise UsageError(
            f"{source} holds no train and test splits of (N, H, W[, C]) images and N "
            f"whole-number labels, but arrays shaped {shapes}."
        )
    top = int(max(y.max(), y_test.max()))
    classes = [str(c) for c in (range(top + 1) if classes is None else classes)]
    if min(y.min(), y_test.min()) < 0 or top >= len(classes):
        raise UsageError(f"{source} holds labels beyond 0 to {len(classes) - 1}.")
    arrays = (as_uint8(x, source), y, as_uint8(x_test, source), y_test)
    for split, array in zip(SPLITS, arrays, strict=True):
        np.save(
            out / f"{split}.npy", array if array.ndim > 1 else array.astype(np.int32)
        )
    return classes


def _decode_npz(path: Path, config: Config, out: Path) -> Sequence[str]:
    """Writes the arrays of an .npz file into `out`; returns the class names.

    It holds x_train, y_train, x_test and y_test (Keras's layout), or images and
    labels; and `classes`, if it names them.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:  # Nothing is unpickled.
            given = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UsageError(f"{path} is not an .npz file of arrays ({error}).") from None
    keys = ["x_train", "y_train", "x_test", "y_test"]
    if set(keys) <= given.keys():
        arrays = tuple(given[key] for key in keys)
    elif {"images", "labels"} <= given.keys():
        images, labels = given["images"], given["labels"]
        if len(images) != len(labels):
            raise UsageError(
                f"{path} holds {len(images)} images, {len(labels)} labels."
            )
        arrays = _split(images, labels, config.test_fraction)
    else:
        raise UsageError(
            f"{path} holds {', '.join(given) or 'no arrays'}; it needs x_train, "
            "y_train, x_test and y_test, or images and labels."
        )
    return _save(out, arrays, given.get("classes"), path)  # type: ignore[arg-type]


def _decode_folder(root: Path, config: Config, out: Path) -> Sequence[str]:
    """Decodes a folder of images, a subfolder per class, into `out`.

    The class folders are in `train/` and `test/`, or in `root`, and
    `config.test_fraction` of the images is held out. Images are all the first
    one's size, unless resized to `config.image_size`, and grey if it is, else RGB.
    """
    roots = [root / "train", root / "test"] if (root / "train").is_dir() else [root]
    classes = sorted(d.name for d in roots[0].iterdir() if d.is_dir())
    splits: list[list[tuple[Path, int]]] = []
    for folder in roots:
        if extra := {d.name for d in folder.iterdir() if d.is_dir()} - set(classes):
            raise UsageError(f"{folder} holds {sorted(extra)}, which train/ lacks.")
        splits.append([])
        for label, name in enumerate(classes):
            files = sorted(
                f
                for f in (folder / name).glob("*")
                if f.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files and folder == roots[0]:
                raise UsageError(f"{folder / name} holds no .png or .jpg images.")
            splits[-1] += [(f, label) for f in files]
    if len(splits) == 1:
        index = np.arange(len(splits[0]))  # Held out as an array's examples are.
        train, _, test, _ = _split(index, index, config.test_fraction)
        splits = [[splits[0][i] for i in train], [splits[0][i] for i in test]]
    if not classes or not splits[1]:
        raise UsageError(
            f"{root} holds no folder of images per class, or none to test on."
        )
    with _opened(splits[0][0][0]) as first:
        size = (config.image_size,) * 2 if config.image_size else first.size
        mode = "L" if first.mode in ("1", "L", "LA", "I", "I;16") else "RGB"
    for split, names in zip(splits, [SPLITS[:2], SPLITS[2:]], strict=True):
        shape = (len(split), size[1], size[0], 1 if mode == "L" else 3)
        images = np.lib.format.open_memmap(
            out / f"{names[0]}.npy", "w+", np.uint8, shape
        )
        with ThreadPoolExecutor() as pool:  # Pillow decodes without the GIL.
            decoded = pool.map(
                lambda f: read_image(f[0], mode, size, config.image_size > 0), split
            )
            for i, pixels in enumerate(
                tqdm(decoded, f"Decoding {names[0]}", len(split))
            ):
                images[i] = pixels
        images.flush()
        np.save(out / f"{names[1]}.npy", np.array([y for _, y in split], np.int32))
    return classes


def read_image(
    path: Path, mode: str, size: tuple[int, int], resize: bool = True
) -> np.ndarray:
    """The (H, W, C) pixels of the image file `path` in `mode` ("L" or "RGB").

    Resized to `size` (width, height), or if not `resize`, refused unless that size.
    """
    with _opened(path) as image:
        if image.size != size and not resize:
            raise UsageError(
                f"{path} is {image.size[0]}x{image.size[1]}, not {size[0]}x{size[1]} "
                "as the first image; give --image-size to resize them all."
            )
        pixels = image.convert(mode).resize(size, Image.Resampling.BILINEAR)
        return np.asarray(pixels).reshape(size[1], size[0], -1)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image file `path`, opened and decoded by Pillow."""
    try:
        with Image.open(path) as image:
            image.load()
            yield image
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UsageError(f"{path} is not an image Pillow can read ({error}).") from None
