"""Tests for keras_hopfield.datasets.

Real-data tests use the `data_dir` fixture (skipped when KERAS_HOPFIELD_DATA is
unset); resolution, error and TFDS-conversion logic is tested with small fake
files and a fake `tensorflow_datasets` module, and the real TFDS code path with
`tensorflow_datasets.testing.mock_data`.
"""

import collections
import os
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

from keras_hopfield import datasets
from keras_hopfield.datasets import DATA_ENV, DatasetNotFoundError

real_data = pytest.mark.real_data


# --------------------------------------------------------------------------- #
# Helpers for fake local data
# --------------------------------------------------------------------------- #


def _write_fake_mnist(root, fill):
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    np.savez(
        root / "mnist" / "mnist.npz",
        x_train=np.full((4, 28, 28), fill, np.uint8),
        y_train=np.array([1, 2, 3, 4], np.uint8),
        x_test=np.full((2, 28, 28), fill, np.uint8),
        y_test=np.array([7, 8], np.uint8),
    )


def _png_bytes(arr, fmt="PNG"):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------- #
# Argument validation and module hygiene (no data needed)
# --------------------------------------------------------------------------- #


def test_available_lists_all_names():
    names = datasets.available()
    for name in ["mnist", "fashion_mnist", "cifar10", "omniglot", "tiny_imagenet",
                 "set5", "set14", "bsd100", "t91"]:
        assert name in names
    assert datasets.DATA_ENV == "KERAS_HOPFIELD_DATA"


def test_unknown_name_lists_available():
    with pytest.raises(ValueError) as info:
        datasets.load("imagenet_full")
    msg = str(info.value)
    assert "imagenet_full" in msg
    for name in datasets.available():
        assert name in msg


@pytest.mark.parametrize("split", ["validation", "TRAIN", "", None])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split"):
        datasets.load("mnist", split=split)


def test_bad_limit(tmp_path):
    _write_fake_mnist(tmp_path, 1)
    with pytest.raises(ValueError):
        datasets.load("mnist", data_dir=tmp_path, limit=-1)
    with pytest.raises(TypeError):
        datasets.load("mnist", data_dir=tmp_path, limit=2.5)


def test_module_imports_neither_tensorflow_nor_keras():
    # Load the module file on its own (the package __init__ may import keras).
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('kh_datasets', {datasets.__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "sys.modules['kh_datasets'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "assert 'mnist' in mod.available()\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- #
# Resolution order with fake files (no data needed)
# --------------------------------------------------------------------------- #


def test_env_var_resolution_fake(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path, 51)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    x, y = datasets.load("mnist", split="test")
    assert x.shape == (2, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x, 51 / 255, rtol=1e-6)
    assert y.dtype == np.int64 and y.tolist() == [7, 8]


def test_explicit_data_dir_beats_env_var_fake(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    _write_fake_mnist(env_dir, 10)
    _write_fake_mnist(arg_dir, 20)
    monkeypatch.setenv(DATA_ENV, str(env_dir))
    x, _ = datasets.load("mnist", data_dir=arg_dir, as_float=False)
    assert x.dtype == np.uint8 and np.all(x == 20)
    x, _ = datasets.load("mnist", data_dir=str(arg_dir), as_float=False)
    assert np.all(x == 20)


def test_split_all_and_limit_fake(tmp_path):
    _write_fake_mnist(tmp_path, 3)
    x, y = datasets.load("mnist", split="all", data_dir=tmp_path)
    assert x.shape == (6, 28, 28, 1) and y.tolist() == [1, 2, 3, 4, 7, 8]
    x, y = datasets.load("mnist", split="all", data_dir=tmp_path, limit=5)
    assert y.tolist() == [1, 2, 3, 4, 7]
    x, y = datasets.load("mnist", data_dir=tmp_path, limit=0)
    assert x.shape == (0, 28, 28, 1) and y.shape == (0,)


def test_omniglot_inversion_and_label_offset_fake(tmp_path):
    d = tmp_path / "omniglot"
    d.mkdir()
    for fname, chars in [("images_background.npz", 3), ("images_evaluation.npz", 2)]:
        images = np.ones((chars, 20, 105, 105), bool)  # True = white background
        images[:, :, 50, 10:20] = False  # a stroke
        labels = np.repeat(np.arange(chars), 20).reshape(chars, 20)
        np.savez_compressed(d / fname, images=images, labels=labels)
    x, y = datasets.load("omniglot", split="train", data_dir=tmp_path, limit=25)
    assert x.shape == (25, 105, 105, 1) and x.dtype == np.float32
    assert x[:, 50, 10:20].min() == 1.0 and x.sum() == 25 * 10
    assert y.tolist() == [0] * 20 + [1] * 5
    x, y = datasets.load("omniglot", split="test", data_dir=tmp_path, as_float=False)
    assert x.dtype == np.uint8 and set(np.unique(x).tolist()) == {0, 255}
    assert y.min() == 964 and y.max() == 965 and len(y) == 40
    _, y = datasets.load("omniglot", split="all", data_dir=tmp_path)
    assert len(y) == 100 and y[59] == 2 and y[60] == 964


def test_sr_sorted_rgb_list_fake(tmp_path):
    from PIL import Image

    d = tmp_path / "sr_benchmarks" / "Set5"
    d.mkdir(parents=True)
    Image.fromarray(np.full((4, 6), 200, np.uint8)).save(d / "b_gray.png")
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(d / "a_rgb.png")
    x, y = datasets.load("set5", data_dir=tmp_path)
    assert y is None and isinstance(x, list) and len(x) == 2
    assert x[0].shape == (3, 5, 3) and x[1].shape == (4, 6, 3)
    assert x[1].dtype == np.float32 and np.allclose(x[1], 200 / 255)
    x, _ = datasets.load("set5", split="test", data_dir=tmp_path, as_float=False, limit=1)
    assert len(x) == 1 and x[0].dtype == np.uint8


def test_tiny_imagenet_split_fake(tmp_path):
    d = tmp_path / "tiny_imagenet"
    d.mkdir()
    wnids = ["n0", "n1"]
    rows, members = ["filename,wnid,class_index,x0,y0,x1,y1"], {}
    for i in range(20):  # alternating classes, 10 each
        wnid = wnids[i % 2]
        rows.append(f"val_{i}.JPEG,{wnid},{i % 2},0,0,1,1")
        img = np.full((64, 64), i * 10, np.uint8) if i == 3 else np.full((64, 64, 3), i * 10, np.uint8)
        members[f"val/images/val_{i}.JPEG"] = _png_bytes(img, "JPEG")
    with zipfile.ZipFile(d / "tiny_imagenet_val_subset_10per_class.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("val_subset_labels.csv", "\n".join(rows) + "\n")
        zf.writestr("wnids.txt", "\n".join(wnids) + "\n")
    x, y = datasets.load("tiny_imagenet", split="all", data_dir=tmp_path, as_float=False)
    assert x.shape == (20, 64, 64, 3) and x.dtype == np.uint8 and y.tolist() == [0, 1] * 10
    _, ytr = datasets.load("tiny_imagenet", split="train", data_dir=tmp_path)
    _, yte = datasets.load("tiny_imagenet", split="test", data_dir=tmp_path)
    assert ytr.tolist() == [0, 1] * 5 and yte.tolist() == [0, 1] * 5


# --------------------------------------------------------------------------- #
# Errors when neither local data nor TFDS works
# --------------------------------------------------------------------------- #


def _assert_mentions_both(msg):
    assert "KERAS_HOPFIELD_DATA" in msg
    assert "data_dir" in msg
    assert "tensorflow-datasets" in msg
    assert 'pip install "keras-hopfield[datasets]"' in msg


@pytest.mark.parametrize("use_tmp_dir", [False, True])
def test_clear_error_without_local_data_or_tfds(tmp_path, monkeypatch, use_tmp_dir):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load("mnist", data_dir=tmp_path if use_tmp_dir else None)
    assert isinstance(info.value, FileNotFoundError)
    _assert_mentions_both(str(info.value))
    assert "mnist/mnist.npz" in str(info.value)


def test_clear_error_when_env_dir_lacks_file(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load("cifar10", split="test")
    _assert_mentions_both(str(info.value))
    assert str(tmp_path) in str(info.value)


def test_clear_error_when_tfds_load_fails(monkeypatch):
    fake = types.ModuleType("tensorflow_datasets")

    def failing_load(*args, **kwargs):
        raise RuntimeError("no network")

    fake.load = failing_load
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load("fashion_mnist")
    _assert_mentions_both(str(info.value))
    assert "no network" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("name", ["tiny_imagenet", "set5", "set14", "bsd100", "t91"])
def test_sets_without_tfds_equivalent(name, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load(name)
    msg = str(info.value)
    assert "KERAS_HOPFIELD_DATA" in msg and "no TensorFlow Datasets" in msg


# --------------------------------------------------------------------------- #
# TFDS fallback
# --------------------------------------------------------------------------- #


def test_tfds_conversion_with_fake_module(monkeypatch):
    """Split strings, batching and the Omniglot conversion, without TensorFlow."""
    calls = []

    def fake_load(name, split, as_supervised, batch_size):
        calls.append((name, split, as_supervised))
        img = np.full((3, 105, 105, 3), 255, np.uint8)
        img[:, 0, 0] = 0  # one stroke pixel
        return [(img, np.array([5, 6, 7])), (img[:2], np.array([8, 9]))]

    fake = types.ModuleType("tensorflow_datasets")
    fake.load = fake_load
    fake.as_numpy = lambda ds: ds
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    x, y = datasets.load("omniglot", split="test", limit=4)
    assert calls[-1] == ("omniglot", "test[:4]", True)
    assert x.shape == (4, 105, 105, 1) and x.dtype == np.float32
    assert x.sum() == 4 and x[:, 0, 0, 0].tolist() == [1.0] * 4
    assert y.dtype == np.int64 and y.tolist() == [5, 6, 7, 8]
    datasets.load("omniglot", split="all")
    assert calls[-1][1] == "train+test"


@pytest.fixture
def tfds_mock(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.delenv(DATA_ENV, raising=False)
    with tfds.testing.mock_data(num_examples=6):
        yield tfds


def test_tfds_mnist(tfds_mock):
    x, y = datasets.load("mnist", split="train", data_dir=None)
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (6,) and y.dtype == np.int64 and 0 <= y.min() and y.max() <= 9
    x, y = datasets.load("mnist", split="test", as_float=False, limit=4)
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (4,)


def test_tfds_cifar10(tfds_mock, tmp_path):
    # An empty explicit data_dir also falls back to TFDS.
    x, y = datasets.load("cifar10", split="test", data_dir=tmp_path)
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (6,) and y.dtype == np.int64 and 0 <= y.min() and y.max() <= 9


# --------------------------------------------------------------------------- #
# Real files (skipped without KERAS_HOPFIELD_DATA)
# --------------------------------------------------------------------------- #


@real_data
def test_mnist_real(data_dir):
    x, y = datasets.load("mnist", split="train", data_dir=data_dir)
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert y.shape == (60000,) and y.dtype == np.int64
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert sorted(np.unique(y).tolist()) == list(range(10))
    xu, yu = datasets.load("mnist", split="test", data_dir=data_dir, as_float=False, limit=10)
    assert xu.shape == (10, 28, 28, 1) and xu.dtype == np.uint8
    assert yu[:5].tolist() == [7, 2, 1, 0, 4]
    xf, _ = datasets.load("mnist", split="test", data_dir=data_dir, limit=10)
    np.testing.assert_allclose(xf * 255, xu, atol=1e-4)


@real_data
def test_fashion_mnist_real(data_dir):
    x, y = datasets.load("fashion_mnist", split="test", data_dir=data_dir)
    assert x.shape == (10000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and y[:5].tolist() == [9, 2, 1, 1, 6]
    _, y = datasets.load("fashion_mnist", split="all", data_dir=data_dir, as_float=False)
    assert y.shape == (70000,) and y.min() == 0 and y.max() == 9


@real_data
def test_cifar10_real(data_dir):
    x, y = datasets.load("cifar10", split="train", data_dir=data_dir)
    assert x.shape == (2000, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    x, y = datasets.load("cifar10", split="test", data_dir=data_dir, as_float=False)
    assert x.shape == (1000, 32, 32, 3) and x.dtype == np.uint8
    assert y[:5].tolist() == [3, 8, 8, 0, 6] and y.min() == 0 and y.max() == 9
    _, y = datasets.load("cifar10", split="all", data_dir=data_dir, limit=2005)
    assert y.shape == (2005,) and y[2000:].tolist() == [3, 8, 8, 0, 6]


@real_data
def test_omniglot_real(data_dir):
    x, y = datasets.load("omniglot", split="train", data_dir=data_dir, limit=45)
    assert x.shape == (45, 105, 105, 1) and x.dtype == np.float32
    assert set(np.unique(x).tolist()) == {0.0, 1.0}
    assert 0.0 < x.mean() < 0.3  # strokes (1.0) are sparse; background is 0
    assert y.tolist() == [0] * 20 + [1] * 20 + [2] * 5
    x, y = datasets.load("omniglot", split="test", data_dir=data_dir, limit=21, as_float=False)
    assert x.dtype == np.uint8 and set(np.unique(x).tolist()) == {0, 255}
    assert y.tolist() == [964] * 20 + [965]


@pytest.fixture(scope="module")
def tiny_all():
    path = os.environ.get(DATA_ENV)
    if not path:
        pytest.skip("KERAS_HOPFIELD_DATA is unset (fresh machine without local data)")
    return path, datasets.load("tiny_imagenet", split="all", data_dir=path, as_float=False)


@real_data
def test_tiny_imagenet_all_real(tiny_all):
    _, (x, y) = tiny_all
    assert x.shape == (2000, 64, 64, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.min() == 0 and y.max() == 199
    assert set(collections.Counter(y.tolist()).values()) == {10}
    assert y[:4].tolist() == [163, 1, 132, 179]  # val_0..val_3 in wnids.txt order


@real_data
def test_tiny_imagenet_splits_real(tiny_all):
    path, (x_all, y_all) = tiny_all
    rank, seen = [], collections.Counter()
    for label in y_all.tolist():
        rank.append(seen[label])
        seen[label] += 1
    in_train = np.array(rank) < 5
    xtr, ytr = datasets.load("tiny_imagenet", split="train", data_dir=path, as_float=False)
    xte, yte = datasets.load("tiny_imagenet", split="test", data_dir=path, as_float=False)
    assert xtr.shape == xte.shape == (1000, 64, 64, 3)
    np.testing.assert_array_equal(ytr, y_all[in_train])
    np.testing.assert_array_equal(yte, y_all[~in_train])
    np.testing.assert_array_equal(xtr, x_all[in_train])
    np.testing.assert_array_equal(xte, x_all[~in_train])
    xf, yf = datasets.load("tiny_imagenet", split="all", data_dir=path, limit=3)
    assert xf.dtype == np.float32 and xf.shape == (3, 64, 64, 3)
    np.testing.assert_allclose(xf * 255, x_all[:3], atol=1e-4)
    assert yf.tolist() == y_all[:3].tolist()


@real_data
@pytest.mark.parametrize("name,count", [("set5", 5), ("set14", 14), ("bsd100", 100)])
def test_sr_benchmarks_real(data_dir, name, count):
    x, y = datasets.load(name, split="test", data_dir=data_dir)
    assert y is None and isinstance(x, list) and len(x) == count
    for img in x:
        assert img.ndim == 3 and img.shape[-1] == 3 and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0
    if name == "set5":
        assert x[0].shape == (512, 512, 3)  # baby
    if name == "set14":
        bridge = x[2]  # baboon, barbara, bridge (grayscale)
        assert bridge.shape == (512, 512, 3)
        assert np.array_equal(bridge[..., 0], bridge[..., 1])
    if name == "bsd100":
        assert {img.shape for img in x} <= {(320, 480, 3), (480, 320, 3)}


@real_data
def test_t91_real(data_dir, monkeypatch):
    monkeypatch.setenv(DATA_ENV, data_dir)
    x, y = datasets.load("t91", as_float=False)
    assert y is None and len(x) == 91
    assert all(img.dtype == np.uint8 and img.shape[-1] == 3 for img in x)


@real_data
def test_env_var_resolution_real(data_dir, monkeypatch):
    monkeypatch.setenv(DATA_ENV, data_dir)
    x, y = datasets.load("cifar10", split="test", limit=5)
    assert x.shape == (5, 32, 32, 3) and y.tolist() == [3, 8, 8, 0, 6]


@real_data
def test_explicit_arg_beats_env_var_real(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # empty: would fail on its own
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    _, y = datasets.load("mnist", data_dir=data_dir, limit=5)
    assert y.tolist() == [5, 0, 4, 1, 9]
    with pytest.raises(DatasetNotFoundError):
        datasets.load("mnist", limit=5)
