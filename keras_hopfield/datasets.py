"""Image datasets for associative-memory experiments, returned as NumPy arrays.

Every dataset is loaded with [`load`][keras_hopfield.datasets.load], which
looks for the data in this order:

1. the `data_dir` argument, if given;
2. otherwise the directory named by the environment variable
   `KERAS_HOPFIELD_DATA` (see [`DATA_ENV`][keras_hopfield.datasets.DATA_ENV]);
3. if the local file is missing (or no directory was given), TensorFlow Datasets
   (`pip install "keras-hopfield[datasets]"`), for the sets it provides.

If none of these works, a [`DatasetNotFoundError`][keras_hopfield.datasets.DatasetNotFoundError]
explains both options. This module imports only NumPy at import time:
`tensorflow_datasets` (and with it TensorFlow) is imported only when the
fallback is actually needed, and Pillow only for image files. Keras is not used,
so the results work with every Keras backend.

Local directory layout (the names are relative to the data directory):

| name | file(s) | `x` | `y` |
|---|---|---|---|
| `"mnist"` | `mnist/mnist.npz` | `(N, 28, 28, 1)` | digit `0..9` |
| `"fashion_mnist"` | `fashion_mnist/fashion_mnist.npz` | `(N, 28, 28, 1)` | class `0..9` |
| `"cifar10"` | `cifar10/cifar10_subset_lossless.npz` | `(N, 32, 32, 3)` | class `0..9` |
| `"omniglot"` | `omniglot/images_background.npz`, `omniglot/images_evaluation.npz` | `(N, 105, 105, 1)` | character `0..1622` |
| `"tiny_imagenet"` | `tiny_imagenet/tiny_imagenet_val_subset_10per_class.zip` | `(N, 64, 64, 3)` | class `0..199` |
| `"set5"`, `"set14"`, `"bsd100"`, `"t91"` | `sr_benchmarks/{Set5,Set14,BSD100,T91}/*.png` | list of `(H, W, 3)` | `None` |

Splits are `"train"`, `"test"` and `"all"`. For the sets with labels, `"all"`
is `"train"` followed by `"test"`, except for `"tiny_imagenet"` (see below).

Dataset notes:

* `"cifar10"` (local file) is a **subset** of CIFAR-10 with the exact, lossless
  pixels: `"train"` is the first 2000 images of `data_batch_1` and `"test"` the
  first 1000 images of `test_batch`, in the original order. Through TensorFlow
  Datasets the full 50000/10000 images are returned instead.
* `"omniglot"`: `"train"` is the *background* set (964 characters, 19280
  images), `"test"` the *evaluation* set (659 characters, 13180 images), each
  ordered character by character (20 drawings per character). The images are
  **inverted** relative to the files: strokes are 1.0 (255 as `uint8`) and the
  background is 0. Labels are global character indices `0..1622`: background
  characters are `0..963` and evaluation characters are offset by 964 to
  `964..1622`, so the two splits never share a label (this matches the `label`
  feature of TensorFlow Datasets' `omniglot`).
* `"tiny_imagenet"` is a 2000-image **subset of the Tiny ImageNet validation
  set**: the first 10 validation images of each of the 200 classes. Labels are
  the class index in `wnids.txt` order. It is split deterministically per class:
  `"train"` holds the first 5 images of every class (1000 images) and `"test"`
  the last 5 (1000 images); `"all"` returns all 2000 images in file order
  (`val_0`, `val_1`, ...), and both halves keep that order too. Grayscale JPEGs
  are converted to RGB. There is no TensorFlow Datasets equivalent.
* The super-resolution benchmarks `"set5"`, `"set14"`, `"bsd100"` and `"t91"`
  are returned as a list of RGB images of different sizes, sorted by file name
  (plain string order, so `t1, t10, t11, ...` for T91); grayscale images (Set14
  `bridge`) are repeated to three channels and `y` is `None`. Each benchmark is
  a single collection, so every valid split returns the whole set. BSD100 images
  are 480x320 / 320x480 crops of the 481x321 originals. There is no TensorFlow
  Datasets equivalent.

Example:
    >>> from keras_hopfield import datasets
    >>> x, y = datasets.load("mnist", split="test", limit=100)
    >>> x.shape, x.dtype, y.dtype
    ((100, 28, 28, 1), dtype('float32'), dtype('int64'))
"""

from __future__ import annotations

import csv
import io
import math
import operator
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

__all__ = ["DATA_ENV", "SPLITS", "DatasetNotFoundError", "available", "load"]

DATA_ENV = "KERAS_HOPFIELD_DATA"
"""Name of the environment variable that points to the local data directory."""

SPLITS = ("train", "test", "all")
"""The split names accepted by [`load`][keras_hopfield.datasets.load]."""

_INSTALL_HINT = 'pip install "keras-hopfield[datasets]"'

PathLike = Union[str, os.PathLike]


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither available locally nor via TensorFlow Datasets.

    The message names both ways to fix it: pointing `data_dir=` or the
    `KERAS_HOPFIELD_DATA` environment variable at a local data directory, and
    installing `tensorflow-datasets` (`pip install "keras-hopfield[datasets]"`).
    It subclasses `FileNotFoundError` (and so `OSError`).
    """


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _read_npz_rows(path: Path, key: str, rows: Optional[int] = None) -> np.ndarray:
    """Reads `key` from an `.npz`, optionally only its first `rows` along axis 0.

    Reading a prefix streams just the needed bytes out of the (compressed) zip
    member instead of decompressing the whole array.
    """
    with zipfile.ZipFile(path) as zf:
        with zf.open(key + ".npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:  # pragma: no cover - unusual format version
                shape, fortran, dtype = None, True, None
            if fortran or dtype is None or dtype.hasobject or len(shape) == 0:
                # Not a simple C-ordered array: let NumPy handle everything.
                with np.load(path, allow_pickle=False) as data:
                    arr = data[key]
                return arr if rows is None else arr[:rows].copy()
            n = shape[0] if rows is None else min(rows, shape[0])
            new_shape = (n,) + tuple(shape[1:])
            count = math.prod(new_shape)
            buf = f.read(count * dtype.itemsize)
            if len(buf) != count * dtype.itemsize:  # pragma: no cover - corrupt file
                raise OSError(f"{path}: {key}.npy is truncated")
            return np.frombuffer(buf, dtype=dtype).reshape(new_shape).copy()


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def _decode_image(data: Union[bytes, Path]) -> np.ndarray:
    """Decodes a PNG/JPEG (bytes or a path) into a `uint8` `(H, W, 3)` array."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow is normally present
        raise ImportError(
            "Decoding image files needs Pillow: pip install pillow"
        ) from e
    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with Image.open(src) as im:
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        arr = np.asarray(im, dtype=np.uint8)
    return _to_rgb(arr)


def _concat(parts: list, limit: Optional[int]):
    """Concatenates `(x, y)` parts and keeps the first `limit` examples."""
    xs = [p[0] for p in parts]
    ys = [p[1] for p in parts]
    x = np.concatenate(xs, axis=0) if len(xs) > 1 else xs[0]
    y = np.concatenate(ys, axis=0) if len(ys) > 1 else ys[0]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


# --------------------------------------------------------------------------- #
# Local loaders: each returns (x uint8, y int64 or None) for one split.
# --------------------------------------------------------------------------- #


def _keras_npz_loader(relpath: str) -> Callable:
    def loader(root: Path, split: str, limit: Optional[int]):
        path = root / relpath
        parts = []
        remaining = limit
        for part in ("train", "test") if split == "all" else (split,):
            if remaining == 0 and parts:
                break
            x = _read_npz_rows(path, f"x_{part}", remaining)
            y = _read_npz_rows(path, f"y_{part}", remaining).astype(np.int64)
            if x.ndim == 3:
                x = x[..., None]
            parts.append((x, y))
            if remaining is not None:
                remaining -= len(x)
        return _concat(parts, limit)

    return loader


_OMNIGLOT_FILES = {"train": "omniglot/images_background.npz", "test": "omniglot/images_evaluation.npz"}
_OMNIGLOT_TRAIN_CHARS = 964


def _omniglot_loader(root: Path, split: str, limit: Optional[int]):
    parts = []
    remaining = limit
    for part in ("train", "test") if split == "all" else (split,):
        if remaining == 0 and parts:
            break
        path = root / _OMNIGLOT_FILES[part]
        rows = None if remaining is None else -(-remaining // 20)  # ceil, 20 drawers
        images = _read_npz_rows(path, "images", rows)
        labels = _read_npz_rows(path, "labels", rows).astype(np.int64)
        n_img = images.shape[0] * images.shape[1]
        images = images.reshape((n_img,) + images.shape[2:])
        labels = labels.reshape(-1)
        if remaining is not None:
            images, labels = images[:remaining], labels[:remaining]
        # Files store True for the white background; return strokes as 255.
        x = np.logical_not(images).view(np.uint8) * np.uint8(255)
        x = x[..., None]
        if part == "test":
            labels = labels + _OMNIGLOT_TRAIN_CHARS
        parts.append((x, labels))
        if remaining is not None:
            remaining -= len(x)
    return _concat(parts, limit)


def _omniglot_files(split: str) -> list:
    return list(_OMNIGLOT_FILES.values()) if split == "all" else [_OMNIGLOT_FILES[split]]

_TINY_FILE = "tiny_imagenet/tiny_imagenet_val_subset_10per_class.zip"
_TINY_TRAIN_PER_CLASS = 5


def _tiny_imagenet_loader(root: Path, split: str, limit: Optional[int]):
    with zipfile.ZipFile(root / _TINY_FILE) as zf:
        wnids = zf.read("wnids.txt").decode("utf-8").split()
        index = {w: i for i, w in enumerate(wnids)}
        rows = list(csv.DictReader(io.StringIO(zf.read("val_subset_labels.csv").decode("utf-8"))))
        seen = {}
        selected = []
        for row in rows:
            label = index[row["wnid"]]
            rank = seen.get(label, 0)
            seen[label] = rank + 1
            if split == "all" or (split == "train") == (rank < _TINY_TRAIN_PER_CLASS):
                selected.append((row["filename"], label))
        if limit is not None:
            selected = selected[:limit]
        members = set(zf.namelist())
        images = []
        for filename, _ in selected:
            member = f"val/images/{filename}"
            if member not in members:  # pragma: no cover - defensive
                member = next(m for m in members if m.endswith("/" + filename))
            images.append(_decode_image(zf.read(member)))
    x = np.stack(images) if images else np.zeros((0, 64, 64, 3), np.uint8)
    y = np.array([label for _, label in selected], dtype=np.int64)
    return x, y


def _sr_loader(folder: str) -> Callable:
    def loader(root: Path, split: str, limit: Optional[int]):
        files = sorted((root / folder).glob("*.png"), key=lambda p: p.name)
        if limit is not None:
            files = files[:limit]
        return [_decode_image(p) for p in files], None

    return loader


# --------------------------------------------------------------------------- #
# Registry
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Spec:
    loader: Callable  # (root, split, limit) -> (x uint8, y int64 | None)
    files: Callable  # split -> relative paths that must exist
    tfds_name: Optional[str]
    description: str
    image_list: bool = False  # x is a list of images in a directory of PNGs


def _npz_spec(relpath: str, tfds_name: str, description: str) -> _Spec:
    return _Spec(_keras_npz_loader(relpath), lambda split: [relpath], tfds_name, description)


def _sr_spec(folder: str, description: str) -> _Spec:
    folder = f"sr_benchmarks/{folder}"
    return _Spec(_sr_loader(folder), lambda split: [folder], None, description, True)


_REGISTRY = {
    "mnist": _npz_spec("mnist/mnist.npz", "mnist", "MNIST digits, 60000/10000"),
    "fashion_mnist": _npz_spec(
        "fashion_mnist/fashion_mnist.npz", "fashion_mnist", "Fashion-MNIST, 60000/10000"
    ),
    "cifar10": _npz_spec(
        "cifar10/cifar10_subset_lossless.npz",
        "cifar10",
        "CIFAR-10 (local: lossless subset 2000/1000; TFDS: full 50000/10000)",
    ),
    "omniglot": _Spec(
        _omniglot_loader, _omniglot_files, "omniglot", "Omniglot background/evaluation, 19280/13180"
    ),
    "tiny_imagenet": _Spec(
        _tiny_imagenet_loader,
        lambda split: [_TINY_FILE],
        None,
        "Tiny ImageNet validation subset, 10 per class, split 5/5",
    ),
    "set5": _sr_spec("Set5", "Set5 super-resolution benchmark (5 images)"),
    "set14": _sr_spec("Set14", "Set14 super-resolution benchmark (14 images)"),
    "bsd100": _sr_spec("BSD100", "BSD100 super-resolution benchmark (100 images)"),
    "t91": _sr_spec("T91", "T91 super-resolution training set (91 images)"),
}


def available() -> list:
    """Lists the dataset names accepted by [`load`][keras_hopfield.datasets.load].

    Returns:
        A list of dataset names (strings), e.g. `["mnist", "fashion_mnist", ...]`.

    Example:
        >>> from keras_hopfield import datasets
        >>> "mnist" in datasets.available()
        True
    """
    return list(_REGISTRY)


# --------------------------------------------------------------------------- #
# Resolution
# --------------------------------------------------------------------------- #


def _local_root(data_dir: Optional[PathLike]):
    """Returns `(root or None, where-it-came-from text)`."""
    if data_dir is not None:
        return Path(os.fspath(data_dir)).expanduser(), "data_dir argument"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser(), f"${DATA_ENV}"
    return None, None


def _local_available(spec: _Spec, root: Path, split: str) -> bool:
    for rel in spec.files(split):
        path = root / rel
        if spec.image_list:
            if not (path.is_dir() and any(path.glob("*.png"))):
                return False
        elif not path.is_file():
            return False
    return True


def _load_tfds(name: str, spec: _Spec, split: str, limit: Optional[int]):
    """Loads via TensorFlow Datasets; returns `(x uint8, y int64)`. May raise anything."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 - optional, heavy import

    n = None if limit is None else max(limit, 1)
    if split == "all":
        tfds_split = "train+test" if n is None else f"train[:{n}]+test[:{n}]"
    else:
        tfds_split = split if n is None else f"{split}[:{n}]"
    # Iterate in finite batches rather than batch_size=-1: the latter pads to
    # the split size and aborts the process when the size is unknown.
    ds = tfds.load(spec.tfds_name, split=tfds_split, as_supervised=True, batch_size=1024)
    xs, ys = [], []
    for xb, yb in tfds.as_numpy(ds):
        xs.append(np.asarray(xb, dtype=np.uint8))
        ys.append(np.asarray(yb, dtype=np.int64))
    if not xs:
        raise ValueError(f"TensorFlow Datasets returned no examples for {spec.tfds_name!r} {tfds_split!r}")
    x = np.concatenate(xs, axis=0)
    y = np.concatenate(ys, axis=0)
    if name == "omniglot":
        # TFDS gives RGB with a white background; match the local convention.
        x = np.uint8(255) - x[..., :1]
    if x.ndim == 3:
        x = x[..., None]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return np.ascontiguousarray(x), y


def _not_found(name: str, spec: _Spec, split: str, root, origin, reason) -> DatasetNotFoundError:
    files = ", ".join(f + "/*.png" if spec.image_list else f for f in spec.files(split))
    if root is None:
        local = f"no local data directory was given (data_dir=None and {DATA_ENV} is unset)"
    else:
        local = f"the local data directory {str(root)!r} (from the {origin}) does not contain {files}"
    lines = [f"Could not load dataset {name!r} (split {split!r}): {local}."]
    lines.append(
        f"  * To use local files, pass data_dir='/path/to/data' or set the environment variable "
        f"{DATA_ENV}=/path/to/data, where the directory contains {files}."
    )
    if spec.tfds_name is None:
        lines.append(
            f"  * {name!r} has no TensorFlow Datasets (tensorflow-datasets) equivalent, "
            "so it can only be loaded from local files."
        )
    else:
        lines.append(
            "  * Or install TensorFlow Datasets (tensorflow-datasets) to download it "
            f"automatically: {_INSTALL_HINT}"
        )
        if reason is not None:
            lines.append(f"    (TensorFlow Datasets failed: {type(reason).__name__}: {reason})")
    return DatasetNotFoundError("\n".join(lines))


def _check_limit(limit) -> Optional[int]:
    if limit is None:
        return None
    if isinstance(limit, bool):
        raise TypeError(f"limit must be a non-negative int or None, got {limit!r}")
    try:
        limit = operator.index(limit)
    except TypeError:
        raise TypeError(f"limit must be a non-negative int or None, got {limit!r}") from None
    if limit < 0:
        raise ValueError(f"limit must be a non-negative int or None, got {limit}")
    return limit


def load(
    name: str,
    split: str = "train",
    data_dir: Optional[PathLike] = None,
    as_float: bool = True,
    limit: Optional[int] = None,
):
    """Loads an image dataset as NumPy arrays.

    The data is looked up in the explicit `data_dir`, else in the directory
    named by the `KERAS_HOPFIELD_DATA` environment variable (an explicit
    `data_dir` always wins over the variable). If that directory does not hold
    the dataset's file(s), or no directory is given, the dataset is loaded
    with TensorFlow Datasets when it has an equivalent there (`mnist`,
    `fashion_mnist`, `cifar10`, `omniglot`). Nothing is cached by this
    function; TensorFlow Datasets uses its own cache directory.

    Args:
        name: Dataset name, one of [`available()`][keras_hopfield.datasets.available]:
            `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"omniglot"`,
            `"tiny_imagenet"`, `"set5"`, `"set14"`, `"bsd100"`, `"t91"`.
        split: `"train"`, `"test"` or `"all"`. See the module documentation for
            how each dataset is split (CIFAR-10 locally is a subset; Tiny
            ImageNet is split 5/5 images per class; the super-resolution sets
            return the whole set for every split).
        data_dir: Root of a local data directory with the layout described in
            the module documentation (e.g. `mnist/mnist.npz`). Overrides
            `KERAS_HOPFIELD_DATA`.
        as_float: If `True` (default), images are `float32` in `[0, 1]`;
            otherwise `uint8` in `[0, 255]`.
        limit: If given, keep only the first `limit` examples (images are
            decoded/converted only for those).

    Returns:
        A tuple `(x, y)`. For classification sets, `x` is an array of shape
        `(N, H, W, C)` (channels last; `C=1` for MNIST, Fashion-MNIST and
        Omniglot, whose strokes are 1 and background 0) and `y` an `int64`
        array of shape `(N,)`. For the super-resolution sets (`"set5"`,
        `"set14"`, `"bsd100"`, `"t91"`), `x` is a list of `(H, W, 3)` arrays
        of different sizes and `y` is `None`.

    Raises:
        ValueError: If `name` is unknown (the message lists the available
            names), `split` is not one of `"train"`, `"test"`, `"all"`, or
            `limit` is negative.
        TypeError: If `limit` is not an integer or `None`.
        DatasetNotFoundError: If the dataset is not in the local directory and
            cannot be loaded with TensorFlow Datasets (not installed, no
            equivalent, or the download/preparation failed). The message
            explains both `data_dir=` / `KERAS_HOPFIELD_DATA` and
            `pip install "keras-hopfield[datasets]"`.

    Example:
        >>> from keras_hopfield import datasets
        >>> x, y = datasets.load("mnist", split="train", limit=5)
        >>> x.shape, float(x.max()) <= 1.0, y.tolist()
        ((5, 28, 28, 1), True, [5, 0, 4, 1, 9])
        >>> images, none = datasets.load("set5")
        >>> len(images), images[0].shape[-1], none
        (5, 3, None)
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f"Unknown dataset {name!r}. Available datasets: {', '.join(available())}."
        )
    if split not in SPLITS:
        raise ValueError(f"Invalid split {split!r} for dataset {name!r}; expected one of {SPLITS}.")
    limit = _check_limit(limit)
    spec = _REGISTRY[name]

    root, origin = _local_root(data_dir)
    if root is not None and _local_available(spec, root, split):
        x, y = spec.loader(root, split, limit)
    else:
        if spec.tfds_name is None:
            raise _not_found(name, spec, split, root, origin, None)
        try:
            import tensorflow_datasets  # noqa: F401, PLC0415
        except ImportError as e:
            raise _not_found(name, spec, split, root, origin, None) from e
        try:
            x, y = _load_tfds(name, spec, split, limit)
        except Exception as e:  # noqa: BLE001 - any TFDS failure means "not available"
            raise _not_found(name, spec, split, root, origin, e) from e

    if as_float:
        if spec.image_list:
            x = [_uint8_to_float(img) for img in x]
        else:
            x = _uint8_to_float(x)
    return x, y


def _uint8_to_float(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float32)
    out /= np.float32(255.0)
    return out
