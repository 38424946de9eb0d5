"""Hopfield convolutions `ConvHNN1D` / `ConvHNN2D` (papers/004 §4.1, §4.3, Listing 4.2).

A Hopfield convolution runs one small modern Hopfield network on every patch
of the input: the `filters` stored patterns are the convolution kernels `P`
(`(kernel..., channels_in, filters)`, the `keras.layers.Conv2D` layout), the
state is the patch. In logit space (one logit per stored pattern and
position):

`l = conv(x, βP)`; then `iterations` times `l ← conv1×1(softmax_c(l), β G)`
with `G = P̂ᵀP̂` the Gram matrix of the flattened patterns (a `filters ×
filters` matrix, i.e. one Hopfield update of every patch seen in logit
space); then `l + b`.

The *read-out* (`call(..., reverse=True)`) reconstructs an image from logits
with the same patterns: the recalled patch at every position is
`P̂ softmax(l)`, and the transposed convolution adds the overlapping patches,
`x̂ = conv_transpose(softmax_c(l), P)` (papers/004 §4.3, "recalled pattern =
X softmax(logits)").
"""

import math

import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield import functional as F
from keras_hopfield.backend import kernels
from keras_hopfield.layers.deep import (
    _core_dtype,
    _iterate_logits,
    _set_weight_options,
    _standardize_data_format,
    _weight_options_config,
)

__all__ = ["ConvHNN1D", "ConvHNN2D"]


def _as_tuple(owner, name, value, rank):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * rank
    try:
        value = tuple(value)
    except TypeError:
        value = None
    if (
        value is None
        or len(value) != rank
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        raise ValueError(
            f"{owner}: `{name}` must be a positive integer or a tuple of {rank} positive integers. "
            f"Received: {name}={value!r}"
        )
    return value


class _BaseConvHNN(keras.layers.Layer):
    """N-D Hopfield convolution (private base of ConvHNN1D / ConvHNN2D)."""

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        iterations=1,
        beta=None,
        activation=None,
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
        self.rank = rank
        self.filters = V.positive_int(owner, "filters", filters)
        self.kernel_size = _as_tuple(owner, "kernel_size", kernel_size, rank)
        self.strides = _as_tuple(owner, "strides", strides, rank)
        self.dilation_rate = _as_tuple(owner, "dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{owner}: `strides > 1` is not supported together with `dilation_rate > 1` (as in "
                f"keras.layers.Conv). Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{owner}: `padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.padding = padding.lower()
        self.data_format = _standardize_data_format(owner, data_format)
        self.iterations = V.non_negative_int(owner, "iterations", iterations)
        self._beta_init = V.positive_float(owner, "beta", beta, allow_none=True)
        self.activation = keras.activations.get(activation)
        _set_weight_options(self, locals())

    # ------------------------------------------------------------------ shapes
    def _spatial_channels(self, shape):
        shape = tuple(shape)
        if self.data_format == "channels_last":
            return shape[1:-1], shape[-1]
        return shape[2:], shape[1]

    def _check_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        name = type(self).__name__
        if len(input_shape) != self.rank + 2:
            layout = "(batch, " + ", ".join(["..."] * self.rank) + ", channels)"
            if self.data_format == "channels_first":
                layout = "(batch, channels, " + ", ".join(["..."] * self.rank) + ")"
            raise ValueError(
                f"{name} expects inputs of rank {self.rank + 2} {layout}. Received: inputs.shape={input_shape}"
            )
        spatial, channels = self._spatial_channels(input_shape)
        if channels is None:
            raise ValueError(f"{name} needs a known number of input channels. Received: inputs.shape={input_shape}")
        if self.padding == "valid":
            for size, k, d in zip(spatial, self.kernel_size, self.dilation_rate):
                extent = (k - 1) * d + 1
                if size is not None and extent > size:
                    raise ValueError(
                        f"{name}: the kernel is larger than the input with padding='valid': "
                        f"kernel_size={self.kernel_size} with dilation_rate={self.dilation_rate} spans "
                        f"{extent} > {size} positions (inputs.shape={input_shape}). "
                        "Use padding='same' or a smaller kernel_size / dilation_rate."
                    )
        return spatial, channels

    def _forward_spatial(self, spatial):
        out = []
        for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))
            else:
                out.append((size - (k - 1) * d - 1) // s + 1)
        return tuple(out)

    def _reverse_plan(self, out_spatial):
        """Per spatial axis: (target size or None, left crop, right pad (>0) / crop (<0)).

        The read-out is the exact adjoint of the forward convolution: a
        'valid' transposed convolution (length `(o−1)s + k_eff`) placed into
        the padded input frame and cropped back to the input. The input size
        is the one the layer was built on when that maps to these logits;
        otherwise the size `keras.layers.Conv2DTranspose` would give
        (`o·s` for 'same', `(o−1)s + max(k_eff, s)` for 'valid').
        """
        built = getattr(self, "_input_spatial", None)
        use_built = built is not None and all(b is not None for b in built) and self._forward_spatial(built) == tuple(
            out_spatial
        )
        plan = []
        for i, (o, k, s, d) in enumerate(zip(out_spatial, self.kernel_size, self.strides, self.dilation_rate)):
            k_eff = (k - 1) * d + 1
            if use_built:
                size = built[i]
                if self.padding == "same":
                    total = max((o - 1) * s + k_eff - size, 0)
                else:
                    total = 0
                left = total // 2
                ext = size + total
                right = (ext - ((o - 1) * s + k_eff)) - (total - left)
            else:
                size = None if o is None else (o * s if self.padding == "same" else (o - 1) * s + max(k_eff, s))
                if self.padding == "same":
                    total = max(k_eff - s, 0)
                    left = total // 2
                    right = max(s - k_eff, 0) - (total - left)
                else:
                    left, right = 0, max(k_eff, s) - k_eff
            plan.append((size, left, right))
        return plan

    # ------------------------------------------------------------------- build
    def build(self, input_shape):
        spatial, channels = self._check_input_shape(input_shape)
        self._input_spatial = tuple(spatial)
        self.input_channels = channels
        self.patterns = self.add_weight(
            name="patterns",
            shape=self.kernel_size + (channels, self.filters),
            initializer=self.patterns_initializer,
            regularizer=self.patterns_regularizer,
            constraint=self.patterns_constraint,
            trainable=self.trainable_patterns,
            autocast=False,
        )
        beta0 = self._beta_init or 1.0 / math.sqrt(math.prod(self.kernel_size) * channels)
        self.log_beta = self.add_weight(
            name="log_beta",
            shape=(),
            initializer=keras.initializers.Constant(math.log(beta0)),
            trainable=self.trainable_beta,
            autocast=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                trainable=self.trainable_bias,
                autocast=False,
            )
        else:
            self.bias = None
        # As keras.layers.Conv: later inputs must have the channels the patterns were
        # built for (other counts would run as a grouped convolution, silently wrong).
        self.input_spec = self._forward_input_spec()

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _forward_input_spec(self):
        return keras.layers.InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): self.input_channels})

    def __call__(self, *args, reverse=False, **kwargs):
        if not reverse:
            return super().__call__(*args, **kwargs)
        if not self.built:
            # Keras would otherwise build the patterns from the logits' shape.
            raise ValueError(f"Call {type(self).__name__} forward once (it creates the patterns) before `reverse=True`.")
        # The read-out takes logits (`filters` channels), not inputs: the forward spec does
        # not apply, and `_read_out` checks the logits' rank and channels itself.
        forward = self.input_spec
        self.input_spec = None
        try:
            return super().__call__(*args, reverse=True, **kwargs)
        finally:
            self.input_spec = forward

    @property
    def beta(self):
        """Current β (a scalar, after `build`)."""
        return ops.exp(self.log_beta)

    def gram(self):
        """`β G`: the `(filters, filters)` matrix of the 1×1 update convolution."""
        p = ops.reshape(self.patterns, (-1, self.filters))
        return ops.exp(self.log_beta) * ops.matmul(ops.transpose(p), p)

    # -------------------------------------------------------------------- call
    def _channels_last(self, x):
        return ops.moveaxis(x, 1, -1) if self.data_format == "channels_first" else x

    def _layout(self, x):
        return ops.moveaxis(x, -1, 1) if self.data_format == "channels_first" else x

    def _conv(self, x, kernel):
        return ops.conv(
            x,
            kernel,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format="channels_last",
        )

    def call(self, inputs, reverse=False):
        if reverse:
            return self._read_out(inputs)
        core = _core_dtype(self.compute_dtype)
        x = self._channels_last(ops.cast(inputs, core))
        beta = ops.exp(ops.cast(self.log_beta, core))
        patterns = ops.cast(self.patterns, core)
        logits = self._conv(x, beta * patterns)
        bias = None if self.bias is None else ops.cast(self.bias, core)
        if self.iterations:
            flat = ops.reshape(patterns, (-1, self.filters))
            gram = beta * ops.matmul(ops.transpose(flat), flat)
            logits = _iterate_logits(logits, gram, self.iterations - 1)
            logits = kernels.softmax_mix(logits, gram, bias)  # the last update, with the bias
        elif bias is not None:
            logits = logits + bias
        logits = ops.cast(logits, self.compute_dtype)
        if self.activation is not None:
            logits = self.activation(logits)
        return self._layout(logits)

    def _read_out(self, logits):
        name = type(self).__name__
        if not self.built or getattr(self, "input_channels", None) is None:
            raise ValueError(f"Call {name} forward once (it creates the patterns) before `reverse=True`.")
        _, c = self._spatial_channels(logits.shape)
        if len(logits.shape) != self.rank + 2 or c != self.filters:
            raise ValueError(
                f"{name}(reverse=True) expects logits with {self.filters} channels (= filters) and rank "
                f"{self.rank + 2}. Received: logits.shape={tuple(logits.shape)}"
            )
        core = _core_dtype(self.compute_dtype)
        p = F.softmax(self._channels_last(ops.cast(logits, core)), axis=-1)
        y = ops.conv_transpose(
            p,
            ops.cast(self.patterns, core),
            strides=self.strides,
            padding="valid",
            output_padding=0,
            dilation_rate=self.dilation_rate,
            data_format="channels_last",
        )
        plan = self._reverse_plan(self._static_spatial(logits))
        pads = [(0, 0)] + [(0, max(r, 0)) for _, _, r in plan] + [(0, 0)]
        if any(p[1] for p in pads):
            y = ops.pad(y, pads)
        index = [slice(None)]
        for _, left, r in plan:
            index.append(slice(left, r if r < 0 else None))
        y = y[tuple(index + [slice(None)])]
        return self._layout(ops.cast(y, self.compute_dtype))

    def _static_spatial(self, x):
        spatial, _ = self._spatial_channels(x.shape)
        return tuple(None if s is None else int(s) for s in spatial)

    def reconstruct(self, logits):
        """Read-out: `conv_transpose(softmax_c(logits), P)`, same as `call(logits, reverse=True)`.

        Args:
            logits: `(batch, ..., filters)` (or channels-first) logits, e.g.
                this layer's output or a decoder's estimate of it.

        Returns:
            The reconstructed input, `(batch, ..., channels_in)`.
        """
        return self(logits, reverse=True)

    def energy(self, inputs):
        """Hopfield energy of every input patch as a state of the layer's memory.

        Patch `x` at each output position (the receptive field of the
        convolution, zero-padded for `'same'`) has energy
        `E(x) = −lse(β, P̂ᵀx) + ½ xᵀx + β⁻¹ ln K + ½ M²` with the `K = filters`
        flattened patterns (`keras_hopfield.functional.hopfield_energy`).

        Args:
            inputs: Input images, as in `call`.

        Returns:
            `(batch, *output_spatial)` energies.
        """
        inputs = ops.convert_to_tensor(inputs)
        if not self.built:
            self.build(tuple(inputs.shape))
        core = _core_dtype(self.compute_dtype)
        x = self._channels_last(ops.cast(inputs, core))
        size = math.prod(self.kernel_size) * self.input_channels
        # Identity kernel: position m of a patch is kernel entry m in the order
        # of reshape(patterns, (-1, filters)), so patches and patterns align.
        eye = ops.reshape(ops.eye(size, dtype=core), self.kernel_size + (self.input_channels, size))
        patches = self._conv(x, eye)
        shape = ops.shape(patches)
        states = ops.reshape(patches, (shape[0], -1, size))
        memory = ops.transpose(ops.reshape(ops.cast(self.patterns, core), (size, self.filters)))
        e = F.hopfield_energy(states, memory, ops.exp(ops.cast(self.log_beta, core)))
        return ops.reshape(e, tuple(shape[:-1]))

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            spatial, _ = self._spatial_channels(input_shape)
            plan = self._reverse_plan(tuple(spatial))
            sizes = tuple(s for s, _, _ in plan)
            c = getattr(self, "input_channels", None)
            if self.data_format == "channels_last":
                return (input_shape[0],) + sizes + (c,)
            return (input_shape[0], c) + sizes
        spatial, _ = self._check_input_shape(input_shape)
        out = self._forward_spatial(spatial)
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def compute_output_spec(self, inputs, reverse=False):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape, reverse=reverse), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "iterations": self.iterations,
                "beta": self._beta_init,
                "activation": keras.activations.serialize(self.activation),
                **_weight_options_config(self),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class ConvHNN2D(_BaseConvHNN):
    """2-D Hopfield convolution with its transposed read-out (Listing 4.2).

    Every patch is a state of a modern Hopfield network whose `filters` stored
    patterns are the kernels `P`, with one β for the layer. With `P̂` the
    patterns flattened to `(patch size, filters)` and `G = P̂ᵀP̂`:

    `l = conv2d(x, βP)`, then `iterations` times
    `l ← conv1×1(softmax_channels(l), βG)`, then `y = act(l + b)`.

    The read-out `layer(logits, reverse=True)` (or `layer.reconstruct(logits)`)
    is `conv2d_transpose(softmax_channels(logits), P)`: every position
    contributes its recalled patch `P̂ softmax(l)`, overlapping patches add up.
    It is the exact adjoint of the forward convolution and has the spatial
    size of the input the layer was built on. Call the layer forward first; it
    shares the patterns (no extra weights).

    **Differences from the listing.** The listing lost the input `x` of its
    `conv2d` call and a comma; the 1×1 convolution is computed as a product
    over the channel axis (the same numbers, cheaper). Patterns are stored in
    Keras's kernel layout `(kh, kw, channels_in, filters)`, i.e. the listing's
    `(filters, channels_in, kh, kw)` transposed.

    Args:
        filters: Number of stored patterns (output channels), > 0.
        kernel_size: Patch size: an int or a tuple of 2 ints.
        strides: Stride of the patches: an int or a tuple of 2 ints.
        padding: `"valid"` or `"same"` (as in `keras.layers.Conv2D`).
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        dilation_rate: Dilation of the patches (not together with strides > 1).
        iterations: Number of Hopfield updates in logit space, ≥ 0 (`0` is a
            linear convolution with kernel `βP`).
        beta: Initial β (float > 0); defaults to `1/sqrt(patch size)`.
        activation: Activation applied to the output logits (the paper's
            denoiser uses SiLU). Not applied by the read-out.
        use_bias: Add one bias per stored pattern to the logits.
        trainable_beta: Learn `log β`.
        trainable_patterns: Learn the patterns.
        trainable_bias: Learn the bias.
        patterns_initializer: Initializer of the patterns
            `(*kernel_size, channels_in, filters)`.
        bias_initializer: Initializer of the bias.
        patterns_regularizer: Regularizer of the patterns.
        bias_regularizer: Regularizer of the bias.
        patterns_constraint: Constraint on the patterns.
        bias_constraint: Constraint on the bias.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, rows, cols, channels_in)` (or channels-first) images;
            with `reverse=True`, `(batch, rows', cols', filters)` logits.
        reverse: Run the read-out instead of the forward pass.

    Returns:
        `(batch, rows', cols', filters)` logits (the `keras.layers.Conv2D`
        output shape for the same arguments), or the reconstructed images.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import ConvHNN2D
        >>> hop = ConvHNN2D(filters=9, kernel_size=5, iterations=1)
        >>> x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
        >>> logits = hop(x)
        >>> tuple(logits.shape), tuple(hop(logits, reverse=True).shape)
        ((2, 24, 24, 9), (2, 28, 28, 1))
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        iterations=1,
        beta=None,
        activation=None,
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
        super().__init__(
            2,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            iterations=iterations,
            beta=beta,
            activation=activation,
            use_bias=use_bias,
            trainable_beta=trainable_beta,
            trainable_patterns=trainable_patterns,
            trainable_bias=trainable_bias,
            patterns_initializer=patterns_initializer,
            bias_initializer=bias_initializer,
            patterns_regularizer=patterns_regularizer,
            bias_regularizer=bias_regularizer,
            patterns_constraint=patterns_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_hopfield")
class ConvHNN1D(_BaseConvHNN):
    """1-D Hopfield convolution with its transposed read-out.

    The 1-D version of `ConvHNN2D` (same code): with `P̂` the patterns
    flattened to `(kernel_size·channels_in, filters)` and `G = P̂ᵀP̂`,

    `l = conv1d(x, βP)`, then `iterations` times
    `l ← conv1×1(softmax_channels(l), βG)`, then `y = act(l + b)`;
    the read-out is `conv1d_transpose(softmax_channels(logits), P)`.

    Args:
        filters: Number of stored patterns (output channels), > 0.
        kernel_size: Patch size: an int or a tuple of 1 ints.
        strides: Stride of the patches: an int or a tuple of 1 ints.
        padding: `"valid"` or `"same"` (as in `keras.layers.Conv1D`).
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        dilation_rate: Dilation of the patches (not together with strides > 1).
        iterations: Number of Hopfield updates in logit space, ≥ 0 (`0` is a
            linear convolution with kernel `βP`).
        beta: Initial β (float > 0); defaults to `1/sqrt(patch size)`.
        activation: Activation applied to the output logits (the paper's
            denoiser uses SiLU). Not applied by the read-out.
        use_bias: Add one bias per stored pattern to the logits.
        trainable_beta: Learn `log β`.
        trainable_patterns: Learn the patterns.
        trainable_bias: Learn the bias.
        patterns_initializer: Initializer of the patterns
            `(*kernel_size, channels_in, filters)`.
        bias_initializer: Initializer of the bias.
        patterns_regularizer: Regularizer of the patterns.
        bias_regularizer: Regularizer of the bias.
        patterns_constraint: Constraint on the patterns.
        bias_constraint: Constraint on the bias.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, steps, channels_in)` (or channels-first) sequences;
            with `reverse=True`, `(batch, steps', filters)` logits.
        reverse: Run the read-out instead of the forward pass.

    Returns:
        `(batch, steps', filters)` logits (the `keras.layers.Conv1D` output
        shape for the same arguments), or the reconstructed sequences.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import ConvHNN1D
        >>> hop = ConvHNN1D(filters=4, kernel_size=3, padding="same")
        >>> x = np.random.default_rng(0).normal(size=(2, 10, 3)).astype("float32")
        >>> tuple(hop(x).shape), tuple(hop(hop(x), reverse=True).shape)
        ((2, 10, 4), (2, 10, 3))
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        iterations=1,
        beta=None,
        activation=None,
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
        super().__init__(
            1,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            iterations=iterations,
            beta=beta,
            activation=activation,
            use_bias=use_bias,
            trainable_beta=trainable_beta,
            trainable_patterns=trainable_patterns,
            trainable_bias=trainable_bias,
            patterns_initializer=patterns_initializer,
            bias_initializer=bias_initializer,
            patterns_regularizer=patterns_regularizer,
            bias_regularizer=bias_regularizer,
            patterns_constraint=patterns_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )

