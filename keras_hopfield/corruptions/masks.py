"""Masks: corruptions that obscure pixels and return `(corrupted, known)`.

Random pixels (`random_pixel_mask`), Perlin-noise blobs (`perlin_mask`,
with the noise field `perlin_noise`), square patches over the foreground
(`random_patch_mask`), bands of columns or rows (`occlude_columns`,
`occlude_rows`) and the top part of an image (`keep_top_fraction`), each with
its Keras layer (`RandomPixelMask`, ..., `KeepTopFraction`).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import is_concrete
from keras_hopfield.corruptions._common import _CorruptionLayer, _SeedStream, check_fraction, prepare_images

__all__ = [
    "random_pixel_mask",
    "perlin_noise",
    "perlin_mask",
    "random_patch_mask",
    "occlude_columns",
    "occlude_rows",
    "keep_top_fraction",
    "RandomPixelMask",
    "PerlinMask",
    "RandomPatchMask",
    "ColumnOcclusion",
    "RowOcclusion",
    "KeepTopFraction",
]


# --------------------------------------------------------------------------
# Mask helpers
# --------------------------------------------------------------------------


def _finish_masked(x, known, single):
    if single:
        return x[0], known[0]
    return x, known


def _apply_known(x, known_hw, fill_value):
    """Fill obscured pixels; `known_hw` is a boolean (N, H, W) map."""
    known = ops.broadcast_to(ops.expand_dims(known_hw, -1), ops.shape(x))
    fill = ops.cast(fill_value, x.dtype)
    return ops.where(known, x, fill), known


def _static_hw(x):
    shape = ops.shape(x)
    h, w = shape[1], shape[2]
    if h is None or w is None:
        raise ValueError(
            f"Image height and width must be known statically; received shape {tuple(shape)}."
        )
    return int(h), int(w)


def _known_from_scores(scores, fraction):
    """Obscure the `round(fraction * H * W)` highest-scoring pixels of each image.

    Args:
        scores: (N, H, W) float tensor.
        fraction: Fraction in [0, 1] of pixels to obscure.

    Returns:
        Boolean (N, H, W) tensor, `True` where the pixel stays known.
    """
    shape = ops.shape(scores)
    h, w = int(shape[1]), int(shape[2])
    n_pix = h * w
    k = int(round(fraction * n_pix))
    if k <= 0:
        return ops.ones_like(scores, dtype="bool")
    if k >= n_pix:
        return ops.zeros_like(scores, dtype="bool")
    flat = ops.reshape(scores, (-1, n_pix))
    values, _ = ops.top_k(flat, k, sorted=True)
    threshold = values[:, k - 1 : k]
    obscured = ops.greater_equal(flat, threshold)
    return ops.reshape(ops.logical_not(obscured), ops.shape(scores))


# --------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------


def random_pixel_mask(images, fraction, fill_value=0.0, seed=None):
    """Obscure a random subset of pixels.

    Exactly `round(fraction * H * W)` pixels per image are obscured, chosen
    uniformly at random; all channels of a chosen pixel are set to
    `fill_value`:

        x~ = m * x + (1 - m) * fill_value,    m_ij in {0, 1},  sum(1 - m) = round(f H W)

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        fraction: Fraction in [0, 1] of pixels to obscure.
        fill_value: Value written into obscured pixels.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Tuple `(corrupted, known)`: the corrupted images and a boolean mask of
        the same shape, `True` for pixels that are still known.

    Raises:
        ValueError: For a fraction outside [0, 1], a wrong rank or (eager)
            values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import random_pixel_mask
        >>> from keras_hopfield.corruptions import random_pixel_mask
        >>> x, known = random_pixel_mask(np.ones((1, 10, 10, 1)), 0.3, seed=0)
        >>> int(np.sum(~np.asarray(known)))
        30
    """
    fraction = check_fraction(fraction)
    seeds = _SeedStream(seed)
    x, single = prepare_images(images)
    n = ops.shape(x)[0]
    h, w = _static_hw(x)
    scores = keras.random.uniform((n, h, w), dtype=x.dtype, seed=seeds())
    corrupted, known = _apply_known(x, _known_from_scores(scores, fraction), fill_value)
    return _finish_masked(corrupted, known, single)


def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def perlin_noise(shape, frequency=7, seed=None, dtype=None):
    """Sample 2-D Perlin (gradient) noise fields.

    The image is divided into a `frequency x frequency` grid of cells with a
    random unit gradient g at every grid corner. At a pixel p inside a cell
    with corners c, the noise is the smooth interpolation

        n(p) = sum_c  w(p - c) * <g_c, p - c>,    w(t) = 6t^5 - 15t^4 + 10t^3 per axis,

    scaled by sqrt(2) so that values lie in [-1, 1].

    Args:
        shape: `(N, H, W)`: number of fields and their height and width.
        frequency: Number of grid cells along each side (>= 1). Higher values
            give finer blobs; CBAN (Iuzzolino et al., 2019) uses 7.
        seed: int, `keras.random.SeedGenerator` or None.
        dtype: Float dtype; defaults to `keras.config.floatx()`.

    Returns:
        Backend tensor of shape `(N, H, W)` with values in [-1, 1].

    Raises:
        ValueError: For a frequency < 1 or a shape that is not `(N, H, W)`.

    Example:
        >>> from keras_hopfield.corruptions import perlin_noise
        >>> from keras_hopfield.corruptions import perlin_noise
        >>> noise = perlin_noise((2, 28, 28), frequency=7, seed=0)
        >>> tuple(noise.shape)
        (2, 28, 28)
    """
    if len(shape) != 3:
        raise ValueError(f"`shape` must be (N, H, W); received {shape}.")
    if not isinstance(frequency, (int, np.integer)) or isinstance(frequency, bool) or frequency < 1:
        raise ValueError(f"`frequency` must be an integer >= 1; received {frequency!r}.")
    seeds = _SeedStream(seed)
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    n, h, w = shape
    h, w, f = int(h), int(w), int(frequency)
    angles = keras.random.uniform((n, f + 1, f + 1), 0.0, 2.0 * math.pi, dtype=dtype, seed=seeds())
    grad_x, grad_y = ops.cos(angles), ops.sin(angles)

    # Pixel-centre coordinates in grid units: static, so computed host side.
    ys = (np.arange(h) + 0.5) / h * f
    xs = (np.arange(w) + 0.5) / w * f
    y0 = np.minimum(np.floor(ys).astype("int32"), f - 1)
    x0 = np.minimum(np.floor(xs).astype("int32"), f - 1)
    ty = (ys - y0).astype(dtype)
    tx = (xs - x0).astype(dtype)

    def corner(dy, dx):
        gx = ops.take(ops.take(grad_x, y0 + dy, axis=1), x0 + dx, axis=2)
        gy = ops.take(ops.take(grad_y, y0 + dy, axis=1), x0 + dx, axis=2)
        ox = ops.convert_to_tensor((tx - dx)[None, None, :], dtype=dtype)
        oy = ops.convert_to_tensor((ty - dy)[None, :, None], dtype=dtype)
        return gx * ox + gy * oy

    ux = ops.convert_to_tensor(_fade(tx)[None, None, :], dtype=dtype)
    uy = ops.convert_to_tensor(_fade(ty)[None, :, None], dtype=dtype)
    top = corner(0, 0) + ux * (corner(0, 1) - corner(0, 0))
    bottom = corner(1, 0) + ux * (corner(1, 1) - corner(1, 0))
    noise = top + uy * (bottom - top)
    return ops.clip(noise * math.sqrt(2.0), -1.0, 1.0)


def perlin_mask(images, fraction=1.0 / 3.0, frequency=7, fill_value=0.0, seed=None):
    """Obscure blob-shaped regions given by thresholded Perlin noise.

    A Perlin noise field n (see `perlin_noise`) is drawn per image and the
    pixels above its per-image quantile are obscured, so that exactly
    `round(fraction * H * W)` pixels are hidden:

        known_ij = [ n_ij < q_(1 - fraction)(n) ]

    CBAN's image-completion experiments use frequency 7 and one third
    obscured (the defaults).

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        fraction: Fraction in [0, 1] of pixels to obscure.
        frequency: Perlin grid frequency (cells per side, >= 1).
        fill_value: Value written into obscured pixels.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Tuple `(corrupted, known)` as in `random_pixel_mask`.

    Raises:
        ValueError: For a fraction outside [0, 1], a frequency < 1, a wrong
            rank or (eager) values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import perlin_mask
        >>> from keras_hopfield.corruptions import perlin_mask
        >>> x, known = perlin_mask(np.ones((1, 28, 28, 1)), seed=0)
        >>> round(float(np.mean(~np.asarray(known))), 2)
        0.33
    """
    fraction = check_fraction(fraction)
    x, single = prepare_images(images)
    h, w = _static_hw(x)
    noise = perlin_noise((ops.shape(x)[0], h, w), frequency=frequency, seed=seed, dtype=x.dtype)
    corrupted, known = _apply_known(x, _known_from_scores(noise, fraction), fill_value)
    return _finish_masked(corrupted, known, single)


def random_patch_mask(
    images,
    fraction,
    min_size=3,
    max_size=6,
    max_patches=None,
    foreground_threshold=0.0,
    fill_value=0.0,
    seed=None,
):
    """Obscure random square patches until a fraction of the foreground is hidden.

    The foreground is the set of pixels whose largest channel value is
    greater than `foreground_threshold` (by default: pixels > 0, i.e. the
    strokes of Omniglot characters drawn white on black; invert images with a
    white background first). Patches of side `s ~ U{min_size, ..., max_size}`
    are centred on a random still-uncovered foreground pixel and added one at
    a time until

        |foreground ∩ obscured| >= fraction * |foreground|

    as in CBAN's Omniglot completion task (diameters 3-6). Patches also hide
    background pixels they overlap. Images without foreground are unchanged.

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        fraction: Fraction in [0, 1] of the foreground to obscure.
        min_size: Smallest patch side (>= 1).
        max_size: Largest patch side (>= min_size).
        max_patches: Upper bound on patches per image; the default `H * W` is
            never reached because every patch covers a new foreground pixel.
        foreground_threshold: Pixels brighter than this are foreground.
        fill_value: Value written into obscured pixels.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Tuple `(corrupted, known)` as in `random_pixel_mask`.

    Raises:
        ValueError: For a fraction outside [0, 1], invalid patch sizes, a wrong
            rank or (eager) values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import random_patch_mask
        >>> from keras_hopfield.corruptions import random_patch_mask
        >>> img = np.zeros((1, 20, 20, 1)); img[0, 5:15, 8:12] = 1.0
        >>> x, known = random_patch_mask(img, 0.5, seed=0)
        >>> bool(np.mean(~np.asarray(known)[img > 0]) >= 0.5)
        True
    """
    fraction = check_fraction(fraction)
    if not (isinstance(min_size, (int, np.integer)) and isinstance(max_size, (int, np.integer))):
        raise ValueError(f"`min_size` and `max_size` must be integers; received {min_size!r}, {max_size!r}.")
    if min_size < 1 or max_size < min_size:
        raise ValueError(
            f"Patch sizes must satisfy 1 <= min_size <= max_size; received {min_size}, {max_size}."
        )
    seeds = _SeedStream(seed)
    x, single = prepare_images(images)
    h, w = _static_hw(x)
    n_pix = h * w
    steps = int(max_patches) if max_patches is not None else n_pix
    if steps < 1:
        raise ValueError(f"`max_patches` must be >= 1; received {max_patches}.")
    n = ops.shape(x)[0]
    dtype = x.dtype

    foreground = ops.reshape(ops.greater(ops.max(x, axis=-1), foreground_threshold), (-1, n_pix))
    fg_f = ops.cast(foreground, dtype)
    target = fraction * ops.sum(fg_f, axis=1)  # (N,)
    # All randomness is drawn up front so the loop body is pure (jit friendly).
    sizes = keras.random.randint((n, steps), min_size, max_size + 1, seed=seeds())
    picks = keras.random.uniform((n, steps), dtype=dtype, seed=seeds())
    rows = ops.convert_to_tensor(np.repeat(np.arange(h), w)[None, :], dtype="int32")
    cols = ops.convert_to_tensor(np.tile(np.arange(w), h)[None, :], dtype="int32")

    def unfinished(covered):
        covered_fg = ops.sum(fg_f * ops.cast(covered, dtype), axis=1)
        return ops.logical_and(ops.less(covered_fg, target), ops.greater(target, 0.0))

    def cond(i, covered):
        return ops.logical_and(ops.less(i, steps), ops.any(unfinished(covered)))

    def body(i, covered):
        active = unfinished(covered)
        available = ops.cast(ops.logical_and(foreground, ops.logical_not(covered)), dtype)
        count = ops.sum(available, axis=1)
        pick = ops.floor(ops.take(picks, i, axis=1) * count)  # index among available pixels
        cumulative = ops.cumsum(available, axis=1)
        # First pixel whose running count of available pixels exceeds `pick`.
        centre = ops.cast(ops.argmax(ops.cast(ops.greater(cumulative, pick[:, None]), "int32"), axis=1), "int32")
        cy, cx = centre // w, centre % w
        size = ops.cast(ops.take(sizes, i, axis=1), "int32")
        top = (cy - size // 2)[:, None]
        left = (cx - size // 2)[:, None]
        size = size[:, None]
        patch = ops.logical_and(
            ops.logical_and(ops.greater_equal(rows, top), ops.less(rows, top + size)),
            ops.logical_and(ops.greater_equal(cols, left), ops.less(cols, left + size)),
        )
        patch = ops.logical_and(patch, active[:, None])
        return i + 1, ops.logical_or(covered, patch)

    covered = ops.zeros_like(foreground, dtype="bool")
    if is_concrete(x):
        # Eager: a Python loop with early exit (re-uses compiled kernels on JAX).
        for i in range(steps):
            if not bool(ops.convert_to_numpy(ops.any(unfinished(covered)))):
                break
            _, covered = body(ops.convert_to_tensor(i, dtype="int32"), covered)
    else:
        _, covered = ops.while_loop(cond, body, (ops.convert_to_tensor(0, dtype="int32"), covered))
    known_hw = ops.reshape(ops.logical_not(covered), (-1, h, w))
    corrupted, known = _apply_known(x, known_hw, fill_value)
    return _finish_masked(corrupted, known, single)


_POSITIONS = {
    "random": "random",
    "start": "start",
    "left": "start",
    "top": "start",
    "end": "end",
    "right": "end",
    "bottom": "end",
    "center": "center",
    "centre": "center",
}


def _band_width(amount, size, name):
    if isinstance(amount, bool):
        raise ValueError(f"`{name}` must be an int count or a float fraction; received {amount!r}.")
    if isinstance(amount, (float, np.floating)):
        return int(round(check_fraction(amount, name) * size))
    if isinstance(amount, (int, np.integer)):
        if not 0 <= amount <= size:
            raise ValueError(f"`{name}` must be between 0 and {size}; received {amount}.")
        return int(amount)
    raise ValueError(f"`{name}` must be an int count or a float fraction; received {amount!r}.")


def _occlude_band(x, single, amount, axis, position, fill_value, seed):
    h, w = _static_hw(x)
    size = h if axis == 1 else w
    width = _band_width(amount, size, "amount")
    if position not in _POSITIONS:
        raise ValueError(f"`position` must be one of {sorted(_POSITIONS)}; received {position!r}.")
    position = _POSITIONS[position]
    seeds = _SeedStream(seed)
    n = ops.shape(x)[0]
    if position == "random":
        start = keras.random.randint((n, 1), 0, size - width + 1, seed=seeds())
    else:
        offset = {"start": 0, "end": size - width, "center": (size - width) // 2}[position]
        start = ops.full((n, 1), offset, dtype="int32")
    start = ops.cast(start, "int32")
    index = ops.convert_to_tensor(np.arange(size)[None, :], dtype="int32")
    band = ops.logical_and(ops.greater_equal(index, start), ops.less(index, start + width))  # (N, size)
    if axis == 1:
        known_hw = ops.broadcast_to(ops.logical_not(band)[:, :, None], (n, h, w))
    else:
        known_hw = ops.broadcast_to(ops.logical_not(band)[:, None, :], (n, h, w))
    corrupted, known = _apply_known(x, known_hw, fill_value)
    return _finish_masked(corrupted, known, single)


def occlude_columns(images, amount, position="random", fill_value=0.0, seed=None):
    """Occlude a contiguous band of image columns.

    Columns `[s, s + k)` are set to `fill_value`, where `k` is `amount` (an
    int count, e.g. CRHN's 10, 50 or 80 columns of a 96-pixel STL image) or
    `round(amount * W)` for a float fraction:

        known_ij = [ j < s  or  j >= s + k ]

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        amount: Number of columns (int in [0, W]) or fraction of the width
            (float in [0, 1]).
        position: Where the band starts: `"random"` (uniform per image),
            `"left"`, `"right"` or `"center"`.
        fill_value: Value written into obscured pixels.
        seed: int, `keras.random.SeedGenerator` or None (used for
            `position="random"`).

    Returns:
        Tuple `(corrupted, known)` as in `random_pixel_mask`.

    Raises:
        ValueError: For an amount outside its range, an unknown position, a
            wrong rank or (eager) values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import occlude_columns
        >>> from keras_hopfield.corruptions import occlude_columns
        >>> x, known = occlude_columns(np.ones((1, 4, 6, 1)), 2, position="left")
        >>> np.asarray(known)[0, 0, :, 0].tolist()
        [False, False, True, True, True, True]
    """
    x, single = prepare_images(images)
    return _occlude_band(x, single, amount, 2, position, fill_value, seed)


def occlude_rows(images, amount, position="random", fill_value=0.0, seed=None):
    """Occlude a contiguous band of image rows.

    Rows `[s, s + k)` are set to `fill_value` with `k` the int `amount` or
    `round(amount * H)` for a float fraction:

        known_ij = [ i < s  or  i >= s + k ]

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        amount: Number of rows (int in [0, H]) or fraction of the height
            (float in [0, 1]).
        position: Where the band starts: `"random"`, `"top"`, `"bottom"` or
            `"center"`.
        fill_value: Value written into obscured pixels.
        seed: int, `keras.random.SeedGenerator` or None (used for
            `position="random"`).

    Returns:
        Tuple `(corrupted, known)` as in `random_pixel_mask`.

    Raises:
        ValueError: For an amount outside its range, an unknown position, a
            wrong rank or (eager) values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import occlude_rows
        >>> from keras_hopfield.corruptions import occlude_rows
        >>> x, known = occlude_rows(np.ones((1, 4, 2, 1)), 0.5, position="bottom")
        >>> np.asarray(known)[0, :, 0, 0].tolist()
        [True, True, False, False]
    """
    x, single = prepare_images(images)
    return _occlude_band(x, single, amount, 1, position, fill_value, seed)


def keep_top_fraction(images, fraction=0.5, fill_value=0.0):
    """Keep the top part of each image and obscure the rest.

    The first `round(fraction * H)` rows stay known; the rows below are set
    to `fill_value`:

        known_ij = [ i < round(fraction * H) ]

    The predictive-coding memory paper (Salvatori et al., 2021) retrieves
    from such partial images with fractions 1/2 and 1/4.

    Args:
        images: `(N, H, W, C)` batch (or `(H, W, C)` image) in [0, 1].
        fraction: Fraction in [0, 1] of rows that remain visible.
        fill_value: Value written into obscured pixels.

    Returns:
        Tuple `(corrupted, known)` as in `random_pixel_mask`.

    Raises:
        ValueError: For a fraction outside [0, 1], a wrong rank or (eager)
            values outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import keep_top_fraction
        >>> from keras_hopfield.corruptions import keep_top_fraction
        >>> x, known = keep_top_fraction(np.ones((1, 4, 4, 1)), 0.25)
        >>> np.asarray(known)[0, :, 0, 0].tolist()
        [True, False, False, False]
    """
    fraction = check_fraction(fraction)
    x, single = prepare_images(images)
    h, _ = _static_hw(x)
    return _occlude_band(x, single, h - int(round(fraction * h)), 1, "end", fill_value, None)


# --------------------------------------------------------------------------
# Keras layers
# --------------------------------------------------------------------------


class _MaskLayer(_CorruptionLayer):
    def __init__(self, fill_value=0.0, return_mask=False, seed=None, apply_at_inference=False, **kwargs):
        super().__init__(seed=seed, apply_at_inference=apply_at_inference, **kwargs)
        self.fill_value = float(fill_value)
        self.return_mask = bool(return_mask)

    def _mask(self, inputs):
        raise NotImplementedError

    def _corrupt(self, inputs):
        corrupted, known = self._mask(inputs)
        return (corrupted, known) if self.return_mask else corrupted

    def call(self, inputs, training=False):
        if training or self.apply_at_inference:
            return self._corrupt(inputs)
        if self.return_mask:
            return inputs, ops.ones_like(inputs, dtype="bool")
        return inputs

    def compute_output_shape(self, input_shape):
        if self.return_mask:
            return (tuple(input_shape), tuple(input_shape))
        return input_shape

    def compute_output_spec(self, inputs, training=False):
        if self.return_mask:
            return (
                keras.KerasTensor(inputs.shape, dtype=inputs.dtype),
                keras.KerasTensor(inputs.shape, dtype="bool"),
            )
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"fill_value": self.fill_value, "return_mask": self.return_mask})
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RandomPixelMask(_MaskLayer):
    """Layer obscuring a random fraction of pixels (see `random_pixel_mask`).

        x~ = m * x + (1 - m) * fill_value,    sum(1 - m) = round(fraction * H * W)

    Active with `training=True` and the identity otherwise, unless
    `apply_at_inference=True`.

    Args:
        fraction: Fraction in [0, 1] of pixels to obscure.
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import RandomPixelMask
        >>> from keras_hopfield.corruptions import RandomPixelMask
        >>> layer = RandomPixelMask(0.5, seed=0)
        >>> tuple(layer(np.ones((1, 4, 4, 1)), training=True).shape)
        (1, 4, 4, 1)
    """

    def __init__(self, fraction, fill_value=0.0, return_mask=False, seed=None, apply_at_inference=False, **kwargs):
        super().__init__(fill_value, return_mask, seed, apply_at_inference, **kwargs)
        self.fraction = check_fraction(fraction)

    def _mask(self, inputs):
        return random_pixel_mask(inputs, self.fraction, fill_value=self.fill_value, seed=self.generator)

    def get_config(self):
        config = super().get_config()
        config.update({"fraction": self.fraction})
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class PerlinMask(_MaskLayer):
    """Layer obscuring Perlin-noise blobs (see `perlin_mask`).

        known_ij = [ n_ij < q_(1 - fraction)(n) ],    n = Perlin noise of `frequency` cells

    Active with `training=True` and the identity otherwise, unless
    `apply_at_inference=True`.

    Args:
        fraction: Fraction in [0, 1] of pixels to obscure (CBAN: 1/3).
        frequency: Perlin grid frequency (CBAN: 7).
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import PerlinMask
        >>> from keras_hopfield.corruptions import PerlinMask
        >>> layer = PerlinMask(seed=0, apply_at_inference=True)
        >>> tuple(layer(np.ones((1, 28, 28, 1))).shape)
        (1, 28, 28, 1)
    """

    def __init__(
        self, fraction=1.0 / 3.0, frequency=7, fill_value=0.0, return_mask=False, seed=None,
        apply_at_inference=False, **kwargs,
    ):
        super().__init__(fill_value, return_mask, seed, apply_at_inference, **kwargs)
        self.fraction = check_fraction(fraction)
        if not isinstance(frequency, (int, np.integer)) or frequency < 1:
            raise ValueError(f"`frequency` must be an integer >= 1; received {frequency!r}.")
        self.frequency = int(frequency)

    def _mask(self, inputs):
        return perlin_mask(inputs, self.fraction, self.frequency, fill_value=self.fill_value, seed=self.generator)

    def get_config(self):
        config = super().get_config()
        config.update({"fraction": self.fraction, "frequency": self.frequency})
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RandomPatchMask(_MaskLayer):
    """Layer obscuring square patches over the foreground (see `random_patch_mask`).

        add patches of side U{min_size..max_size} until |fg ∩ hidden| >= fraction |fg|

    The foreground is the pixels brighter than `foreground_threshold`
    (default: > 0). Active with `training=True` and the identity otherwise,
    unless `apply_at_inference=True`.

    Args:
        fraction: Fraction in [0, 1] of the foreground to obscure.
        min_size: Smallest patch side.
        max_size: Largest patch side.
        max_patches: Optional bound on patches per image.
        foreground_threshold: Pixels brighter than this are foreground.
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import RandomPatchMask
        >>> from keras_hopfield.corruptions import RandomPatchMask
        >>> layer = RandomPatchMask(0.5, seed=0, apply_at_inference=True)
        >>> tuple(layer(np.ones((1, 12, 12, 1))).shape)
        (1, 12, 12, 1)
    """

    def __init__(
        self, fraction, min_size=3, max_size=6, max_patches=None, foreground_threshold=0.0,
        fill_value=0.0, return_mask=False, seed=None, apply_at_inference=False, **kwargs,
    ):
        super().__init__(fill_value, return_mask, seed, apply_at_inference, **kwargs)
        self.fraction = check_fraction(fraction)
        if not (isinstance(min_size, (int, np.integer)) and isinstance(max_size, (int, np.integer))):
            raise ValueError("`min_size` and `max_size` must be integers.")
        if min_size < 1 or max_size < min_size:
            raise ValueError(
                f"Patch sizes must satisfy 1 <= min_size <= max_size; received {min_size}, {max_size}."
            )
        if max_patches is not None and int(max_patches) < 1:
            raise ValueError(f"`max_patches` must be >= 1; received {max_patches}.")
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.max_patches = None if max_patches is None else int(max_patches)
        self.foreground_threshold = float(foreground_threshold)

    def _mask(self, inputs):
        return random_patch_mask(
            inputs, self.fraction, self.min_size, self.max_size, self.max_patches,
            self.foreground_threshold, self.fill_value, seed=self.generator,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "fraction": self.fraction,
                "min_size": self.min_size,
                "max_size": self.max_size,
                "max_patches": self.max_patches,
                "foreground_threshold": self.foreground_threshold,
            }
        )
        return config


class _BandLayer(_MaskLayer):
    _axis = 2
    _function = None

    def __init__(self, amount, position="random", fill_value=0.0, return_mask=False, seed=None,
                 apply_at_inference=False, **kwargs):
        super().__init__(fill_value, return_mask, seed, apply_at_inference, **kwargs)
        if isinstance(amount, (float, np.floating)):
            amount = check_fraction(amount, "amount")
        elif isinstance(amount, (int, np.integer)) and not isinstance(amount, bool):
            if amount < 0:
                raise ValueError(f"`amount` must be >= 0; received {amount}.")
            amount = int(amount)
        else:
            raise ValueError(f"`amount` must be an int count or a float fraction; received {amount!r}.")
        if position not in _POSITIONS:
            raise ValueError(f"`position` must be one of {sorted(_POSITIONS)}; received {position!r}.")
        self.amount = amount
        self.position = position

    def _mask(self, inputs):
        x, single = prepare_images(inputs)
        return _occlude_band(x, single, self.amount, self._axis, self.position, self.fill_value, self.generator)

    def get_config(self):
        config = super().get_config()
        config.update({"amount": self.amount, "position": self.position})
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class ColumnOcclusion(_BandLayer):
    """Layer occluding a band of columns (see `occlude_columns`).

        known_ij = [ j < s  or  j >= s + k ]

    Active with `training=True` and the identity otherwise, unless
    `apply_at_inference=True`.

    Args:
        amount: Number of columns (int) or fraction of the width (float).
        position: `"random"`, `"left"`, `"right"` or `"center"`.
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import ColumnOcclusion
        >>> from keras_hopfield.corruptions import ColumnOcclusion
        >>> layer = ColumnOcclusion(2, position="left", apply_at_inference=True)
        >>> float(np.asarray(layer(np.ones((1, 4, 4, 1))))[0, 0, 0, 0])
        0.0
    """

    _axis = 2


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RowOcclusion(_BandLayer):
    """Layer occluding a band of rows (see `occlude_rows`).

        known_ij = [ i < s  or  i >= s + k ]

    Active with `training=True` and the identity otherwise, unless
    `apply_at_inference=True`.

    Args:
        amount: Number of rows (int) or fraction of the height (float).
        position: `"random"`, `"top"`, `"bottom"` or `"center"`.
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        seed: Optional int seed for the layer's `keras.random.SeedGenerator`.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import RowOcclusion
        >>> from keras_hopfield.corruptions import RowOcclusion
        >>> layer = RowOcclusion(1, position="top", apply_at_inference=True)
        >>> float(np.asarray(layer(np.ones((1, 4, 4, 1))))[0, 0, 0, 0])
        0.0
    """

    _axis = 1


@keras.saving.register_keras_serializable(package="keras_hopfield")
class KeepTopFraction(_MaskLayer):
    """Layer keeping the top rows of each image (see `keep_top_fraction`).

        known_ij = [ i < round(fraction * H) ]

    Deterministic. Active with `training=True` and the identity otherwise,
    unless `apply_at_inference=True`.

    Args:
        fraction: Fraction in [0, 1] of rows kept (PCN: 1/2 and 1/4).
        fill_value: Value written into obscured pixels.
        return_mask: Return `(corrupted, known)` instead of the images only.
        apply_at_inference: Corrupt also when `training` is False.
        **kwargs: Base `keras.layers.Layer` arguments (and an unused `seed`).

    Returns:
        The corrupted images, or `(corrupted, known)` with `return_mask=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.corruptions import KeepTopFraction
        >>> from keras_hopfield.corruptions import KeepTopFraction
        >>> layer = KeepTopFraction(0.5, apply_at_inference=True)
        >>> float(np.asarray(layer(np.ones((1, 4, 4, 1))))[0, 3, 0, 0])
        0.0
    """

    def __init__(self, fraction=0.5, fill_value=0.0, return_mask=False, apply_at_inference=False, **kwargs):
        seed = kwargs.pop("seed", None)
        super().__init__(fill_value, return_mask, seed, apply_at_inference, **kwargs)
        self.fraction = check_fraction(fraction)

    def _mask(self, inputs):
        return keep_top_fraction(inputs, self.fraction, fill_value=self.fill_value)

    def get_config(self):
        config = super().get_config()
        config.update({"fraction": self.fraction})
        return config
