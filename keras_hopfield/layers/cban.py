"""`CBANBlock`: one symmetric connection of a (convolutional) bipartite attractor net (papers/001 §3.1).

A block joins a lower layer `x^l` to an upper layer `x^{l+1}` with **one**
kernel. The upward map is `W * x^l` (a dense product or a `same`-padded
convolution); the downward map is its exact adjoint `Wᵀ *ᵀ x^{l+1}`: the
transposed dense kernel, or the transposed convolution with the same kernel —
in/out channels swapped and the spatial axes flipped, papers/001 Eq. 4.
Symmetry is what gives the net an energy (Eq. 5) and guarantees a fixed point.

With `pooling=True` (conv only) the block pools 2×2 on the way up and
upsamples on the way down, as in App. D.3–D.4. To keep the two directions
exact adjoints the pair is scaled to be orthonormal: up `P = 2 · avgpool₂ₓ₂`,
down `Pᵀ = ½ · nearest-upsample₂ₓ₂` (so `P Pᵀ = I`). The paper's unscaled
"average pool up / nearest down" is not symmetric (it is off by a factor 4),
which would break the energy.

The block owns the bias of its *upper* layer (the visible layer's bias belongs
to the `keras_hopfield.models.CBAN` model). Calling the block is the
feed-forward half, `W * x + b` (no activation), so it also works as an
ordinary layer.
"""

import math

import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield.initializers import BipartiteNormal

# `BipartiteNormal` lives in `keras_hopfield.initializers`; the name here is an alias
# of the same class (old imports and saved models keep working).
__all__ = ["CBANBlock", "CONV_KERNEL_STD"]

#: Standard deviation of the default Gaussian kernel initialiser of convolutional blocks (App. D.4).
CONV_KERNEL_STD = 0.01


def _reseeded(initializer, offset=1):
    """A copy of `initializer` whose seed is derived from, but differs from, its own.

    Keras's random initialisers (and `BipartiteNormal`) with an integer seed give the
    same values on every call; an initialiser without a seed attribute is returned
    as it is (it draws afresh, or is deterministic by design, e.g. `Zeros`).
    """
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    # The integer seed the initialiser really draws with (Keras draws one at
    # construction when given `seed=None`, as `BipartiteNormal` does).
    seed = initializer._seed if isinstance(initializer, BipartiteNormal) else getattr(initializer, "seed", None)
    if not isinstance(seed, int):
        return initializer  # a SeedGenerator: every call already draws afresh
    config["seed"] = (int(seed) * 1_000_003 + 7919 * offset) % (2**31 - 1)
    return initializer.__class__.from_config(config)


@keras.saving.register_keras_serializable(package="keras_hopfield")
class CBANBlock(keras.layers.Layer):
    """One symmetric (tied) connection between two layers of a bipartite attractor net.

    Dense (FBAN) when `units` is given: up `h = x W`, down `x̂ = h Wᵀ`; a lower
    layer of any rank is flattened on the way up and reshaped on the way down.
    Convolutional when `filters` is given (channels-last): up `h = W * P x`,
    down `x̂ = Pᵀ (W *ᵀ h)` with `*ᵀ` the transposed convolution with the same
    kernel (papers/001 Eq. 4) and `P` the optional orthonormal 2×2 pooling.
    `tied=False` gives the CBAN-asym ablation: a second, independent kernel for
    the down map (no energy function then).

    Args:
        units: Number of units of the upper layer (dense block).
        filters: Number of channels of the upper layer (convolutional block).
        kernel_size: Odd convolution kernel size (int or pair); `same` padding.
        pooling: Pool 2×2 up / upsample 2×2 down (convolutional blocks only).
        tied: Use one kernel both ways (the attractor net); `False` for CBAN-asym.
        use_bias: Give the upper layer a trainable bias `b^{l+1}`.
        kernel_initializer: Kernel initialiser; default `BipartiteNormal(0.1)`
            for dense blocks (App. D.1–D.2), `RandomNormal(0.01)` for
            convolutional ones (App. D.4).
        bias_initializer: Bias initialiser; default the kernel's Gaussian for
            dense blocks (App. D.1–D.2) and zeros for convolutional ones (App. D.3–D.5).
        kernel_regularizer: Optional kernel regulariser.
        bias_regularizer: Optional bias regulariser.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import CBANBlock
        >>> block = CBANBlock(filters=8, kernel_size=3, pooling=True)
        >>> x = np.ones((2, 8, 8, 3), "float32")
        >>> block.build(x.shape)
        >>> h = block.up(x)
        >>> tuple(h.shape), tuple(block.down(h).shape)
        ((2, 4, 4, 8), (2, 8, 8, 3))
    """

    def __init__(
        self,
        units=None,
        filters=None,
        kernel_size=3,
        pooling=False,
        tied=True,
        use_bias=True,
        kernel_initializer=None,
        bias_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if (units is None) == (filters is None):
            raise ValueError(
                f"{owner}: give exactly one of `units` (dense block) or `filters` (convolutional block). "
                f"Received: units={units!r}, filters={filters!r}"
            )
        self.units = V.positive_int(owner, "units", units, allow_none=True)
        self.filters = V.positive_int(owner, "filters", filters, allow_none=True)
        self.conv = self.filters is not None
        if isinstance(kernel_size, int) and not isinstance(kernel_size, bool):
            kernel_size = (kernel_size, kernel_size)
        try:
            kernel_size = tuple(kernel_size)
        except TypeError:
            kernel_size = (kernel_size,)
        if len(kernel_size) != 2 or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernel_size
        ):
            raise ValueError(
                f"{owner}: `kernel_size` must be an odd positive integer or a pair of them (odd sizes make "
                f"`same` convolution and its transpose exact adjoints). Received: kernel_size={kernel_size!r}"
            )
        self.kernel_size = kernel_size
        self.pooling = V.boolean(owner, "pooling", pooling)
        if self.pooling and not self.conv:
            raise ValueError(f"{owner}: `pooling=True` needs a convolutional block (`filters=...`).")
        self.tied = V.boolean(owner, "tied", tied)
        self.use_bias = V.boolean(owner, "use_bias", use_bias)
        self.kernel_initializer = None if kernel_initializer is None else keras.initializers.get(kernel_initializer)
        self.bias_initializer = None if bias_initializer is None else keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.lower_shape = None

    # -- construction -------------------------------------------------------
    def _default_kernel_initializer(self):
        if self.conv:
            return keras.initializers.RandomNormal(stddev=CONV_KERNEL_STD)
        return BipartiteNormal(0.1)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if self.conv:
            if len(input_shape) != 4:
                raise ValueError(
                    "A convolutional CBANBlock expects a lower layer of rank 4 `(batch, height, width, "
                    f"channels)`. Received shape {input_shape}"
                )
            if input_shape[-1] is None:
                raise ValueError(f"The channel axis of the lower layer must be known. Received shape {input_shape}")
            if self.pooling and any(s is not None and s % 2 for s in input_shape[1:3]):
                raise ValueError(
                    f"`pooling=True` needs an even height and width. Received shape {input_shape}"
                )
            kernel_shape = self.kernel_size + (int(input_shape[-1]), self.filters)
            upper = self.filters
        else:
            if len(input_shape) < 2 or any(s is None for s in input_shape[1:]):
                raise ValueError(
                    "A dense CBANBlock needs a lower layer with known non-batch dimensions. "
                    f"Received shape {input_shape}"
                )
            kernel_shape = (math.prod(input_shape[1:]), self.units)
            upper = self.units
        self.lower_shape = input_shape[1:]
        # Later calls must match the lower layer the kernel was built for (as Keras's
        # own layers check): a conv block on other channels would otherwise run as a
        # grouped convolution and return a wrong result without an error.
        if self.conv:
            self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: int(input_shape[-1])})
        else:
            self.input_spec = keras.layers.InputSpec(shape=(None,) + tuple(input_shape[1:]))
        kernel_init = self.kernel_initializer or self._default_kernel_initializer()
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=kernel_init, regularizer=self.kernel_regularizer
        )
        if not self.tied:
            # A second draw, never a copy of the first: a seeded initialiser (or one
            # instance used twice) would give CBAN-asym identical up and down kernels.
            self.down_kernel = self.add_weight(
                name="down_kernel",
                shape=kernel_shape,
                initializer=_reseeded(kernel_init),
                regularizer=self.kernel_regularizer,
            )
        if self.use_bias:
            if self.bias_initializer is not None:
                bias_init = self.bias_initializer
            elif self.conv:
                bias_init = "zeros"
            else:
                std = BipartiteNormal(0.1).stddev(kernel_shape)
                bias_init = keras.initializers.RandomNormal(stddev=std)
            self.bias = self.add_weight(
                name="bias", shape=(upper,), initializer=bias_init, regularizer=self.bias_regularizer
            )
        else:
            self.bias = None

    # -- the two directions -------------------------------------------------
    def _check_state(self, x, which):
        """A clear error when `x` does not fit the layer the kernel was built for.

        `up`/`down` are called directly (not through `__call__`, which checks the
        `input_spec`); without this a conv block on other channels would run as a
        grouped convolution and return a wrong result silently."""
        if not self.built:
            raise ValueError(f"{self.name}: build the block (or call it once) before `{which}`.")
        shape = tuple(x.shape)
        if which == "up":
            expected = (None,) + tuple(self.lower_shape)
            if self.conv:
                expected = (None, None, None, self.lower_shape[-1])
        else:
            expected = (None, self.units) if not self.conv else (None, None, None, self.filters)
        if len(shape) != len(expected) or any(e is not None and s is not None and s != e for s, e in zip(shape, expected)):
            layer = "lower" if which == "up" else "upper"
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: `{which}` expects the {layer} layer with shape "
                f"{expected} (None: any size), as the kernel {tuple(self.kernel.shape)} was built for. "
                f"Received shape {shape}"
            )

    def up(self, lower, kernel=None):
        """`W * x^l`: the lower layer's contribution to the upper layer's net input (no bias).

        `kernel` overrides the block's kernel (e.g. a gradient-stopped copy)."""
        lower = ops.convert_to_tensor(lower)
        self._check_state(lower, "up")
        lower = ops.cast(lower, self.compute_dtype)
        kernel = ops.cast(self.kernel if kernel is None else kernel, self.compute_dtype)
        if not self.conv:
            flat = ops.reshape(lower, (ops.shape(lower)[0], -1))
            return ops.matmul(flat, kernel)
        if self.pooling:
            lower = 2.0 * ops.average_pool(lower, pool_size=2, strides=2, padding="valid")
        return ops.conv(lower, kernel, strides=1, padding="same")

    def down(self, upper, kernel=None):
        """`Wᵀ *ᵀ x^{l+1}`: the upper layer's contribution to the lower layer's net input (no bias).

        `kernel` overrides the down kernel (the tied kernel, or `down_kernel` when untied)."""
        upper = ops.convert_to_tensor(upper)
        self._check_state(upper, "down")
        upper = ops.cast(upper, self.compute_dtype)
        if kernel is None:
            kernel = self.kernel if self.tied else self.down_kernel
        kernel = ops.cast(kernel, self.compute_dtype)
        if not self.conv:
            flat = ops.matmul(upper, ops.transpose(kernel))
            return ops.reshape(flat, (ops.shape(upper)[0],) + tuple(self.lower_shape))
        out = ops.conv_transpose(upper, kernel, strides=1, padding="same")
        if self.pooling:
            out = 0.5 * ops.repeat(ops.repeat(out, 2, axis=1), 2, axis=2)
        return out

    def coupling(self, lower, upper):
        """Per-example coupling `x^{l+1} • (W * x^l)` (the energy's interaction term, Eq. 5)."""
        product = ops.cast(upper, self.compute_dtype) * self.up(lower)
        return ops.sum(ops.reshape(product, (ops.shape(product)[0], -1)), axis=-1)

    def upper_shape(self, lower_shape):
        """Shape of the upper layer for a lower layer of shape `lower_shape` (with batch axis)."""
        lower_shape = tuple(lower_shape)
        if not self.conv:
            return (lower_shape[0], self.units)
        h, w = lower_shape[1], lower_shape[2]
        if self.pooling:
            h = None if h is None else h // 2
            w = None if w is None else w // 2
        return (lower_shape[0], h, w, self.filters)

    # -- Layer API ----------------------------------------------------------
    def call(self, inputs):
        out = self.up(inputs)
        if self.bias is not None:
            out = out + ops.cast(self.bias, self.compute_dtype)
        return out

    def compute_output_shape(self, input_shape):
        return self.upper_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "pooling": self.pooling,
                "tied": self.tied,
                "use_bias": self.use_bias,
                "kernel_initializer": None
                if self.kernel_initializer is None
                else keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": None
                if self.bias_initializer is None
                else keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
