"""Predictive-coding associative memory trained by inference learning (MATH.md §4, papers/000).

The network is generative: layer `l + 1` predicts layer `l`, layer 0 is the
image. Everything below is written with `keras.ops`, so it runs unchanged on the
TensorFlow, JAX and PyTorch backends; the analytic inference and learning
updates are the exact gradients of the energy (papers/000 App. A), so no
automatic differentiation is needed, and the weights are learned inside `call`
with `variable.assign` (like `BatchNormalization`'s moving statistics), which
also works under JAX's stateless `fit`.

Row-vector convention used in the code: `x^l` has shape `(batch, n_l)`, the
weights of layer `l` are `W_l ∈ R^{n_l × n_{l−1}}` and
`μ^{l−1} = f(x^l) W_l + b_l` (the transpose of the paper's `θ^l f(x^l)`).
"""

import math

import keras
from keras import ops

from keras_hopfield.backend.distribution import require_single_replica
from keras_hopfield.backend.loops import fixed_loop, while_loop

__all__ = [
    "PredictiveCodingMemory",
    "pc_predictions",
    "pc_energy",
    "pc_value_gradients",
    "pc_weight_gradients",
]

ACTIVATIONS = ("relu", "tanh")


# --------------------------------------------------------------------------- math
def _as_tensors(states, kernels, biases):
    return (
        [ops.convert_to_tensor(x) for x in states],
        [ops.convert_to_tensor(w) for w in kernels],
        [None if b is None else ops.convert_to_tensor(b) for b in biases],
    )


def _activation(x, activation):
    return ops.relu(x) if activation == "relu" else ops.tanh(x)


def _activation_derivative(x, activation):
    if activation == "relu":
        return ops.cast(ops.greater(x, 0.0), x.dtype)
    t = ops.tanh(x)
    return 1.0 - t * t


def pc_predictions(states, kernels, biases, activation="relu"):
    """Top-down predictions `μ^{l−1} = f(x^l) W_l + b_l` of a generative PCN.

    Args:
        states: Sequence `[x^0, x^1, ..., x^L]` of `(batch, n_l)` tensors
            (`x^0` the flattened image).
        kernels: Sequence `[W_1, ..., W_L]`, `W_l` of shape `(n_l, n_{l−1})`.
        biases: Sequence `[b_1, ..., b_L]` of `(n_{l−1},)` tensors, or `None`
            entries for no bias.
        activation: `"relu"` or `"tanh"`.

    Returns:
        The list `[μ^0, ..., μ^{L−1}]`.

    Example:
        >>> from keras import ops
        >>> import numpy as np
        >>> from keras_hopfield.models.predictive_coding import pc_predictions
        >>> x = [np.ones((2, 3), "float32"), np.ones((2, 4), "float32")]
        >>> mu = pc_predictions(x, [np.ones((4, 3), "float32")], [None])
        >>> ops.convert_to_numpy(mu[0]).tolist()
        [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
    """
    states, kernels, biases = _as_tensors(states, kernels, biases)
    mus = []
    for l in range(1, len(states)):
        mu = ops.matmul(_activation(states[l], activation), kernels[l - 1])
        if biases[l - 1] is not None:
            mu = mu + biases[l - 1]
        mus.append(mu)
    return mus


def pc_energy(states, kernels, biases, activation="relu"):
    """Energy of a generative PCN for each example (papers/000 Eq. 2).

    $$E = \\tfrac12 \\sum_{l=0}^{L-1} \\lVert \\varepsilon^l \\rVert^2, \\qquad
      \\varepsilon^l = x^l - \\mu^l, \\qquad \\mu^l = \\theta^{l+1} f(x^{l+1}).$$

    The top layer `x^L` has no prediction (its value nodes are free).

    Args:
        states: Sequence `[x^0, ..., x^L]` of `(batch, n_l)` tensors.
        kernels: Sequence `[W_1, ..., W_L]`, `W_l` of shape `(n_l, n_{l−1})`.
        biases: Sequence `[b_1, ..., b_L]` (entries may be `None`).
        activation: `"relu"` or `"tanh"`.

    Returns:
        A `(batch,)` tensor of energies.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.models.predictive_coding import pc_energy
        >>> x = [np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")]
        >>> float(pc_energy(x, [np.eye(2, dtype="float32")], [None])[0])
        1.0
    """
    states, kernels, biases = _as_tensors(states, kernels, biases)
    mus = pc_predictions(states, kernels, biases, activation)
    total = 0.0
    for l, mu in enumerate(mus):
        eps = states[l] - mu
        total = total + 0.5 * ops.sum(eps * eps, axis=-1)
    return total


def _errors(states, kernels, biases, activation):
    mus = pc_predictions(states, kernels, biases, activation)
    return [states[l] - mu for l, mu in enumerate(mus)], mus


def _value_gradients_from_errors(states, errors, kernels, activation):
    # ∂E/∂x^l = ε^l − f′(x^l) ⊙ θ^{lᵀ} ε^{l−1}  (papers/000 Eq. 3 with the sign of a
    # gradient; the top layer has no ε^L and x^0 only its own error).
    grads = [errors[0]]
    depth = len(kernels)
    for l in range(1, depth + 1):
        back = _activation_derivative(states[l], activation) * ops.matmul(
            errors[l - 1], ops.transpose(kernels[l - 1])
        )
        grads.append(errors[l] - back if l < depth else -back)
    return grads


def pc_value_gradients(states, kernels, biases, activation="relu"):
    """Analytic gradients `∂E/∂x^l` of the energy with respect to the value nodes.

    $$\\frac{\\partial E}{\\partial x^l} = \\varepsilon^l -
      f'(x^l) \\odot \\theta^{l\\top} \\varepsilon^{l-1}$$

    (the first term is absent for the top layer, the second for `x^0`).
    Inference (papers/000 Eq. 3) is `Δx^l = −γ ∂E/∂x^l`.

    Args:
        states: Sequence `[x^0, ..., x^L]` of `(batch, n_l)` tensors.
        kernels: Sequence `[W_1, ..., W_L]`.
        biases: Sequence `[b_1, ..., b_L]` (entries may be `None`).
        activation: `"relu"` or `"tanh"`.

    Returns:
        The list `[∂E/∂x^0, ..., ∂E/∂x^L]`, shaped like `states`.

    Example:
        >>> from keras import ops
        >>> import numpy as np
        >>> from keras_hopfield.models.predictive_coding import pc_value_gradients
        >>> x = [np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")]
        >>> g = pc_value_gradients(x, [np.eye(2, dtype="float32")], [None])
        >>> ops.convert_to_numpy(g[1]).tolist()
        [[1.0, 1.0]]
    """
    states, kernels, biases = _as_tensors(states, kernels, biases)
    errors, _ = _errors(states, kernels, biases, activation)
    return _value_gradients_from_errors(states, errors, kernels, activation)


def pc_weight_gradients(states, kernels, biases, activation="relu"):
    """Analytic gradients of the energy with respect to the weights.

    $$\\frac{\\partial E}{\\partial W_l} = -f(x^l)^\\top \\varepsilon^{l-1}, \\qquad
      \\frac{\\partial E}{\\partial b_l} = -\\sum_{\\text{batch}} \\varepsilon^{l-1}$$

    Inference learning (papers/000 Eq. 5) is `Δθ = −α ∂E/∂θ`, i.e.
    `Δθ^{l+1} = α ε^l f(x^{l+1})ᵀ`, summed over the batch.

    Args:
        states: Sequence `[x^0, ..., x^L]` of `(batch, n_l)` tensors.
        kernels: Sequence `[W_1, ..., W_L]`.
        biases: Sequence `[b_1, ..., b_L]` (entries may be `None`).
        activation: `"relu"` or `"tanh"`.

    Returns:
        A tuple `(kernel_grads, bias_grads)` of lists (bias entries `None`
        where the bias is `None`).

    Example:
        >>> from keras import ops
        >>> import numpy as np
        >>> from keras_hopfield.models.predictive_coding import pc_weight_gradients
        >>> x = [np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")]
        >>> gw, gb = pc_weight_gradients(x, [np.eye(2, dtype="float32")], [None])
        >>> ops.convert_to_numpy(gw[0]).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    states, kernels, biases = _as_tensors(states, kernels, biases)
    errors, _ = _errors(states, kernels, biases, activation)
    return _weight_gradients_from_errors(states, errors, biases, activation)


def _weight_gradients_from_errors(states, errors, biases, activation):
    kernel_grads, bias_grads = [], []
    for l in range(1, len(states)):
        kernel_grads.append(-ops.matmul(ops.transpose(_activation(states[l], activation)), errors[l - 1]))
        bias_grads.append(None if biases[l - 1] is None else -ops.sum(errors[l - 1], axis=0))
    return kernel_grads, bias_grads


# -------------------------------------------------------------------------- model
def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}")
    return value


def _check_positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a finite number > 0. Received: {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="keras_hopfield")
class PredictiveCodingMemory(keras.Model):
    """Generative predictive-coding network used as an associative memory (Salvatori et al. 2021).

    Layers `l = 0..L`, layer 0 the (flattened) image. Value nodes `x^l`, weights
    `θ^{l+1}` (with bias) map layer `l + 1` to a prediction of layer `l`:

    $$\\mu^l = \\theta^{l+1} f(x^{l+1}), \\quad \\varepsilon^l = x^l - \\mu^l, \\quad
      E = \\tfrac12 \\sum_{l=0}^{L-1} \\lVert \\varepsilon^l \\rVert^2 .$$

    **Inference** (papers/000 Eq. 3) runs `T = inference_steps` steps of

    $$\\Delta x^l = \\gamma \\left(-\\varepsilon^l + f'(x^l) \\odot
      \\theta^{l\\top} \\varepsilon^{l-1}\\right)$$

    on the hidden layers (the top layer has no `ε^L`); every inference run
    starts at `γ = inference_rate`, and the rate of each example is multiplied
    by `gamma_decay` (0.9) whenever its energy fails to decrease during that
    run. **Inference learning** (Eq. 5) then updates the weights once with
    `Δθ^{l+1} = α ε^l f(x^{l+1})ᵀ`, summed over the full batch (the stored set).
    The value nodes of every stored image are kept in non-trainable variables
    and warm-start the next epoch's inference. The decayed rates are *not*
    carried to the next epoch (they are kept in `inference_rates` for
    inspection only): with ReLU the energy also rises by tiny amounts when a
    unit crosses its kink, so a carried-over rate only ever shrinks — it fell
    from 0.1 to ~0.003 within 200 epochs for a 4-layer network, which then
    stopped learning — and retrieval started from such a rate barely moves.

    All weights are non-trainable variables learned by these analytic updates
    inside `call(training=True)`, so `model.fit(x, x, batch_size=len(x),
    shuffle=False)` trains the memory on every backend (the loss passed to
    `compile` is only reported: it compares the prediction `μ^0` with the
    image). [`fit_memory`][keras_hopfield.models.predictive_coding.PredictiveCodingMemory.fit_memory]
    does exactly that. The stored set must always be presented as one batch in
    the same order, because value node `i` belongs to image `i`.

    **Retrieval**: the function `F` (papers/000 §5) sets `x^0` to the query,
    infers the hidden nodes with `x^0` clamped and returns `μ^0`;
    [`retrieve_noisy`][keras_hopfield.models.predictive_coding.PredictiveCodingMemory.retrieve_noisy]
    iterates it (each application restarts the hidden nodes: kept from the
    previous one they would predict `μ^0` exactly and `F` would stop moving).
    [`complete`][keras_hopfield.models.predictive_coding.PredictiveCodingMemory.complete]
    clamps only the known pixels and lets inference fill in the others.
    Retrieval starts the hidden nodes at the mean of the stored images' value
    nodes. Calling the model with `training=False` applies `F` once.

    Args:
        widths: Hidden-layer widths `(n_1, ..., n_L)`, from the layer that
            predicts the image to the top layer (an int is one hidden layer).
            The paper's "2-layer" network is one hidden layer: `widths=(n,)`.
        activation: `"relu"` (the paper's choice) or `"tanh"`.
        inference_steps: Number `T ≥ 1` of inference steps per training
            iteration and per application of `F`.
        inference_rate: Inference rate `γ > 0`.
        learning_rate: Inference-learning rate `α > 0`.
        gamma_decay: Factor in `(0, 1]` applied to `γ` whenever the energy
            fails to decrease.
        num_memories: Number of stored images (the full-batch size during
            training); `None` takes it from the first training batch
            (`fit_memory` sets it).
        image_shape: Shape of one image, e.g. `(32, 32, 3)`; `None` takes it
            from the first input.
        use_bias: Whether every prediction has a bias.
        value_init_stddev: Standard deviation of the random initial value
            nodes of the stored images.
        kernel_initializer: Initializer of the weights; the default is PyTorch's
            `nn.Linear` initialisation, `U(±1/√fan_in)`, as in the paper.
        seed: Int or `None`, seeds the weights and the initial value nodes.
        **kwargs: Base `keras.Model` arguments (`name`, `dtype`, ...).

    Returns:
        Calling the model on images `(batch, *image_shape)` returns the
        predictions `μ^0` with the same shape.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.models import PredictiveCodingMemory
        >>> images = np.random.default_rng(0).uniform(size=(8, 4, 4, 1)).astype("float32")
        >>> pcn = PredictiveCodingMemory(widths=(32,), learning_rate=0.01, seed=0)
        >>> history = pcn.fit_memory(images, epochs=2, verbose=0)
        >>> pcn.retrieve_noisy(images, iterations=2).shape
        (8, 4, 4, 1)
    """

    def __init__(
        self,
        widths=(512,),
        activation="relu",
        inference_steps=20,
        inference_rate=0.1,
        learning_rate=1e-3,
        gamma_decay=0.9,
        num_memories=None,
        image_shape=None,
        use_bias=True,
        value_init_stddev=0.1,
        kernel_initializer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(widths, bool):
            raise ValueError(f"`widths` must be a positive int or a non-empty sequence of positive ints. Received: widths={widths!r}")
        if isinstance(widths, int):
            widths = (widths,)
        if not isinstance(widths, (list, tuple)) or not widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
        ):
            raise ValueError(
                "`widths` must be a positive int or a non-empty sequence of positive ints "
                f"(the hidden-layer widths). Received: widths={widths!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {ACTIVATIONS}. Received: activation={activation!r}")
        _check_positive_int(inference_steps, "inference_steps")
        inference_rate = _check_positive_float(inference_rate, "inference_rate")
        learning_rate = _check_positive_float(learning_rate, "learning_rate")
        gamma_decay = _check_positive_float(gamma_decay, "gamma_decay")
        if gamma_decay > 1.0:
            raise ValueError(f"`gamma_decay` must be in (0, 1]. Received: gamma_decay={gamma_decay!r}")
        if num_memories is not None:
            _check_positive_int(num_memories, "num_memories")
        if image_shape is not None:
            if not isinstance(image_shape, (list, tuple)) or not image_shape or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_shape
            ):
                raise ValueError(
                    f"`image_shape` must be None or a non-empty tuple of positive ints. Received: image_shape={image_shape!r}"
                )
            image_shape = tuple(image_shape)
        if isinstance(value_init_stddev, bool) or not isinstance(value_init_stddev, (int, float)) or value_init_stddev < 0:
            raise ValueError(
                f"`value_init_stddev` must be a number >= 0. Received: value_init_stddev={value_init_stddev!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be None or an int. Received: seed={seed!r}")
        self.widths = tuple(int(w) for w in widths)
        self.activation = activation
        self.inference_steps = inference_steps
        self.inference_rate = inference_rate
        self.learning_rate = learning_rate
        self.gamma_decay = gamma_decay
        self.num_memories = num_memories
        self.image_shape = image_shape
        self.use_bias = bool(use_bias)
        self.value_init_stddev = float(value_init_stddev)
        if kernel_initializer is None:
            # PyTorch's nn.Linear default (kaiming_uniform with a=√5): U(±1/√fan_in).
            kernel_initializer = keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed

    # ------------------------------------------------------------------ build
    @property
    def depth(self):
        """Number of layers `L + 1`, the image layer included (the paper's "2-layer" PCN has depth 2)."""
        return len(self.widths) + 1

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(
                f"PredictiveCodingMemory expects a batch of images (batch, *image_shape); received input shape {input_shape}."
            )
        image_shape = tuple(input_shape[1:])
        if any(s is None for s in image_shape):
            raise ValueError(f"The image shape must be fully known; received input shape {input_shape}.")
        if self.image_shape is not None and image_shape != self.image_shape:
            raise ValueError(
                f"Images of shape {image_shape} do not match the model's image_shape={self.image_shape}."
            )
        self.image_shape = tuple(int(s) for s in image_shape)
        if self.num_memories is None and input_shape[0] is not None:
            self.num_memories = int(input_shape[0])
        self.image_size = int(math.prod(self.image_shape))
        sizes = (self.image_size,) + self.widths
        self.kernels, self.biases, self.value_nodes = [], [], []
        for l in range(1, len(sizes)):
            self.kernels.append(
                self.add_weight(
                    shape=(sizes[l], sizes[l - 1]),
                    initializer=self.kernel_initializer,
                    trainable=False,
                    name=f"kernel_{l}",
                )
            )
            self.biases.append(
                self.add_weight(shape=(sizes[l - 1],), initializer="zeros", trainable=False, name=f"bias_{l}")
                if self.use_bias
                else None
            )
        self.inference_rates = None
        if self.num_memories is not None:
            # Per-image rates at the end of the last IL iteration's inference (for
            # inspection; every iteration restarts at `inference_rate`).
            self.inference_rates = self.add_weight(
                shape=(self.num_memories,),
                initializer=keras.initializers.Constant(self.inference_rate),
                trainable=False,
                name="inference_rates",
            )
            for l in range(1, len(sizes)):
                self.value_nodes.append(
                    self.add_weight(
                        shape=(self.num_memories, sizes[l]),
                        initializer=keras.initializers.RandomNormal(
                            stddev=self.value_init_stddev, seed=None if self.seed is None else self.seed + l
                        ),
                        trainable=False,
                        name=f"value_nodes_{l}",
                    )
                )
        self.built = True

    def _flatten(self, images, name="images"):
        images = ops.convert_to_tensor(images)
        if "float" not in keras.backend.standardize_dtype(images.dtype):
            images = ops.cast(images, self.compute_dtype)
        shape = tuple(images.shape)
        if not self.built:
            self.build((None,) + shape[1:])
        if shape[1:] != self.image_shape:
            raise ValueError(
                f"`{name}` have image shape {shape[1:]}, but the memory stores images of shape {self.image_shape}."
            )
        return ops.reshape(images, (-1, self.image_size)), shape

    def _variables(self, dtype):
        kernels = [ops.cast(k, dtype) for k in self.kernels]
        biases = [None if b is None else ops.cast(b, dtype) for b in self.biases]
        return kernels, biases

    def _initial_hidden(self, batch, dtype):
        """Retrieval starts from the mean value nodes of the stored images (zeros before training)."""
        if self.value_nodes:
            means = [ops.mean(ops.cast(v, dtype), axis=0, keepdims=True) for v in self.value_nodes]
        else:
            means = [ops.zeros((1, w), dtype=dtype) for w in self.widths]
        return [ops.repeat(m, batch, axis=0) for m in means]

    # -------------------------------------------------------------- inference
    def infer(
        self, x0, hidden, known=None, inference_steps=None, return_energies=False, inference_rate=None, return_rates=False
    ):
        """Runs `T` inference steps on flattened images and hidden value nodes.

        Args:
            x0: `(batch, d)` image layer (flattened).
            hidden: List of `(batch, n_l)` initial hidden value nodes, `l = 1..L`.
            known: `None` (all of `x^0` clamped) or a `(batch, d)` mask, 1 where
                the pixel is clamped and 0 where it is a free value node.
            inference_steps: Number of steps; defaults to `inference_steps`.
            return_energies: Also return the `(T + 1, batch)` energies before
                every step and after the last one.
            inference_rate: Initial `γ`: a number, a `(batch,)` tensor of
                per-example rates, or `None` for the model's `inference_rate`.
            return_rates: Also return the `(batch,)` rates after the decays.

        Returns:
            `(x0, hidden)` after inference, followed by the energies and the
            rates when requested.
        """
        steps = self.inference_steps if inference_steps is None else _check_positive_int(inference_steps, "inference_steps")
        dtype = x0.dtype
        kernels, biases = self._variables(dtype)
        batch = ops.shape(x0)[0]
        free0 = None if known is None else 1.0 - ops.cast(known, dtype)
        if inference_rate is None:
            inference_rate = self.default_inference_rate()
        if isinstance(inference_rate, (int, float)):
            inference_rate = _check_positive_float(inference_rate, "inference_rate")
        gamma0 = ops.cast(ops.broadcast_to(ops.cast(inference_rate, dtype), (batch,)), dtype)
        # broadcast_to, not ops.full: jax2onnx's `jnp.full` needs a constant batch size.
        inf = ops.broadcast_to(ops.convert_to_tensor(float("inf"), dtype=dtype), (batch,))
        # The energy record is carried only when asked for: `call` (and so export) does without it.
        energies0 = ops.zeros((steps + 1, batch) if return_energies else (1, 1), dtype=dtype)
        activation = self.activation
        decay = self.gamma_decay

        def body(i, carry):
            x0_, hidden_, gamma, previous, energies = carry
            states = [x0_] + list(hidden_)
            errors, _ = _errors(states, kernels, biases, activation)
            energy = 0.0
            for e in errors:
                energy = energy + 0.5 * ops.sum(e * e, axis=-1)
            # papers/000 App. B: γ ← 0.9 γ each time the energy fails to decrease (an
            # increase beyond float rounding, so that a converged state keeps its rate).
            increased = ops.greater(energy, previous + 1e-6 * (1.0 + ops.abs(previous)))
            gamma = ops.where(increased, gamma * decay, gamma)
            if return_energies:
                energies = energies + ops.expand_dims(ops.one_hot(i, steps + 1, dtype=dtype), 1) * energy
            grads = _value_gradients_from_errors(states, errors + [None], kernels, activation)
            g = ops.expand_dims(gamma, 1)
            new_hidden = tuple(h - g * grads[l + 1] for l, h in enumerate(hidden_))
            if free0 is not None:
                x0_ = x0_ - g * free0 * grads[0]
            return (x0_, new_hidden, gamma, energy, energies)

        x0, hidden, gamma, _, energies = fixed_loop(steps, body, (x0, tuple(hidden), gamma0, inf, energies0))
        hidden = list(hidden)
        out = (x0, hidden)
        if return_energies:
            final = pc_energy([x0] + hidden, kernels, biases, activation)
            energies = energies + ops.expand_dims(ops.one_hot(steps, steps + 1, dtype=dtype), 1) * final
            out = out + (energies,)
        if return_rates:
            out = out + (gamma,)
        return out

    def default_inference_rate(self):
        """The `γ` every inference run (training and retrieval) starts from: `inference_rate`.

        The decay to `gamma_decay × γ` on a rising energy acts within one run only.
        (Earlier versions started retrieval from the smallest rate training had left
        per image; with ReLU those rates only ever shrink, and completion with
        them stalled far above the energy of the stored image.)

        Returns:
            The float `inference_rate`.
        """
        return self.inference_rate

    def _prediction(self, x0, hidden):
        kernels, biases = self._variables(x0.dtype)
        return pc_predictions([x0, hidden[0]], kernels[:1], biases[:1], self.activation)[0]

    # ---------------------------------------------------------------- training
    def call(self, inputs, training=None):
        x0, _ = self._flatten(inputs, "inputs")
        if training and self.trainable:
            return ops.reshape(self._learn(x0), (-1,) + self.image_shape)
        hidden = self._initial_hidden(ops.shape(x0)[0], x0.dtype)
        x0_, hidden = self.infer(x0, hidden)
        return ops.reshape(self._prediction(x0_, hidden), (-1,) + self.image_shape)

    def _learn(self, x0):
        """One inference-learning iteration on the full stored batch."""
        require_single_replica(
            type(self).__name__,
            "inference learning is one full-batch step with one set of value nodes per stored image, "
            "and each replica would see only its slice of the stored set.",
            "Train it on one device, or on the JAX backend under keras.distribution.DataParallel, "
            "which shards the stored set over devices without splitting the step.",
        )
        if not self.value_nodes:
            raise ValueError(
                "Training needs the number of stored images: pass `num_memories=` to PredictiveCodingMemory "
                "or train with `fit_memory(images, ...)`."
            )
        batch = x0.shape[0]
        if batch is not None and int(batch) != self.num_memories:
            raise ValueError(
                f"Inference learning is full-batch with one set of value nodes per stored image: the training "
                f"batch has {batch} images but the memory stores num_memories={self.num_memories}. Use "
                f"`fit_memory(images)` or `fit(x, x, batch_size=len(x), shuffle=False)`."
            )
        dtype = x0.dtype
        hidden = [ops.cast(v, dtype) for v in self.value_nodes]
        # Each IL iteration's inference starts afresh at γ = inference_rate; the decayed
        # rates are recorded in `inference_rates` (diagnostic only, never fed back).
        x0, hidden, rates = self.infer(x0, hidden, inference_rate=self.inference_rate, return_rates=True)
        self.inference_rates.assign(ops.cast(rates, self.inference_rates.dtype))
        states = [x0] + hidden
        kernels, biases = self._variables(dtype)
        errors, mus = _errors(states, kernels, biases, self.activation)
        kernel_grads, bias_grads = _weight_gradients_from_errors(states, errors, biases, self.activation)
        alpha = self.learning_rate
        for l, kernel in enumerate(self.kernels):
            kernel.assign(ops.cast(kernels[l] - alpha * kernel_grads[l], kernel.dtype))
            if self.biases[l] is not None:
                self.biases[l].assign(ops.cast(biases[l] - alpha * bias_grads[l], self.biases[l].dtype))
        for variable, h in zip(self.value_nodes, hidden):
            variable.assign(ops.cast(h, variable.dtype))
        return mus[0]

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """`keras.Model.fit` with the checks inference learning needs (full batch, fixed order).

        Value node `i` belongs to stored image `i`, so the stored set must be one
        batch in a fixed order: `shuffle` defaults to `False` here and
        `shuffle=True` is refused; arrays whose length differs from
        `num_memories` are refused with a clear message.

        Args:
            x: Images `(num_memories, *image_shape)`.
            y: Targets for the reported loss (normally `x` itself).
            batch_size: `None` or `num_memories`.
            *args: Other positional arguments of `keras.Model.fit`.
            **kwargs: Other keyword arguments of `keras.Model.fit`.

        Returns:
            The `keras.callbacks.History` of `fit`.
        """
        if kwargs.get("shuffle", False) is True:
            raise ValueError(
                "Inference learning keeps one set of value nodes per stored image, in order: "
                "fit a PredictiveCodingMemory with shuffle=False."
            )
        kwargs["shuffle"] = False
        n = getattr(x, "shape", None)
        n = None if n is None else n[0]
        if self.num_memories is not None and n is not None and int(n) != self.num_memories:
            raise ValueError(
                f"Inference learning is full-batch with one set of value nodes per stored image: got {int(n)} "
                f"images but the memory stores num_memories={self.num_memories}."
            )
        if batch_size is None and n is not None:
            batch_size = int(n)
        if self.num_memories is not None and batch_size is not None and batch_size != self.num_memories:
            raise ValueError(
                f"Inference learning is full-batch: use batch_size={self.num_memories} (num_memories), "
                f"not batch_size={batch_size}."
            )
        return super().fit(x, y, batch_size, *args, **kwargs)

    def fit_memory(self, images, epochs=100, verbose="auto", callbacks=None, **compile_kwargs):
        """Stores images by inference learning: full-batch `model.fit` for `epochs` iterations.

        Compiles the model first if needed (loss `"mse"` between `μ^0` and the
        images, reported only; the weights are learned by the IL updates), and
        sets `num_memories` to `len(images)` if the model is not built yet.

        Args:
            images: Array `(N, *image_shape)` of images to store.
            epochs: Number of IL iterations (one inference + one weight update each).
            verbose: Passed to `fit`.
            callbacks: Passed to `fit`.
            **compile_kwargs: Passed to `compile` when the model is not compiled
                yet (e.g. `jit_compile=False`).

        Returns:
            The `keras.callbacks.History` of `fit`.
        """
        images = ops.convert_to_numpy(images)
        _check_positive_int(epochs, "epochs")
        n = int(images.shape[0])
        if not self.built:
            if self.num_memories is None:
                self.num_memories = n
            self.build((None,) + tuple(images.shape[1:]))
        self._flatten(images[:1])  # image-shape check with a clear message
        if self.num_memories != n:
            raise ValueError(f"The memory was built for num_memories={self.num_memories} images; received {n}.")
        if not self.compiled:
            compile_kwargs.setdefault("loss", "mse")
            self.compile(**compile_kwargs)
        return self.fit(images, images, batch_size=n, epochs=epochs, shuffle=False, verbose=verbose, callbacks=callbacks)

    # --------------------------------------------------------------- retrieval
    def _retrieve(self, x0, known, iterations, inference_steps, inference_rate, tolerance=None):
        batch = ops.shape(x0)[0]
        dtype = x0.dtype
        init = tuple(self._initial_hidden(batch, dtype))
        clamped = x0
        if known is not None:
            # Unknown pixels start at the prediction of the initial hidden nodes, so they
            # exert no pull on inference until the known pixels have moved the hidden layers.
            x0 = ops.where(ops.greater(known, 0.5), x0, self._prediction(x0, list(init)))
        trajectory0 = ops.zeros((iterations, batch, self.image_size), dtype=dtype)

        def body(i, carry):
            state, hidden_, trajectory = carry
            if known is None:
                # F (papers/000 §5): every application starts inference afresh from the
                # retrieval initialisation with x^0 clamped to the current image. Keeping
                # the hidden nodes would make F the identity after one step, because
                # μ^0 is then predicted exactly (zero error, zero update).
                hidden_ = init
            state, new_hidden = self.infer(
                state, list(hidden_), known=known, inference_steps=inference_steps, inference_rate=inference_rate
            )
            mu = self._prediction(state, new_hidden)
            if known is None:
                out = mu
                state = mu  # F replaces x^0 by μ^0
            else:
                # Completion: the known pixels stay clamped, the unknown ones are value
                # nodes whose inference continues from where the last round stopped.
                out = ops.where(ops.greater(known, 0.5), clamped, mu)
            trajectory = trajectory + ops.reshape(ops.one_hot(i, iterations, dtype=dtype), (-1, 1, 1)) * out
            return (state, tuple(new_hidden), trajectory)

        if tolerance is None:
            _, _, trajectory = fixed_loop(iterations, body, (x0, init, trajectory0))
            return trajectory, iterations

        # Completion until convergence: stop after the first round in which no
        # reconstruction moved by more than `tolerance` (max |Δ| over the batch).
        # The first round is compared with the starting state `x0` (the known
        # pixels and the initial prediction elsewhere).
        def cond(i, state, hidden_, trajectory, previous, change):
            return ops.logical_and(ops.less(i, iterations), ops.greater_equal(change, tolerance))

        def while_body(i, state, hidden_, trajectory, previous, change):
            state, hidden_, trajectory = body(i, (state, hidden_, trajectory))
            out = ops.take(trajectory, i, axis=0)
            change = ops.max(ops.abs(out - previous))
            return (i + 1, state, hidden_, trajectory, out, change)

        inf = ops.convert_to_tensor(float("inf"), dtype=dtype)
        rounds, _, _, trajectory, final, _ = while_loop(
            cond, while_body, (ops.convert_to_tensor(0, "int32"), x0, init, trajectory0, x0, inf)
        )
        # Rounds not run hold the final reconstruction, so `trajectory[-1]` is the result.
        ran = ops.reshape(ops.less(ops.arange(iterations), rounds), (-1, 1, 1))
        trajectory = ops.where(ran, trajectory, ops.expand_dims(final, 0))
        return trajectory, rounds

    def retrieve_noisy(self, images, iterations=1, inference_steps=None, inference_rate=None, return_trajectory=False):
        """Retrieves stored images from corrupted copies by iterating `F`.

        One application of `F`: clamp `x^0` to the current image, infer the
        hidden value nodes for `T` steps (starting from the mean value nodes of
        the stored images), and replace the image by the prediction `μ^0`:
        `x_{k+1} = F(x_k)`, `x_0` the corrupted image.

        Args:
            images: `(batch, *image_shape)` corrupted images.
            iterations: Number `m ≥ 1` of applications of `F` (the paper uses 30).
            inference_steps: `T` per application; defaults to the model's.
            inference_rate: Initial `γ` of retrieval; defaults to the model's.
            return_trajectory: Also return the image after every iteration.

        Returns:
            The retrieved images `F^m(x)`, shape `(batch, *image_shape)`, as a
            NumPy array; with `return_trajectory` also the `(m, batch,
            *image_shape)` array of `F^1(x), ..., F^m(x)`.
        """
        _check_positive_int(iterations, "iterations")
        x0, _ = self._flatten(images)
        trajectory, _ = self._retrieve(x0, None, iterations, inference_steps, inference_rate)
        trajectory = ops.convert_to_numpy(ops.reshape(trajectory, (iterations, -1) + self.image_shape))
        return (trajectory[-1], trajectory) if return_trajectory else trajectory[-1]

    def complete(
        self,
        images,
        known_mask,
        iterations=1,
        inference_steps=None,
        inference_rate=None,
        return_trajectory=False,
        tolerance=None,
        return_rounds=False,
    ):
        """Reconstructs partial images: known pixels clamped, unknown pixels inferred.

        The unknown pixels of `x^0` are value nodes updated by inference
        (`Δx^0 = −γ ε^0` on them) together with the hidden layers, starting
        from the prediction of the initial hidden nodes (their values in
        `images` are ignored); the output holds the known pixels unchanged and
        `μ^0` at the unknown ones.

        Args:
            images: `(batch, *image_shape)` images (the values of unknown
                pixels are ignored).
            known_mask: Boolean array broadcastable to `images`, `True` where a
                pixel is known (e.g. from `keras_hopfield.corruptions.keep_top_fraction`).
            iterations: Number of inference rounds of `T` steps (the state is
                carried over, so this is `iterations × T` steps in total).
            inference_steps: `T` per round; defaults to the model's.
            inference_rate: Initial `γ` of each round; defaults to the model's.
            return_trajectory: Also return the reconstruction after every round.
            tolerance: `None` (run all `iterations` rounds) or a float `> 0`:
                completion until convergence, i.e. stop after the first round in
                which no pixel of any image in the batch changed by more than
                `tolerance`; `iterations` is then the maximum number of rounds
                (the trajectory repeats the final reconstruction for the rounds
                not run).
            return_rounds: Also return the number of rounds run (an int).

        Returns:
            The completed images as a NumPy array, followed by the `(iterations,
            batch, *image_shape)` trajectory with `return_trajectory` and the
            number of rounds run with `return_rounds`.

        Raises:
            ValueError: If the images do not have the stored image shape or the
                mask cannot be broadcast to them.
        """
        _check_positive_int(iterations, "iterations")
        if tolerance is not None:
            tolerance = _check_positive_float(tolerance, "tolerance")
        x0, shape = self._flatten(images)
        known = ops.convert_to_tensor(known_mask)
        try:
            known = ops.broadcast_to(ops.cast(known, x0.dtype), shape)
        except Exception as error:
            raise ValueError(
                f"`known_mask` of shape {tuple(known.shape)} cannot be broadcast to the images' shape {shape}."
            ) from error
        known = ops.reshape(known, (-1, self.image_size))
        trajectory, rounds = self._retrieve(x0, known, iterations, inference_steps, inference_rate, tolerance)
        trajectory = ops.convert_to_numpy(ops.reshape(trajectory, (iterations, -1) + self.image_shape))
        out = (trajectory[-1],) + ((trajectory,) if return_trajectory else ())
        out = out + ((int(ops.convert_to_numpy(rounds)),) if return_rounds else ())
        return out if len(out) > 1 else out[0]

    def energy(self, images, hidden=None):
        """Energy `E` of images with given (or freshly inferred) hidden value nodes.

        Args:
            images: `(batch, *image_shape)` images (clamped `x^0`).
            hidden: Optional list of `(batch, n_l)` hidden value nodes; by
                default they are inferred for `T` steps from the retrieval
                initialisation.

        Returns:
            A `(batch,)` tensor of energies.
        """
        x0, _ = self._flatten(images)
        kernels, biases = self._variables(x0.dtype)
        if hidden is None:
            x0, hidden = self.infer(x0, self._initial_hidden(ops.shape(x0)[0], x0.dtype))
        return pc_energy([x0] + [ops.convert_to_tensor(h, x0.dtype) for h in hidden], kernels, biases, self.activation)

    def inference_energies(self, images, inference_steps=None):
        """Energy before every inference step (and after the last) with the images clamped.

        Args:
            images: `(batch, *image_shape)` images.
            inference_steps: Number of steps; defaults to the model's.

        Returns:
            A `(T + 1, batch)` NumPy array.
        """
        x0, _ = self._flatten(images)
        hidden = self._initial_hidden(ops.shape(x0)[0], x0.dtype)
        _, _, energies = self.infer(x0, hidden, inference_steps=inference_steps, return_energies=True)
        return ops.convert_to_numpy(energies)

    # ------------------------------------------------------------ keras plumbing
    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "widths": list(self.widths),
            "activation": self.activation,
            "inference_steps": self.inference_steps,
            "inference_rate": self.inference_rate,
            "learning_rate": self.learning_rate,
            "gamma_decay": self.gamma_decay,
            "num_memories": self.num_memories,
            "image_shape": None if self.image_shape is None else list(self.image_shape),
            "use_bias": self.use_bias,
            "value_init_stddev": self.value_init_stddev,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "seed": self.seed,
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel_initializer"] = keras.initializers.deserialize(config["kernel_initializer"])
        if config.get("dtype") is not None and isinstance(config["dtype"], dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
