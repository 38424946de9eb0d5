"""DeepHNN, VHNN and ConvexMerge: the dense Hopfield layers of papers/004 ch. 4.

`DeepHNN` (Listing 4.1) runs one small Hopfield network per channel in *logit
space*: with stored patterns `P` (rows), inverse temperature `β` and
`A = β P Pᵀ`, the logits of a state `x` are `l = β P x`, and one Hopfield
update of the state, `x ← Pᵀ softmax(l)`, is the logit update
`l ← A softmax(l)`. Several patterns (`depth`) stand for one feature; the
feature's logit is the largest of them, plus a bias.

`VHNN` (Listing 4.3) is the variational version in state space: the softmax
probabilities are perturbed by Gaussian noise of the size of a Bernoulli
standard deviation, `p ← p + η √(p(1−p)) ε`, before the read-out `x ← Pᵀ p`.

`ConvexMerge` is the trainable convex channel reducer of the paper's MNIST
model (§4.2, "DeepHNN as MLP").

The Hopfield update and energy come from `keras_hopfield.functional`; only the
logit-space loop `_iterate_logits` (shared with `keras_hopfield.layers.conv`)
is new here.

Layouts follow Keras: `data_format="channels_last"` (the default of
`keras.config.image_data_format()`) means `(batch, neurons, channels)`, which
is what `keras.layers.Reshape((H * W, C))` makes of a `Conv2D` output;
`"channels_first"` is the paper's `(batch, channels, neurons)`.
"""

import math

import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield import functional as F
from keras_hopfield.backend import kernels
from keras_hopfield.backend.distribution import draw_for_global_batch
from keras_hopfield.backend.loops import fixed_loop

__all__ = ["DeepHNN", "VHNN", "ConvexMerge"]

_HALF = ("float16", "bfloat16")
_DATA_FORMATS = ("channels_last", "channels_first")


# --------------------------------------------------------------------------- helpers
def _check_per_channel(owner, name, value, channels):
    """A positive float or one per channel → list of `channels` floats (or None)."""
    if value is None:
        return None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    for v in values:
        try:
            V.positive_float(owner, name, v)
        except ValueError:
            raise ValueError(
                f"{owner}: `{name}` must be a positive finite float or a list of one per channel. "
                f"Received: {name}={value!r}"
            ) from None
    if len(values) not in (1, channels):
        raise ValueError(
            f"{owner}: `{name}` has {len(values)} values but channels={channels}; give one float or one per channel."
        )
    return [float(v) for v in values] * (channels if len(values) == 1 else 1)


def _standardize_data_format(owner, data_format):
    if data_format is None:
        return keras.config.image_data_format()
    fmt = str(data_format).lower()
    if fmt not in _DATA_FORMATS:
        raise ValueError(
            f"{owner}: `data_format` must be one of {_DATA_FORMATS}. Received: data_format={data_format!r}"
        )
    return fmt


def _core_dtype(compute_dtype):
    # Softmax over β-scaled overlaps overflows float16 long before β is large
    # in any useful sense: the Hopfield core runs in float32 under half policies.
    return "float32" if compute_dtype in _HALF else compute_dtype


# Up to this many Hopfield updates run as straight-line code (cheaper than a
# loop primitive and its gradient bookkeeping; see `fixed_loop(unroll=...)`).
_UNROLL_MAX = 4


# The trainability, initialiser, regulariser and constraint options that
# DeepHNN and the Hopfield convolutions share (a pattern tensor, a log-β and
# an optional bias), set from `__init__` and serialised by `get_config`.
_WEIGHT_OPTIONS = ("use_bias", "trainable_beta", "trainable_patterns", "trainable_bias")
_WEIGHT_OBJECTS = {
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}


def _set_weight_options(layer, options):
    """Sets the `_WEIGHT_OPTIONS` flags and the `patterns_*`/`bias_*` objects from `options` (keyword → value)."""
    for name in _WEIGHT_OPTIONS:
        setattr(layer, name, V.boolean(type(layer).__name__, name, options[name]))
    for kind, module in _WEIGHT_OBJECTS.items():
        for weight in ("patterns", "bias"):
            setattr(layer, f"{weight}_{kind}", module.get(options[f"{weight}_{kind}"]))


def _weight_options_config(layer):
    """The `get_config` entries of `_set_weight_options`."""
    config = {name: getattr(layer, name) for name in _WEIGHT_OPTIONS}
    for kind, module in _WEIGHT_OBJECTS.items():
        for weight in ("patterns", "bias"):
            config[f"{weight}_{kind}"] = module.serialize(getattr(layer, f"{weight}_{kind}"))
    return config


def _iterate_logits(logits, gram, iterations):
    """`iterations` Hopfield updates in logit space: `l ← softmax(l) A`.

    With `l = β P x` the state update `x ← Pᵀ softmax(l)` gives the new logits
    `β P Pᵀ softmax(l) = A softmax(l)` (papers/004 §4.1; `A` is symmetric so
    the row-vector product `softmax(l) A` is the same thing).

    Args:
        logits: `(..., K)` logits, softmax over the last axis.
        gram: `(..., K, K)` (broadcastable) symmetric matrix `A = β P Pᵀ`.
        iterations: Python int ≥ 0.

    Returns:
        The logits after `iterations` updates, shape of `logits`.
    """
    logits, _ = fixed_loop(iterations, _logit_step, (logits, gram), unroll=iterations <= _UNROLL_MAX)
    return logits


# Loop bodies live at module level and get every tensor through the carry: JAX
# caches the traced loop by body identity, so a closure made per call would be
# re-traced and re-compiled on every eager call (~1000× slower on CPU).
def _logit_step(i, carry):
    logits, gram = carry
    return kernels.softmax_mix(logits, gram), gram


def _vhnn_step(i, carry):
    state, _, patterns, beta = carry
    p = F.association(state, patterns, beta)
    return ops.matmul(p, patterns), p, patterns, beta


def _vhnn_noisy_step(i, carry):
    state, _, patterns, beta, eta, eps = carry
    p = F.association(state, patterns, beta)
    # Bernoulli standard deviation √(p(1−p)); no gradient through this scale
    # (the listing's detach), but through η and through p itself.
    scale = ops.sqrt(ops.maximum(ops.stop_gradient(p * (1.0 - p)), 0.0))
    sampled = p + eta * scale * eps[i]
    return ops.matmul(sampled, patterns), p, patterns, beta, eta, eps


class _ChannelHopfield(keras.layers.Layer):
    """Shared input handling of DeepHNN and VHNN: one Hopfield net per channel."""

    def _parse_shape(self, input_shape):
        """`(rank, channels, neurons)` of an input shape, validated."""
        input_shape = tuple(input_shape)
        name = type(self).__name__
        if len(input_shape) == 2:
            c, n = 1, input_shape[1]
        elif len(input_shape) == 3:
            if self.data_format == "channels_last":
                n, c = input_shape[1], input_shape[2]
            else:
                c, n = input_shape[1], input_shape[2]
        else:
            raise ValueError(
                f"{name} expects inputs of rank 2 (batch, neurons) or 3 ({self._layout_text()}). "
                f"Received: inputs.shape={input_shape}"
            )
        if n is None:
            raise ValueError(f"{name} needs a known number of neurons. Received: inputs.shape={input_shape}")
        if c != self.channels:
            raise ValueError(
                f"{name} was built with channels={self.channels} but the input has {c} channel(s) "
                f"({self._layout_text()} for data_format={self.data_format!r}; a rank-2 input is one channel). "
                f"Received: inputs.shape={input_shape}"
            )
        built_n = getattr(self, "neurons", None)
        if built_n is not None and n != built_n:
            raise ValueError(
                f"{name} was built for {built_n} neurons but the input has {n} "
                f"({self._layout_text()} for data_format={self.data_format!r}). Received: inputs.shape={input_shape}"
            )
        return len(input_shape), c, n

    def _set_input_spec(self, neurons):
        """The Keras input spec after `build` (channels and neurons are fixed by the weights).

        A one-channel layer takes `(batch, neurons)` or a rank-3 input with one
        channel, so the neuron axis moves with the rank in `channels_last`; the
        exact check is `_parse_shape`, which `call` runs too.
        """
        if self.channels > 1:
            axes = {-1: self.channels, -2: neurons} if self.data_format == "channels_last" else {-2: self.channels, -1: neurons}
            self.input_spec = keras.layers.InputSpec(ndim=3, axes=axes)
        elif self.data_format == "channels_first":
            self.input_spec = keras.layers.InputSpec(min_ndim=2, max_ndim=3, axes={-1: neurons})
        else:
            self.input_spec = keras.layers.InputSpec(min_ndim=2, max_ndim=3)

    def _layout_text(self):
        return "batch, neurons, channels" if self.data_format == "channels_last" else "batch, channels, neurons"

    def _to_core(self, inputs, mask=None):
        """Input → `(B, C, 1, N)` states in the core dtype (mask applied)."""
        self._parse_shape(inputs.shape)
        core = _core_dtype(self.compute_dtype)
        x = ops.cast(inputs, core)
        rank = len(inputs.shape)
        if mask is not None:
            m = ops.cast(mask, core)
            if len(m.shape) == 2 and rank == 3:
                # A (batch, neurons) mask: the same neurons are unknown in every channel.
                m = ops.expand_dims(m, -1 if self.data_format == "channels_last" else 1)
            x = x * m
        if rank == 2:
            x = ops.expand_dims(x, 1)
        elif self.data_format == "channels_last":
            x = ops.transpose(x, (0, 2, 1))
        return ops.expand_dims(x, 2)

    def _from_core(self, t, rank):
        """`(B, C, K)` → the layer's layout `(B, K, C)` / `(B, C, K)` / `(B, K)`."""
        if rank == 2:
            t = ops.squeeze(t, 1)
        elif self.data_format == "channels_last":
            t = ops.transpose(t, (0, 2, 1))
        return ops.cast(t, self.compute_dtype)

    def _ensure_built(self, inputs):
        if not self.built:
            self.build(tuple(inputs.shape))

    def _beta_core(self, dtype):
        return ops.reshape(ops.exp(ops.cast(self.log_beta, dtype)), (self.channels, 1, 1))

    @property
    def beta(self):
        """Current β per channel, shape `(channels,)` (after `build`)."""
        return ops.exp(self.log_beta)

    def energy(self, inputs, mask=None):
        """Hopfield energy of each channel's state under that channel's patterns.

        `E(x) = −lse(β, P x) + ½ xᵀx + β⁻¹ ln K + ½ M²` with the channel's `K`
        stored patterns `P` and `M = maxᵢ ‖pᵢ‖`
        (`keras_hopfield.functional.hopfield_energy`). One Hopfield update
        `x ← Pᵀ softmax(β P x)` never increases it.

        Args:
            inputs: States in the layout of `call`.
            mask: Optional neuron mask, as in `call` (unknown neurons count as 0).

        Returns:
            `(batch, channels)` energies (`(batch,)` for a rank-2 input).
        """
        inputs = ops.convert_to_tensor(inputs)
        self._ensure_built(inputs)
        x = self._to_core(inputs, mask)
        patterns = ops.cast(self.patterns, x.dtype)
        e = ops.squeeze(F.hopfield_energy(x, patterns, self._beta_core(x.dtype)), -1)
        return e[:, 0] if len(inputs.shape) == 2 else e

    def compute_mask(self, inputs, mask=None):
        # The neuron mask is consumed: unknown neurons are filled in / reduced.
        return None


# --------------------------------------------------------------------------- DeepHNN
@keras.saving.register_keras_serializable(package="keras_hopfield")
class DeepHNN(_ChannelHopfield):
    """Deep Hopfield layer: several stored patterns per feature, one net per channel.

    Listing 4.1 of papers/004. Channel `c` has `depth · features` stored
    patterns `P_c` (rows, over `neurons`), inverse temperature `β_c` and bias
    `b_c`. With `A_c = β_c P_c P_cᵀ`:

    `l = β_c P_c x`, then `iterations` times `l ← A_c softmax(l)`
    (each is one Hopfield update `x ← P_cᵀ softmax(β_c P_c x)` seen in logit
    space), and the output for feature `f` is
    `y_f = max_{d < depth} l_{f·depth + d} + b_{c,f}`.

    Pattern `f·depth + d` is the `d`-th pattern of feature `f` (the paper's
    `view(-1, channels, features, depth)`).

    Args:
        channels: Number of independent Hopfield nets (input channels).
        features: Number of output features per channel, > 0.
        depth: Number of stored patterns per feature, > 0.
        iterations: Number of Hopfield updates, ≥ 0 (`0`: the logits `β P x`).
        beta: Initial β: one float or a list of one per channel. Defaults to
            `1/sqrt(neurons)`.
        data_format: `"channels_last"` (inputs `(batch, neurons, channels)`,
            outputs `(batch, features, channels)`) or `"channels_first"` (the
            paper's `(batch, channels, neurons)` → `(batch, channels, features)`).
            Defaults to `keras.config.image_data_format()`. A rank-2 input
            `(batch, neurons)` is one channel and gives `(batch, features)`.
        use_bias: Add the per-feature bias.
        trainable_beta: Learn `log β` (so β stays positive).
        trainable_patterns: Learn the stored patterns.
        trainable_bias: Learn the bias.
        patterns_initializer: Initializer of the patterns `(channels,
            depth·features, neurons)`.
        bias_initializer: Initializer of the bias `(channels, features)`.
        patterns_regularizer: Regularizer of the patterns.
        bias_regularizer: Regularizer of the bias.
        patterns_constraint: Constraint on the patterns.
        bias_constraint: Constraint on the bias.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, neurons, channels)`, `(batch, channels, neurons)` or
            `(batch, neurons)`, see `data_format`.
        mask: Optional boolean neuron mask `(batch, neurons)` (or the shape of
            `inputs`); `False` marks unknown neurons, which are left out of the
            first overlap `β P x` (the updates then run on complete states).
            Filled in from a Keras mask of `inputs` automatically.

    Returns:
        The feature logits, `(batch, features, channels)`,
        `(batch, channels, features)` or `(batch, features)`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import DeepHNN
        >>> layer = DeepHNN(channels=2, features=3, depth=4, iterations=2)
        >>> x = np.random.default_rng(0).normal(size=(5, 16, 2)).astype("float32")
        >>> tuple(layer(x).shape), tuple(layer.patterns.shape)
        ((5, 3, 2), (2, 12, 16))
    """

    def __init__(
        self,
        channels,
        features,
        depth=1,
        iterations=1,
        beta=None,
        data_format=None,
        use_bias=True,
        trainable_beta=True,
        trainable_patterns=True,
        trainable_bias=True,
        patterns_initializer="glorot_uniform",
        bias_initializer="zeros",
        patterns_regularizer=None,
        bias_regularizer=None,
        patterns_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.channels = V.positive_int(owner, "channels", channels)
        self.features = V.positive_int(owner, "features", features)
        self.depth = V.positive_int(owner, "depth", depth)
        self.iterations = V.non_negative_int(owner, "iterations", iterations)
        self._beta_init = _check_per_channel(owner, "beta", beta, self.channels)
        self.data_format = _standardize_data_format(owner, data_format)
        _set_weight_options(self, locals())

    def build(self, input_shape):
        _, c, n = self._parse_shape(input_shape)
        self.neurons = n
        self.patterns = self.add_weight(
            name="patterns",
            shape=(c, self.depth * self.features, n),
            initializer=self.patterns_initializer,
            regularizer=self.patterns_regularizer,
            constraint=self.patterns_constraint,
            trainable=self.trainable_patterns,
            autocast=False,
        )
        beta0 = self._beta_init or [1.0 / math.sqrt(n)] * c
        self.log_beta = self.add_weight(
            name="log_beta",
            shape=(c,),
            initializer=keras.initializers.Constant([math.log(b) for b in beta0]),
            trainable=self.trainable_beta,
            autocast=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(c, self.features),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=self.trainable_bias,
                autocast=False,
            )
        else:
            self.bias = None
        self._set_input_spec(n)

    def _final_logits(self, inputs, mask):
        """`(x, l, P, β)`: states `(B,C,1,N)`, logits after the updates `(B,C,1,DF)`."""
        x = self._to_core(inputs, mask)
        dtype = x.dtype
        patterns = ops.cast(self.patterns, dtype)
        beta = self._beta_core(dtype)
        pt = ops.transpose(patterns, (0, 2, 1))
        logits = beta * ops.matmul(x, pt)
        if self.iterations:
            gram = beta * ops.matmul(patterns, pt)
            logits = _iterate_logits(logits, gram, self.iterations)
        return x, logits, patterns, beta

    def call(self, inputs, mask=None):
        _, logits, _, _ = self._final_logits(inputs, mask)
        shape = ops.shape(logits)
        y = ops.max(ops.reshape(logits, (shape[0], self.channels, self.features, self.depth)), axis=-1)
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return self._from_core(y, len(inputs.shape))

    def reconstruct(self, inputs, mask=None):
        """The state the Hopfield core recalls: `Pᵀ softmax(l)` of the final logits.

        Fig. 4.1 of papers/004: reading the probabilities out through the
        patterns gives the retrieved image, i.e. the state after
        `iterations + 1` Hopfield updates of the input.

        Args:
            inputs: States, as in `call`.
            mask: Optional neuron mask, as in `call`.

        Returns:
            Tensor with the shape of `inputs`.
        """
        inputs = ops.convert_to_tensor(inputs)
        self._ensure_built(inputs)
        _, logits, patterns, _ = self._final_logits(inputs, mask)
        state = ops.squeeze(ops.matmul(F.softmax(logits, axis=-1), patterns), 2)
        return self._from_core(state, len(inputs.shape))

    def compute_output_shape(self, input_shape):
        rank, _, _ = self._parse_shape(input_shape)
        b = input_shape[0]
        if rank == 2:
            return (b, self.features)
        if self.data_format == "channels_last":
            return (b, self.features, self.channels)
        return (b, self.channels, self.features)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "features": self.features,
                "depth": self.depth,
                "iterations": self.iterations,
                "beta": self._beta_init,
                "data_format": self.data_format,
                **_weight_options_config(self),
            }
        )
        return config


# --------------------------------------------------------------------------- VHNN
@keras.saving.register_keras_serializable(package="keras_hopfield")
class VHNN(_ChannelHopfield):
    """Variational Hopfield layer: Hopfield updates with Bernoulli-sized noise.

    Listing 4.3 of papers/004 (MATH.md §7). Channel `c` has `features` stored
    patterns `P_c`, inverse temperature `β_c` and noise level `η_c`. Each of
    the `iterations` steps is

    `p = softmax(β P x)`, `p ← p + η √(p(1−p)) ⊙ ε` with `ε ~ N(0, I)`,
    `x ← Pᵀ p`,

    the normal approximation of averaging Bernoulli samples of `p` (η plays
    the role of `1/√n`). The listing scales by `√β` on both sides
    (`√β P (√β x)`, then `β^{-1/2} (√β Pᵀ p)`), which is the same computation.
    Without noise this is `keras_hopfield.functional.hopfield_iterate`.

    The noise is active in training and, at inference, only when asked
    (`stochastic=True`). It is drawn from the layer's
    `keras.random.SeedGenerator`, so a fixed `seed` gives reproducible draws
    on every backend and `model.fit` under `jax.jit` gets fresh noise each step.

    **Differences from the listing.** Its line
    `xdet = x.detach().requires_grad(False)` raises a `TypeError`
    (`requires_grad` is an attribute, not a method); what it means — no
    gradient through the noise scale `√(p(1−p))` — is done with
    `ops.stop_gradient`. The gradient still flows to `η` (trainable noise) and,
    through `p`, to the patterns, β and the input.

    Args:
        channels: Number of independent Hopfield nets (input channels).
        features: Number of stored patterns per channel, > 0.
        iterations: Number of noisy Hopfield updates, ≥ 1.
        beta: Initial β: one float or a list of one per channel. Defaults to
            `1/sqrt(neurons)`.
        noise: Initial noise level η > 0 (one float or one per channel); the
            layer learns `log η`.
        data_format: `"channels_last"` (`(batch, neurons, channels)`) or
            `"channels_first"` (the paper's `(batch, channels, neurons)`).
            Defaults to `keras.config.image_data_format()`. A rank-2 input
            `(batch, neurons)` is one channel.
        trainable_beta: Learn `log β`.
        trainable_patterns: Learn the stored patterns.
        trainable_noise: Learn `log η`.
        patterns_initializer: Initializer of the patterns `(channels,
            features, neurons)`.
        patterns_regularizer: Regularizer of the patterns.
        patterns_constraint: Constraint on the patterns.
        seed: Seed of the noise (int or None).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: States, `(batch, neurons, channels)`, `(batch, channels,
            neurons)` or `(batch, neurons)`.
        mask: Optional boolean neuron mask `(batch, neurons)` (or the shape of
            `inputs`); unknown neurons start at 0. Filled in from a Keras mask.
        training: Training mode; turns the noise on unless `stochastic` says
            otherwise.
        stochastic: `True`/`False` forces the noise on/off; `None` follows
            `training`.
        return_probabilities: Also return the last step's `softmax(β P x)`
            (before the noise), `(batch, features, channels)`,
            `(batch, channels, features)` or `(batch, features)`.

    Returns:
        The retrieved states, shape of `inputs` (and the probabilities when
        `return_probabilities=True`).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_hopfield.layers import VHNN
        >>> layer = VHNN(channels=1, features=4, iterations=3, noise=0.3, seed=0)
        >>> x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
        >>> clean = ops.convert_to_numpy(layer(x))                    # inference: no noise
        >>> again = ops.convert_to_numpy(layer(x))
        >>> noisy = ops.convert_to_numpy(layer(x, stochastic=True))   # one noisy draw
        >>> clean.shape, bool(np.allclose(clean, again)), bool(np.allclose(clean, noisy))
        ((2, 8), True, False)
    """

    def __init__(
        self,
        channels,
        features,
        iterations=1,
        beta=None,
        noise=0.1,
        data_format=None,
        trainable_beta=True,
        trainable_patterns=True,
        trainable_noise=True,
        patterns_initializer="glorot_uniform",
        patterns_regularizer=None,
        patterns_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.channels = V.positive_int(owner, "channels", channels)
        self.features = V.positive_int(owner, "features", features)
        self.iterations = V.positive_int(owner, "iterations", iterations)
        self._beta_init = _check_per_channel(owner, "beta", beta, self.channels)
        if noise is None:
            raise ValueError(f"{owner}: `noise` must be a positive finite float or one per channel. Received: noise=None")
        self._noise_init = _check_per_channel(owner, "noise", noise, self.channels)
        self.data_format = _standardize_data_format(owner, data_format)
        self.trainable_beta = V.boolean(owner, "trainable_beta", trainable_beta)
        self.trainable_patterns = V.boolean(owner, "trainable_patterns", trainable_patterns)
        self.trainable_noise = V.boolean(owner, "trainable_noise", trainable_noise)
        self.patterns_initializer = keras.initializers.get(patterns_initializer)
        self.patterns_regularizer = keras.regularizers.get(patterns_regularizer)
        self.patterns_constraint = keras.constraints.get(patterns_constraint)
        self.seed = V.seed(owner, "seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        _, c, n = self._parse_shape(input_shape)
        self.neurons = n
        self.patterns = self.add_weight(
            name="patterns",
            shape=(c, self.features, n),
            initializer=self.patterns_initializer,
            regularizer=self.patterns_regularizer,
            constraint=self.patterns_constraint,
            trainable=self.trainable_patterns,
            autocast=False,
        )
        beta0 = self._beta_init or [1.0 / math.sqrt(n)] * c
        self.log_beta = self.add_weight(
            name="log_beta",
            shape=(c,),
            initializer=keras.initializers.Constant([math.log(b) for b in beta0]),
            trainable=self.trainable_beta,
            autocast=False,
        )
        self.log_noise = self.add_weight(
            name="log_noise",
            shape=(c,),
            initializer=keras.initializers.Constant([math.log(v) for v in self._noise_init]),
            trainable=self.trainable_noise,
            autocast=False,
        )
        self._set_input_spec(n)

    @property
    def noise(self):
        """Current noise level η per channel, shape `(channels,)` (after `build`)."""
        return ops.exp(self.log_noise)

    def call(self, inputs, mask=None, training=None, stochastic=None, return_probabilities=False):
        rank = len(inputs.shape)
        x = self._to_core(inputs, mask)
        dtype = x.dtype
        patterns = ops.cast(self.patterns, dtype)
        beta = self._beta_core(dtype)
        noisy = bool(training) if stochastic is None else bool(stochastic)
        probs0 = ops.zeros(ops.shape(x)[:2] + (1, self.features), dtype=dtype)

        if noisy:
            eta = ops.reshape(ops.exp(ops.cast(self.log_noise, dtype)), (self.channels, 1, 1))
            # All draws up front: a SeedGenerator must not advance inside a traced loop body.
            # Under tf.distribute each replica keeps its rows of the global draw, so the
            # noise equals the single-device noise instead of repeating across replicas.
            eps = draw_for_global_batch(
                lambda shape: keras.random.normal(shape, dtype=dtype, seed=self.seed_generator),
                (self.iterations,) + tuple(ops.shape(probs0)),
                batch_axis=1,
            )
            carry = fixed_loop(self.iterations, _vhnn_noisy_step, (x, probs0, patterns, beta, eta, eps))
        else:
            carry = fixed_loop(self.iterations, _vhnn_step, (x, probs0, patterns, beta))
        state, probs = carry[0], carry[1]
        out = self._from_core(ops.squeeze(state, 2), rank)
        if return_probabilities:
            return out, self._from_core(ops.squeeze(probs, 2), rank)
        return out

    def compute_output_shape(self, input_shape):
        self._parse_shape(input_shape)
        return tuple(input_shape)

    def compute_output_spec(self, inputs, mask=None, training=None, stochastic=None, return_probabilities=False):
        out = keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)
        if not return_probabilities:
            return out
        b = inputs.shape[0]
        if len(inputs.shape) == 2:
            shape = (b, self.features)
        elif self.data_format == "channels_last":
            shape = (b, self.features, self.channels)
        else:
            shape = (b, self.channels, self.features)
        return out, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "features": self.features,
                "iterations": self.iterations,
                "beta": self._beta_init,
                "noise": self._noise_init,
                "data_format": self.data_format,
                "trainable_beta": self.trainable_beta,
                "trainable_patterns": self.trainable_patterns,
                "trainable_noise": self.trainable_noise,
                "patterns_initializer": keras.initializers.serialize(self.patterns_initializer),
                "patterns_regularizer": keras.regularizers.serialize(self.patterns_regularizer),
                "patterns_constraint": keras.constraints.serialize(self.patterns_constraint),
                "seed": self.seed,
            }
        )
        return config


# --------------------------------------------------------------------------- ConvexMerge
@keras.saving.register_keras_serializable(package="keras_hopfield")
class ConvexMerge(keras.layers.Layer):
    """Trainable convex combination of channels (papers/004 §4.2).

    With one trainable score `w_{f,c}` per feature and channel,

    `y_f = Σ_c softmax_c(w_{f,·})_c · x_{f,c}`,

    so each output feature is a convex combination of the channels' values of
    that feature (the reducer that turns the 5 DeepHNN channels of the paper's
    MNIST model into 10 logits). The scores start at 0: the plain mean.

    Args:
        channels: Number of input channels to merge.
        data_format: `"channels_last"` (inputs `(batch, ..., channels)`) or
            `"channels_first"` (`(batch, channels, ...)`). Defaults to
            `keras.config.image_data_format()`.
        per_feature: One set of channel scores per feature (the paper's model:
            `channels × features` weights); `False` shares one score per
            channel across features.
        kernel_initializer: Initializer of the scores.
        kernel_regularizer: Regularizer of the scores.
        kernel_constraint: Constraint on the scores.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, ..., channels)` or `(batch, channels, ...)`.
        channel_mask: Optional boolean `(batch, channels)`: `False` channels
            get weight 0 (the others are renormalised).

    Returns:
        `inputs` with the channel axis reduced.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import ConvexMerge
        >>> merge = ConvexMerge(channels=5)
        >>> y = merge(np.ones((2, 10, 5), "float32"))
        >>> tuple(y.shape), float(y[0, 0])
        ((2, 10), 1.0)
    """

    def __init__(
        self,
        channels,
        data_format=None,
        per_feature=True,
        kernel_initializer="zeros",
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.channels = V.positive_int(owner, "channels", channels)
        self.data_format = _standardize_data_format(owner, data_format)
        self.per_feature = V.boolean(owner, "per_feature", per_feature)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def _channel_axis(self, rank):
        return rank - 1 if self.data_format == "channels_last" else 1

    def _check_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"ConvexMerge expects inputs of rank >= 2. Received: inputs.shape={input_shape}")
        c = input_shape[self._channel_axis(len(input_shape))]
        if c != self.channels:
            raise ValueError(
                f"ConvexMerge was built with channels={self.channels} but the input has {c} channels on its "
                f"{self.data_format} channel axis. Received: inputs.shape={input_shape}"
            )
        feature_shape = [d for i, d in enumerate(input_shape[1:], 1) if i != self._channel_axis(len(input_shape))]
        if self.per_feature and any(d is None for d in feature_shape):
            raise ValueError(
                f"ConvexMerge(per_feature=True) needs known feature sizes. Received: inputs.shape={input_shape}"
            )
        return feature_shape

    def build(self, input_shape):
        feature_shape = self._check_shape(input_shape)
        # Scores laid out as (features..., channels): softmax over the last axis.
        shape = tuple(feature_shape) + (self.channels,) if self.per_feature else (self.channels,)
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        rank = len(input_shape)
        axes = {self._channel_axis(rank): self.channels}
        if self.per_feature:
            # The scores have one entry per feature: the feature axes are fixed too.
            axes.update({i: d for i, d in enumerate(input_shape) if i > 0 and i != self._channel_axis(rank)})
            self.input_spec = keras.layers.InputSpec(ndim=rank, axes=axes)
        elif self.data_format == "channels_last":
            self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.channels})
        else:
            self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={1: self.channels})

    @property
    def mixing(self):
        """The convex weights `softmax(kernel)` over channels, `(features..., channels)`."""
        return ops.softmax(self.kernel, axis=-1)

    def call(self, inputs, channel_mask=None):
        rank = len(inputs.shape)
        core = _core_dtype(self.compute_dtype)
        x = ops.cast(inputs, core)
        if self.data_format == "channels_first":
            x = ops.moveaxis(x, 1, -1)
        scores = ops.cast(self.kernel, core)
        if channel_mask is None:
            w = ops.softmax(scores, axis=-1)
        else:
            m = ops.cast(channel_mask, "bool")
            m = ops.reshape(m, (ops.shape(m)[0],) + (1,) * (rank - 2) + (self.channels,))
            scores = ops.broadcast_to(scores, ops.shape(x))
            w = F.softmax(scores, axis=-1, mask=m)
        return ops.cast(ops.sum(w * x, axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        axis = self._channel_axis(len(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i != axis)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "data_format": self.data_format,
                "per_feature": self.per_feature,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            }
        )
        return config
