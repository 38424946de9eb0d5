"""Helpers shared by the corruption modules (and by `keras_hopfield.metrics` and `.attacks`).

Input validation (`prepare_images`, `check_value_range`, `check_fraction`),
the per-call seed stream and the base class of the corruption layers. The
public names are re-exported by `keras_hopfield.corruptions`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import is_concrete

_RANGE_TOLERANCE = 1e-6


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _is_float_dtype(dtype):
    return "float" in keras.backend.standardize_dtype(dtype)


def _to_float_tensor(x):
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.floating):
        x = x.astype(keras.config.floatx())
    x = ops.convert_to_tensor(x)
    if not _is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def check_value_range(x, name="images", minval=0.0, maxval=1.0):
    """Raise `ValueError` if a concrete array has values outside `[minval, maxval]`.

    Symbolic or traced tensors are not checked (see `keras_hopfield.corruptions`).

    Args:
        x: Array or tensor.
        name: Argument name used in the error message.
        minval: Smallest allowed value.
        maxval: Largest allowed value.

    Returns:
        None.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import check_value_range
        >>> from keras_hopfield.corruptions import check_value_range
        >>> check_value_range(np.array([0.0, 0.5, 1.0]))
    """
    if not is_concrete(x):
        return
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return
        lo, hi = float(np.min(x)), float(np.max(x))
    else:
        if int(np.prod(ops.shape(x))) == 0:
            return
        lo = float(ops.convert_to_numpy(ops.min(x)))
        hi = float(ops.convert_to_numpy(ops.max(x)))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    if lo < minval - _RANGE_TOLERANCE or hi > maxval + _RANGE_TOLERANCE:
        hint = " (uint8 images? divide by 255 first)" if hi > 1.5 and maxval == 1.0 else ""
        raise ValueError(
            f"`{name}` must have values in [{minval}, {maxval}]; received values "
            f"in [{lo:.4g}, {hi:.4g}]{hint}."
        )


def prepare_images(images, name="images", check_range=True, allow_single=True):
    """Validate an image batch and convert it to a float backend tensor.

    Args:
        images: `(N, H, W, C)` batch or, if `allow_single`, a single
            `(H, W, C)` image; NumPy array or backend tensor.
        name: Argument name used in error messages.
        check_range: Whether to check (when cheap) that values lie in [0, 1].
        allow_single: Whether a rank-3 input is accepted as a single image.

    Returns:
        A tuple `(batch, single)`: the 4-D float tensor and whether a batch
        axis was added (so the caller can remove it again).

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import prepare_images
        >>> from keras_hopfield.corruptions import prepare_images
        >>> batch, single = prepare_images(np.zeros((4, 8, 8, 1)))
        >>> tuple(batch.shape), single
        ((4, 8, 8, 1), False)
    """
    if check_range and isinstance(images, np.ndarray):
        check_value_range(images, name)
        check_range = False
    x = _to_float_tensor(images)
    rank = len(ops.shape(x))
    if rank == 3 and allow_single:
        x = ops.expand_dims(x, 0)
        single = True
    elif rank == 4:
        single = False
    else:
        expected = "(N, H, W, C) or a single (H, W, C) image" if allow_single else "(N, H, W, C)"
        raise ValueError(
            f"`{name}` must be a channels_last image batch of shape {expected}; "
            f"received shape {tuple(ops.shape(x))}. Add a channel axis to "
            "grayscale batches, e.g. images[..., None]."
        )
    if check_range:
        check_value_range(x, name)
    return x, single


def check_fraction(value, name="fraction"):
    """Raise `ValueError` unless `value` is a number in [0, 1].

    Args:
        value: The number to check.
        name: Argument name used in the error message.

    Returns:
        `value` as a Python float.

    Example:
        >>> from keras_hopfield.corruptions import check_fraction
        >>> from keras_hopfield.corruptions import check_fraction
        >>> check_fraction(0.25)
        0.25
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number in [0, 1]; received {value!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; received {value}.")
    return value


def _check_nonnegative(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a non-negative number; received {value!r}.") from None
    if not value >= 0.0 or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number >= 0; received {value}.")
    return value


def _check_seed(seed):
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    raise ValueError(
        "`seed` must be None, an int or a keras.random.SeedGenerator; "
        f"received {seed!r} of type {type(seed).__name__}."
    )


class _SeedStream:
    """Hands out seeds for successive random draws of one corruption call.

    A `SeedGenerator` (or `None`) is returned as is, so every draw advances it;
    an integer seed is turned into a different integer per draw, so that draws
    inside one call are independent yet the whole call is reproducible and
    stateless (usable inside `jax.jit` and `tf.data`).
    """

    def __init__(self, seed):
        self.seed = _check_seed(seed)
        self.count = 0

    def __call__(self):
        if self.seed is None or isinstance(self.seed, keras.random.SeedGenerator):
            return self.seed
        self.count += 1
        return (self.seed * 1_000_003 + self.count * 7_919) % (2**31 - 1)


def _finish(x, single):
    return x[0] if single else x


# --------------------------------------------------------------------------
# Base class of the corruption layers
# --------------------------------------------------------------------------


class _CorruptionLayer(keras.layers.Layer):
    """Shared machinery: seed generator, training switch, config."""

    _returns_mask = False

    def __init__(self, seed=None, apply_at_inference=False, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be None or an int; received {seed!r}.")
        self.seed = None if seed is None else int(seed)
        self.generator = keras.random.SeedGenerator(self.seed)
        self.apply_at_inference = bool(apply_at_inference)
        self.supports_masking = False
        self.built = True

    def _corrupt(self, inputs):
        raise NotImplementedError

    def call(self, inputs, training=False):
        if training or self.apply_at_inference:
            return self._corrupt(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed, "apply_at_inference": self.apply_at_inference})
        return config
