"""Dense associative memory (Krotov & Hopfield 2016) as a Keras layer (MATH.md §3)."""

import numpy as np
import keras
from keras import ops

from keras_hopfield import _validation as V
from keras_hopfield import functional as fc

__all__ = ["DenseAssociativeMemory"]

MODES = ("associative", "classifier")
FORMS = ("exact", "linear")


@keras.saving.register_keras_serializable(package="keras_hopfield")
class DenseAssociativeMemory(keras.layers.Layer):
    """Dense associative memory with polynomial or exponential interactions.

    `K` memories `ξ^μ` (a `(K, N + N_c)` weight; the last `N_c = num_labels` columns are
    label units) define the energy

    $$E(\\sigma) = -\\sum_{\\mu=1}^{K} F\\!\\left(\\frac{\\xi^\\mu\\cdot\\sigma}{T}\\right),$$

    with `F_n(x) = relu(x)ⁿ` (`"rectified"`), `xⁿ` (`"power"`) or `exp(x)`
    (`"exponential"`, Demircigil et al.). For the polynomials `F(x/T) = β F(x)` with
    `β = 1/Tⁿ`, the paper's inverse temperature.

    `mode="associative"`: the input is a full state `σ` `(batch, N + N_c)`, binarised
    with `sgn`; the layer runs asynchronous retrieval (random unit order per sweep,
    seeded), each unit updated by

    $$\\sigma_i \\leftarrow \\operatorname{sgn}\\Big[\\sum_\\mu
      F\\big(\\xi^\\mu_i + \\textstyle\\sum_{j\\ne i}\\xi^\\mu_j\\sigma_j\\big)
      - F\\big(-\\xi^\\mu_i + \\textstyle\\sum_{j\\ne i}\\xi^\\mu_j\\sigma_j\\big)\\Big],$$

    until a sweep changes nothing or after `max_steps` sweeps. The energy never
    increases. (`dynamics="parallel"` updates all units at once.)

    `mode="classifier"`: the input is a visible vector `v` `(batch, N)` and the output
    the label units after one associative update from `c = −1`, computed in the dual
    feed-forward form (see `keras_hopfield.functional.dense_memory.dam_classifier`):

    $$c_\\alpha = \\tanh\\Big(\\sum_\\mu F\\big((s_\\mu + 2\\xi^\\mu_\\alpha)/T\\big)
      - F\\big(s_\\mu/T\\big)\\Big), \\qquad
      s_\\mu = \\sum_j\\xi^\\mu_j v_j - \\sum_\\gamma\\xi^\\mu_\\gamma .$$

    **What `fit` learns.** In classifier mode the memories are trainable weights and
    the classifier trains with `fit` (use `KrotovOptimizer`, `PowerLoss` and
    `TemperatureAnnealing` for the paper's recipe). In associative mode the output is
    piecewise constant in the memories and the input (no gradient reaches either),
    so the memories are created *non-trainable*: they are set with `store` (e.g. from
    a trained classifier's `memories`), and `fit` leaves them unchanged.

    Args:
        num_memories: Number of memories `K` (hidden units), an int ≥ 1.
        degree: Degree `n ≥ 2` of the polynomial interaction (ignored by
            `"exponential"` but still validated).
        interaction: `"rectified"`, `"power"` or `"exponential"`.
        temperature: `T > 0`. Kept in a non-trainable variable (`set_temperature`,
            `TemperatureAnnealing`). For the exponential classifier keep
            `max_μ ξ^μ·σ / T ≲ 80` to avoid float32 overflow.
        num_labels: Number of label units `N_c ≥ 0` (≥ 1 for `mode="classifier"`).
        mode: `"associative"` (retrieval) or `"classifier"` (label read-out).
        dynamics: `"sequential"` or `"parallel"` (associative mode).
        max_steps: Maximum number of sweeps (associative mode), an int ≥ 1.
        classifier_form: `"exact"` (equals the associative update) or `"linear"`
            (first-order dual: hidden activation `f = F′`, cheaper).
        tie: `"keep"` or `"plus"`, the value of `sgn(0)` in the dynamics.
        memory_initializer: Initializer of the memories; default `N(−0.3, 0.3)` as in
            papers/002 App. A.
        memory_constraint: Optional constraint on the memories (the `KrotovOptimizer`
            already clips them to `[−1, 1]`).
        seed: Int or `None`, seeds the random unit orders.
        **kwargs: Base `keras.layers.Layer` arguments.

    Returns:
        Associative mode: the retrieved states `(batch, N + N_c)` of `±1`.
        Classifier mode: label outputs `(batch, N_c)` in `(−1, 1)`.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_hopfield.layers import DenseAssociativeMemory
        >>> memories = np.sign(np.random.default_rng(0).normal(size=(200, 64))).astype("float32")
        >>> dam = DenseAssociativeMemory(200, degree=3, seed=0)
        >>> _ = dam.store(memories)
        >>> retrieved = ops.convert_to_numpy(dam(memories[:4]))
        >>> bool(np.all(retrieved == memories[:4]))  # memories are fixed points at this load
        True
        >>> clf = DenseAssociativeMemory(100, degree=3, num_labels=10,
        ...                              mode="classifier", temperature=30.0)
        >>> tuple(clf(np.zeros((2, 784), "float32")).shape)
        (2, 10)
    """

    def __init__(
        self,
        num_memories,
        degree=3,
        interaction="rectified",
        temperature=1.0,
        num_labels=0,
        mode="associative",
        dynamics="sequential",
        max_steps=100,
        classifier_form="exact",
        tie="keep",
        memory_initializer=None,
        memory_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.num_memories = V.positive_int(owner, "num_memories", num_memories)
        self.degree = V.check_int(owner, "degree", degree, minimum=2)
        self.interaction = V.choice(owner, "interaction", interaction, fc.INTERACTIONS)
        self.temperature = V.positive_float(owner, "temperature", temperature)
        self.num_labels = V.non_negative_int(owner, "num_labels", num_labels)
        self.mode = V.choice(owner, "mode", mode, MODES)
        if mode == "classifier" and num_labels < 1:
            raise ValueError(
                f"{owner}: `mode='classifier'` needs label units: `num_labels` must be >= 1. "
                f"Received: num_labels={num_labels!r}"
            )
        self.dynamics = V.choice(owner, "dynamics", dynamics, ("sequential", "parallel"))
        self.max_steps = V.positive_int(owner, "max_steps", max_steps)
        self.classifier_form = V.choice(owner, "classifier_form", classifier_form, FORMS)
        self.tie = V.choice(owner, "tie", tie, fc.TIES)
        seed = V.seed(owner, "seed", seed)
        if memory_initializer is None:
            memory_initializer = keras.initializers.RandomNormal(mean=-0.3, stddev=0.3, seed=seed)
        self.memory_initializer = keras.initializers.get(memory_initializer)
        self.memory_constraint = keras.constraints.get(memory_constraint)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    @property
    def num_units(self):
        """Total number of units `N + N_c` (visible plus label units)."""
        return self.memories.shape[-1]

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError("The last dimension of the input must be known.")
        total = dim + self.num_labels if self.mode == "classifier" else dim
        if self.mode == "associative" and total <= self.num_labels:
            raise ValueError(
                f"The state has {total} units, not more than num_labels={self.num_labels}."
            )
        # Only the classifier learns its memories by gradient: associative retrieval is
        # piecewise constant in them (sgn dynamics, cut from autodiff), so there they are
        # non-trainable state set by `store` and `fit` leaves them unchanged.
        self.memories = self.add_weight(
            shape=(self.num_memories, total),
            initializer=self.memory_initializer,
            constraint=self.memory_constraint,
            trainable=self.mode == "classifier",
            name="memories",
        )
        self.temperature_variable = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.temperature),
            trainable=False,
            name="temperature",
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: dim})

    def store(self, memories):
        """Sets the memories `ξ` (e.g. random `±1` patterns) directly.

        Args:
            memories: Array-like `(K, N + N_c)`.

        Returns:
            The `memories` variable.
        """
        array = np.asarray(ops.convert_to_numpy(memories))
        if array.ndim != 2 or array.shape[0] != self.num_memories:
            raise ValueError(
                f"`memories` must have shape (num_memories={self.num_memories}, units); "
                f"received shape {array.shape}."
            )
        if not self.built:
            dim = array.shape[1] - (self.num_labels if self.mode == "classifier" else 0)
            self.build((None, dim))
        if tuple(array.shape) != tuple(self.memories.shape):
            raise ValueError(
                f"`memories` must have shape {tuple(self.memories.shape)}; "
                f"received shape {array.shape}."
            )
        self.memories.assign(ops.convert_to_tensor(array, dtype=self.memories.dtype))
        return self.memories

    def set_temperature(self, temperature):
        """Sets `T > 0` (no retracing of compiled functions)."""
        if not float(temperature) > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        self.temperature_variable.assign(float(temperature))

    def _temperature(self, dtype):
        return ops.cast(self.temperature_variable, dtype)

    def call(self, inputs, training=None):
        if self.mode == "classifier":
            return self.classify(inputs)
        return self.retrieve(ops.stop_gradient(inputs))

    def classify(self, visible):
        """Label outputs `c` `(batch, N_c)` for visible inputs `(batch, N)` (dual form)."""
        visible = ops.cast(visible, self.compute_dtype)
        return fc.dam_classifier(
            visible,
            ops.cast(self.memories, visible.dtype),
            self.num_labels,
            kind=self.interaction,
            degree=self.degree,
            temperature=self._temperature(visible.dtype),
            form=self.classifier_form,
        )

    def retrieve(self, state, return_steps=False, early_stop=True):
        """Associative retrieval from states `(..., N + N_c)`.

        Args:
            state: Tensor; binarised with `sgn` (`sgn(0) = +1`).
            return_steps: Also return the number of sweeps per example.
            early_stop: `while_loop` with early exit (`True`) or a fixed `fori_loop`.

        Returns:
            The final states (and the sweeps per example with `return_steps`).
        """
        state = fc.binarize(state, dtype=self.compute_dtype)
        shape = ops.shape(state)
        flat = ops.reshape(state, (-1, self.num_units))
        out, steps = fc.run_dam_dynamics(
            flat,
            ops.cast(self.memories, flat.dtype),
            kind=self.interaction,
            degree=self.degree,
            temperature=self._temperature(flat.dtype),
            dynamics=self.dynamics,
            max_steps=self.max_steps,
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
        """Energy `E(σ) = −Σ_μ F(ξ^μ·σ / T)` of full states `(..., N + N_c)`."""
        state = ops.convert_to_tensor(state, dtype=self.compute_dtype)
        shape = ops.shape(state)
        flat = ops.reshape(state, (-1, self.num_units))
        energy = fc.dam_energy(
            flat,
            ops.cast(self.memories, flat.dtype),
            kind=self.interaction,
            degree=self.degree,
            temperature=self._temperature(flat.dtype),
        )
        return ops.reshape(energy, shape[:-1])

    def compute_output_shape(self, input_shape):
        if self.mode == "classifier":
            return tuple(input_shape[:-1]) + (self.num_labels,)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_memories": self.num_memories,
                "degree": self.degree,
                "interaction": self.interaction,
                "temperature": self.temperature,
                "num_labels": self.num_labels,
                "mode": self.mode,
                "dynamics": self.dynamics,
                "max_steps": self.max_steps,
                "classifier_form": self.classifier_form,
                "tie": self.tie,
                "memory_initializer": keras.initializers.serialize(self.memory_initializer),
                "memory_constraint": keras.constraints.serialize(self.memory_constraint),
                "seed": self.seed,
            }
        )
        return config
