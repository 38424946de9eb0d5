"""Tests for keras_hopfield.metrics (run on every Keras backend)."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_hopfield import metrics as M


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def tf_ssim(a, b, max_val=1.0):
    tf = pytest.importorskip("tensorflow")
    return tf.image.ssim(tf.constant(a), tf.constant(b), max_val).numpy()


@pytest.fixture
def pair(rng):
    x = rng.uniform(size=(6, 16, 16, 3)).astype("float32")
    y = np.clip(x + rng.normal(0.0, 0.1, x.shape), 0.0, 1.0).astype("float32")
    return x, y


def test_mse_and_psnr_match_numpy(pair):
    x, y = pair
    expected = ((x - y) ** 2).reshape(6, -1).mean(axis=1)
    np.testing.assert_allclose(np_(M.mse(x, y)), expected, rtol=1e-5)
    np.testing.assert_allclose(np_(M.psnr(x, y)), 10 * np.log10(1.0 / expected), rtol=1e-5)
    np.testing.assert_allclose(np_(M.psnr(x * 255, y * 255, max_val=255.0)), 10 * np.log10(1.0 / expected), rtol=1e-4)
    assert np.isinf(np_(M.psnr(x, x))).all()


def test_psnr_matches_tensorflow(pair):
    tf = pytest.importorskip("tensorflow")
    x, y = pair
    np.testing.assert_allclose(np_(M.psnr(x, y)), tf.image.psnr(x, y, 1.0).numpy(), rtol=1e-4)


def test_ssim_matches_tensorflow_on_synthetic_images(pair):
    x, y = pair
    ours = np_(M.ssim(x, y))
    assert ours.shape == (6,)
    np.testing.assert_allclose(ours, tf_ssim(x, y), atol=1e-3)
    np.testing.assert_allclose(np_(M.ssim(x, x)), 1.0, atol=1e-5)
    assert float(np_(M.ssim(x[0], y[0]))) == pytest.approx(float(ours[0]), abs=1e-5)  # single image


@pytest.mark.real_data
def test_ssim_matches_tensorflow_on_mnist_and_cifar(data_dir, rng):
    from keras_hopfield import corruptions as C

    with np.load(os.path.join(data_dir, "mnist", "mnist.npz")) as data:
        mnist = data["x_test"][:16, ..., None].astype("float32") / 255.0
    with np.load(os.path.join(data_dir, "cifar10", "cifar10_subset_lossless.npz")) as data:
        cifar = data["x_test"][:16].astype("float32") / 255.0
    for images in (mnist, cifar):
        for corrupted in (
            np_(C.gaussian_noise(images, 0.05, seed=0)),
            np_(C.adjust_contrast(images, 0.5)),
            images[::-1].copy(),  # a different image altogether
        ):
            ours = np_(M.ssim(images, corrupted))
            np.testing.assert_allclose(ours, tf_ssim(images, corrupted), atol=1e-3)
            assert (ours < 0.999).all()


def test_ssim_rejects_images_smaller_than_window_and_bad_shapes(rng):
    small = rng.uniform(size=(2, 8, 8, 1)).astype("float32")
    with pytest.raises(ValueError, match="window"):
        M.ssim(small, small)
    assert np_(M.ssim(small, small, filter_size=5)).shape == (2,)
    with pytest.raises(ValueError):
        M.ssim(small[..., 0, 0], small[..., 0, 0])
    with pytest.raises(ValueError, match="same shape"):
        M.mse(small, small[:1])


def test_retrieval_rate_pcn_thresholds():
    x = np.zeros((4, 10), "float32")
    y = x.copy()
    y[1] = np.sqrt(0.003)  # MSE 0.003: counts at 0.005, not at 0.001
    y[2] = np.sqrt(0.02)  # MSE 0.02: fails both
    y[3] = np.sqrt(0.0005)  # MSE 0.0005: passes both
    assert float(np_(M.retrieval_rate(x, y, 0.005))) == pytest.approx(0.75)
    assert float(np_(M.retrieval_rate(x, y, 0.001))) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        M.retrieval_rate(x, y, -0.1)


def test_nearest_pattern_accuracy(rng):
    patterns = rng.uniform(size=(6, 8, 8, 1)).astype("float32")
    noisy = patterns + rng.normal(0, 0.05, patterns.shape).astype("float32")
    assert float(np_(M.nearest_pattern_accuracy(patterns, noisy))) == 1.0
    np.testing.assert_array_equal(np_(M.nearest_pattern(noisy, patterns)), np.arange(6))
    swapped = noisy[[1, 0, 2, 3, 4, 5]]  # two queries land in the wrong basin
    assert float(np_(M.nearest_pattern_accuracy(patterns, swapped))) == pytest.approx(4 / 6)
    # explicit stored set larger than the queried batch
    extra = np.concatenate([patterns, rng.uniform(size=(4, 8, 8, 1)).astype("float32")])
    assert float(np_(M.nearest_pattern_accuracy(patterns[:3], noisy[:3], extra))) == 1.0
    with pytest.raises(ValueError):
        M.nearest_pattern(noisy, patterns[:, :4])


def test_metric_classes_accumulate_over_batches(pair):
    x, y = pair
    expected = {
        "mse": np_(M.mse(x, y)).mean(),
        "psnr": np_(M.psnr(x, y)).mean(),
        "ssim": np_(M.ssim(x, y)).mean(),
        "rr": np_(M.retrieval_rate(x, y, 0.01)),
        "npa": np_(M.nearest_pattern_accuracy(x, y)),
    }
    metrics = {
        "mse": M.MSE(),
        "psnr": M.PSNR(),
        "ssim": M.SSIM(),
        "rr": M.RetrievalRate(0.01),
        "npa": M.NearestPatternAccuracy(x),
    }
    for key, metric in metrics.items():
        metric.update_state(x[:3], y[:3])
        metric.update_state(x[3:], y[3:])
        assert float(np_(metric.result())) == pytest.approx(float(expected[key]), rel=1e-4, abs=1e-6), key
        metric.reset_state()
        assert float(np_(metric.result())) == 0.0
        clone = type(metric).from_config(metric.get_config())
        assert clone.get_config() == metric.get_config()
    assert metrics["rr"].name == "retrieval_rate_0.01"


def test_metric_sample_weight(pair):
    x, y = pair
    metric = M.MSE()
    weights = np.array([1, 0, 0, 0, 1, 0], "float32")
    metric.update_state(x, y, sample_weight=weights)
    expected = np_(M.mse(x, y))[[0, 4]].mean()
    assert float(np_(metric.result())) == pytest.approx(float(expected), rel=1e-5)


def test_metrics_in_compile_and_evaluate(rng):
    """A model that retrieves 0.9 * x: every metric is known in closed form."""
    x = rng.uniform(size=(12, 12, 12, 1)).astype("float32")
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Rescaling(0.9)])
    model.compile(
        loss="mse",
        metrics=[M.MSE(), M.PSNR(), M.SSIM(), M.RetrievalRate(0.005), M.NearestPatternAccuracy(x)],
    )
    results = model.evaluate(x, x, batch_size=4, verbose=0, return_dict=True)
    y = 0.9 * x
    assert results["mse"] == pytest.approx(float(np_(M.mse(x, y)).mean()), rel=1e-4)
    assert results["psnr"] == pytest.approx(float(np_(M.psnr(x, y)).mean()), rel=1e-4)
    assert results["ssim"] == pytest.approx(float(np_(M.ssim(x, y)).mean()), rel=1e-3)
    expected_rate = float((((x - y) ** 2).reshape(12, -1).mean(axis=1) < 0.005).mean())
    assert results["retrieval_rate_0.005"] == pytest.approx(expected_rate)
    assert results["nearest_pattern_accuracy"] == pytest.approx(1.0)


def test_metric_serialization_is_registered():
    metric = M.RetrievalRate(0.001)
    serialized = keras.saving.serialize_keras_object(metric)
    assert serialized["registered_name"] == "keras_hopfield>RetrievalRate"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, M.RetrievalRate) and restored.threshold == 0.001
