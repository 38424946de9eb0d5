"""Modern Hopfield layers: `HopfieldRetrieval`, `HopfieldPooling`, `HopfieldLookup`.

The layers follow the Hopfield layer of Ramsauer et al. (2021) and cover the
options of the PyTorch reference `hflayers.Hopfield` (ml-jku/hopfield-layers),
with Keras names. The update itself lives in `keras_hopfield.functional`.
"""

import math

import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield import functional as F
from keras_hopfield.backend.kernels import prefers_fused_attention
from keras_hopfield.backend.masks import get_keras_mask as _get_keras_mask
from keras_hopfield.backend.masks import set_keras_mask as _set_keras_mask

_HALF = ("float16", "bfloat16")


@keras.saving.register_keras_serializable(package="keras_hopfield")
class HopfieldRetrieval(keras.layers.Layer):
    """Modern Hopfield association: state patterns retrieve from stored patterns.

    With state (query) patterns `R`, stored patterns `Y` and pattern
    projections (values) `Yᵥ` the layer computes, per head,

    `Q = LN(R) W_Q`, `K = LN(Y) W_K`, `V = LN(Yᵥ) W_V`,
    then `max_steps − 1` Hopfield updates `Q ← sep(β Q Kᵀ) K` (each state
    pattern stops once it moves less than `eps`), and the read-out
    `Z = sep(β Q Kᵀ) V W_O`.

    `sep` is softmax (Ramsauer et al. 2021), sparsemax or 1.5-entmax (sparse
    modern Hopfield networks, Hu et al. 2023). One step with softmax is
    multi-head attention with inverse temperature β.

    **Pure retrieval.** With every projection and normalisation switched off
    and one head the layer is exactly the update of the paper,
    `ξ ← Yᵀ sep(β Y ξ)` iterated: use `HopfieldRetrieval.pure(beta=...)`.
    (The PyTorch reference's defaults — LayerNorm and learned projections on —
    are why plain retrieval "does not work" there out of the box.)

    **Mapping from `hflayers.Hopfield`.** `hidden_size` → `key_dim`,
    `pattern_size` → `value_dim`, `output_size` → `output_dim`, `scaling` →
    `beta`, `update_steps_max` → `max_steps − 1`, `update_steps_eps` → `eps`,
    `normalize_stored_pattern` → `normalize_memory`, `normalize_state_pattern`
    → `normalize_query`, `normalize_pattern_projection` → `normalize_value`,
    `normalize_hopfield_space` → `normalize_association_space`,
    `*_as_static` → `project_* = False`, `pattern_projection_as_connected` →
    `value_from_memory`, `disable_out_projection` → `use_output_projection=False`,
    `input_bias` → `use_bias`, `concat_bias_pattern` → `add_bias_pattern`,
    `add_zero_association` → `add_zero_pattern`, `association_activation` →
    `activation`, `stored_pattern_padding_mask` → `memory_mask` (**inverted**:
    Keras masks are `True` where a pattern is kept).

    Args:
        num_heads: Number of association heads.
        key_dim: Size of the association (Hopfield) space per head. Defaults
            to the query's feature size divided by `num_heads`.
        value_dim: Size of the pattern projection per head. Defaults to `key_dim`.
        output_dim: Size of the output projection. Defaults to the query's
            feature size.
        beta: Inverse temperature β: a float or one float per head. Defaults
            to `1/sqrt(key_dim)`.
        trainable_beta: Learn β (parametrised as `log β`, so it stays positive).
        max_steps: Number of association computations (≥ 1); `max_steps − 1`
            state updates precede the read-out.
        eps: Stop updating a state pattern when it changes less than `eps`
            (L2 norm). `0` runs all `max_steps`.
        separation: `"softmax"`, `"sparsemax"` or `"entmax15"`.
        normalize_query: LayerNorm on the state patterns before projecting.
        normalize_query_affine: Learned scale and offset for that LayerNorm;
            `None` (default) follows `normalize_query`. `True` with
            `normalize_query=False` is an error.
        normalize_memory: LayerNorm on the stored patterns.
        normalize_memory_affine: Learned scale and offset for it (`None`:
            follows `normalize_memory`).
        normalize_value: LayerNorm on the pattern projections (values).
        normalize_value_affine: Learned scale and offset for it (`None`:
            follows `normalize_value`).
        normalize_association_space: LayerNorm on the projected `Q` and `K`
            (per head).
        normalize_association_space_affine: Learned scale/offset for it
            (default `False`, as in `hflayers`; `None` follows the norm flag).
        project_query: Learn `W_Q`. `False` makes the state patterns
            *static*: used as they are, split into heads (their size must
            then be `num_heads × key_dim`).
        project_memory: Learn `W_K` (`False`: static stored patterns).
        project_value: Learn `W_V` (`False`: static values, size
            `num_heads × value_dim`).
        value_from_memory: Compute the values from the projected stored
            patterns (`V = K W_V`) instead of from `value`.
        use_output_projection: Apply `W_O`; otherwise the heads are concatenated.
        add_bias_pattern: Append one learned key/value pattern per head.
        add_zero_pattern: Append one all-zero key/value pattern per head.
        use_bias: Biases in the projections.
        dropout: Dropout rate on the read-out association matrix.
        activation: Activation applied to the output.
        norm_epsilon: Epsilon of the LayerNorms, > 0.
        kernel_initializer: Initializer of the projection kernels.
        bias_initializer: Initializer of the projection biases.
        kernel_regularizer: Regularizer of the projection kernels.
        bias_regularizer: Regularizer of the projection biases.
        kernel_constraint: Constraint on the projection kernels.
        bias_constraint: Constraint on the projection biases.
        seed: Seed of the dropout.
        retrieval: `"auto"` (default), `"dense"` or `"chunked"`. The dense
            path forms the `(batch, heads, length, N)` association matrix; the
            chunked path streams over blocks of `chunk_size` stored patterns
            with a running log-sum-exp (exact, in memory independent of
            `length × N`, gradients by recomputation; see
            `keras_hopfield.functional.resolve_retrieval`). `"auto"` takes the
            chunked path from `functional.AUTO_CHUNKED_MIN_PATTERNS` stored
            patterns on, unless the call needs the association matrix
            (`return_association`, dropout in training) or the separation is
            sparse without `top_k`.
        chunk_size: Stored patterns per block of the chunked path (`None`:
            `functional.default_chunk_size`, about 2¹⁹ scores per block).
        top_k: Keep only the `top_k` best-scoring stored patterns of each
            state pattern (exact top-k; ties at the k-th score are all kept on
            the dense path) and apply the separation to those. `None` keeps
            every pattern.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, length, features)` or `(batch, features)` state patterns.
        memory: `(batch, N, features)` stored patterns, or `(N, features)` for
            one memory shared by the whole batch. `None` means
            self-association (`memory = query`).
        value: Pattern projections with the same leading shape as `memory`.
            Defaults to `memory`.
        query_mask, memory_mask, value_mask: Boolean masks (`True` = valid),
            filled in from Keras masks of the inputs automatically.
            `memory_mask` is the stored-pattern padding mask.
        association_mask: Boolean `(batch, length, N)` or `(length, N)`;
            `False` forbids a state from associating with a stored pattern.
        return_association: Also return the read-out association weights
            `(batch, num_heads, length, N)` (attention map).
        training: Training mode (dropout; differentiable fixed-trip loop).

    Returns:
        `(batch, length, output_dim)` (or `(batch, output_dim)` for a rank-2
        query), and the association weights when `return_association=True`.

    Example:
        >>> import numpy as np, keras
        >>> from keras_hopfield.layers import HopfieldRetrieval
        >>> stored = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
        >>> layer = HopfieldRetrieval.pure(beta=8.0)
        >>> noisy = stored[:2] + 0.1
        >>> out = layer(noisy, stored)
        >>> tuple(out.shape)
        (2, 16)
    """

    def __init__(
        self,
        num_heads=1,
        key_dim=None,
        value_dim=None,
        output_dim=None,
        beta=None,
        trainable_beta=False,
        max_steps=1,
        eps=1e-4,
        separation="softmax",
        normalize_query=True,
        normalize_query_affine=None,
        normalize_memory=True,
        normalize_memory_affine=None,
        normalize_value=True,
        normalize_value_affine=None,
        normalize_association_space=False,
        normalize_association_space_affine=False,
        project_query=True,
        project_memory=True,
        project_value=True,
        value_from_memory=False,
        use_output_projection=True,
        add_bias_pattern=False,
        add_zero_pattern=False,
        use_bias=True,
        dropout=0.0,
        activation=None,
        norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        retrieval="auto",
        chunk_size=None,
        top_k=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.num_heads = V.positive_int(owner, "num_heads", num_heads)
        self.key_dim = V.positive_int(owner, "key_dim", key_dim, allow_none=True)
        self.value_dim = V.positive_int(owner, "value_dim", value_dim, allow_none=True)
        self.output_dim = V.positive_int(owner, "output_dim", output_dim, allow_none=True)
        self._beta_init = self._validate_beta(beta, self.num_heads)
        self.trainable_beta = V.boolean(owner, "trainable_beta", trainable_beta)
        self.max_steps = V.positive_int(owner, "max_steps", max_steps)
        self.eps = V.non_negative_float(owner, "eps", 0.0 if eps is None else eps)
        self.separation = V.choice(owner, "separation", separation, F.SEPARATIONS)
        # `normalize_*_affine=None` (the default) follows its norm flag: a learned scale
        # and offset when the LayerNorm is on, none when it is off.
        for name, norm, affine in (
            ("normalize_query", normalize_query, normalize_query_affine),
            ("normalize_memory", normalize_memory, normalize_memory_affine),
            ("normalize_value", normalize_value, normalize_value_affine),
            ("normalize_association_space", normalize_association_space, normalize_association_space_affine),
        ):
            norm = V.boolean(owner, name, norm)
            affine = V.optional_boolean(owner, f"{name}_affine", affine)
            affine = norm if affine is None else affine
            if affine and not norm:
                # Same rule as the reference: an affine norm needs the norm.
                raise ValueError(
                    f"{owner}: `{name}_affine=True` has no effect with `{name}=False` (there is no "
                    f"LayerNorm to scale); set `{name}=True`, or leave `{name}_affine` at None."
                )
            setattr(self, name, norm)
            setattr(self, f"{name}_affine", affine)
        self.project_query = V.boolean(owner, "project_query", project_query)
        self.project_memory = V.boolean(owner, "project_memory", project_memory)
        self.project_value = V.boolean(owner, "project_value", project_value)
        self.value_from_memory = V.boolean(owner, "value_from_memory", value_from_memory)
        if self.value_from_memory and not self.project_value:
            raise ValueError(
                f"{owner}: `value_from_memory=True` needs `project_value=True` (the values are W_V applied to K)."
            )
        self.use_output_projection = V.boolean(owner, "use_output_projection", use_output_projection)
        if not self.use_output_projection and output_dim is not None:
            raise ValueError(
                f"{owner}: `output_dim`={output_dim} needs `use_output_projection=True`; without the output "
                "projection the output size is num_heads * value_dim."
            )
        self.add_bias_pattern = V.boolean(owner, "add_bias_pattern", add_bias_pattern)
        self.add_zero_pattern = V.boolean(owner, "add_zero_pattern", add_zero_pattern)
        self.use_bias = V.boolean(owner, "use_bias", use_bias)
        self.dropout = V.check_float(owner, "dropout", dropout, minimum=0.0, maximum=1.0, max_inclusive=False)
        self.activation = keras.activations.get(activation)
        self.norm_epsilon = V.positive_float(owner, "norm_epsilon", norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = V.seed(owner, "seed", seed)
        self.retrieval = V.choice(owner, "retrieval", retrieval, F.RETRIEVALS)
        self.chunk_size = V.positive_int(owner, "chunk_size", chunk_size, allow_none=True)
        self.top_k = V.positive_int(owner, "top_k", top_k, allow_none=True)
        if retrieval == "chunked":
            if self.separation != "softmax" and self.top_k is None:
                raise ValueError(
                    f"{owner}: `retrieval='chunked'` streams a softmax; separation={self.separation!r} needs the whole "
                    "association row. Use separation='softmax', set `top_k`, or retrieval='dense'/'auto'."
                )
            if self.dropout > 0:
                raise ValueError(
                    f"{owner}: `retrieval='chunked'` never forms the association matrix, so it cannot apply "
                    f"dropout={self.dropout} to it. Use retrieval='auto' (dense in training) or dropout=0."
                )
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(self.dropout, seed=seed, dtype=self.dtype_policy)

    # ------------------------------------------------------------------ config
    @staticmethod
    def _validate_beta(beta, num_heads):
        if beta is None:
            return None
        values = list(beta) if isinstance(beta, (list, tuple)) else [beta]
        for b in values:
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b <= 0:
                raise ValueError(f"`beta` must be a positive finite float or one per head. Received: beta={beta!r}")
        if len(values) not in (1, num_heads):
            raise ValueError(
                f"`beta` has {len(values)} values but num_heads={num_heads}; give one float or one per head."
            )
        return [float(b) for b in values] * (num_heads if len(values) == 1 else 1)

    @classmethod
    def pure(cls, beta, max_steps=1, eps=1e-4, separation="softmax", **kwargs):
        """The pure-retrieval configuration `ξ ← Yᵀ sep(β Y ξ)`.

        One head, no projections, no normalisation, no bias: the layer then
        has no weights except β and retrieves stored patterns as in the paper.

        Args:
            beta: Inverse temperature (float > 0).
            max_steps: Number of updates (the last one is the read-out).
            eps: Convergence threshold of the state.
            separation: Separation function name.
            **kwargs: Other constructor arguments (e.g. `trainable_beta`, `name`).

        Returns:
            A `HopfieldRetrieval` layer.
        """
        config = dict(
            num_heads=1,
            beta=beta,
            max_steps=max_steps,
            eps=eps,
            separation=separation,
            normalize_query=False,
            normalize_query_affine=False,
            normalize_memory=False,
            normalize_memory_affine=False,
            normalize_value=False,
            normalize_value_affine=False,
            project_query=False,
            project_memory=False,
            project_value=False,
            use_output_projection=False,
            use_bias=False,
        )
        config.update(kwargs)
        return cls(**config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "output_dim": self.output_dim,
                "beta": self._beta_init,
                "trainable_beta": self.trainable_beta,
                "max_steps": self.max_steps,
                "eps": self.eps,
                "separation": self.separation,
                "normalize_query": self.normalize_query,
                "normalize_query_affine": self.normalize_query_affine,
                "normalize_memory": self.normalize_memory,
                "normalize_memory_affine": self.normalize_memory_affine,
                "normalize_value": self.normalize_value,
                "normalize_value_affine": self.normalize_value_affine,
                "normalize_association_space": self.normalize_association_space,
                "normalize_association_space_affine": self.normalize_association_space_affine,
                "project_query": self.project_query,
                "project_memory": self.project_memory,
                "project_value": self.project_value,
                "value_from_memory": self.value_from_memory,
                "use_output_projection": self.use_output_projection,
                "add_bias_pattern": self.add_bias_pattern,
                "add_zero_pattern": self.add_zero_pattern,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "norm_epsilon": self.norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "seed": self.seed,
                "retrieval": self.retrieval,
                "chunk_size": self.chunk_size,
                "top_k": self.top_k,
            }
        )
        return config

    # ------------------------------------------------------------------- build
    def _sizes(self, query_shape, memory_shape, value_shape):
        """Validate the input shapes and derive (key_dim, value_dim, output_dim)."""
        if len(query_shape) not in (2, 3):
            raise ValueError(
                "`query` must have rank 2 (batch, features) or 3 (batch, length, features). "
                f"Received: query.shape={tuple(query_shape)}"
            )
        if len(memory_shape) not in (2, 3):
            raise ValueError(
                "`memory` must have rank 3 (batch, N, features) or 2 (N, features) for a memory shared "
                f"by the batch. Received: memory.shape={tuple(memory_shape)}"
            )
        if len(value_shape) != len(memory_shape) or (
            value_shape[-2] is not None and memory_shape[-2] is not None and value_shape[-2] != memory_shape[-2]
        ):
            raise ValueError(
                "`value` must have the same rank and number of patterns as `memory`. "
                f"Received: memory.shape={tuple(memory_shape)}, value.shape={tuple(value_shape)}"
            )
        dq, dm, dv = query_shape[-1], memory_shape[-1], value_shape[-1]
        for name, d in (("query", dq), ("memory", dm), ("value", dv)):
            if d is None:
                raise ValueError(f"The last axis of `{name}` must be known. Received: {name}.shape has None features")
        h = self.num_heads

        def split(name, d, flag):
            if d % h:
                raise ValueError(
                    f"`num_heads`={h} must divide the feature size of `{name}` when `{flag}=False` "
                    f"(static patterns are split into heads). Received: {name}.shape[-1]={d}"
                )
            return d // h

        key_dim = self.key_dim
        if not self.project_query:
            kq = split("query", dq, "project_query")
            if key_dim is not None and key_dim != kq:
                raise ValueError(f"`key_dim`={key_dim} does not match the static query: query.shape[-1]={dq} / num_heads={h}.")
            key_dim = kq
        if not self.project_memory:
            km = split("memory", dm, "project_memory")
            if key_dim is not None and key_dim != km:
                raise ValueError(
                    f"Query and memory live in different association spaces: key_dim={key_dim} but "
                    f"memory.shape[-1]={dm} / num_heads={h} = {km} (memory.shape={tuple(memory_shape)}, "
                    f"query.shape={tuple(query_shape)})."
                )
            key_dim = km
        if key_dim is None:
            if dq % h:
                raise ValueError(
                    f"`num_heads`={h} does not divide the query feature size {dq} "
                    f"(query.shape={tuple(query_shape)}); pass `key_dim` explicitly."
                )
            key_dim = dq // h
        value_dim = self.value_dim
        if not self.project_value:
            kv = split("value", dv, "project_value")
            if value_dim is not None and value_dim != kv:
                raise ValueError(f"`value_dim`={value_dim} does not match the static value: value.shape[-1]={dv} / num_heads={h}.")
            value_dim = kv
        if value_dim is None:
            value_dim = key_dim
        if self.use_output_projection:
            output_dim = self.output_dim or dq
        else:
            output_dim = h * value_dim
        return key_dim, value_dim, output_dim

    def _sublayer_kwargs(self):
        return dict(
            kernel_initializer=self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config()),
            bias_initializer=self.bias_initializer.__class__.from_config(self.bias_initializer.get_config()),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
        )

    def _norm(self, name, affine, shape):
        layer = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, center=affine, scale=affine, name=name, dtype=self.dtype_policy
        )
        layer.build(shape)
        return layer

    def _projection(self, name, dim, shape, equation="abc,cde->abde", bias_axes="de"):
        layer = keras.layers.EinsumDense(
            equation,
            output_shape=(None, self.num_heads, dim),
            bias_axes=bias_axes if self.use_bias else None,
            name=name,
            **self._sublayer_kwargs(),
        )
        layer.build(shape)
        return layer

    def build(self, query_shape, memory_shape=None, value_shape=None):
        memory_shape = query_shape if memory_shape is None else memory_shape
        value_shape = memory_shape if value_shape is None else value_shape
        key_dim, value_dim, output_dim = self._sizes(query_shape, memory_shape, value_shape)
        self._key_dim, self._value_dim, self._output_dim = key_dim, value_dim, output_dim
        h = self.num_heads
        q3 = (None, None, query_shape[-1])
        m3 = (None, None, memory_shape[-1])
        v3 = (None, None, value_shape[-1])
        self.query_norm = self._norm("query_norm", self.normalize_query_affine, q3) if self.normalize_query else None
        self.memory_norm = self._norm("memory_norm", self.normalize_memory_affine, m3) if self.normalize_memory else None
        self.value_norm = (
            self._norm("value_norm", self.normalize_value_affine, v3)
            if self.normalize_value and not self.value_from_memory
            else None
        )
        self.query_projection = self._projection("query", key_dim, q3) if self.project_query else None
        self.memory_projection = self._projection("memory", key_dim, m3) if self.project_memory else None
        if self.value_from_memory:
            self.value_projection = self._projection(
                "value", value_dim, (None, None, h, key_dim), equation="abhk,hkv->abhv", bias_axes="hv"
            )
        else:
            self.value_projection = self._projection("value", value_dim, v3) if self.project_value else None
        if self.normalize_association_space:
            self.association_norm = self._norm(
                "association_norm", self.normalize_association_space_affine, (None, None, h, key_dim)
            )
        else:
            self.association_norm = None
        if self.add_bias_pattern:
            self.bias_key = self.add_weight(name="bias_key", shape=(h, 1, key_dim), initializer="glorot_uniform")
            self.bias_value = self.add_weight(name="bias_value", shape=(h, 1, value_dim), initializer="glorot_uniform")
        beta0 = self._beta_init or [1.0 / math.sqrt(key_dim)] * h
        self.log_beta = self.add_weight(
            name="log_beta",
            shape=(h,),
            initializer=keras.initializers.Constant([math.log(b) for b in beta0]),
            trainable=self.trainable_beta,
            autocast=False,
        )
        if self.use_output_projection:
            self.output_projection = keras.layers.EinsumDense(
                "abhv,hvo->abo",
                output_shape=(None, output_dim),
                bias_axes="o" if self.use_bias else None,
                name="output",
                **self._sublayer_kwargs(),
            )
            self.output_projection.build((None, None, h, value_dim))
        else:
            self.output_projection = None
        self._dropout_layer.build(None)
        # The weights fix every feature size: Keras checks the query against this spec,
        # `_check_feature_sizes` the memory and value (clear errors, not a backend's).
        self._feature_sizes = (query_shape[-1], memory_shape[-1], value_shape[-1])
        self.input_spec = keras.layers.InputSpec(min_ndim=2, max_ndim=3, axes={-1: query_shape[-1]})

    def _check_feature_sizes(self, memory, value):
        sizes = getattr(self, "_feature_sizes", None)
        if sizes is None:
            return
        for name, tensor, expected in (("memory", memory, sizes[1]), ("value", value, sizes[2])):
            if tensor is None:
                continue
            got = tuple(tensor.shape)[-1]
            if got is not None and got != expected:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r} was built for `{name}` with {expected} features "
                    f"but received {name}.shape={tuple(tensor.shape)}."
                )

    @property
    def beta(self):
        """Current β per head, shape `(num_heads,)` (after `build`)."""
        return ops.exp(self.log_beta)

    # ------------------------------------------------------------------- call
    def _core_dtype(self):
        # Association scores and separation run in float32 under float16 /
        # bfloat16 policies: β·qᵀk overflows float16 long before large β does
        # anything useful, and sparsemax thresholds need the precision.
        return "float32" if self.compute_dtype in _HALF else self.compute_dtype

    def _heads(self, x, dim):
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.num_heads, dim))

    def _project(self, query, memory, value, query_mask, memory_mask, value_mask):
        """Normalise, project and split into heads.

        Returns `(Q, K, V, query_mask, memory_mask, value_mask, query_was_rank2)`
        with `Q` `(B, L, H, k)`, `K` `(B|1, N, H, k)`, `V` `(B|1, N, H, v)` in the
        compute dtype (the layout of `ops.dot_product_attention`).
        """
        self_association = memory is None
        if self_association:
            memory, memory_mask = query, query_mask if memory_mask is None else memory_mask
        if value is None:
            value = memory
            value_mask = memory_mask if value_mask is None else value_mask
        q_rank2 = len(query.shape) == 2
        if q_rank2:
            query = ops.expand_dims(query, 1)
            query_mask = None
        shared = len(memory.shape) == 2
        if shared:
            memory = ops.expand_dims(memory, 0)
            value = ops.expand_dims(value, 0)

        q = self.query_norm(query) if self.query_norm is not None else query
        m = self.memory_norm(memory) if self.memory_norm is not None else memory
        k_dim, v_dim = self._key_dim, self._value_dim
        Q = self.query_projection(q) if self.query_projection is not None else self._heads(q, k_dim)
        K = self.memory_projection(m) if self.memory_projection is not None else self._heads(m, k_dim)
        if self.association_norm is not None:
            Q, K = self.association_norm(Q), self.association_norm(K)
        if self.value_from_memory:
            V = self.value_projection(K)
        elif value is memory and self._values_are_keys():
            # Static, unnormalised values equal to the keys: one tensor, not a copy
            # (the chunked path then reads each block of stored patterns once).
            V = K
        else:
            v = self.value_norm(value) if self.value_norm is not None else value
            V = self.value_projection(v) if self.value_projection is not None else self._heads(v, v_dim)
        return Q, K, V, query_mask, memory_mask, value_mask, q_rank2

    def _values_are_keys(self):
        return not (
            self.project_memory
            or self.project_value
            or self.memory_norm is not None
            or self.value_norm is not None
            or self.association_norm is not None
        )

    def _heads_first(self, t, core):
        """`(B, N, H, c)` → `(B, H, N, c)`; a free reshape for one head (no copy of a large memory)."""
        t = ops.cast(t, core)
        if self.num_heads == 1:
            shape = ops.shape(t)
            return ops.reshape(t, (shape[0], 1, shape[1], shape[3]))
        return ops.transpose(t, (0, 2, 1, 3))

    def _prepare(self, query, memory, value, query_mask, memory_mask, value_mask, association_mask):
        """`_project`, then heads first and the association mask.

        Returns `(Q, K, V, mask, beta, query_was_rank2)` with `Q` `(B, H, L, k)`,
        `K` `(B|1, H, N, k)`, `V` `(B|1, H, N, v)` in the core dtype, `mask`
        `None` or boolean broadcastable to `(B, H, L, N)`, `beta` `(H, 1, 1)`.
        """
        Q, K, V, query_mask, memory_mask, value_mask, q_rank2 = self._project(
            query, memory, value, query_mask, memory_mask, value_mask
        )
        k_dim, v_dim = self._key_dim, self._value_dim
        core = self._core_dtype()
        same = V is K
        Q, K = self._heads_first(Q, core), self._heads_first(K, core)
        V = K if same else self._heads_first(V, core)

        mask = None
        if memory_mask is not None or value_mask is not None:
            col = None
            for mm in (memory_mask, value_mask):
                if mm is not None:
                    mm = ops.cast(mm, "bool")
                    col = mm if col is None else ops.logical_and(col, mm)
            if len(col.shape) == 1:
                col = ops.expand_dims(col, 0)
            mask = ops.expand_dims(col, 1)  # (B, 1, N)
        if query_mask is not None:
            row = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, L, 1)
            mask = row if mask is None else ops.logical_and(mask, row)
        if association_mask is not None:
            am = ops.cast(association_mask, "bool")
            if len(am.shape) not in (2, 3):
                raise ValueError(
                    "`association_mask` must have shape (batch, length, N) or (length, N). "
                    f"Received: association_mask.shape={tuple(am.shape)}"
                )
            mask = am if mask is None else ops.logical_and(mask, am)

        extra = []
        if self.add_bias_pattern:
            extra.append((ops.cast(self.bias_key, core), ops.cast(self.bias_value, core)))
        if self.add_zero_pattern:
            extra.append((ops.zeros((self.num_heads, 1, k_dim), core), ops.zeros((self.num_heads, 1, v_dim), core)))
        for bk, bv in extra:
            b = ops.shape(K)[0]
            K = ops.concatenate([K, ops.broadcast_to(ops.expand_dims(bk, 0), (b, self.num_heads, 1, k_dim))], axis=2)
            V = ops.concatenate([V, ops.broadcast_to(ops.expand_dims(bv, 0), (b, self.num_heads, 1, v_dim))], axis=2)
            if mask is not None:
                mask = ops.concatenate([mask, ops.ones_like(mask[..., :1])], axis=-1)
        if mask is not None:
            mask = ops.expand_dims(mask, -3)  # head axis

        beta = ops.reshape(ops.cast(ops.exp(self.log_beta), core), (self.num_heads, 1, 1))
        return Q, K, V, mask, beta, q_rank2

    def _read_out(self, out, q_rank2):
        """`(B, L, H, v)` head outputs → `(B, L, output_dim)` in the compute dtype."""
        out = ops.cast(out, self.compute_dtype)
        if self.output_projection is not None:
            out = self.output_projection(out)
        else:
            shape = ops.shape(out)
            out = ops.reshape(out, (shape[0], shape[1], self.num_heads * self._value_dim))
        if self.activation is not None:
            out = self.activation(out)
        if q_rank2:
            out = ops.squeeze(out, 1)
        return out

    def call(
        self,
        query,
        memory=None,
        value=None,
        query_mask=None,
        memory_mask=None,
        value_mask=None,
        association_mask=None,
        return_association=False,
        training=None,
    ):
        self._check_feature_sizes(memory, value)
        # Keras fills `<arg>_mask` only when several tensors are passed; with a
        # single (self-association) input the mask is read off the tensor.
        query_mask = _get_keras_mask(query) if query_mask is None else query_mask
        if memory is not None and memory_mask is None:
            memory_mask = _get_keras_mask(memory)
        if value is not None and value_mask is None:
            value_mask = _get_keras_mask(value)
        # The masks become the association mask; sublayers must not see them
        # (restored afterwards: the caller's tensors keep their masks).
        inputs = [t for t in (query, memory, value) if t is not None]
        saved = [_get_keras_mask(t) for t in inputs]
        for t in inputs:
            _set_keras_mask(t, None)
        path = self.retrieval_path(
            self._num_patterns(query if memory is None else memory), return_association, training
        )
        try:
            if path == "dense" and self._can_fuse(
                query_mask, memory_mask, value_mask, association_mask, return_association, training
            ):
                out = self._fused_call(query, memory, value)
                p = None
            else:
                out, p = self._explicit_call(
                    query, memory, value, query_mask, memory_mask, value_mask, association_mask, training, path
                )
        finally:
            for t, m in zip(inputs, saved):
                _set_keras_mask(t, m)
        if query_mask is not None and len(out.shape) == 3:
            _set_keras_mask(out, query_mask)
        if return_association:
            return out, p
        return out

    def _num_patterns(self, memory):
        n = memory.shape[-2]
        return None if n is None else n + int(self.add_bias_pattern) + int(self.add_zero_pattern)

    def retrieval_path(self, num_patterns, return_association=False, training=False):
        """The path a call takes: `"dense"` or `"chunked"` (see the `retrieval` argument).

        Args:
            num_patterns: Stored patterns per head, bias/zero patterns included
                (`None` if unknown).
            return_association: Whether the call returns the association matrix.
            training: Whether dropout applies.

        Returns:
            `"dense"` or `"chunked"`.
        """
        if self.retrieval == "chunked":
            if return_association:
                raise ValueError(
                    "`return_association=True` needs the (batch, heads, length, N) association matrix, which "
                    "`retrieval='chunked'` never forms. Use retrieval='auto' or 'dense' for that call."
                )
            return F.resolve_retrieval("chunked", num_patterns, self.separation, self.top_k)
        if self.retrieval == "dense" or return_association or (self.dropout > 0 and training):
            return "dense"
        return F.resolve_retrieval("auto", num_patterns, self.separation, self.top_k)

    def _fold(self, Q, K, V, mask):
        """A memory shared by the batch: fold the batch into the state axis.

        `Q` `(B, H, L, k)` with `K`/`V` `(1, H, N, ·)` becomes `(1, H, B·L, k)`,
        so each block of stored patterns meets every state in one matrix
        product (and gradients need no sum over a broadcast batch). Returns
        `(Q, mask, unfold)` with `unfold` mapping `(1, H, B·L, c)` back to
        `(B, H, L, c)`.
        """
        if K.shape[0] != 1 or V.shape[0] != 1 or Q.shape[0] == 1:
            return Q, mask, lambda x: x
        b, h, length, k = ops.shape(Q)
        if self.num_heads == 1:
            Qf = ops.reshape(Q, (1, 1, -1, k))
        else:
            Qf = ops.reshape(ops.transpose(Q, (1, 0, 2, 3)), (1, h, -1, k))
        if mask is not None:
            if len(mask.shape) == 3:
                mask = ops.expand_dims(mask, 0)
            if not (mask.shape[0] == 1 and mask.shape[2] == 1):
                n_m = mask.shape[-1]
                mask = ops.reshape(ops.broadcast_to(mask, (b, 1, length, n_m)), (1, 1, -1, n_m))

        def unfold(x):
            c = ops.shape(x)[-1]
            if self.num_heads == 1:
                return ops.reshape(x, (b, 1, length, c))
            return ops.transpose(ops.reshape(x, (h, b, length, c)), (1, 0, 2, 3))

        return Qf, mask, unfold

    def _can_fuse(self, query_mask, memory_mask, value_mask, association_mask, return_association, training):
        """One plain softmax step with no masks: `ops.dot_product_attention` computes it exactly."""
        return (
            prefers_fused_attention()
            and self.top_k is None
            and self.separation == "softmax"
            and self.max_steps == 1
            and not return_association
            and not (self.dropout > 0 and training)
            and not (self.add_bias_pattern or self.add_zero_pattern)
            and query_mask is None
            and memory_mask is None
            and value_mask is None
            and association_mask is None
            and self._core_dtype() == self.compute_dtype
        )

    def _fused_call(self, query, memory, value):
        Q, K, V, _, _, _, q_rank2 = self._project(query, memory, value, None, None, None)
        beta = ops.cast(ops.exp(self.log_beta), Q.dtype)
        Q = Q * ops.reshape(beta, (1, 1, self.num_heads, 1))
        shape = ops.shape(Q)
        fold = K.shape[0] == 1 and V.shape[0] == 1 and Q.shape[0] != 1
        if fold:
            # A memory shared by the batch: fold the batch into the query axis, `(1, B·L, H, k)`.
            # Broadcasting the memory to the batch instead makes SDPA copy it once per batch element.
            Q = ops.reshape(Q, (1, -1) + tuple(shape[2:]))
        out = ops.dot_product_attention(Q, K, V, scale=1.0)
        if fold:
            out = ops.reshape(out, (shape[0], shape[1]) + tuple(ops.shape(out)[2:]))
        return self._read_out(out, q_rank2)

    def _explicit_call(
        self, query, memory, value, query_mask, memory_mask, value_mask, association_mask, training, path="dense"
    ):
        Q, K, V, mask, beta, q_rank2 = self._prepare(
            query, memory, value, query_mask, memory_mask, value_mask, association_mask
        )
        if path == "chunked":
            Qf, maskf, unfold = self._fold(Q, K, V, mask)
            opts = dict(retrieval="chunked", chunk_size=self.chunk_size, top_k=self.top_k)
            state, _ = F.hopfield_iterate(
                Qf, K, beta, self.separation, maskf, self.max_steps - 1, self.eps, unrolled=bool(training), **opts
            )
            out = F.hopfield_update(state, K, beta, None if V is K else V, self.separation, maskf, **opts)
            return self._read_out(ops.transpose(unfold(out), (0, 2, 1, 3)), q_rank2), None
        state, _ = F.hopfield_iterate(
            Q, K, beta, self.separation, mask, self.max_steps - 1, self.eps, unrolled=bool(training),
            retrieval="dense", top_k=self.top_k,
        )
        p = F.association(state, K, beta, self.separation, mask, top_k=self.top_k)
        p_used = self._dropout_layer(p, training=training) if self.dropout > 0 else p
        out = self._read_out(ops.transpose(ops.matmul(p_used, V), (0, 2, 1, 3)), q_rank2)
        p = ops.cast(p, self.compute_dtype)
        return out, (ops.squeeze(p, 2) if q_rank2 else p)

    def compute_mask(self, query, previous_mask=None):
        # The output is aligned with the query: it keeps the query's mask.
        return previous_mask if len(query.shape) == 3 else None

    def compute_output_shape(self, query_shape, memory_shape=None, value_shape=None):
        memory_shape = query_shape if memory_shape is None else memory_shape
        value_shape = memory_shape if value_shape is None else value_shape
        _, _, output_dim = self._sizes(query_shape, memory_shape, value_shape)
        return tuple(query_shape[:-1]) + (output_dim,)

    def compute_output_spec(self, query, memory=None, value=None, return_association=False, **kwargs):
        memory_shape = None if memory is None else memory.shape
        value_shape = None if value is None else value.shape
        out = keras.KerasTensor(
            self.compute_output_shape(query.shape, memory_shape, value_shape), dtype=self.compute_dtype
        )
        if not return_association:
            return out
        m = query if memory is None else memory
        n = m.shape[-2]
        if n is not None:
            n += int(self.add_bias_pattern) + int(self.add_zero_pattern)
        if len(query.shape) == 2:
            shape = (query.shape[0], self.num_heads, n)
        else:
            shape = (query.shape[0], self.num_heads, query.shape[1], n)
        return out, keras.KerasTensor(shape, dtype=self.compute_dtype)

    # -------------------------------------------------------------- energies
    def energy(
        self,
        query,
        memory=None,
        value=None,
        memory_mask=None,
        association_mask=None,
        reduction="sum",
    ):
        """Hopfield energy of the (projected) state patterns.

        `E(ξ) = −lse(β, K ξ) + ½ ξᵀξ + β⁻¹ ln N + ½ M²` per head and state
        pattern, in the association space (`keras_hopfield.functional.hopfield_energy`).

        Args:
            query: State patterns, as in `call`.
            memory: Stored patterns, as in `call`.
            value: Values, as in `call` (not used by the energy; accepted so
                the same arguments as `call` can be passed).
            memory_mask: Stored-pattern mask, as in `call`.
            association_mask: Association mask, as in `call`.
            reduction: `"sum"` gives one energy per example `(batch,)` (summed
                over heads and state patterns); `"none"` gives
                `(batch, num_heads, length)`.

        Returns:
            The energies (in the core dtype, float32 under half precision).
        """
        if reduction not in ("sum", "none"):
            raise ValueError(f"`reduction` must be 'sum' or 'none'. Received: reduction={reduction!r}")
        self._maybe_build_for(query, memory, value)
        Q, K, _, mask, beta, _ = self._prepare(query, memory, value, None, memory_mask, None, association_mask)
        if self.retrieval_path(K.shape[2]) == "chunked":
            Qf, maskf, unfold = self._fold(Q, K, K, mask)
            e = F.hopfield_energy(
                Qf, K, beta, self.separation, maskf, retrieval="chunked", chunk_size=self.chunk_size, top_k=self.top_k
            )
            e = ops.squeeze(unfold(ops.expand_dims(e, -1)), -1)
        else:
            e = F.hopfield_energy(Q, K, beta, self.separation, mask, retrieval="dense", top_k=self.top_k)
        return ops.sum(e, axis=(1, 2)) if reduction == "sum" else e

    def trajectory(self, query, memory=None, value=None, memory_mask=None, association_mask=None, steps=None):
        """States and energies along the update steps, for diagnostics and plots.

        Runs `steps` updates (default `max_steps − 1`, at least 1) without
        early stopping.

        Args:
            query: State patterns, as in `call`.
            memory: Stored patterns, as in `call`.
            value: Values for the final read-out, as in `call`.
            memory_mask: Stored-pattern mask, as in `call`.
            association_mask: Association mask, as in `call`.
            steps: Number of updates to record.

        Returns:
            A dict with `"states"` `(steps + 1, batch, num_heads, length, key_dim)`,
            `"energy"` `(steps + 1, batch)` (summed over heads and states),
            `"association"` `(steps + 1, batch, num_heads, length, N)` and
            `"output"` the read-out after the last step.
        """
        self._maybe_build_for(query, memory, value)
        steps = max(self.max_steps - 1, 1) if steps is None else int(steps)
        if steps < 1:
            raise ValueError(f"`steps` must be >= 1. Received: steps={steps}")
        Q, K, V, mask, beta, q_rank2 = self._prepare(query, memory, value, None, memory_mask, None, association_mask)
        states, energies, assoc = [Q], [], []
        for _ in range(steps):
            energies.append(ops.sum(self._dense_energy(states[-1], K, beta, mask), axis=(1, 2)))
            assoc.append(F.association(states[-1], K, beta, self.separation, mask, top_k=self.top_k))
            states.append(ops.matmul(assoc[-1], K))
        energies.append(ops.sum(self._dense_energy(states[-1], K, beta, mask), axis=(1, 2)))
        assoc.append(F.association(states[-1], K, beta, self.separation, mask, top_k=self.top_k))
        return {
            "states": ops.stack(states),
            "energy": ops.stack(energies),
            "association": ops.stack(assoc),
            "output": self._read_out(ops.transpose(ops.matmul(assoc[-1], V), (0, 2, 1, 3)), q_rank2),
        }

    def _dense_energy(self, Q, K, beta, mask):
        return F.hopfield_energy(Q, K, beta, self.separation, mask, retrieval="dense", top_k=self.top_k)

    def _maybe_build_for(self, query, memory, value):
        if not self.built:
            self.build(
                tuple(query.shape),
                None if memory is None else tuple(memory.shape),
                None if value is None else tuple(value.shape),
            )
            self.built = True


@keras.saving.register_keras_serializable(package="keras_hopfield")
class HopfieldPooling(HopfieldRetrieval):
    """Pools a set or sequence into `num_queries` vectors with learned state patterns.

    The state patterns `R` (`num_queries × features`) are weights; the input
    is the memory: `Z = sep(β (R W_Q)(Y W_K)ᵀ) Y W_V W_O` (Ramsauer et al.
    2021, "HopfieldPooling"). With one query this is attention-based
    multiple-instance-learning pooling.

    Args:
        num_queries: Number of learned state patterns.
        query_initializer: Initializer of the state patterns.
        **kwargs: Every `HopfieldRetrieval` argument.

    Call arguments:
        inputs: `(batch, N, features)` set to pool.
        mask: Optional `(batch, N)` boolean mask (`True` = element present);
            filled from the Keras mask of `inputs`.
        return_association: Also return the weights `(batch, num_heads, num_queries, N)`.
        training: Training mode.

    Returns:
        `(batch, output_dim)` when `num_queries == 1`, else
        `(batch, num_queries, output_dim)`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import HopfieldPooling
        >>> bags = np.random.rand(4, 10, 32).astype("float32")
        >>> tuple(HopfieldPooling(num_heads=4)(bags).shape)
        (4, 32)
    """

    def __init__(self, num_queries=1, query_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_queries = V.positive_int(type(self).__name__, "num_queries", num_queries)
        self.query_initializer = keras.initializers.get(query_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"`HopfieldPooling` expects inputs of rank 3 (batch, N, features). Received: inputs.shape={tuple(input_shape)}"
            )
        self.pooling_queries = self.add_weight(
            name="pooling_queries", shape=(self.num_queries, input_shape[-1]), initializer=self.query_initializer
        )
        super().build((None, self.num_queries, input_shape[-1]), input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=3, axes={-1: input_shape[-1]})

    def _queries(self, inputs):
        q = ops.cast(self.pooling_queries, self.compute_dtype)
        return ops.broadcast_to(ops.expand_dims(q, 0), (ops.shape(inputs)[0],) + tuple(q.shape))

    def call(self, inputs, mask=None, return_association=False, training=None):
        result = super().call(
            self._queries(inputs), inputs, memory_mask=mask, return_association=return_association, training=training
        )
        out, p = result if return_association else (result, None)
        if self.num_queries == 1:
            out = ops.squeeze(out, 1)
        return (out, p) if return_association else out

    def energy(self, inputs, mask=None, reduction="sum"):
        """Energy of the learned state patterns against `inputs` (see `HopfieldRetrieval.energy`)."""
        return super().energy(self._queries(inputs), inputs, memory_mask=mask, reduction=reduction)

    def compute_output_shape(self, input_shape):
        out = super().compute_output_shape((input_shape[0], self.num_queries, input_shape[-1]), input_shape)
        return (out[0], out[-1]) if self.num_queries == 1 else out

    def compute_output_spec(self, inputs, mask=None, return_association=False, training=None):
        out = keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)
        if not return_association:
            return out
        n = inputs.shape[1]
        if n is not None:
            n += int(self.add_bias_pattern) + int(self.add_zero_pattern)
        shape = (inputs.shape[0], self.num_heads, self.num_queries, n)
        return out, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_queries": self.num_queries, "query_initializer": keras.initializers.serialize(self.query_initializer)}
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class HopfieldLookup(HopfieldRetrieval):
    """Inputs look up a learned memory: the stored patterns are weights.

    `Z = sep(β (R W_Q)(Y W_K)ᵀ) Yᵥ W_V W_O` with learned stored patterns
    `Y` (`memory_size × memory_dim`) and, optionally, separate learned values
    `Yᵥ` (the reference's `HopfieldLayer` with `lookup_weights_as_separated`).

    Args:
        memory_size: Number of learned stored patterns.
        memory_dim: Size of each stored pattern (default: input feature size).
        separate_values: Learn values `Yᵥ` separate from the stored patterns.
        trainable_values: Whether `Yᵥ` is trained; `False` needs
            `separate_values=True` (otherwise an error: the values are then the
            stored patterns themselves).
        memory_initializer: Initializer of the stored patterns (and values).
        **kwargs: Every `HopfieldRetrieval` argument.

    Call arguments:
        inputs: `(batch, length, features)` or `(batch, features)` state patterns.
        mask: Optional `(batch, length)` Keras mask of the inputs.
        return_association: Also return the weights over the memory.
        training: Training mode.

    Returns:
        `(batch, length, output_dim)` or `(batch, output_dim)`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.layers import HopfieldLookup
        >>> x = np.random.rand(4, 16).astype("float32")
        >>> tuple(HopfieldLookup(memory_size=32)(x).shape)
        (4, 16)
    """

    def __init__(
        self,
        memory_size,
        memory_dim=None,
        separate_values=False,
        trainable_values=True,
        memory_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.memory_size = V.positive_int(owner, "memory_size", memory_size)
        self.memory_dim = V.positive_int(owner, "memory_dim", memory_dim, allow_none=True)
        self.separate_values = V.boolean(owner, "separate_values", separate_values)
        self.trainable_values = V.boolean(owner, "trainable_values", trainable_values)
        if not self.trainable_values and not self.separate_values:
            raise ValueError(
                f"{owner}: `trainable_values=False` needs `separate_values=True`: without separate values "
                "the stored patterns are the values, and they are trained as keys. Freeze the whole memory "
                "with `layer.stored_patterns.trainable = False` instead."
            )
        self.memory_initializer = keras.initializers.get(memory_initializer)

    def build(self, input_shape):
        dim = self.memory_dim or input_shape[-1]
        self.stored_patterns = self.add_weight(
            name="stored_patterns", shape=(self.memory_size, dim), initializer=self.memory_initializer
        )
        if self.separate_values:
            self.stored_values = self.add_weight(
                name="stored_values",
                shape=(self.memory_size, dim),
                initializer=self.memory_initializer,
                trainable=self.trainable_values,
            )
        else:
            self.stored_values = None
        super().build(input_shape, (self.memory_size, dim), (self.memory_size, dim))

    def _memory(self):
        m = ops.cast(self.stored_patterns, self.compute_dtype)
        v = None if self.stored_values is None else ops.cast(self.stored_values, self.compute_dtype)
        return m, v

    def call(self, inputs, mask=None, return_association=False, training=None):
        m, v = self._memory()
        return super().call(
            inputs, m, v, query_mask=mask, return_association=return_association, training=training
        )

    def energy(self, inputs, reduction="sum"):
        """Energy of the inputs against the learned memory (see `HopfieldRetrieval.energy`)."""
        m, v = self._memory()
        return super().energy(inputs, m, v, reduction=reduction)

    def compute_output_shape(self, input_shape):
        dim = self.memory_dim or input_shape[-1]
        return super().compute_output_shape(input_shape, (self.memory_size, dim), (self.memory_size, dim))

    def compute_output_spec(self, inputs, mask=None, return_association=False, training=None):
        out = keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)
        if not return_association:
            return out
        n = self.memory_size + int(self.add_bias_pattern) + int(self.add_zero_pattern)
        if len(inputs.shape) == 2:
            shape = (inputs.shape[0], self.num_heads, n)
        else:
            shape = (inputs.shape[0], self.num_heads, inputs.shape[1], n)
        return out, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return mask if len(inputs.shape) == 3 else None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "memory_size": self.memory_size,
                "memory_dim": self.memory_dim,
                "separate_values": self.separate_values,
                "trainable_values": self.trainable_values,
                "memory_initializer": keras.initializers.serialize(self.memory_initializer),
            }
        )
        return config
