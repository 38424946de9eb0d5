"""Image corruptions for probing associative memories.

Every corruption works on a batch of images with values in [0, 1] in
`channels_last` layout, shape `(N, H, W, C)`; a single image `(H, W, C)` is
also accepted and returned without the batch axis. Inputs may be NumPy arrays
or backend tensors; outputs are backend tensors (`keras.ops`), so the same code
runs on TensorFlow, JAX and PyTorch.

Masking corruptions return a pair `(corrupted, known)`: `known` is a boolean
tensor with the shape of the images that is `True` where the pixel is still
observed and `False` where it was obscured (set to `fill_value`). All channels
of a pixel share the same mask value.

Every stochastic function takes `seed`: an `int` (reproducible), a
`keras.random.SeedGenerator` (a new draw on every call) or `None` (Keras'
global generator).

Each corruption also exists as a Keras layer (e.g. `GaussianNoise`,
`PerlinMask`) that is active in training (`training=True`) and the identity
otherwise, unless built with `apply_at_inference=True`.

Input validation: a wrong rank, a fraction outside [0, 1] or a negative
variance always raises `ValueError`. Whether pixel values lie in [0, 1] is
checked only when it is cheap, i.e. for eager (concrete) NumPy arrays and
tensors; inside traced code (`tf.function`, `tf.data`, `jax.jit`) the check
is skipped.

Layout (everything is importable from `keras_hopfield.corruptions`):
`noise` (additive Gaussian noise), `masks` (random pixels, Perlin blobs,
patches, column/row bands, top fraction), `photometric` (brightness,
contrast); `_common` holds the input checks and the layers' base class.
"""

from keras_hopfield.corruptions._common import (  # noqa: F401  (private names: used by .metrics and .attacks)
    _check_seed,
    _SeedStream,
    _to_float_tensor,
    check_fraction,
    check_value_range,
    prepare_images,
)
from keras_hopfield.corruptions.masks import (
    ColumnOcclusion,
    KeepTopFraction,
    PerlinMask,
    RandomPatchMask,
    RandomPixelMask,
    RowOcclusion,
    keep_top_fraction,
    occlude_columns,
    occlude_rows,
    perlin_mask,
    perlin_noise,
    random_patch_mask,
    random_pixel_mask,
)
from keras_hopfield.corruptions.noise import GaussianNoise, gaussian_noise
from keras_hopfield.corruptions.photometric import Brightness, Contrast, adjust_brightness, adjust_contrast

__all__ = [
    "gaussian_noise",
    "random_pixel_mask",
    "perlin_noise",
    "perlin_mask",
    "random_patch_mask",
    "occlude_columns",
    "occlude_rows",
    "keep_top_fraction",
    "adjust_brightness",
    "adjust_contrast",
    "GaussianNoise",
    "RandomPixelMask",
    "PerlinMask",
    "RandomPatchMask",
    "ColumnOcclusion",
    "RowOcclusion",
    "KeepTopFraction",
    "Brightness",
    "Contrast",
]
