"""Convolutional restricted Hopfield network layers (MATH.md §6, papers/003).

Two layers make up a CRHN:

* [`CRHNEncoder`][keras_hopfield.layers.crhn.CRHNEncoder]: a strided
  convolutional encoder whose decoder is the transposed convolution with the
  **same kernels** (tied weights), with a sign interface (straight-through
  gradient) between them. Called on images it is an autoencoder
  `x ↦ D(sgn(E(x)))` that trains with `model.fit`.
* [`RestrictedHopfieldMemory`][keras_hopfield.layers.crhn.RestrictedHopfieldMemory]:
  the restricted Hopfield network (RHN) on the binary latent, with
  semi-orthogonal weights stored without gradients by the subspace rotation
  algorithm (SRA, orthogonal Procrustes).

The model that owns the two-stage recipe is
[`keras_hopfield.models.crhn.CRHN`][keras_hopfield.models.crhn.CRHN].
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield.backend.distribution import global_batch
from keras_hopfield.backend.loops import fixed_loop, while_loop

__all__ = [
    "CRHNEncoder",
    "RestrictedHopfieldMemory",
    "binarize",
    "sign_straight_through",
    "procrustes_rotation",
]


# --------------------------------------------------------------------------- helpers
def binarize(x, dtype=None):
    """`sgn(x)` with `sgn(0) = +1`, as a float tensor of `±1`.

    $$\\operatorname{sgn}(x) = \\begin{cases} +1 & x \\ge 0 \\\\ -1 & x < 0 \\end{cases}$$

    Args:
        x: Tensor of any shape.
        dtype: Output float dtype; defaults to the dtype of `x` (or floatx for
            integer inputs).

    Returns:
        Tensor of `±1` with the shape of `x`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.layers.crhn import binarize
        >>> ops.convert_to_numpy(binarize([-0.5, 0.0, 2.0])).tolist()
        [-1.0, 1.0, 1.0]
    """
    x = ops.convert_to_tensor(x)
    if dtype is None:
        dtype = x.dtype if "float" in keras.backend.standardize_dtype(x.dtype) else keras.config.floatx()
    one = ops.ones_like(x, dtype=dtype)
    return ops.where(ops.greater_equal(x, ops.zeros_like(x)), one, -one)


def sign_straight_through(u):
    """Binary interface `z = sgn(u)` with the hard-tanh straight-through gradient.

    Forward it returns `sgn(u) ∈ {−1, +1}`; backward it passes the gradient
    of `clip(u, −1, 1)` (1 inside `[−1, 1]`, 0 outside), the usual
    straight-through estimator for a sign unit:

    $$z = t + \\operatorname{stop\\_gradient}(\\operatorname{sgn}(u) - t),
      \\qquad t = \\operatorname{clip}(u, -1, 1).$$

    Args:
        u: Float tensor of pre-activations.

    Returns:
        Tensor of `±1` with the shape and dtype of `u`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.layers.crhn import sign_straight_through
        >>> ops.convert_to_numpy(sign_straight_through(ops.convert_to_tensor([-0.2, 0.3]))).tolist()
        [-1.0, 1.0]
    """
    t = ops.clip(u, -1.0, 1.0)
    return t + ops.stop_gradient(binarize(u, dtype=u.dtype) - t)


def procrustes_rotation(a, b, center=False):
    """Orthogonal Procrustes: the rotation `R` minimising `‖A R − B‖_F`.

    With the cross-covariance `C = Aᵀ B = U Σ Vᵀ` the minimiser over orthogonal
    `R` is `R = U Vᵀ` (Schönemann 1966; papers/003 Prop. 2). With
    `center=True` the rows of `A` and `B` are centred first and the optimal
    translation is returned too:

    $$\\min_{R^\\top R = I,\\, t} \\lVert A R + \\mathbf 1 t^\\top - B \\rVert_F,
      \\qquad t = \\bar b - R^\\top \\bar a .$$

    Args:
        a: Tensor `(P, d)`.
        b: Tensor `(P, d)`.
        center: Also fit a translation `t` (the layer's bias).

    Returns:
        Tuple `(R, t, before, after)`: the `(d, d)` rotation, the translation
        `(d,)` (zeros when `center=False`), and the objective
        `‖A R + t − B‖_F` at `R = I, t = t(I)` and at the optimum.

    Example:
        >>> from keras import ops
        >>> import numpy as np
        >>> from keras_hopfield.layers.crhn import procrustes_rotation
        >>> a = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
        >>> q = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0].astype("float32")
        >>> r, t, before, after = procrustes_rotation(a, a @ q)
        >>> bool(np.allclose(ops.convert_to_numpy(r), q, atol=1e-4))
        True
    """
    a = ops.convert_to_tensor(a)
    b = ops.cast(ops.convert_to_tensor(b), a.dtype)
    if center:
        a_mean = ops.mean(a, axis=0)
        b_mean = ops.mean(b, axis=0)
        a_c, b_c = a - a_mean, b - b_mean
    else:
        a_c, b_c = a, b
    u, _, vh = ops.svd(ops.matmul(ops.transpose(a_c), b_c), full_matrices=False)
    r = ops.matmul(u, vh)
    if center:
        t = b_mean - ops.matmul(a_mean, r)
    else:
        t = ops.zeros(ops.shape(a)[-1:], dtype=a.dtype)
    before = ops.sqrt(ops.sum(ops.square(a_c - b_c)))
    after = ops.sqrt(ops.sum(ops.square(ops.matmul(a_c, r) - b_c)))
    return r, t, before, after


def _tuple_of_ints(owner, name, value, allow_empty=False):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),)
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"{owner}: `{name}` must be an int or a tuple of ints. Received: {name}={value!r}") from None
    if (not value and not allow_empty) or any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1 for v in value
    ):
        raise ValueError(f"{owner}: `{name}` must be positive ints. Received: {name}={value!r}")
    return tuple(int(v) for v in value)


# --------------------------------------------------------------------------- encoder
@keras.saving.register_keras_serializable(package="keras_hopfield")
class CRHNEncoder(keras.layers.Layer):
    """Tied convolutional encoder/decoder with a binary latent (the CRHN interface).

    The encoder is `L` strided convolutions (kernels `K_l`, explicit symmetric
    padding `p = (k − s)/2`, so each halves the resolution exactly when
    `s = 2`), optionally followed by a dense map `D` to `latent_dim`; the last
    linear map has no activation and its output `u` is binarised. The decoder
    applies the **transposes of the same kernels** in reverse order (the
    transposed convolution is the exact adjoint `Kᵀ` of the padded
    convolution), with its own biases:

    $$h_l = \\phi(K_l * h_{l-1} + b_l),\\quad u = D\\,\\mathrm{vec}(h_L) + b_u,
      \\quad z = \\operatorname{sgn}(u),$$
    $$g_L = \\phi(D^\\top z + d_L),\\quad g_{l-1} = \\phi(K_l^\\top * g_l + d_{l-1}),
      \\quad \\hat x = \\sigma(K_1^\\top * g_1 + d_0).$$

    Calling the layer on images returns the reconstruction `x̂ = D(sgn(E(x)))`,
    with a straight-through gradient through `sgn`
    ([`sign_straight_through`][keras_hopfield.layers.crhn.sign_straight_through]),
    so it trains as an autoencoder with `model.fit(x, x)`. `encode` returns
    the binary latent and `decode` maps a latent back to an image.

    Args:
        filters: Output channels of the encoder convolutions (int or tuple).
        kernel_size: Square kernel size `k`.
        strides: Stride `s` of every convolution; `k − s` must be even and ≥ 0.
        latent_dim: Size of the dense latent map `D`; `None` uses the flattened
            last feature map as the latent (the last convolution is then linear).
        activation: Hidden activation `φ` of encoder and decoder.
        output_activation: Activation `σ` of the reconstruction (`"sigmoid"`
            for images in `[0, 1]`; `None` for linear).
        kernel_initializer: Initializer of the shared kernels.
        bias_initializer: Initializer of all biases.
        kernel_regularizer: Optional regularizer of the shared kernels.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        Calling the layer on images `(N, H, W, C)` returns the reconstruction
        `(N, H, W, C)`.

    Raises:
        ValueError: For invalid arguments, or (in `build`) images whose size is
            not divisible by `strides ** len(filters)`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import CRHNEncoder
        >>> enc = CRHNEncoder(filters=(4, 8), latent_dim=32)
        >>> x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
        >>> tuple(enc.encode(x).shape), tuple(enc(x).shape)
        ((2, 32), (2, 16, 16, 3))
    """

    def __init__(
        self,
        filters=(16, 32),
        kernel_size=4,
        strides=2,
        latent_dim=None,
        activation="relu",
        output_activation="sigmoid",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = _tuple_of_ints(owner, "filters", filters)
        kernel_size = V.positive_int(owner, "kernel_size", kernel_size)
        strides = V.positive_int(owner, "strides", strides)
        if kernel_size < strides or (kernel_size - strides) % 2:
            raise ValueError(
                f"{owner}: `kernel_size - strides` must be even and >= 0 so that the symmetric padding "
                f"(k - s)/2 makes the transposed convolution the exact adjoint. Received: "
                f"kernel_size={kernel_size}, strides={strides}"
            )
        latent_dim = V.positive_int(owner, "latent_dim", latent_dim, allow_none=True)
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding_size = (kernel_size - strides) // 2
        self.latent_dim = latent_dim
        self.activation = keras.activations.get(activation)
        self.output_activation = keras.activations.get(output_activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        h, w, c = input_shape[1:]
        if h is None or w is None or c is None:
            raise ValueError(f"CRHNEncoder needs static image sizes (H, W, C). Received: input_shape={input_shape}")
        factor = self.strides ** len(self.filters)
        if h % factor or w % factor:
            raise ValueError(
                f"Image size {h}x{w} must be divisible by strides**len(filters) = {factor} "
                "(each convolution divides the size by `strides` exactly)."
            )
        self.image_shape = (int(h), int(w), int(c))
        self.feature_shape = (h // factor, w // factor, self.filters[-1])
        self.kernels, self.encoder_biases, self.decoder_biases = [], [], []
        channels = (int(c),) + self.filters
        size = (int(h), int(w))
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(self.kernel_size, self.kernel_size, c_in, c_out),
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                )
            )
            self.encoder_biases.append(
                self.add_weight(name=f"encoder_bias_{i}", shape=(c_out,), initializer=self.bias_initializer)
            )
            self.decoder_biases.append(
                self.add_weight(name=f"decoder_bias_{i}", shape=(c_in,), initializer=self.bias_initializer)
            )
            size = (size[0] // self.strides, size[1] // self.strides)
        flat = int(math.prod(self.feature_shape))
        if self.latent_dim is not None:
            self.dense_kernel = self.add_weight(
                name="dense_kernel",
                shape=(flat, self.latent_dim),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
            )
            self.latent_bias = self.add_weight(
                name="latent_bias", shape=(self.latent_dim,), initializer=self.bias_initializer
            )
            self.feature_bias = self.add_weight(name="feature_bias", shape=(flat,), initializer=self.bias_initializer)
        else:
            self.dense_kernel = None
        self.latent_size = self.latent_dim if self.latent_dim is not None else flat
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={1: h, 2: w, 3: c})

    # -------------------------------------------------------- linear primitives
    def _ensure_built(self, x):
        if not self.built:
            self.build(tuple(x.shape))

    def _conv(self, x, i):
        p = self.padding_size
        if p:
            x = ops.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
        kernel = ops.cast(self.kernels[i], x.dtype)
        return ops.conv(x, kernel, strides=self.strides, padding="valid", data_format="channels_last")

    def _conv_adjoint(self, y, i):
        # A 'valid' transposed convolution is the exact adjoint of the 'valid'
        # convolution; cropping the padding frame is the adjoint of padding.
        kernel = ops.cast(self.kernels[i], y.dtype)
        x = ops.conv_transpose(y, kernel, strides=self.strides, padding="valid", data_format="channels_last")
        p = self.padding_size
        if p:
            x = x[:, p:-p, p:-p, :]
        return x

    def linear_map(self, x):
        """The linear part `E` of the encoder (all kernels, no biases or activations).

        Args:
            x: Images `(N, H, W, C)`.

        Returns:
            Latent-space tensor `(N, latent_size)`.
        """
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        self._ensure_built(x)
        for i in range(len(self.filters)):
            x = self._conv(x, i)
        x = ops.reshape(x, (-1, self.feature_size))
        if self.dense_kernel is not None:
            x = ops.matmul(x, ops.cast(self.dense_kernel, x.dtype))
        return x

    def adjoint_map(self, y):
        """The adjoint `Eᵀ` of [`linear_map`][keras_hopfield.layers.crhn.CRHNEncoder.linear_map]: the decoder's transposed convolutions with the same kernels.

        Args:
            y: Latent-space tensor `(N, latent_size)`.

        Returns:
            Images `(N, H, W, C)` with `⟨E x, y⟩ = ⟨x, Eᵀ y⟩`.
        """
        y = ops.convert_to_tensor(y, dtype=self.compute_dtype)
        if self.dense_kernel is not None:
            y = ops.matmul(y, ops.transpose(ops.cast(self.dense_kernel, y.dtype)))
        y = ops.reshape(y, (-1,) + tuple(self.feature_shape))
        for i in reversed(range(len(self.filters))):
            y = self._conv_adjoint(y, i)
        return y

    @property
    def feature_size(self):
        return int(math.prod(self.feature_shape))

    # ----------------------------------------------------------------- encoder
    def encode_preactivation(self, images):
        """Latent pre-activation `u` (before the sign), shape `(N, latent_size)`."""
        x = ops.convert_to_tensor(images, dtype=self.compute_dtype)
        self._ensure_built(x)
        last = len(self.filters) - 1
        for i in range(len(self.filters)):
            x = self._conv(x, i) + ops.cast(self.encoder_biases[i], x.dtype)
            if i < last or self.dense_kernel is not None:
                x = self.activation(x)
        x = ops.reshape(x, (-1, self.feature_size))
        if self.dense_kernel is not None:
            x = ops.matmul(x, ops.cast(self.dense_kernel, x.dtype)) + ops.cast(self.latent_bias, x.dtype)
        return x

    def encode(self, images):
        """Binary latent `z = sgn(E(x)) ∈ {−1, +1}^latent_size` (straight-through gradient).

        Args:
            images: Images `(N, H, W, C)`.

        Returns:
            Tensor `(N, latent_size)` of `±1`.
        """
        return sign_straight_through(self.encode_preactivation(images))

    def decode(self, latent):
        """Reconstruction `x̂` from a latent `(N, latent_size)` with the tied (transposed) kernels.

        Args:
            latent: Binary (or continuous) latent `(N, latent_size)`.

        Returns:
            Images `(N, H, W, C)`.
        """
        y = ops.convert_to_tensor(latent, dtype=self.compute_dtype)
        if not self.built:
            raise ValueError("Call `encode` (or the layer) on images once before `decode`: it creates the kernels.")
        if len(y.shape) != 2 or (y.shape[-1] is not None and y.shape[-1] != self.latent_size):
            raise ValueError(
                f"`latent` must have shape (N, {self.latent_size}); received shape {tuple(y.shape)}."
            )
        if self.dense_kernel is not None:
            y = ops.matmul(y, ops.transpose(ops.cast(self.dense_kernel, y.dtype)))
            y = self.activation(y + ops.cast(self.feature_bias, y.dtype))
        y = ops.reshape(y, (-1,) + tuple(self.feature_shape))
        for i in reversed(range(len(self.filters))):
            y = self._conv_adjoint(y, i) + ops.cast(self.decoder_biases[i], y.dtype)
            y = self.activation(y) if i > 0 else self.output_activation(y)
        return y

    def call(self, inputs):
        return self.decode(self.encode(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "latent_dim": self.latent_dim,
                "activation": keras.activations.serialize(self.activation),
                "output_activation": keras.activations.serialize(self.output_activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


# --------------------------------------------------------------------------- memory
SRA_MODES = ("both", "left", "right")
DYNAMICS = ("binary", "continuous")


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RestrictedHopfieldMemory(keras.layers.Layer):
    """Restricted Hopfield network (RHN) on binary latents, stored by subspace rotation.

    Hidden layers `h¹..h^K` with semi-orthogonal weights `W^k` (`W^{kᵀ} W^k = I`),
    tanh units, a forward and a backward path sharing the (transposed) weights
    (MATH.md §6):

    $$h^0 = z,\\quad h^{k+1} = \\tanh(h^k W^k + b^{k+1}),\\qquad
      r^K = h^K,\\quad r^k = \\tanh(r^{k+1} W^{k\\top} + c^k).$$

    One retrieval step is `T(z) = r⁰`. With `dynamics="binary"` (the default)
    retrieval iterates `z ← sgn(T(z))` inside `keras.ops.while_loop` until no
    latent changes (or `max_steps`); with `dynamics="continuous"` only the
    interface is binary (papers/003 §IV-A: "the subsequent Hopfield dynamics
    remain continuous"): `v⁰ = sgn(z)`, then `v ← T(v)` until
    `max |Δv| < tolerance`, and the continuous `v ∈ (−1, 1)` is returned (the
    decoder reads it out). Stored patterns are binary fixed points,
    `sgn(T(z^μ)) = z^μ`. Because every `W^k` has spectral norm 1 and tanh is
    1-Lipschitz, `T` is non-expansive: `‖T(z + δ) − T(z)‖ ≤ ‖δ‖`
    (papers/003 Prop. 3).

    Energy (one hidden layer; for `K > 1` the same expression with the
    forward-path hidden states), with the tanh barrier
    `ρ(x) = ½(1+x)ln(1+x) + ½(1−x)ln(1−x)`:

    $$E(v) = -\\sum_k h^k W^k \\cdot h^{k+1} - \\sum_k b^{k+1}\\!\\cdot h^{k+1} - c^0\\!\\cdot v
      + \\sum_{k \\ge 1} \\textstyle\\sum_i \\rho(h^k_i),\\quad h^0 = v .$$

    For `K = 1` each half step is the exact minimiser of `E(v, h)` over one
    layer, so `E` never increases along the binary dynamics.

    Storage is gradient-free, by the subspace rotation algorithm (SRA,
    papers/003 Prop. 2): per layer, the cross-covariance of the current
    pre-activations `A` and their targets `B` gives the Procrustes rotation
    `R = U Vᵀ` (`AᵀB = U Σ Vᵀ`). LSRA rotates the visible side of `W^k`
    (`W ← Rᵀ W`, aligning the backward reconstruction with `atanh(ρ z)` at
    layer 0, with the forward state above); RSRA rotates its hidden side
    (`W ← W R`, aligning the forward pre-activation with the backward
    reconstruction, or at the top with the balanced code `atanh(ρ) sgn(a − ā)`,
    `ā` the mean pre-activation over the stored set). Biases are the
    optimal Procrustes translations. Rotations keep `Wᵀ W = I`. `store(z)`
    alternates sweeps until every pattern is a fixed point; with
    `store_on_fit=True` every call with `training=True` (e.g. in
    `model.fit`) performs one sweep on the batch via `variable.assign` (none
    once every pattern of the batch is a fixed point), like
    `BatchNormalization` (use the whole memory set as one batch).

    Args:
        hidden_units: Width of each hidden layer (int or tuple), non-increasing
            and at most the latent size (so `Wᵀ W = I` is possible). Roughly
            `hidden_units[0]` patterns can be stored as fixed points.
        max_steps: Maximum number of retrieval steps (int ≥ 1).
        target_activation: `ρ ∈ (0, 1)`, the tanh activation the SRA targets
            ask of the stored patterns (`atanh(ρ z)`). The default 0.9 suits
            random patterns; for the strongly correlated binary latents of
            images a smaller `ρ` (0.6–0.7) stores far more of them as exact
            fixed points (docs/crhn.md, "Exact fixed points").
        max_sweeps: Maximum SRA sweeps of `store` (int ≥ 1).
        sra: `"both"` (LSRA then RSRA per layer), `"left"` or `"right"`.
        use_bias: Fit biases `b`, `c` (as Procrustes translations).
        store_on_fit: One SRA sweep on the batch per training call.
        dynamics: `"binary"` (re-binarise every step) or `"continuous"`
            (binary interface, continuous dynamics; see above).
        tolerance: Stop the continuous dynamics when no latent moves by
            `tolerance` or more (`max |Δv|`), a float > 0.
        seed: Int or `None`, seeds the random semi-orthogonal initial weights.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        Calling the layer on latents `(N, n)` (binarised with `sgn`) returns the
        retrieved binary latents `(N, n)`.

    Raises:
        ValueError: For invalid arguments, or hidden widths larger than the
            latent size.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_hopfield.layers import RestrictedHopfieldMemory
        >>> z = np.sign(np.random.default_rng(0).normal(size=(10, 64))).astype("float32")
        >>> memory = RestrictedHopfieldMemory(hidden_units=32, target_activation=0.7, seed=0)
        >>> info = memory.store(z)
        >>> info["fixed_points"]
        10
        >>> flips = np.where(np.random.default_rng(1).random(z.shape) < 0.05, -1.0, 1.0)
        >>> noisy = (z * flips).astype("float32")
        >>> retrieved = ops.convert_to_numpy(memory(noisy))
        >>> bool((retrieved == z).mean() > (noisy == z).mean())  # fewer wrong bits than the cue
        True
    """

    def __init__(
        self,
        hidden_units=256,
        max_steps=20,
        target_activation=0.9,
        max_sweeps=50,
        sra="both",
        use_bias=True,
        store_on_fit=False,
        dynamics="binary",
        tolerance=1e-3,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.hidden_units = _tuple_of_ints(owner, "hidden_units", hidden_units)
        if any(b > a for a, b in zip(self.hidden_units[:-1], self.hidden_units[1:])):
            raise ValueError(
                f"{owner}: `hidden_units` must be non-increasing (each W^k needs orthonormal columns). "
                f"Received: hidden_units={self.hidden_units}"
            )
        self.max_steps = V.positive_int(owner, "max_steps", max_steps)
        self.target_activation = V.check_float(
            owner, "target_activation", target_activation, minimum=0.0, maximum=1.0, min_inclusive=False,
            max_inclusive=False,
        )
        self.max_sweeps = V.positive_int(owner, "max_sweeps", max_sweeps)
        self.sra = V.choice(owner, "sra", sra, SRA_MODES)
        self.seed = V.seed(owner, "seed", seed)
        self.dynamics = V.choice(owner, "dynamics", dynamics, DYNAMICS)
        self.tolerance = V.positive_float(owner, "tolerance", tolerance)
        self.use_bias = V.boolean(owner, "use_bias", use_bias)
        self.store_on_fit = V.boolean(owner, "store_on_fit", store_on_fit)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        n = input_shape[-1]
        if n is None:
            raise ValueError("The latent size (last input dimension) must be known.")
        n = int(n)
        if self.hidden_units[0] > n:
            raise ValueError(
                f"hidden_units[0]={self.hidden_units[0]} exceeds the latent size {n}: a semi-orthogonal "
                "W (WᵀW = I) needs hidden_units[0] <= latent size."
            )
        self.units = n
        sizes = (n,) + self.hidden_units
        self.kernels, self.forward_biases, self.backward_biases = [], [], []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            init = keras.initializers.Orthogonal(seed=None if self.seed is None else self.seed + k)
            self.kernels.append(self.add_weight(name=f"kernel_{k}", shape=(a, b), initializer=init, trainable=False))
            self.forward_biases.append(
                self.add_weight(name=f"forward_bias_{k + 1}", shape=(b,), initializer="zeros", trainable=False)
            )
            self.backward_biases.append(
                self.add_weight(name=f"backward_bias_{k}", shape=(a,), initializer="zeros", trainable=False)
            )
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: n})

    def _check_latent(self, z, name="latent"):
        shape = tuple(z.shape)
        if len(shape) != 2:
            raise ValueError(f"`{name}` must have shape (N, latent_size); received shape {shape}.")
        if not self.built:
            self.build(shape)
        if shape[-1] is not None and shape[-1] != self.units:
            raise ValueError(
                f"`{name}` has latent size {shape[-1]} but the memory was built for {self.units} "
                "(the encoder's latent_size)."
            )

    def _params(self, dtype="float32"):
        return (
            [ops.cast(w, dtype) for w in self.kernels],
            [ops.cast(b, dtype) for b in self.forward_biases],
            [ops.cast(c, dtype) for c in self.backward_biases],
        )

    # ---------------------------------------------------------------- dynamics
    @staticmethod
    def _forward(v, kernels, fb):
        hs = [v]
        for w, b in zip(kernels, fb):
            hs.append(ops.tanh(ops.matmul(hs[-1], w) + b))
        return hs

    @staticmethod
    def _backward(top, kernels, bb):
        rs = [None] * len(kernels) + [top]
        for k in reversed(range(len(kernels))):
            rs[k] = ops.tanh(ops.matmul(rs[k + 1], ops.transpose(kernels[k])) + bb[k])
        return rs

    def _step(self, v, params):
        kernels, fb, bb = params
        hs = self._forward(v, kernels, fb)
        return self._backward(hs[-1], kernels, bb)[0]

    def step(self, state):
        """One continuous forward+backward sweep `T(v) = r⁰` (no binarisation).

        Args:
            state: Latent states `(N, n)`.

        Returns:
            `T(state)`, shape `(N, n)`, in `(−1, 1)`.
        """
        v = ops.convert_to_tensor(state, dtype=self.compute_dtype)
        self._check_latent(v, "state")
        return self._step(v, self._params(v.dtype))

    def _update(self, state, params):
        """One retrieval step of the chosen dynamics: `sgn(T(z))` or `T(v)`."""
        new = self._step(state, params)
        return binarize(new, dtype=state.dtype) if self.dynamics == "binary" else new

    def _moved(self, new, old):
        """Per example: did the step change the state (binary: any bit; continuous: by `tolerance`)?"""
        if self.dynamics == "binary":
            return ops.any(ops.not_equal(new, old), axis=-1)
        return ops.max(ops.abs(new - old), axis=-1) >= self.tolerance

    def retrieve(self, latent, return_steps=False, params=None):
        """Runs the retrieval dynamics in a compiled `while_loop` until no latent moves.

        `dynamics="binary"`: `z ← sgn(T(z))` until no bit changes;
        `"continuous"`: `v ← T(v)` from `v = sgn(latent)` until
        `max |Δv| < tolerance`. Either stops after `max_steps`.

        Args:
            latent: Latents `(N, n)`; binarised with `sgn` first.
            return_steps: Also return how many steps moved each latent.
            params: Internal: weights to use instead of the stored ones.

        Returns:
            Retrieved latents `(N, n)`: binary, or in `(−1, 1)` for the
            continuous dynamics (and the steps per example `(N,)` int32 with
            `return_steps`).
        """
        z = binarize(ops.convert_to_tensor(latent), dtype=self.compute_dtype)
        self._check_latent(z)
        params = self._params(z.dtype) if params is None else [[ops.cast(t, z.dtype) for t in p] for p in params]
        steps = ops.zeros(ops.shape(z)[:1], dtype="int32")

        def cond(z, steps, changed, i):
            return ops.logical_and(changed, i < self.max_steps)

        def body(z, steps, changed, i):
            new = self._update(z, params)
            moved = self._moved(new, z)
            return new, steps + ops.cast(moved, "int32"), ops.any(moved), i + 1

        z, steps, _, _ = while_loop(
            cond, body, (z, steps, ops.convert_to_tensor(True), ops.convert_to_tensor(0, "int32"))
        )
        return (z, steps) if return_steps else z

    def trajectory(self, latent, steps=None):
        """The latents along retrieval, `z(0) .. z(steps)`, for either dynamics (eager helper).

        Args:
            latent: Latents `(N, n)` (binarised first).
            steps: Number of steps; defaults to `max_steps`. Converged latents
                repeat.

        Returns:
            Tensor `(steps + 1, N, n)`.
        """
        z = binarize(ops.convert_to_tensor(latent), dtype=self.compute_dtype)
        self._check_latent(z)
        params = self._params(z.dtype)
        states = [z]
        for _ in range(self.max_steps if steps is None else int(steps)):
            states.append(self._update(states[-1], params))
        return ops.stack(states, axis=0)

    def energy(self, state):
        """Energy `E(v)` of latent states `(N, n)` with entries in `[−1, 1]`; returns `(N,)`.

        Args:
            state: Latent states `(N, n)`.

        Returns:
            Tensor `(N,)`.
        """
        v = ops.convert_to_tensor(state, dtype="float32")
        self._check_latent(v, "state")
        kernels, fb, bb = self._params("float32")
        hs = self._forward(v, kernels, fb)

        def barrier(x):
            x = ops.clip(x, -1.0, 1.0)
            p, m = 1.0 + x, 1.0 - x
            safe = lambda t: ops.where(t > 0, t * ops.log(ops.maximum(t, 1e-30)), ops.zeros_like(t))  # noqa: E731
            return 0.5 * ops.sum(safe(p) + safe(m), axis=-1)

        e = -ops.sum(v * bb[0], axis=-1)
        for k, (w, b) in enumerate(zip(kernels, fb)):
            e = e - ops.sum(ops.matmul(hs[k], w) * hs[k + 1], axis=-1) - ops.sum(b * hs[k + 1], axis=-1)
            e = e + barrier(hs[k + 1])
        return e

    # ------------------------------------------------------------------ storage
    def _sra_sweep(self, patterns, params, return_objectives=False):
        """One SRA sweep over all layers on `patterns` (pure; returns new params)."""
        kernels, fb, bb = [list(p) for p in params]
        z = patterns
        rho = self.target_activation
        lim = math.atanh(rho)
        top = len(kernels) - 1
        objectives = []
        for k in range(len(kernels)):
            if self.sra in ("both", "left"):
                hs = self._forward(z, kernels, fb)
                rs = self._backward(hs[-1], kernels, bb)
                a = ops.matmul(rs[k + 1], ops.transpose(kernels[k]))
                target = z if k == 0 else hs[k]
                b = ops.arctanh(ops.clip(rho * target, -rho, rho)) if k == 0 else ops.arctanh(
                    ops.clip(target, -rho, rho)
                )
                r, t, before, after = procrustes_rotation(a, b, center=self.use_bias)
                kernels[k] = ops.matmul(ops.transpose(r), kernels[k])
                if self.use_bias:
                    bb[k] = t
                objectives.append(("left", k, before, after))
            if self.sra in ("both", "right"):
                hs = self._forward(z, kernels, fb)
                a = ops.matmul(hs[k], kernels[k])
                if k == top:
                    # The top layer has no backward signal: ask for a balanced binary
                    # code, each hidden unit split at its mean over the stored set
                    # (correlated latents otherwise saturate a few hidden units).
                    centred = a - ops.mean(a, axis=0) if self.use_bias else a
                    b = lim * binarize(centred, dtype=a.dtype)
                else:
                    rs = self._backward(hs[-1], kernels, bb)
                    b = ops.arctanh(ops.clip(rs[k + 1], -rho, rho))
                r, t, before, after = procrustes_rotation(a, b, center=self.use_bias)
                kernels[k] = ops.matmul(kernels[k], r)
                if self.use_bias:
                    fb[k] = t
                objectives.append(("right", k, before, after))
        # Rotations keep WᵀW = I exactly in exact arithmetic; one Newton–Schulz
        # step W ← W (3I − WᵀW)/2 removes the float32 round-off they accumulate.
        for k, w in enumerate(kernels):
            eye = ops.eye(ops.shape(w)[1], dtype=w.dtype)
            kernels[k] = ops.matmul(w, 1.5 * eye - 0.5 * ops.matmul(ops.transpose(w), w))
        if return_objectives:
            return (kernels, fb, bb), objectives
        return kernels, fb, bb

    def _assign(self, params):
        for variables, values in zip((self.kernels, self.forward_biases, self.backward_biases), params):
            for variable, value in zip(variables, values):
                variable.assign(ops.cast(value, variable.dtype))

    def _patterns(self, patterns):
        z = ops.convert_to_tensor(np.asarray(ops.convert_to_numpy(patterns), dtype="float32"))
        self._check_latent(z, "patterns")
        return binarize(z, dtype="float32")

    def sra_step(self, patterns, return_objectives=False):
        """Runs one SRA sweep (LSRA/RSRA over all layers) on `patterns` and assigns the weights.

        Args:
            patterns: Binary latents `(P, n)` to store.
            return_objectives: Also return the Procrustes objective of every
                rotation, before and after it.

        Returns:
            `None`, or a list of dicts `{"kind", "layer", "before", "after"}`
            with `return_objectives`.
        """
        z = self._patterns(patterns)
        layers = len(self.kernels)
        kinds = []

        # A one-trip `fixed_loop` compiles the sweep on JAX (lax.scan) instead of
        # dispatching its ops one by one.
        def body(i, carry):
            params = [list(carry[:layers]), list(carry[layers : 2 * layers]), list(carry[2 * layers : 3 * layers])]
            params, objectives = self._sra_sweep(z, params, return_objectives=True)
            kinds[:] = [(kind, k) for kind, k, _, _ in objectives]
            values = [ops.stack([b, a]) for _, _, b, a in objectives]
            return (*params[0], *params[1], *params[2], ops.stack(values))

        start = self._params("float32")
        n_objectives = layers * (2 if self.sra == "both" else 1)
        init = (*start[0], *start[1], *start[2], ops.zeros((n_objectives, 2), "float32"))
        result = fixed_loop(1, body, init)
        self._assign([list(result[:layers]), list(result[layers : 2 * layers]), list(result[2 * layers : 3 * layers])])
        if return_objectives:
            values = np.asarray(ops.convert_to_numpy(result[-1]), dtype="float64")
            return [
                {"kind": kind, "layer": k, "before": float(v[0]), "after": float(v[1])}
                for (kind, k), v in zip(kinds, values)
            ]
        return None

    def fixed_points(self, patterns):
        """Which patterns are fixed points, `sgn(T(z)) = z`; returns a bool array `(P,)`."""
        z = self._patterns(patterns)
        new = binarize(self._step(z, self._params("float32")), dtype="float32")
        return np.asarray(ops.convert_to_numpy(ops.all(ops.equal(new, z), axis=-1)))

    def store(self, patterns, max_sweeps=None, warn=True):
        """Stores binary patterns as fixed points by SRA sweeps (gradient-free).

        Sweeps run inside `keras.ops.while_loop` (compiled on JAX) and stop as
        soon as every pattern is a fixed point or after `max_sweeps`; the
        weights with the most fixed points seen are kept. If some
        patterns are still not fixed points a `UserWarning` gives their count
        (more patterns than the memory can hold: enlarge `hidden_units` or the
        latent).

        Args:
            patterns: Latents `(P, n)` (binarised with `sgn`).
            max_sweeps: Overrides the layer's `max_sweeps`.
            warn: Warn when patterns are left that are not fixed points.

        Returns:
            Dict with `patterns` (P), `fixed_points` (count), `sweeps` and
            `orthogonality_error`.

        Raises:
            ValueError: For patterns of the wrong shape or latent size.
        """
        z = self._patterns(patterns)
        limit = self.max_sweeps if max_sweeps is None else int(max_sweeps)
        count = int(ops.shape(z)[0])
        layers = len(self.kernels)

        def n_fixed(params):
            new = binarize(self._step(z, params), dtype=z.dtype)
            return ops.sum(ops.cast(ops.all(ops.equal(new, z), axis=-1), "int32"))

        def unflatten(flat):
            return list(flat[:layers]), list(flat[layers : 2 * layers]), list(flat[2 * layers : 3 * layers])

        size = 3 * layers

        # Carry: current params, best params, sweeps, fixed count now, best count.
        # Sweeps do not improve the fixed points monotonically, so the best
        # weights seen are kept.
        def cond(*carry):
            return ops.logical_and(carry[-1] < count, carry[2 * size] < limit)

        def body(*carry):
            params = self._sra_sweep(z, unflatten(carry[:size]))
            flat = (*params[0], *params[1], *params[2])
            fixed = n_fixed(params)
            better = fixed > carry[-1]
            best = tuple(ops.where(better, new, old) for new, old in zip(flat, carry[size : 2 * size]))
            return (*flat, *best, carry[2 * size] + 1, fixed, ops.maximum(fixed, carry[-1]))

        start = self._params("float32")
        flat = (*start[0], *start[1], *start[2])
        fixed0 = n_fixed(start)
        init = (*flat, *flat, ops.convert_to_tensor(0, "int32"), fixed0, fixed0)
        result = while_loop(cond, body, init)
        self._assign(unflatten(result[size : 2 * size]))
        sweeps = int(ops.convert_to_numpy(result[2 * size]))
        fixed = int(ops.convert_to_numpy(result[-1]))
        if warn and fixed < count:
            warnings.warn(
                f"RestrictedHopfieldMemory: {count - fixed} of {count} patterns are not fixed points after "
                f"{sweeps} SRA sweeps; the memory (latent {self.units}, hidden_units={self.hidden_units}) "
                f"holds about {self.hidden_units[0]} patterns. Use more hidden units or fewer patterns.",
                UserWarning,
                stacklevel=2,
            )
        return {
            "patterns": count,
            "fixed_points": fixed,
            "sweeps": sweeps,
            "orthogonality_error": self.orthogonality_error(),
        }

    def orthogonality_error(self):
        """`max_k ‖W^{kᵀ} W^k − I‖_F`, how far the weights are from semi-orthogonal."""
        errors = []
        for w in self.kernels:
            w = np.asarray(ops.convert_to_numpy(w), dtype="float64")
            errors.append(np.linalg.norm(w.T @ w - np.eye(w.shape[1])))
        return float(max(errors))

    # -------------------------------------------------------------------- call
    def call(self, inputs, training=None):
        z = binarize(inputs, dtype=self.compute_dtype)
        params = None
        if training and self.store_on_fit and self.trainable:
            # SRA rotates on the whole batch: under tf.distribute every replica gathers it
            # and computes the same sweep (identity on JAX / PyTorch).
            patterns = global_batch(ops.cast(ops.stop_gradient(z), "float32"))
            old = self._params("float32")
            new = self._sra_sweep(patterns, old)
            # Stop rotating once the batch is stored ("until the stored patterns
            # are fixed points"), as `store` does.
            done = ops.all(ops.equal(binarize(self._step(patterns, old), dtype="float32"), patterns))
            new = [[ops.where(done, o, n) for o, n in zip(olds, news)] for olds, news in zip(old, new)]
            self._assign(new)
            params = new
        # The output is piecewise constant in the input, so the loop is cut from
        # autodiff (this also lets JAX run the early-exit while_loop inside fit).
        return self.retrieve(ops.stop_gradient(z), params=params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": self.hidden_units,
                "max_steps": self.max_steps,
                "target_activation": self.target_activation,
                "max_sweeps": self.max_sweeps,
                "sra": self.sra,
                "use_bias": self.use_bias,
                "store_on_fit": self.store_on_fit,
                "dynamics": self.dynamics,
                "tolerance": self.tolerance,
                "seed": self.seed,
            }
        )
        return config
