"""`CBAN`: a (convolutional) bipartite attractor network that settles, and its TD(1) training recipe.

papers/001, MATH.md §5. Layers `x⁰ (visible), x¹ … x^L (hidden)`; block `l`
(a `keras_hopfield.layers.CBANBlock`) ties `x^l` and `x^{l+1}` with one
kernel. Energy (Eq. 5):

`E(x) = −Σ_l x^{l+1} • (W^l * x^l) + Σ_l Σ_i [ρ(x^l_i) − b^l_i x^l_i]`.

One *iteration* is a sweep up then down; each layer is updated in parallel
from its two neighbours, `x^l ← f(W^{l−1} * x^{l−1} + W^{lᵀ} *ᵀ x^{l+1} + b^l)`.
Because units of one layer do not interact, each such update minimises `E`
exactly over that layer, so with tied weights the energy never increases and
the net reaches a fixed point. Evidence clamps visible units through a mask;
with `replicate_visible=True` the visible layer holds a clamped input copy and
a free output copy (App. A, used for super-resolution). Settling stops when
`max |x(t) − x(t−1)| < tolerance` for an example (per example), or after
`max_steps`.

Training (`model.fit`) needs no `loss` in `compile`: the settling loss is part
of the model. `training_mode`:

- `"td1"` (the paper's transient training, §3.3): the loss on the unclamped
  visible state `ṽ(t)` at *every* iteration up to convergence, summed;
  backpropagation through the unrolled settling (`max_train_steps` steps).
  Truncating the sum weights the first, inevitably poor iterations far more
  than the paper's sum to convergence (~50 iterations); `td_horizon` lets the
  last unrolled iteration stand in for the ones not run.
- `"final"`: the loss at the last iteration only (the CBAN-noTD ablation).
- `"implicit"`: the loss at the fixed point with the Almeida–Pineda /
  implicit-function gradient. Settling runs without a tape; the adjoint
  `u = D(g + K u)` (`K` the symmetric coupling, `D = diag f′` of the free
  units, `g = ∂L/∂x*`) is solved by the same sweeps, so memory does not
  grow with the number of settling steps. Needs tied weights.

How the loss reaches `compute_loss`: the Keras trainers call the model and
then `compute_loss(x, y, y_pred)` in one traced step (on every backend), so
`call(training=True)` leaves the per-iteration visible net inputs (or the
fixed point) on the model and `compute_loss` combines them with `y` — the
same hand-off Keras itself uses for `add_loss`. The settled energy, the
number of settling steps and the loss at the settled state are logged as the
metrics `energy`, `settle_steps` and `settled_loss`.
"""

import keras
from keras import ops

from keras_hopfield import functional as F
from keras_hopfield.backend.distribution import scale_loss
from keras_hopfield.backend.export import while_loop_export_kwargs
from keras_hopfield.backend.loops import fixed_scan, while_loop
from keras_hopfield.functional.attractor import _validate_attractor_activation
from keras_hopfield.layers.cban import CBANBlock

__all__ = ["CBAN"]

TRAINING_MODES = ("td1", "final", "implicit")


def _per_example_max(t):
    return ops.amax(ops.reshape(ops.abs(t), (ops.shape(t)[0], -1)), axis=-1)


def _per_example_sum(t):
    return ops.sum(ops.reshape(t, (ops.shape(t)[0], -1)), axis=-1)


def _expand_like(per_example, t):
    return ops.reshape(per_example, (-1,) + (1,) * (len(t.shape) - 1))


@keras.saving.register_keras_serializable(package="keras_hopfield")
class CBAN(keras.Model):
    """A bipartite attractor net over a visible layer and the hidden layers of `blocks`.

    Args:
        blocks: List of `CBANBlock`s, from the visible layer upwards.
        activation: Unit activation, `"tanh"` or `"leaky_sigmoid"` (§3.3).
        alpha: Slope of the leaky sigmoid outside `[−1, 1]` (App. C: convergence
            is guaranteed when `alpha · max_i ‖w_i‖₁ < 1`).
        max_steps: Largest number of settling iterations at inference.
        tolerance: Settling stops for an example when `max |Δx| < tolerance` (θ = 0.01).
        settle_loss: `"se"` (`L_SE`), `"delta_e"` (`L_ΔE`) or `"delta_e_plus"` (`L_ΔE+`), App. B.
        training_mode: `"td1"`, `"final"` or `"implicit"` (see the module docstring).
        max_train_steps: Settling iterations unrolled in training (`td1`/`final`);
            default `max_steps`. Examples that converge earlier stop contributing.
        replicate_visible: Hold a clamped input copy and a free output copy of
            the visible units (concatenated on the last axis); the output copy
            is the read-out and the only part the loss sees.
        temperature: `T` of `L_ΔE+`.
        visible_bias: Give the visible layer a trainable bias.
        adjoint_steps: Largest number of adjoint sweeps in `"implicit"` mode
            (default `max_steps`).
        td_horizon: `"td1"` only. The number of iterations TD(1) would sum over
            had settling not been truncated at `max_train_steps`: for an example
            still settling after the unroll, the loss of the last unrolled
            iteration also stands in for the `td_horizon − max_train_steps`
            iterations that were not run (weight `1 + td_horizon − max_train_steps`).
            `None` (default): the plain truncated sum. Examples that converged
            within the unroll are unaffected either way.
        **kwargs: Base `Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(evidence, clamp_mask)`, a dict with keys `"evidence"` and
            `"clamp_mask"`, or (with `replicate_visible=True`) the evidence
            alone. `clamp_mask` is 1 where a visible unit is clamped to the
            evidence (broadcastable to the evidence).
        training: In training, record what the settling loss needs.

    Returns:
        The completion: the settled visible state (clamped units equal to the
        evidence), or the output copy when `replicate_visible=True`.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.models import CBAN
        >>> from keras_hopfield.layers import CBANBlock
        >>> model = CBAN([CBANBlock(units=16)], max_steps=20)
        >>> evidence = np.zeros((4, 25), "float32"); mask = np.zeros((4, 25), "float32")
        >>> tuple(model((evidence, mask)).shape)
        (4, 25)
    """

    def __init__(
        self,
        blocks,
        activation="tanh",
        alpha=0.2,
        max_steps=100,
        tolerance=0.01,
        settle_loss="se",
        training_mode="td1",
        max_train_steps=None,
        replicate_visible=False,
        temperature=1.0,
        visible_bias=True,
        adjoint_steps=None,
        td_horizon=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        blocks = [
            b if isinstance(b, CBANBlock) else keras.saving.deserialize_keras_object(b) for b in blocks
        ]
        if not blocks or not all(isinstance(b, CBANBlock) for b in blocks):
            raise ValueError(f"`blocks` must be a non-empty list of CBANBlock layers. Received: {blocks!r}")
        self.blocks = blocks
        _validate_attractor_activation(activation, alpha)
        self.activation = activation
        self.alpha = float(alpha)
        for name, value in (
            ("max_steps", max_steps), ("max_train_steps", max_train_steps), ("adjoint_steps", adjoint_steps),
            ("td_horizon", td_horizon),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        self.max_steps = max_steps
        self.max_train_steps = max_train_steps
        self.adjoint_steps = adjoint_steps
        self.td_horizon = td_horizon
        if not tolerance > 0:
            raise ValueError(f"`tolerance` must be positive. Received: tolerance={tolerance!r}")
        self.tolerance = float(tolerance)
        if settle_loss not in F.SETTLE_LOSSES:
            raise ValueError(f"Unknown `settle_loss`={settle_loss!r}; expected one of {F.SETTLE_LOSSES}.")
        self.settle_loss = settle_loss
        if training_mode not in TRAINING_MODES:
            raise ValueError(f"Unknown `training_mode`={training_mode!r}; expected one of {TRAINING_MODES}.")
        if training_mode == "implicit" and not all(b.tied for b in blocks):
            raise ValueError(
                "`training_mode='implicit'` needs tied (symmetric) weights: the implicit gradient "
                "uses the symmetric coupling. Use 'td1' or 'final' for untied (CBAN-asym) blocks."
            )
        self.training_mode = training_mode
        self.replicate_visible = bool(replicate_visible)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature!r}")
        self.temperature = float(temperature)
        self.use_visible_bias = bool(visible_bias)
        self.energy_tracker = keras.metrics.Mean(name="energy")
        self.steps_tracker = keras.metrics.Mean(name="settle_steps")
        self.settled_loss_tracker = keras.metrics.Mean(name="settled_loss")
        self._settle_trace = None

    # -- inputs -------------------------------------------------------------
    def _unpack(self, inputs):
        if isinstance(inputs, dict):
            evidence = inputs["evidence"]
            mask = inputs.get("clamp_mask")
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"Expected inputs `(evidence, clamp_mask)`; received {len(inputs)} tensors.")
            evidence, mask = inputs
        else:
            evidence, mask = inputs, None
        if mask is None and not self.replicate_visible:
            raise ValueError(
                "A CBAN without replicated visible units needs a clamp mask: call it on "
                "`(evidence, clamp_mask)` with clamp_mask = 1 where the evidence is known."
            )
        return evidence, mask

    def _visible_shape(self, evidence_shape):
        evidence_shape = tuple(evidence_shape)
        if self.replicate_visible:
            last = evidence_shape[-1]
            return evidence_shape[:-1] + (None if last is None else 2 * last,)
        return evidence_shape

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            evidence_shape = input_shape["evidence"]
        elif isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            evidence_shape = input_shape[0]
        else:
            evidence_shape = input_shape
        evidence_shape = tuple(evidence_shape)
        if len(evidence_shape) < 2:
            raise ValueError(f"The evidence needs a batch axis and at least one feature axis; got shape {evidence_shape}.")
        shape = self._visible_shape(evidence_shape)
        self.layer_shapes = [shape]
        for block in self.blocks:
            if not block.built:
                block.build(shape)
            shape = block.upper_shape(shape)
            self.layer_shapes.append(shape)
        if self.use_visible_bias:
            self.visible_bias = self.add_weight(
                name="visible_bias", shape=(self.layer_shapes[0][-1],), initializer="zeros"
            )
        else:
            self.visible_bias = None
        self.built = True

    # -- the dynamics -------------------------------------------------------
    def _params(self, stop=False):
        """(kernel, down kernel, upper bias) per block, and the visible bias — optionally gradient-stopped."""
        sg = ops.stop_gradient if stop else (lambda t: t)
        blocks = []
        for b in self.blocks:
            blocks.append(
                (
                    sg(b.kernel),
                    None if b.tied else sg(b.down_kernel),
                    None if b.bias is None else sg(b.bias),
                )
            )
        visible = None if self.visible_bias is None else sg(self.visible_bias)
        return blocks, visible

    def _up(self, index, lower, params):
        kernel, _, _ = params[0][index]
        return self.blocks[index].up(lower, kernel=kernel)

    def _down(self, index, upper, params):
        kernel, down_kernel, _ = params[0][index]
        return self.blocks[index].down(upper, kernel=kernel if down_kernel is None else down_kernel)

    def _bias(self, layer, params):
        bias = params[1] if layer == 0 else params[0][layer - 1][2]
        return None if bias is None else ops.cast(bias, self.compute_dtype)

    def net_input(self, states, layer, params=None):
        """Net input `a^l = W^{l−1} * x^{l−1} + W^{lᵀ} *ᵀ x^{l+1} + b^l` of layer `layer`."""
        params = params or self._params()
        a = None
        if layer > 0:
            a = self._up(layer - 1, states[layer - 1], params)
        if layer < len(self.blocks):
            down = self._down(layer, states[layer + 1], params)
            a = down if a is None else a + down
        bias = self._bias(layer, params)
        return a if bias is None else a + bias

    def _f(self, a):
        return F.attractor_activation(a, self.activation, self.alpha)

    def _update_layer(self, states, layer, evidence, mask, params):
        """Set layer `layer` to `f(a^l)` (visible: only its free units). Returns (states, a^l)."""
        a = self.net_input(states, layer, params)
        new = self._f(a)
        if layer == 0:
            new = mask * evidence + (1.0 - mask) * new
        states = list(states)
        states[layer] = new
        return states, a

    def _sweep(self, states, evidence, mask, params):
        """One iteration: hidden layers 1..L upward, L−1..1 downward, then the visible layer."""
        depth = len(self.blocks)
        for layer in list(range(1, depth + 1)) + list(range(depth - 1, 0, -1)):
            states, _ = self._update_layer(states, layer, evidence, mask, params)
        return self._update_layer(states, 0, evidence, mask, params)

    def _prepare(self, inputs):
        evidence, mask = self._unpack(inputs)
        dtype = self.compute_dtype
        evidence = ops.cast(evidence, dtype)
        if mask is None:
            mask = ops.ones_like(evidence)
        mask = ops.cast(mask, dtype) * ops.ones_like(evidence)
        if self.replicate_visible:
            evidence = ops.concatenate([evidence, ops.zeros_like(evidence)], axis=-1)
            mask = ops.concatenate([mask, ops.zeros_like(mask)], axis=-1)
        expected = self.layer_shapes[0][1:]
        got = tuple(evidence.shape[1:])
        # A convolutional net is translation invariant: only the channels are fixed at build time.
        checked = slice(-1, None) if self.blocks[0].conv else slice(None)
        if len(expected) != len(got) or any(
            e is not None and g is not None and e != g for e, g in zip(expected[checked], got[checked])
        ):
            raise ValueError(
                f"The evidence does not match the visible layer this CBAN was built for: visible shape "
                f"{expected}, evidence gives {got}."
            )
        states = [mask * evidence]
        for block in self.blocks:
            # Zeros of the hidden layer's runtime shape (works for any image size of a conv net).
            states.append(ops.zeros_like(ops.stop_gradient(block.up(states[-1]))))
        return states, evidence, mask

    def _readout(self, visible):
        if self.replicate_visible:
            channels = self.layer_shapes[0][-1] // 2
            return visible[..., channels:]
        return visible

    def _settle(self, states, evidence, mask, params, max_steps):
        """Settle with a `while_loop` (forward only) and per-example freezing."""
        batch = ops.shape(evidence)[0]
        active = ops.ones((batch,), dtype="bool")
        steps = ops.zeros((batch,), dtype="int32")

        def cond(t, states, active, steps):
            return ops.logical_and(t < max_steps, ops.any(active))

        def body(t, states, active, steps):
            new, _ = self._sweep(states, evidence, mask, params)
            delta = None
            for old_x, new_x in zip(states, new):
                d = _per_example_max(new_x - old_x)
                delta = d if delta is None else ops.maximum(delta, d)
            kept = [ops.where(_expand_like(active, n), n, o) for n, o in zip(new, states)]
            steps = steps + ops.cast(active, "int32")
            active = ops.logical_and(active, delta >= self.tolerance)
            return t + 1, kept, active, steps

        _, states, _, steps = while_loop(
            cond, body, (ops.convert_to_tensor(0, "int32"), list(states), active, steps), maximum_iterations=max_steps
        )
        return states, steps

    def _settle_unrolled(self, states, evidence, mask, params, steps_n):
        """Differentiable fixed-trip settling that also returns the visible net input of every iteration."""
        batch = ops.shape(evidence)[0]
        active = ops.ones((batch,), dtype=self.compute_dtype)
        steps = ops.zeros((batch,), dtype=self.compute_dtype)

        def body(t, carry):
            states, active, steps = carry
            new, a_v = self._sweep(list(states), evidence, mask, params)
            delta = None
            for old_x, new_x in zip(states, new):
                d = _per_example_max(new_x - old_x)
                delta = d if delta is None else ops.maximum(delta, d)
            kept = [ops.where(_expand_like(active, n) > 0, n, o) for n, o in zip(new, states)]
            weight = active
            steps = steps + active
            active = active * ops.cast(ops.stop_gradient(delta) >= self.tolerance, active.dtype)
            return (kept, active, steps), (a_v, weight)

        (states, active, steps), (a_vs, weights) = fixed_scan(steps_n, body, (list(states), active, steps))
        return states, steps, a_vs, weights, active

    # -- public API ---------------------------------------------------------
    def call(self, inputs, training=False):
        states, evidence, mask = self._prepare(inputs)
        if training and self.training_mode in ("td1", "final"):
            n = self.max_train_steps or self.max_steps
            states, steps, a_vs, weights, active = self._settle_unrolled(states, evidence, mask, self._params(), n)
            self._settle_trace = {
                "states": states, "steps": steps, "a_vs": a_vs, "weights": weights, "active": active, "mask": mask
            }
        else:
            stop = bool(training)  # implicit mode: settle without a tape
            states, steps = self._settle(states, evidence, mask, self._params(stop=stop), self.max_steps)
            if stop:
                states = [ops.stop_gradient(s) for s in states]
            self._settle_trace = {"states": states, "steps": steps, "mask": mask}
        return self._readout(states[0])

    def settle(self, inputs, max_steps=None):
        """Settles the net on the evidence (eagerly, or inside your own compiled function).

        Args:
            inputs: `(evidence, clamp_mask)`, as for `call`.
            max_steps: Iteration limit; default the model's `max_steps`.

        Returns:
            A dict: `completion` (the read-out), `states` (the settled state of
            every layer, visible first), `steps` (iterations per example until
            `max |Δx| < tolerance`) and `energy` (Eq. 5 per example).
        """
        if not self.built:
            self.build(ops.shape(self._unpack(inputs)[0]))
        states, evidence, mask = self._prepare(inputs)
        # Diagnostics, not training: no gradient tape (PyTorch would otherwise record the loop).
        states, steps = self._settle(states, evidence, mask, self._params(stop=True), max_steps or self.max_steps)
        states = [ops.stop_gradient(s) for s in states]
        return {
            "completion": self._readout(states[0]),
            "states": states,
            "steps": steps,
            "energy": ops.stop_gradient(self.energy(states)),
        }

    def trajectory(self, inputs, steps=None):
        """Runs a fixed number of iterations (no early stop) and records each one.

        Args:
            inputs: `(evidence, clamp_mask)`, as for `call`.
            steps: Number of iterations; default the model's `max_steps`.

        Returns:
            A dict of tensors with the iteration on the leading axis: `visible`
            (the read-out), `unclamped` (the unclamped visible state `ṽ(t)`, the
            "dream" of the hidden layers), `energy` (per example) and `delta`
            (`max |x(t) − x(t−1)|` per example).
        """
        if not self.built:
            self.build(ops.shape(self._unpack(inputs)[0]))
        states, evidence, mask = self._prepare(inputs)
        params = self._params(stop=True)

        def body(t, states):
            new, a_v = self._sweep(list(states), evidence, mask, params)
            delta = None
            for old_x, new_x in zip(states, new):
                d = _per_example_max(new_x - old_x)
                delta = d if delta is None else ops.maximum(delta, d)
            return new, (self._readout(new[0]), self._readout(self._f(a_v)), self.energy(new, params), delta)

        _, (visible, unclamped, energy, delta) = fixed_scan(steps or self.max_steps, body, list(states))
        return {"visible": visible, "unclamped": unclamped, "energy": energy, "delta": delta}

    def energy(self, states, params=None):
        """Energy (Eq. 5) of a full state (list: visible, hidden 1..L), per example.

        Non-increasing along the settling of a tied net (each layer update minimises it exactly)."""
        params = params or self._params()
        total = None
        for layer, x in enumerate(states):
            x = ops.cast(x, self.compute_dtype)
            term = F.barrier(x, self.activation, self.alpha)
            bias = self._bias(layer, params)
            if bias is not None:
                term = term - bias * x
            e = _per_example_sum(term)
            total = e if total is None else total + e
        for index, block in enumerate(self.blocks):
            # Untied (CBAN-asym) blocks have no energy; this is then the energy of the
            # symmetric net with their up kernels, not a Lyapunov function of their dynamics.
            product = ops.cast(states[index + 1], self.compute_dtype) * self._up(index, states[index], params)
            total = total - _per_example_sum(product)
        return total

    # -- training -----------------------------------------------------------
    def _target(self, y):
        return ops.cast(y, self.compute_dtype)

    def _loss_region(self, a_v):
        return self._readout(a_v)

    def _per_example_loss(self, a_v, y):
        return F.settle_loss(
            self._loss_region(a_v), y, self.settle_loss, self.activation, self.alpha, self.temperature
        )

    def _visible_net_input(self, states, params=None):
        return self.net_input(states, 0, params or self._params())

    def _reduce(self, per_example, sample_weight):
        if sample_weight is not None:
            w = ops.cast(ops.reshape(sample_weight, (-1,)), per_example.dtype)
            return ops.sum(per_example * w) / ops.maximum(ops.sum(w), 1e-12), w
        return ops.mean(per_example), None

    def _dloss_da(self, a_v, y, per_example_scale):
        """∂L/∂a_v of the per-example settling loss, times a per-example scale (zero on the input copy)."""
        region = self._loss_region(a_v)
        v = self._f(region)
        if self.settle_loss == "se":
            grad = 2.0 * (v - y) * F.attractor_activation_derivative(region, self.activation, self.alpha)
        else:
            grad = v - y  # d/da [a(f(a) − y) + ρ(y) − ρ(f(a))] = f(a) − y since ρ′ = f⁻¹
            if self.settle_loss == "delta_e_plus":
                delta = F.settle_loss(region, y, "delta_e", self.activation, self.alpha)
                grad = grad * _expand_like(ops.sigmoid(delta / self.temperature) / self.temperature, grad)
        grad = grad * _expand_like(per_example_scale, grad)
        if self.replicate_visible:
            grad = ops.concatenate([ops.zeros_like(grad), grad], axis=-1)
        return grad

    def _implicit_loss(self, trace, y, sample_weight):
        """Loss at the fixed point plus a zero-valued surrogate carrying the implicit gradient."""
        states = trace["states"]
        mask = trace["mask"]
        params = self._params()
        stopped = self._params(stop=True)
        a_v = self._visible_net_input(states, params)
        per_example = self._per_example_loss(a_v, y)
        loss, weights = self._reduce(per_example, sample_weight)
        batch = ops.cast(ops.shape(per_example)[0], per_example.dtype)
        scale = weights / ops.maximum(ops.sum(weights), 1e-12) if weights is not None else ops.ones_like(per_example) / batch
        delta_v = ops.stop_gradient(self._dloss_da(ops.stop_gradient(a_v), y, scale))
        # g = ∂L/∂x*: the loss sees the hidden layer 1 through a_v = W⁰ᵀ x¹ + b⁰.
        g1 = self._up(0, delta_v, stopped)
        deriv = []
        for layer in range(len(states)):
            d = F.attractor_activation_derivative(
                self.net_input(states, layer, stopped), self.activation, self.alpha
            )
            if layer == 0:
                d = d * (1.0 - mask)
            deriv.append(ops.stop_gradient(d))
        depth = len(self.blocks)
        order = list(range(1, depth + 1)) + list(range(depth - 1, 0, -1)) + [0]

        def adjoint_sweep(u):
            u = list(u)
            for layer in order:
                s = None
                if layer > 0:
                    s = self._up(layer - 1, u[layer - 1], stopped)
                if layer < depth:
                    down = self._down(layer, u[layer + 1], stopped)
                    s = down if s is None else s + down
                if layer == 1:
                    s = s + g1
                u[layer] = deriv[layer] * s
            return u

        def cond(t, u, change):
            return ops.logical_and(t < (self.adjoint_steps or self.max_steps), change > 0)

        def body(t, u, change):
            new = adjoint_sweep(u)
            diff = ops.max(ops.stack([ops.max(ops.abs(n - o)) for n, o in zip(new, u)]))
            size = ops.max(ops.stack([ops.max(ops.abs(n)) for n in new]))
            change = ops.cast(diff > 1e-4 * size + 1e-30, "int32")
            return t + 1, new, change

        u0 = [ops.zeros_like(s) for s in states]
        _, u, _ = while_loop(
            cond, body, (ops.convert_to_tensor(0, "int32"), u0, ops.convert_to_tensor(1, "int32")),
            maximum_iterations=self.adjoint_steps or self.max_steps,
        )
        u = [ops.stop_gradient(t) for t in u]
        # Surrogate: Σ_l ⟨u_l, a_l(x*; θ)⟩ has gradient uᵀ ∂a/∂θ = gᵀ dx*/dθ, and value 0 after the shift.
        surrogate = None
        for layer in range(len(states)):
            term = ops.sum(u[layer] * self.net_input(states, layer, params))
            surrogate = term if surrogate is None else surrogate + term
        return loss + surrogate - ops.stop_gradient(surrogate), per_example

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        trace = self._settle_trace
        self._settle_trace = None
        if trace is None or y is None:
            raise ValueError(
                "CBAN.compute_loss needs the settling record of a preceding call on the same batch "
                "and the target visible state `y` (use `model.fit(x=(evidence, clamp_mask), y=target)`)."
            )
        y = self._target(y)
        states = trace["states"]
        if training and "a_vs" in trace:
            a_vs, weights = trace["a_vs"], trace["weights"]
            if self.training_mode == "td1":
                # Loss at every iteration while the example was still settling (TD(1), §3.3).
                flat = ops.reshape(a_vs, (-1,) + tuple(a_vs.shape[2:]))
                y_rep = ops.broadcast_to(ops.expand_dims(y, 0), (ops.shape(a_vs)[0],) + tuple(ops.shape(y)))
                y_rep = ops.reshape(y_rep, (-1,) + tuple(y.shape[1:]))
                per_step = ops.reshape(self._per_example_loss(flat, y_rep), ops.shape(weights))
                td = ops.sum(per_step * weights, axis=0)
                unrolled = self.max_train_steps or self.max_steps  # the static trip count of the unroll
                if self.td_horizon is not None and self.td_horizon > unrolled:
                    # Truncation correction: an example still settling after the unroll would have
                    # gone on contributing a loss per iteration; count its last one for the
                    # `td_horizon − unrolled` iterations that were not unrolled.
                    td = td + float(self.td_horizon - unrolled) * per_step[-1] * trace["active"]
                loss, _ = self._reduce(td, sample_weight)
            else:
                a_v = self._visible_net_input(states)
                loss, _ = self._reduce(self._per_example_loss(a_v, y), sample_weight)
            settled = self._per_example_loss(ops.stop_gradient(self._visible_net_input(states)), y)
        elif training and self.training_mode == "implicit":
            loss, settled = self._implicit_loss(trace, y, sample_weight)
        else:
            settled = self._per_example_loss(self._visible_net_input(states), y)
            loss, _ = self._reduce(settled, sample_weight)
        self.settled_loss_tracker.update_state(ops.stop_gradient(settled))
        self.steps_tracker.update_state(ops.cast(trace["steps"], "float32"))
        self.energy_tracker.update_state(ops.stop_gradient(self.energy(states)))
        # Keras scales its own losses by 1 / replicas under tf.distribute (the replicas'
        # gradients are summed); the settling loss is ours, so it is scaled here.
        loss = scale_loss(loss)
        extra = super().compute_loss(x, y, y_pred, sample_weight, training) if self._has_extra_loss() else None
        return loss if extra is None else loss + extra

    def _has_extra_loss(self):
        return getattr(self, "_compile_loss", None) is not None or bool(self.losses)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`keras.Model.export`; on JAX the settling `while_loop` is exported without a gradient
        (`jax2tf` cannot differentiate a `while_loop`, and inference does not need one)."""
        kwargs = while_loop_export_kwargs(format, kwargs)
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            return tuple(input_shape["evidence"])
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "blocks": [keras.saving.serialize_keras_object(b) for b in self.blocks],
                "activation": self.activation,
                "alpha": self.alpha,
                "max_steps": self.max_steps,
                "tolerance": self.tolerance,
                "settle_loss": self.settle_loss,
                "training_mode": self.training_mode,
                "max_train_steps": self.max_train_steps,
                "replicate_visible": self.replicate_visible,
                "temperature": self.temperature,
                "visible_bias": self.use_visible_bias,
                "adjoint_steps": self.adjoint_steps,
                "td_horizon": self.td_horizon,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["blocks"] = [keras.saving.deserialize_keras_object(b) for b in config["blocks"]]
        return cls(**config)
