"""Additive noise: `gaussian_noise` and its layer `GaussianNoise`."""

import math

import keras
from keras import ops

from keras_hopfield.corruptions._common import (
    _check_nonnegative,
    _CorruptionLayer,
    _finish,
    _SeedStream,
    prepare_images,
)

__all__ = [
    "gaussian_noise",
    "GaussianNoise",
]


def gaussian_noise(images, variance, clip=True, seed=None):
    """Add zero-mean Gaussian noise of a given variance.

    The corrupted image is

        x~ = clip(x + sqrt(variance) * z, 0, 1),    z ~ N(0, I)

    (without the clipping when `clip=False`). The predictive-coding memory
    paper (Salvatori et al., 2021) uses variances 0.2 ... 2.0.

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        variance: Noise variance sigma^2 >= 0 (not the standard deviation).
        clip: Whether to clip the result to the valid range [0, 1].
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Backend tensor with the shape of `images`.

    Raises:
        ValueError: For a negative variance, a wrong rank or (eager) values
            outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import gaussian_noise
        >>> from keras_hopfield.corruptions import gaussian_noise
        >>> noisy = gaussian_noise(np.full((2, 8, 8, 1), 0.5), variance=0.2, seed=0)
        >>> tuple(noisy.shape)
        (2, 8, 8, 1)
    """
    variance = _check_nonnegative(variance, "variance")
    seeds = _SeedStream(seed)
    x, single = prepare_images(images)
    noise = keras.random.normal(ops.shape(x), stddev=math.sqrt(variance), dtype=x.dtype, seed=seeds())
    out = x + noise
    if clip:
        out = ops.clip(out, 0.0, 1.0)
    return _finish(out, single)


@keras.saving.register_keras_serializable(package="keras_hopfield")
class GaussianNoise(_CorruptionLayer):
    """Layer adding Gaussian noise of a given variance (see `gaussian_noise`).

        x~ = clip(x + sqrt(variance) * z, 0, 1),    z ~ N(0, I)

    Active with `training=True` (e.g. in `fit`) and the identity otherwise,
    unless `apply_at_inference=True`. Unlike `keras.layers.GaussianNoise`,
    the strength is a variance and the output is clipped to [0, 1].

    Args:
        variance: Noise variance >= 0.
        clip: Whether to clip to [0, 1].
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The noisy images (same shape as the input).

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import GaussianNoise
        >>> from keras_hopfield.corruptions import GaussianNoise
        >>> layer = GaussianNoise(0.2, seed=0, apply_at_inference=True)
        >>> tuple(layer(np.full((2, 8, 8, 1), 0.5)).shape)
        (2, 8, 8, 1)
    """

    def __init__(self, variance, clip=True, seed=None, apply_at_inference=False, **kwargs):
        super().__init__(seed=seed, apply_at_inference=apply_at_inference, **kwargs)
        self.variance = _check_nonnegative(variance, "variance")
        self.clip = bool(clip)

    def _corrupt(self, inputs):
        return gaussian_noise(inputs, self.variance, clip=self.clip, seed=self.generator)

    def get_config(self):
        config = super().get_config()
        config.update({"variance": self.variance, "clip": self.clip})
        return config
