"""Retrieval-quality metrics for associative memories.

Functions compare a batch of original images with the images a memory
retrieved (both `(N, H, W, C)`, channels_last, values nominally in [0, 1]) and
return one value per image (`mse`, `psnr`, `ssim`) or a batch summary
(`retrieval_rate`, `nearest_pattern_accuracy`). They use `keras.ops` only and
run on TensorFlow, JAX and PyTorch, also inside compiled train/eval steps.

Each metric also exists as a stateful `keras.metrics.Metric` (`MSE`, `PSNR`,
`SSIM`, `RetrievalRate`, `NearestPatternAccuracy`) that averages over all
images seen, for use in `model.compile(metrics=[...])`.

Metric functions do not check pixel ranges (predictions may legitimately
leave [0, 1]); shapes are checked and a mismatch raises `ValueError`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.corruptions import _to_float_tensor

__all__ = [
    "mse",
    "psnr",
    "ssim",
    "retrieval_rate",
    "nearest_pattern",
    "nearest_pattern_accuracy",
    "MSE",
    "PSNR",
    "SSIM",
    "RetrievalRate",
    "NearestPatternAccuracy",
]


def _pair(original, retrieved, min_rank=2):
    a = _to_float_tensor(original)
    b = _to_float_tensor(retrieved)
    if tuple(a.shape) != tuple(b.shape) and None not in tuple(a.shape) + tuple(b.shape):
        raise ValueError(
            f"`original` and `retrieved` must have the same shape; received "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    if len(a.shape) < min_rank:
        raise ValueError(
            f"Expected a batch of rank >= {min_rank} (batch axis first); received shape {tuple(a.shape)}."
        )
    if a.dtype != b.dtype:
        b = ops.cast(b, a.dtype)
    return a, b


def _flatten(x):
    return ops.reshape(x, (ops.shape(x)[0], -1))


def mse(original, retrieved):
    """Per-image mean squared error.

        MSE_n = (1 / D) * sum_i (x_ni - y_ni)^2,    D = H * W * C

    Args:
        original: Batch of reference images, shape `(N, ...)`.
        retrieved: Batch of retrieved images with the same shape.

    Returns:
        Tensor of shape `(N,)`.

    Raises:
        ValueError: If the shapes differ or the input has no batch axis.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import mse
        >>> np.asarray(mse(np.zeros((2, 2, 2, 1)), np.ones((2, 2, 2, 1)))).tolist()
        [1.0, 1.0]
    """
    a, b = _pair(original, retrieved)
    return ops.mean(ops.square(_flatten(a) - _flatten(b)), axis=1)


def psnr(original, retrieved, max_val=1.0):
    """Per-image peak signal-to-noise ratio in decibels.

        PSNR_n = 10 * log10(max_val^2 / MSE_n)

    Identical images give `inf` (as `tf.image.psnr`).

    Args:
        original: Batch of reference images, shape `(N, ...)`.
        retrieved: Batch of retrieved images with the same shape.
        max_val: Dynamic range of the images (1.0 for [0, 1]).

    Returns:
        Tensor of shape `(N,)`.

    Raises:
        ValueError: If the shapes differ or `max_val <= 0`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import psnr
        >>> round(float(np.asarray(psnr(np.zeros((1, 4)), np.full((1, 4), 0.1)))[0]), 3)
        20.0
    """
    if not float(max_val) > 0:
        raise ValueError(f"`max_val` must be > 0; received {max_val}.")
    err = mse(original, retrieved)
    return 10.0 * ops.log10(ops.cast(float(max_val) ** 2, err.dtype) / err)


def _gaussian_kernel(size, sigma, channels, dtype):
    """Same kernel as TensorFlow's `_fspecial_gauss`, tiled for depthwise conv."""
    coords = np.arange(size, dtype="float64") - (size - 1) / 2.0
    g = np.exp(-0.5 * coords**2 / sigma**2)
    g /= g.sum()
    kernel = np.outer(g, g)[:, :, None, None]
    kernel = np.tile(kernel, (1, 1, channels, 1)).astype(dtype)
    return ops.convert_to_tensor(kernel, dtype=dtype)


def ssim(original, retrieved, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """Per-image structural similarity (Gaussian-window SSIM).

    With local statistics from a `filter_size x filter_size` Gaussian window
    of width `filter_sigma` (valid padding), per channel:

        SSIM = mean over windows of
               (2 mu_x mu_y + C1) (2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2)),
        C1 = (k1 * max_val)^2,  C2 = (k2 * max_val)^2,

    averaged over channels. This is the algorithm of `tf.image.ssim` (Wang et
    al., 2004) written with `keras.ops`, so it agrees with TensorFlow to
    float precision on every backend.

    Args:
        original: Batch `(N, H, W, C)` of reference images (or one `(H, W, C)`
            image).
        retrieved: Images with the same shape.
        max_val: Dynamic range of the images (1.0 for [0, 1]).
        filter_size: Side of the Gaussian window; `H` and `W` must be at least
            this large.
        filter_sigma: Standard deviation of the Gaussian window.
        k1: Luminance stabiliser constant.
        k2: Contrast stabiliser constant.

    Returns:
        Tensor of shape `(N,)` (a scalar tensor for a single image).

    Raises:
        ValueError: For non-image shapes, mismatched shapes or images
            smaller than the window.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import ssim
        >>> x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype("float32")
        >>> np.round(np.asarray(ssim(x, x)), 4).tolist()
        [1.0, 1.0]
    """
    a, b = _pair(original, retrieved, min_rank=3)
    single = len(a.shape) == 3
    if single:
        a, b = a[None], b[None]
    if len(a.shape) != 4:
        raise ValueError(f"`ssim` expects (N, H, W, C) images; received shape {tuple(a.shape)}.")
    h, w, c = a.shape[1], a.shape[2], a.shape[3]
    if h is not None and w is not None and (h < filter_size or w < filter_size):
        raise ValueError(
            f"Images of size {h}x{w} are smaller than the SSIM window ({filter_size}); "
            "pass a smaller `filter_size`."
        )
    dtype = keras.backend.standardize_dtype(a.dtype)
    kernel = _gaussian_kernel(int(filter_size), float(filter_sigma), int(c), dtype)

    def reducer(t):
        return ops.depthwise_conv(t, kernel, strides=1, padding="valid")

    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    mean_a, mean_b = reducer(a), reducer(b)
    num0 = mean_a * mean_b * 2.0
    den0 = ops.square(mean_a) + ops.square(mean_b)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = reducer(a * b) * 2.0
    den1 = reducer(ops.square(a) + ops.square(b))
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    per_channel = ops.mean(luminance * cs, axis=(1, 2))
    value = ops.mean(per_channel, axis=-1)
    return value[0] if single else value


def _check_threshold(threshold):
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"`threshold` must be a number >= 0; received {threshold!r}.") from None
    if not threshold >= 0 or not math.isfinite(threshold):
        raise ValueError(f"`threshold` must be a finite number >= 0; received {threshold}.")
    return threshold


def retrieval_rate(original, retrieved, threshold=0.005):
    """Fraction of images retrieved with an MSE below a threshold.

        rate = (1 / N) * sum_n [ MSE_n < threshold ]

    The predictive-coding memory paper (Salvatori et al., 2021) counts a
    retrieval as correct below 0.005 (and, more strictly, 0.001).

    Args:
        original: Batch of reference images, shape `(N, ...)`.
        retrieved: Batch of retrieved images with the same shape.
        threshold: MSE threshold >= 0.

    Returns:
        Scalar tensor in [0, 1].

    Raises:
        ValueError: For a negative threshold or mismatched shapes.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import retrieval_rate
        >>> x = np.zeros((4, 3)); y = x.copy(); y[0] = 1.0
        >>> float(retrieval_rate(x, y, 0.005))
        0.75
    """
    threshold = _check_threshold(threshold)
    err = mse(original, retrieved)
    return ops.mean(ops.cast(ops.less(err, threshold), err.dtype))


def nearest_pattern(x, patterns):
    """Index of the stored pattern closest (in squared Euclidean distance) to each input.

        k*_n = argmin_k || x_n - p_k ||^2

    Args:
        x: Batch `(N, ...)`.
        patterns: Stored patterns `(K, ...)` with the same trailing shape.

    Returns:
        Integer tensor of shape `(N,)`.

    Raises:
        ValueError: If the trailing shapes differ.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import nearest_pattern
        >>> np.asarray(nearest_pattern(np.array([[0.9, 0.1]]), np.eye(2))).tolist()
        [0]
    """
    x = _to_float_tensor(x)
    p = ops.cast(_to_float_tensor(patterns), x.dtype)
    if tuple(x.shape[1:]) != tuple(p.shape[1:]):
        raise ValueError(
            f"Inputs {tuple(x.shape)} and patterns {tuple(p.shape)} must share their trailing shape."
        )
    xf, pf = _flatten(x), _flatten(p)
    # ||x - p||^2 = ||x||^2 - 2 x.p + ||p||^2 ; ||x||^2 does not change the argmin.
    dist = ops.sum(ops.square(pf), axis=1)[None, :] - 2.0 * ops.matmul(xf, ops.transpose(pf))
    return ops.argmin(dist, axis=1)


def nearest_pattern_accuracy(original, retrieved, patterns=None):
    """Fraction of retrievals whose nearest stored pattern is the right one.

        acc = (1 / N) * sum_n [ argmin_k ||y_n - p_k|| == argmin_k ||x_n - p_k|| ]

    where x are the originals, y the retrieved images and p the stored
    patterns. For an auto-associative memory queried with corrupted versions
    of its own patterns, x_n is itself a stored pattern, so this is the
    fraction of queries that fell into the right basin of attraction even if
    the retrieved image is not pixel-perfect.

    Args:
        original: Batch of reference images `(N, ...)`.
        retrieved: Batch of retrieved images with the same shape.
        patterns: Stored patterns `(K, ...)`; defaults to `original` (the
            queried set is the stored set).

    Returns:
        Scalar tensor in [0, 1].

    Raises:
        ValueError: For mismatched shapes.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import nearest_pattern_accuracy
        >>> p = np.eye(3); y = p * 0.6
        >>> float(nearest_pattern_accuracy(p, y))
        1.0
    """
    a, b = _pair(original, retrieved)
    p = a if patterns is None else patterns
    correct = ops.equal(nearest_pattern(b, p), nearest_pattern(a, p))
    return ops.mean(ops.cast(correct, a.dtype))


# --------------------------------------------------------------------------
# Stateful metrics
# --------------------------------------------------------------------------


class _MeanOverImages(keras.metrics.Metric):
    """Average of a per-image value over every image seen since the last reset."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate the per-image values of a batch.

        Args:
            y_true: Original images.
            y_pred: Retrieved images.
            sample_weight: Optional per-image weights `(N,)`.

        Returns:
            None.
        """
        values = ops.cast(self._values(y_true, y_pred), self.dtype)
        if sample_weight is None:
            weights = ops.ones_like(values)
        else:
            weights = ops.cast(ops.reshape(sample_weight, (-1,)), self.dtype)
            weights = ops.broadcast_to(weights, ops.shape(values))
        self.total.assign_add(ops.sum(values * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        """Weighted mean of the accumulated values (0 before any update).

        Returns:
            Scalar tensor.
        """
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        """Forget every accumulated value.

        Returns:
            None.
        """
        self.total.assign(ops.zeros((), dtype=self.dtype))
        self.count.assign(ops.zeros((), dtype=self.dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_hopfield")
class MSE(_MeanOverImages):
    """Mean over images of the per-image mean squared error.

        result = (1 / N) * sum_n (1 / D) * sum_i (x_ni - y_ni)^2

    Args:
        name: Metric name.
        dtype: Dtype of the state variables.

    Returns:
        A `keras.metrics.Metric`; `result()` is a scalar.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import MSE
        >>> m = MSE()
        >>> m.update_state(np.zeros((2, 3)), np.ones((2, 3)))
        >>> float(m.result())
        1.0
    """

    def __init__(self, name="mse", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _values(self, y_true, y_pred):
        return mse(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_hopfield")
class PSNR(_MeanOverImages):
    """Mean over images of the per-image PSNR (see `psnr`).

        result = (1 / N) * sum_n 10 * log10(max_val^2 / MSE_n)

    A perfectly retrieved image contributes `inf`.

    Args:
        max_val: Dynamic range of the images.
        name: Metric name.
        dtype: Dtype of the state variables.

    Returns:
        A `keras.metrics.Metric`; `result()` is a scalar in dB.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import PSNR
        >>> m = PSNR()
        >>> m.update_state(np.zeros((1, 4)), np.full((1, 4), 0.1))
        >>> round(float(m.result()), 3)
        20.0
    """

    def __init__(self, max_val=1.0, name="psnr", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not float(max_val) > 0:
            raise ValueError(f"`max_val` must be > 0; received {max_val}.")
        self.max_val = float(max_val)

    def _values(self, y_true, y_pred):
        return psnr(y_true, y_pred, self.max_val)

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val}


@keras.saving.register_keras_serializable(package="keras_hopfield")
class SSIM(_MeanOverImages):
    """Mean over images of the Gaussian-window SSIM (see `ssim`).

        result = (1 / N) * sum_n SSIM(x_n, y_n)

    Args:
        max_val: Dynamic range of the images.
        filter_size: Gaussian window side.
        filter_sigma: Gaussian window width.
        k1: Luminance constant.
        k2: Contrast constant.
        name: Metric name.
        dtype: Dtype of the state variables.

    Returns:
        A `keras.metrics.Metric`; `result()` is a scalar <= 1.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import SSIM
        >>> x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1))
        >>> m = SSIM()
        >>> m.update_state(x, x)
        >>> round(float(m.result()), 4)
        1.0
    """

    def __init__(self, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, name="ssim", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.max_val = float(max_val)
        self.filter_size = int(filter_size)
        self.filter_sigma = float(filter_sigma)
        self.k1, self.k2 = float(k1), float(k2)

    def _values(self, y_true, y_pred):
        return ssim(y_true, y_pred, self.max_val, self.filter_size, self.filter_sigma, self.k1, self.k2)

    def get_config(self):
        return {
            **super().get_config(),
            "max_val": self.max_val,
            "filter_size": self.filter_size,
            "filter_sigma": self.filter_sigma,
            "k1": self.k1,
            "k2": self.k2,
        }


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RetrievalRate(_MeanOverImages):
    """Fraction of images retrieved with MSE below a threshold (see `retrieval_rate`).

        result = (1 / N) * sum_n [ MSE_n < threshold ]

    Args:
        threshold: MSE threshold (PCN: 0.005 or 0.001).
        name: Metric name; defaults to `retrieval_rate_<threshold>`.
        dtype: Dtype of the state variables.

    Returns:
        A `keras.metrics.Metric`; `result()` is a scalar in [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import RetrievalRate
        >>> m = RetrievalRate(0.005)
        >>> x = np.zeros((4, 3)); y = x.copy(); y[0] = 1.0
        >>> m.update_state(x, y)
        >>> float(m.result())
        0.75
    """

    def __init__(self, threshold=0.005, name=None, dtype=None):
        threshold = _check_threshold(threshold)
        super().__init__(name=name or f"retrieval_rate_{threshold:g}", dtype=dtype)
        self.threshold = threshold

    def _values(self, y_true, y_pred):
        return ops.less(mse(y_true, y_pred), self.threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="keras_hopfield")
class NearestPatternAccuracy(_MeanOverImages):
    """Fraction of retrievals closest to the right stored pattern (see `nearest_pattern_accuracy`).

        result = (1 / N) * sum_n [ argmin_k ||y_n - p_k|| == argmin_k ||x_n - p_k|| ]

    Args:
        patterns: Stored patterns `(K, ...)` (array-like; saved in the config).
        name: Metric name.
        dtype: Dtype of the state variables.

    Returns:
        A `keras.metrics.Metric`; `result()` is a scalar in [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.metrics import NearestPatternAccuracy
        >>> m = NearestPatternAccuracy(np.eye(3))
        >>> m.update_state(np.eye(3), 0.6 * np.eye(3))
        >>> float(m.result())
        1.0
    """

    def __init__(self, patterns, name="nearest_pattern_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        patterns = np.asarray(patterns, dtype="float32")
        if patterns.ndim < 2 or patterns.shape[0] < 1:
            raise ValueError(f"`patterns` must be a non-empty batch (K, ...); received shape {patterns.shape}.")
        self.patterns = patterns

    def _values(self, y_true, y_pred):
        a, b = _pair(y_true, y_pred)
        p = ops.convert_to_tensor(self.patterns, dtype=a.dtype)
        return ops.equal(nearest_pattern(b, p), nearest_pattern(a, p))

    def get_config(self):
        return {**super().get_config(), "patterns": self.patterns.tolist()}
