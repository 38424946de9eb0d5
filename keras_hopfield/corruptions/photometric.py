"""Photometric shifts: `adjust_brightness`, `adjust_contrast` and their layers `Brightness`, `Contrast`."""

import math

import keras
from keras import ops

from keras_hopfield.corruptions._common import _check_nonnegative, _CorruptionLayer, _finish, prepare_images

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "Brightness",
    "Contrast",
]


def adjust_brightness(images, delta):
    """Shift the brightness of every pixel by a constant.

        x~ = clip(x + delta, 0, 1)

    The CRHN robustness study sweeps delta as a perturbation strength.

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        delta: Additive shift (negative values darken).

    Returns:
        Backend tensor with the shape of `images`.

    Raises:
        ValueError: For a non-finite delta, a wrong rank or (eager) values
            outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import adjust_brightness
        >>> from keras_hopfield.corruptions import adjust_brightness
        >>> float(np.asarray(adjust_brightness(np.full((1, 2, 2, 1), 0.9), 0.2)).max())
        1.0
    """
    delta = float(delta)
    if not math.isfinite(delta):
        raise ValueError(f"`delta` must be finite; received {delta}.")
    x, single = prepare_images(images)
    return _finish(ops.clip(x + delta, 0.0, 1.0), single)


def adjust_contrast(images, factor):
    """Scale the contrast of each image around its mean.

        x~ = clip(mu + c * (x - mu), 0, 1),    mu = mean of the image over H, W, C

    `c < 1` lowers and `c > 1` raises the contrast; `c = 0` gives a flat
    image at the mean.

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        factor: Contrast factor c >= 0.

    Returns:
        Backend tensor with the shape of `images`.

    Raises:
        ValueError: For a negative factor, a wrong rank or (eager) values
            outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import adjust_contrast
        >>> from keras_hopfield.corruptions import adjust_contrast
        >>> img = np.array([0.2, 0.4, 0.6]).reshape(1, 1, 3, 1)
        >>> bool(np.allclose(np.asarray(adjust_contrast(img, 0.5)).ravel(), [0.3, 0.4, 0.5]))
        True
    """
    factor = _check_nonnegative(factor, "factor")
    x, single = prepare_images(images)
    mu = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return _finish(ops.clip(mu + factor * (x - mu), 0.0, 1.0), single)


@keras.saving.register_keras_serializable(package="keras_hopfield")
class Brightness(_CorruptionLayer):
    """Layer shifting brightness (see `adjust_brightness`).

        x~ = clip(x + delta, 0, 1)

    Deterministic. Active with `training=True` and the identity otherwise,
    unless `apply_at_inference=True`. For random brightness augmentation use
    `keras.layers.RandomBrightness`.

    Args:
        delta: Additive shift.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments (and an unused `seed`).

    Returns:
        The shifted images.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import Brightness
        >>> from keras_hopfield.corruptions import Brightness
        >>> layer = Brightness(0.25, apply_at_inference=True)
        >>> float(np.asarray(layer(np.full((1, 2, 2, 1), 0.5))).max())
        0.75
    """

    def __init__(self, delta, apply_at_inference=False, **kwargs):
        seed = kwargs.pop("seed", None)
        super().__init__(seed=seed, apply_at_inference=apply_at_inference, **kwargs)
        self.delta = float(delta)
        if not math.isfinite(self.delta):
            raise ValueError(f"`delta` must be finite; received {delta}.")

    def _corrupt(self, inputs):
        return adjust_brightness(inputs, self.delta)

    def get_config(self):
        config = super().get_config()
        config.update({"delta": self.delta})
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class Contrast(_CorruptionLayer):
    """Layer scaling contrast around the per-image mean (see `adjust_contrast`).

        x~ = clip(mu + c * (x - mu), 0, 1)

    Deterministic. Active with `training=True` and the identity otherwise,
    unless `apply_at_inference=True`. For random contrast augmentation use
    `keras.layers.RandomContrast`.

    Args:
        factor: Contrast factor c >= 0.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments (and an unused `seed`).

    Returns:
        The contrast-adjusted images.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import Contrast
        >>> from keras_hopfield.corruptions import Contrast
        >>> layer = Contrast(0.0, apply_at_inference=True)
        >>> float(np.asarray(layer(np.array([0.0, 1.0]).reshape(1, 1, 2, 1))).max())
        0.5
    """

    def __init__(self, factor, apply_at_inference=False, **kwargs):
        seed = kwargs.pop("seed", None)
        super().__init__(seed=seed, apply_at_inference=apply_at_inference, **kwargs)
        self.factor = _check_nonnegative(factor, "factor")

    def _corrupt(self, inputs):
        return adjust_contrast(inputs, self.factor)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config
