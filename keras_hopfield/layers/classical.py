"""Classical (binary) Hopfield network as a Keras layer (MATH.md §2, papers/004 ch. 2)."""

import numpy as np
import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield import functional as fc
from keras_hopfield.backend.distribution import global_batch

__all__ = ["HebbianHopfield"]

RULES = ("hebb", "pseudo_inverse")


@keras.saving.register_keras_serializable(package="keras_hopfield")
class HebbianHopfield(keras.layers.Layer):
    """Classical binary Hopfield network with Hebbian or pseudo-inverse storage.

    The state is `ξ ∈ {−1, 1}ⁿ` with couplings `J` (symmetric, zero diagonal by default)
    and optional thresholds `h`:

    $$H(\\xi) = -\\tfrac12 \\xi^\\top J \\xi - h^\\top \\xi, \\qquad
      J^{\\text{hebb}} = \\frac1n \\sum_\\mu x^\\mu x^{\\mu\\top}, \\qquad
      J^{\\text{pinv}} = X^{+} X .$$

    Calling the layer runs retrieval from the input state (inputs are binarised with
    `sgn`, `sgn(0)=+1`):

    * `parallel`: `ξ ← sgn(J ξ + h)` (all units at once; may end in a 2-cycle),
    * `sequential`: asynchronous, one unit at a time in a fresh random order every
      sweep (seeded); `H` never increases,
    * `stochastic`: the same sweeps with Glauber updates,
      `P(ξ_i = +1) = ½ (1 + tanh(φ_i / T))`, `φ = J ξ + h`.

    It runs for `max_steps` sweeps or until a sweep changes no unit of an example
    (examples are frozen individually), inside `keras.ops.while_loop`, so it works under
    `jit_compile`. The output is piecewise constant in the input, so no gradient flows
    through it (`stop_gradient`; this also keeps JAX, whose `while_loop` is not
    reverse-differentiable, happy inside `fit`). Ties `φ_i = 0` keep the unit's value (`tie="keep"`, default) or
    set it to `+1` (`tie="plus"`).

    Storage: `store(patterns)` sets `J` from `±1` patterns directly. With
    `store_on_fit=True` the layer is also a gradient-free learner: every call with
    `training=True` (e.g. inside `model.fit`) adds the batch to the stored set, like
    `BatchNormalization` updates its moving statistics. Hebb accumulates `Σ x xᵀ`
    (presenting a pattern `e` times weights it `e` times; the sign dynamics are unchanged
    by a positive scaling of `J` when `h = 0`); the pseudo-inverse rule grows the
    projector onto the span of the patterns seen so far (re-presenting a pattern changes
    nothing). During `fit` the batch is binarised with `sgn` instead of being checked.

    Args:
        units: Optional number of units `n`; inferred from the input when `None`.
        rule: `"hebb"` or `"pseudo_inverse"`.
        dynamics: `"sequential"`, `"parallel"` or `"stochastic"`.
        max_steps: Maximum number of sweeps, an int ≥ 1.
        temperature: Temperature `T > 0` of the stochastic dynamics (kept in a
            non-trainable variable, so `set_temperature` / the `TemperatureAnnealing`
            callback can change it between calls).
        tie: `"keep"` or `"plus"`, the value of `sgn(0)` during the dynamics.
        remove_diagonal: Zero the diagonal of `J` (both rules).
        use_bias: Add non-trainable thresholds `h` (zeros until assigned).
        store_on_fit: Store each training batch (gradient-free learning under `fit`).
        seed: Int or `None`, seeds the random unit orders and the Glauber noise.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        Calling the layer on states `(batch, n)` returns the retrieved states
        `(batch, n)` of `±1`.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_hopfield.layers import HebbianHopfield
        >>> rng = np.random.default_rng(0)
        >>> patterns = np.sign(rng.normal(size=(5, 100))).astype("float32")
        >>> net = HebbianHopfield(dynamics="sequential", seed=0)
        >>> _ = net.store(patterns)
        >>> noisy = patterns * np.where(rng.random((5, 100)) < 0.1, -1, 1).astype("float32")
        >>> retrieved = ops.convert_to_numpy(net(noisy))
        >>> bool(np.all(retrieved == patterns))  # every pattern retrieved
        True
        >>> tuple(net.energy(retrieved).shape)
        (5,)
    """

    def __init__(
        self,
        units=None,
        rule="hebb",
        dynamics="sequential",
        max_steps=100,
        temperature=1.0,
        tie="keep",
        remove_diagonal=True,
        use_bias=False,
        store_on_fit=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = V.positive_int(owner, "units", units, allow_none=True)
        self.rule = V.choice(owner, "rule", rule, RULES)
        self.dynamics = V.choice(owner, "dynamics", dynamics, fc.DYNAMICS)
        self.max_steps = V.positive_int(owner, "max_steps", max_steps)
        self.temperature = V.positive_float(owner, "temperature", temperature)
        self.tie = V.choice(owner, "tie", tie, fc.TIES)
        self.remove_diagonal = V.boolean(owner, "remove_diagonal", remove_diagonal)
        self.use_bias = V.boolean(owner, "use_bias", use_bias)
        self.store_on_fit = V.boolean(owner, "store_on_fit", store_on_fit)
        self.seed = V.seed(owner, "seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        n = input_shape[-1]
        if n is None:
            raise ValueError("The last dimension of the input (the number of units) must be known.")
        if self.units is not None and n != self.units:
            raise ValueError(
                f"Input has {n} units but the layer was created with units={self.units}."
            )
        self.units = int(n)
        self.kernel = self.add_weight(
            shape=(n, n), initializer="zeros", trainable=False, name="kernel"
        )
        self.accumulator = self.add_weight(
            shape=(n, n), initializer="zeros", trainable=False, name="accumulator"
        )
        self.num_patterns = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="num_patterns"
        )
        self.bias = (
            self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="bias")
            if self.use_bias
            else None
        )
        self.temperature_variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.temperature),
            trainable=False,
            name="temperature",
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: n})

    # ------------------------------------------------------------------ storage
    def _kernel_from_accumulator(self, accumulator):
        if self.rule == "hebb":
            kernel = accumulator / ops.cast(self.units, accumulator.dtype)
        else:
            kernel = accumulator
        return fc.zero_diagonal(kernel) if self.remove_diagonal else kernel

    def _accumulate(self, accumulator, patterns):
        if self.rule == "hebb":
            return accumulator + ops.matmul(ops.transpose(patterns), patterns)
        return fc.projector_update(accumulator, patterns)

    def store(self, patterns, accumulate=False):
        """Stores binary patterns, setting the couplings `J` (eagerly, outside `fit`).

        Args:
            patterns: Array-like `(P, n)` with entries in `{−1, +1}`.
            accumulate: Add to the patterns already stored instead of replacing them.

        Returns:
            The coupling matrix `J` (the layer's `kernel`).

        Raises:
            ValueError: if `patterns` is not a 2-D array of `±1`.
        """
        array = np.asarray(ops.convert_to_numpy(patterns))
        if array.ndim != 2:
            raise ValueError(
                f"`patterns` must have shape (P, n); received shape {array.shape}."
            )
        if not np.all(np.isin(array, (-1, 1))):
            bad = array[~np.isin(array, (-1, 1))].ravel()[:3]
            raise ValueError(
                "`patterns` must be binary with entries -1 or +1 (HebbianHopfield); "
                f"found values such as {bad.tolist()}."
            )
        if not self.built:
            self.build((None, array.shape[-1]))
        if array.shape[-1] != self.units:
            raise ValueError(
                f"`patterns` have {array.shape[-1]} units, the layer has {self.units}."
            )
        dtype = self.accumulator.dtype
        x = ops.convert_to_tensor(array, dtype=dtype)
        if accumulate:
            start = ops.convert_to_tensor(self.accumulator)
        else:
            start = ops.zeros(self.accumulator.shape, dtype=dtype)
        accumulator = self._accumulate(start, x)
        count = float(array.shape[0])
        if accumulate:
            count += float(ops.convert_to_numpy(self.num_patterns))
        self.accumulator.assign(accumulator)
        self.kernel.assign(self._kernel_from_accumulator(accumulator))
        self.num_patterns.assign(ops.convert_to_tensor(count, dtype=self.num_patterns.dtype))
        return self.kernel

    def reset(self):
        """Forgets all stored patterns (`J = 0`)."""
        for variable in (self.kernel, self.accumulator):
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))
        self.num_patterns.assign(ops.zeros((), dtype=self.num_patterns.dtype))

    def set_temperature(self, temperature):
        """Sets the temperature `T > 0` of the stochastic dynamics (no retracing)."""
        if not float(temperature) > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        self.temperature_variable.assign(float(temperature))

    # ---------------------------------------------------------------- dynamics
    def call(self, inputs, training=None):
        state = fc.binarize(inputs, dtype=self.compute_dtype)
        kernel = ops.cast(self.kernel, state.dtype)
        if training and self.store_on_fit and self.trainable:
            # Every replica of a tf.distribute step stores the whole batch, so the
            # couplings stay identical across replicas (identity elsewhere).
            flat = global_batch(ops.reshape(state, (-1, self.units)))
            accumulator = self._accumulate(ops.convert_to_tensor(self.accumulator), flat)
            new_kernel = self._kernel_from_accumulator(accumulator)
            self.accumulator.assign(accumulator)
            self.kernel.assign(new_kernel)
            self.num_patterns.assign(
                self.num_patterns + ops.cast(ops.shape(flat)[0], self.num_patterns.dtype)
            )
            kernel = ops.cast(new_kernel, state.dtype)
        # The output is piecewise constant in the input (its gradient is zero almost
        # everywhere), so the loop is cut from autodiff; this also lets JAX run the
        # early-exit `while_loop` inside `fit`.
        return self.retrieve(ops.stop_gradient(state), kernel=kernel)

    def retrieve(self, state, return_steps=False, kernel=None, early_stop=True):
        """Runs the dynamics from `state` with the stored couplings.

        Args:
            state: Tensor `(..., n)` of `±1`.
            return_steps: Also return the number of sweeps each example ran.
            kernel: Optional couplings to use instead of the stored ones.
            early_stop: Exit the loop once all examples converged (`while_loop`);
                `False` runs a fixed `fori_loop` of `max_steps` sweeps.

        Returns:
            The final state (and the sweeps per example with `return_steps`).
        """
        state = ops.convert_to_tensor(state)
        shape = ops.shape(state)
        flat = ops.reshape(state, (-1, self.units))
        kernel = ops.cast(self.kernel if kernel is None else kernel, flat.dtype)
        out, steps = fc.run_classical_dynamics(
            flat,
            kernel,
            bias=None if self.bias is None else ops.cast(self.bias, flat.dtype),
            dynamics=self.dynamics,
            max_steps=self.max_steps,
            temperature=ops.cast(self.temperature_variable, flat.dtype),
            tie=self.tie,
            seed=self.seed_generator,
            early_stop=early_stop,
            return_steps=True,
        )
        out = ops.reshape(out, shape)
        if return_steps:
            return out, ops.reshape(steps, shape[:-1])
        return out

    def energy(self, state):
        """Energy `H(ξ) = −½ ξᵀJξ − hᵀξ` of states `(..., n)`; returns shape `(...)`."""
        state = ops.convert_to_tensor(state, dtype=self.compute_dtype)
        shape = ops.shape(state)
        flat = ops.reshape(state, (-1, self.units))
        energy = fc.classical_energy(
            flat,
            ops.cast(self.kernel, flat.dtype),
            None if self.bias is None else ops.cast(self.bias, flat.dtype),
        )
        return ops.reshape(energy, shape[:-1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rule": self.rule,
                "dynamics": self.dynamics,
                "max_steps": self.max_steps,
                "temperature": self.temperature,
                "tie": self.tie,
                "remove_diagonal": self.remove_diagonal,
                "use_bias": self.use_bias,
                "store_on_fit": self.store_on_fit,
                "seed": self.seed,
            }
        )
        return config
