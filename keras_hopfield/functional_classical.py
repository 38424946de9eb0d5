"""Pure tensor math of the classical Hopfield network and of dense associative memory.

Every function here is written with `keras.ops` only, so it runs unchanged on the
TensorFlow, JAX and PyTorch backends, inside `jit_compile`d functions too: loops use
`keras.ops.fori_loop` / `keras.ops.while_loop` and never branch in Python on tensor values.
The layers `keras_hopfield.layers.classical.HebbianHopfield` and
`keras_hopfield.layers.dense_memory.DenseAssociativeMemory` are thin stateful wrappers
around these functions (`../shared/design/MATH.md` §2–3).

Conventions:

* A batch of states has shape `(batch, n)`, binary states take the values `±1`.
* Patterns / memories are stored row-wise: `patterns` has shape `(P, n)`,
  `memories` has shape `(K, N)`.
* The coupling matrix `J` is symmetric, so the local field is `φ = ξ Jᵀ + h = ξ J + h`.
* Ties `sgn(0)`: `tie="keep"` keeps the previous value of the unit (so a unit with zero
  field never counts as a change), `tie="plus"` sets it to `+1`.
* Random unit orders and Glauber noise are drawn from a `keras.random.SeedGenerator`,
  once per sweep (see `keras_hopfield.backend.random.SweepRandom`), so the same seed
  gives the same trajectory.
"""

import keras
from keras import ops

from keras_hopfield.backend import kernels
from keras_hopfield.backend.loops import while_loop
from keras_hopfield.backend.random import SweepRandom as _SweepRandom

__all__ = [
    "INTERACTIONS",
    "DYNAMICS",
    "TIES",
    "sign",
    "binarize",
    "hebb_weights",
    "pseudo_inverse_weights",
    "projector_update",
    "zero_diagonal",
    "classical_local_field",
    "classical_energy",
    "classical_parallel_step",
    "classical_sequential_sweep",
    "run_classical_dynamics",
    "interaction",
    "interaction_derivative",
    "dam_energy",
    "dam_unit_fields",
    "dam_sequential_sweep",
    "run_dam_dynamics",
    "dam_classifier",
    "double_factorial",
    "dam_capacity_estimate",
]

INTERACTIONS = ("rectified", "power", "exponential")
DYNAMICS = ("sequential", "parallel", "stochastic")
TIES = ("keep", "plus")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def sign(x, previous=None):
    """Sign function with an explicit tie rule, returning `±1` in the dtype of `x`.

    $$\\operatorname{sgn}(x) = \\begin{cases} +1 & x > 0 \\\\ -1 & x < 0 \\\\
    \\text{previous (or } +1) & x = 0 \\end{cases}$$

    Args:
        x: Tensor of fields.
        previous: Optional tensor broadcastable to `x` holding the previous state; where
            `x == 0` its value is kept. When `None`, ties give `+1`.

    Returns:
        Tensor with the shape and dtype of `x`, every entry `±1`.

    Example:
        >>> import keras
        >>> from keras_hopfield.functional_classical import sign
        >>> keras.ops.convert_to_numpy(sign(keras.ops.convert_to_tensor([-2.0, 0.0, 3.0]))).tolist()
        [-1.0, 1.0, 1.0]
    """
    x = ops.convert_to_tensor(x)
    one = ops.ones_like(x)
    tie = one if previous is None else ops.cast(previous, x.dtype)
    zero = ops.zeros_like(x)  # not the Python 0: an int32 tensor next to a float one (invalid ONNX in loops)
    return ops.where(ops.greater(x, zero), one, ops.where(ops.less(x, zero), -one, tie))


def binarize(x, dtype=None):
    """Maps any real tensor to `±1` with `sgn(0) = +1` (used to read binary inputs).

    Args:
        x: Tensor.
        dtype: Optional output dtype (defaults to `keras.backend.floatx()` for integer
            input, else the dtype of `x`).

    Returns:
        Tensor of `±1` of the same shape as `x`.
    """
    x = ops.convert_to_tensor(x)
    if dtype is None:
        dtype = x.dtype if "float" in str(x.dtype) else keras.backend.floatx()
    x = ops.cast(x, dtype)
    return ops.where(ops.less(x, ops.zeros_like(x)), -ops.ones_like(x), ops.ones_like(x))


def zero_diagonal(matrix):
    """Returns `matrix` with its diagonal set to zero.

    Args:
        matrix: Square tensor of shape `(n, n)`.

    Returns:
        Tensor `matrix ⊙ (1 − I)`.
    """
    n = ops.shape(matrix)[-1]
    return matrix * (1.0 - ops.eye(n, dtype=matrix.dtype))


# ---------------------------------------------------------------------------
# Classical Hopfield network (MATH.md §2)
# ---------------------------------------------------------------------------
def hebb_weights(patterns, remove_diagonal=True):
    """Hebb rule: couplings storing binary patterns.

    $$J = \\frac{1}{n} \\sum_{\\mu=1}^{P} x^\\mu x^{\\mu\\top}, \\qquad J_{ii} = 0.$$

    Args:
        patterns: Tensor of shape `(P, n)` with entries `±1`.
        remove_diagonal: Whether to zero the diagonal (the classical choice, which keeps
            the Lyapunov property of sequential dynamics and removes self-coupling).

    Returns:
        Symmetric coupling matrix of shape `(n, n)`.

    Example:
        >>> import keras
        >>> from keras_hopfield.functional_classical import hebb_weights
        >>> x = keras.ops.convert_to_tensor([[1.0, -1.0, 1.0, -1.0]])
        >>> keras.ops.convert_to_numpy(hebb_weights(x)).tolist()  # (1/4) x xᵀ with zero diagonal
        [[0.0, -0.25, 0.25, -0.25], [-0.25, 0.0, -0.25, 0.25], [0.25, -0.25, 0.0, -0.25], [-0.25, 0.25, -0.25, 0.0]]
    """
    patterns = ops.convert_to_tensor(patterns)
    n = ops.shape(patterns)[-1]
    weights = ops.matmul(ops.transpose(patterns), patterns) / ops.cast(n, patterns.dtype)
    return zero_diagonal(weights) if remove_diagonal else weights


def pseudo_inverse_weights(patterns, remove_diagonal=True, eps=None):
    """Pseudo-inverse (projection) rule: `J` projects onto the span of the patterns.

    $$J = X^\\top (X X^\\top + \\varepsilon I)^{-1} X \\approx X^{+} X,$$

    so every stored pattern satisfies `J x^μ = x^μ` even when the patterns are
    correlated (up to `n` linearly independent patterns). The small ridge `ε` keeps the
    solve well defined for linearly dependent patterns. With `remove_diagonal=True` the
    stored patterns stay fixed points as long as `J_ii < 1` (true for `P < n`).

    Args:
        patterns: Tensor of shape `(P, n)`.
        remove_diagonal: Whether to zero the diagonal of the projector.
        eps: Ridge `ε`; defaults to `1e-4 n`.

    Returns:
        Symmetric matrix of shape `(n, n)`.
    """
    patterns = ops.convert_to_tensor(patterns)
    n = ops.shape(patterns)[-1]
    projector = projector_update(
        ops.zeros((n, n), dtype=patterns.dtype), patterns, eps=eps
    )
    return zero_diagonal(projector) if remove_diagonal else projector


def projector_update(projector, patterns, eps=None):
    """Adds a batch of patterns to an orthogonal projector (incremental projection rule).

    With residuals `R = X − X P_old` (the parts of the new patterns outside the stored
    span), `P_new = P_old + Rᵀ (R Rᵀ + ε I)⁻¹ R`. Patterns already in the span give
    `R ≈ 0` and leave the projector unchanged, so presenting the same data for several
    epochs does not change the result.

    Args:
        projector: Tensor `(n, n)`, the current projector (zeros when empty).
        patterns: Tensor `(P, n)`.
        eps: Ridge `ε`; defaults to `1e-4 n`.

    Returns:
        The updated projector `(n, n)`.
    """
    patterns = ops.cast(patterns, projector.dtype)
    n = ops.shape(projector)[-1]
    if eps is None:
        eps = 1e-4 * n
    residual = patterns - ops.matmul(patterns, projector)
    gram = ops.matmul(residual, ops.transpose(residual))
    batch = ops.shape(patterns)[0]
    gram = gram + eps * ops.eye(batch, dtype=projector.dtype)
    solved = ops.solve(gram, residual)
    update = ops.matmul(ops.transpose(residual), solved)
    update = 0.5 * (update + ops.transpose(update))
    return projector + update


def classical_local_field(state, weights, bias=None):
    """Local fields `φ = ξ Jᵀ + h` of a batch of states.

    Args:
        state: Tensor `(batch, n)`.
        weights: Couplings `(n, n)`.
        bias: Optional thresholds `h` of shape `(n,)`.

    Returns:
        Tensor `(batch, n)`.
    """
    field = ops.matmul(state, ops.transpose(weights))
    if bias is not None:
        field = field + bias
    return field


def classical_energy(state, weights, bias=None):
    """Energy (Lyapunov function) of the classical Hopfield network.

    $$H(\\xi) = -\\tfrac12 \\xi^\\top J \\xi - h^\\top \\xi.$$

    Args:
        state: Tensor `(batch, n)`.
        weights: Couplings `(n, n)`.
        bias: Optional thresholds `(n,)`.

    Returns:
        Tensor `(batch,)` of energies.
    """
    state = ops.convert_to_tensor(state)
    energy = -0.5 * ops.sum(ops.matmul(state, weights) * state, axis=-1)
    if bias is not None:
        energy = energy - ops.sum(state * bias, axis=-1)
    return energy


def classical_parallel_step(state, weights, bias=None, tie="keep"):
    """One synchronous update of all units: `ξ ← sgn(J ξ + h)`.

    Args:
        state: Tensor `(batch, n)` of `±1`.
        weights: Couplings `(n, n)`.
        bias: Optional thresholds `(n,)`.
        tie: `"keep"` or `"plus"` (see module docstring).

    Returns:
        The new state `(batch, n)`.
    """
    field = classical_local_field(state, weights, bias)
    return sign(field, previous=state if tie == "keep" else None)


def classical_sequential_sweep(
    state, weights, order, bias=None, tie="keep", temperature=None, noise=None, active=None
):
    """Updates units one at a time in the given order (asynchronous dynamics).

    Deterministic (`temperature=None`): `ξ_i ← sgn(Σ_j J_ij ξ_j + h_i)`; the energy never
    increases when `J` is symmetric with `J_ii ≥ 0` (papers/004 Lemma 2.1.1).
    Glauber (`temperature=T`): `P(ξ_i = +1) = ½ (1 + tanh(φ_i / T))`, decided by comparing
    `noise[:, i]` (uniform in `[0, 1)`) with that probability.

    Args:
        state: Tensor `(batch, n)` of `±1`.
        weights: Couplings `(n, n)`.
        order: Integer tensor `(k,)` of unit indices, updated in this order (any length;
            a full sweep uses a permutation of `range(n)`).
        bias: Optional thresholds `(n,)`.
        tie: `"keep"` or `"plus"`.
        temperature: `None` for deterministic updates, else the temperature `T > 0`.
        noise: Uniform noise `(batch, n)`, required when `temperature` is given.
        active: Optional boolean `(batch,)`; inactive examples are left unchanged.

    Returns:
        The new state `(batch, n)`.
    """
    state = ops.convert_to_tensor(state)
    dtype = state.dtype
    n = ops.shape(weights)[-1]
    units = ops.arange(n, dtype="int32")
    weights = ops.cast(weights, dtype)
    bias = None if bias is None else ops.cast(bias, dtype)
    num = ops.shape(order)[0]

    def body(k, s):
        i = ops.take(order, k)
        field = ops.matmul(s, ops.take(weights, i, axis=0))
        if bias is not None:
            field = field + ops.take(bias, i)
        old = ops.take(s, i, axis=1)
        if temperature is None:
            new = sign(field, previous=old if tie == "keep" else None)
        else:
            prob = 0.5 * (1.0 + ops.tanh(field / temperature))
            u = ops.take(noise, i, axis=1)
            new = ops.where(ops.less(u, prob), ops.ones_like(old), -ops.ones_like(old))
        if active is not None:
            new = ops.where(active, new, old)
        onehot = ops.cast(ops.equal(units, ops.cast(i, "int32")), dtype)
        return s + ops.expand_dims(new - old, 1) * onehot

    return ops.fori_loop(0, num, body, state)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")


def _run_sweeps(sweep, state, max_steps, early_stop):
    """Shared outer loop: sweeps until no unit of an example changes, or `max_steps`.

    Returns `(state, steps)` where `steps[b]` counts the sweeps in which example `b`
    was still active (the last one is the sweep that found no change, unless the
    example hit `max_steps`).
    """
    batch = ops.shape(state)[0]
    active = ops.ones((batch,), dtype="bool")
    steps = ops.zeros((batch,), dtype="int32")

    def body(t, s, act, stp):
        new = sweep(t, s, act)
        changed = ops.any(ops.not_equal(new, s), axis=-1)
        stp = stp + ops.cast(act, "int32")
        act = ops.logical_and(act, changed)
        return new, act, stp

    if early_stop:

        def cond(t, s, act, stp):
            return ops.logical_and(ops.less(t, max_steps), ops.any(act))

        def wbody(t, s, act, stp):
            s, act, stp = body(t, s, act, stp)
            return t + 1, s, act, stp

        t0 = ops.convert_to_tensor(0, dtype="int32")
        _, state, _, steps = while_loop(cond, wbody, (t0, state, active, steps))
    else:

        def fbody(t, carry):
            return body(t, *carry)

        state, _, steps = ops.fori_loop(0, max_steps, fbody, (state, active, steps))
    return state, steps


def run_classical_dynamics(
    state,
    weights,
    bias=None,
    dynamics="sequential",
    max_steps=100,
    temperature=1.0,
    tie="keep",
    seed=None,
    early_stop=True,
    return_steps=False,
):
    """Runs classical Hopfield dynamics for `max_steps` sweeps or until no unit changes.

    * `parallel`: `ξ ← sgn(J ξ + h)` for all units at once (can end in 2-cycles).
    * `sequential`: one unit at a time, a fresh random order each sweep (seeded).
    * `stochastic`: sequential order with Glauber updates at temperature `T`,
      `P(ξ_i=+1) = ½(1 + tanh(φ_i/T))`.

    An example stops (is frozen) after the first sweep in which none of its units
    changed; the loop ends when all examples stopped or after `max_steps` sweeps.

    Args:
        state: Tensor `(batch, n)` of `±1`.
        weights: Couplings `(n, n)`, symmetric.
        bias: Optional thresholds `(n,)`.
        dynamics: `"sequential"`, `"parallel"` or `"stochastic"`.
        max_steps: Maximum number of sweeps (Python int).
        temperature: Temperature `T > 0` of the stochastic dynamics.
        tie: `"keep"` or `"plus"`.
        seed: `keras.random.SeedGenerator`, int or `None` (random orders and noise). Pass
            a `SeedGenerator` created outside when calling from a compiled function.
        early_stop: `True` uses `while_loop` and exits as soon as every example
            converged; `False` always runs `max_steps` sweeps with `fori_loop` (use it
            under autodiff on JAX, whose `while_loop` is not reverse-differentiable).
        return_steps: Also return the number of sweeps each example ran.

    Returns:
        The final state `(batch, n)`, and with `return_steps` an int tensor `(batch,)`.

    Example:
        >>> import keras
        >>> from keras_hopfield.functional_classical import hebb_weights, run_classical_dynamics
        >>> x = keras.ops.convert_to_tensor([[1., -1., 1., -1.], [1., 1., -1., -1.]])
        >>> J = hebb_weights(x)
        >>> keras.ops.convert_to_numpy(run_classical_dynamics(x, J, dynamics="sequential", seed=0)).tolist()
        [[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]]
    """
    _check_choice("dynamics", dynamics, DYNAMICS)
    _check_choice("tie", tie, TIES)
    state = ops.convert_to_tensor(state)
    dtype = state.dtype
    weights = ops.cast(weights, dtype)
    bias = None if bias is None else ops.cast(bias, dtype)
    n = ops.shape(weights)[-1]
    random = None if dynamics == "parallel" else _SweepRandom(seed)

    def sweep(t, s, act):
        if dynamics == "parallel":
            new = classical_parallel_step(s, weights, bias, tie)
            return ops.where(ops.expand_dims(act, 1), new, s)
        order = ops.argsort(random.uniform((n,), t, 0, "float32"))
        if dynamics == "sequential":
            return classical_sequential_sweep(s, weights, order, bias, tie, active=act)
        noise = random.uniform(ops.shape(s), t, 1, dtype)
        return classical_sequential_sweep(
            s, weights, order, bias, tie, temperature=temperature, noise=noise, active=act
        )

    state, steps = _run_sweeps(sweep, state, max_steps, early_stop)
    return (state, steps) if return_steps else state


# ---------------------------------------------------------------------------
# Dense associative memory (MATH.md §3)
# ---------------------------------------------------------------------------
def interaction(x, kind="rectified", degree=3):
    """Interaction function `F` of dense associative memory.

    * `rectified`: `F_n(x) = xⁿ` for `x > 0`, else `0`.
    * `power`: `F_n(x) = xⁿ`.
    * `exponential`: `F(x) = exp(x)` (Demircigil et al.; `degree` is ignored).

    Args:
        x: Tensor.
        kind: `"rectified"`, `"power"` or `"exponential"`.
        degree: Integer `n ≥ 2`.

    Returns:
        `F(x)`, same shape as `x`.
    """
    if kind == "rectified":
        return kernels.integer_power(ops.relu(x), degree)
    if kind == "power":
        return kernels.integer_power(x, degree)
    if kind == "exponential":
        return ops.exp(x)
    raise ValueError(f"`kind` must be one of {INTERACTIONS}. Received: kind={kind!r}")


def interaction_derivative(x, kind="rectified", degree=3):
    """Derivative `f = F′` (the activation of the dual feed-forward network).

    Rectified: `f(x) = n · relu(x)^{n−1}`; power: `n x^{n−1}`; exponential: `exp(x)`.

    Args:
        x: Tensor.
        kind: `"rectified"`, `"power"` or `"exponential"`.
        degree: Integer `n ≥ 2`.

    Returns:
        `F′(x)`, same shape as `x`.
    """
    degree = int(degree)
    if kind == "rectified":
        return degree * kernels.integer_power(ops.relu(x), degree - 1)
    if kind == "power":
        return degree * kernels.integer_power(x, degree - 1)
    if kind == "exponential":
        return ops.exp(x)
    raise ValueError(f"`kind` must be one of {INTERACTIONS}. Received: kind={kind!r}")


def dam_energy(state, memories, kind="rectified", degree=3, temperature=1.0):
    """Energy of dense associative memory.

    $$E(\\sigma) = -\\sum_{\\mu=1}^{K} F\\!\\left(\\frac{\\xi^\\mu \\cdot \\sigma}{T}\\right),$$

    which for the polynomial interactions equals `−β Σ_μ F_n(ξ^μ·σ)` with `β = 1/Tⁿ`
    (evaluating `F` at `x/T` avoids overflow for large `n`). For the exponential
    interaction the result overflows float32 once `max_μ ξ^μ·σ / T ≳ 88`.

    Args:
        state: Tensor `(batch, N)`.
        memories: Tensor `(K, N)`.
        kind: Interaction, see `interaction`.
        degree: Integer `n ≥ 2`.
        temperature: `T > 0`.

    Returns:
        Tensor `(batch,)`.
    """
    state = ops.convert_to_tensor(state)
    memories = ops.cast(memories, state.dtype)
    overlaps = ops.matmul(state, ops.transpose(memories)) / temperature
    return -ops.sum(interaction(overlaps, kind, degree), axis=-1)


def _field_difference(h, xi, kind, degree, temperature, stable):
    """`Σ_μ F((h_μ + ξ_μ)/T) − F((h_μ − ξ_μ)/T)` over the memory axis (-2)."""
    a = (h + xi) / temperature
    b = (h - xi) / temperature
    if kind == "exponential" and stable:
        # Only the sign matters for the dynamics: divide by exp(max) to avoid overflow.
        top = ops.stop_gradient(ops.max(ops.maximum(a, b), axis=-2, keepdims=True))
        return ops.sum(ops.exp(a - top) - ops.exp(b - top), axis=-2)
    return ops.sum(interaction(a, kind, degree) - interaction(b, kind, degree), axis=-2)


def dam_unit_fields(state, memories, kind="rectified", degree=3, temperature=1.0, units=None):
    """Associative-update fields of dense associative memory (MATH.md §3).

    For unit `i`, with `h^μ_i = Σ_{j≠i} ξ^μ_j σ_j`,

    $$\\Delta_i = \\sum_\\mu F\\!\\left(\\frac{\\xi^\\mu_i + h^\\mu_i}{T}\\right)
      - F\\!\\left(\\frac{-\\xi^\\mu_i + h^\\mu_i}{T}\\right),
      \\qquad \\sigma_i \\leftarrow \\operatorname{sgn}(\\Delta_i).$$

    `Δ_i = E(σ with σ_i=−1) − E(σ with σ_i=+1)`, so the update picks the lower energy.
    All requested units are computed from the same state (a synchronous update); memory
    use is `batch × K × len(units)`.

    Args:
        state: Tensor `(batch, N)`.
        memories: Tensor `(K, N)`.
        kind: Interaction, see `interaction`.
        degree: Integer `n ≥ 2`.
        temperature: `T > 0`.
        units: Optional list of unit indices (static); all units when `None`.

    Returns:
        Tensor `(batch, len(units))` of fields `Δ_i` (exact values, also for the
        exponential interaction).
    """
    state = ops.convert_to_tensor(state)
    memories = ops.cast(memories, state.dtype)
    overlaps = ops.matmul(state, ops.transpose(memories))  # (B, K)
    if units is not None:
        xi = ops.take(memories, ops.convert_to_tensor(units, "int32"), axis=1)  # (K, U)
        s = ops.take(state, ops.convert_to_tensor(units, "int32"), axis=1)  # (B, U)
    else:
        xi, s = memories, state
    h = ops.expand_dims(overlaps, -1) - ops.expand_dims(xi, 0) * ops.expand_dims(s, 1)
    return _field_difference(h, ops.expand_dims(xi, 0), kind, degree, temperature, False)


def dam_sequential_sweep(
    state, memories, order, kind="rectified", degree=3, temperature=1.0, tie="keep", active=None
):
    """Asynchronous dense-memory update of the units in `order`, one at a time.

    Each update sets `σ_i ← sgn(Δ_i)` (see `dam_unit_fields`), which minimises the energy
    over `σ_i` with the other units fixed, so the energy never increases. The overlaps
    `ξ^μ·σ` are kept up to date incrementally: one update costs `O(batch × K)`.

    Args:
        state: Tensor `(batch, N)` of `±1`.
        memories: Tensor `(K, N)`.
        order: Integer tensor `(k,)` of unit indices.
        kind: Interaction, see `interaction`.
        degree: Integer `n ≥ 2`.
        temperature: `T > 0`.
        tie: `"keep"` or `"plus"`.
        active: Optional boolean `(batch,)`; inactive examples are left unchanged.

    Returns:
        The new state `(batch, N)`.
    """
    state = ops.convert_to_tensor(state)
    dtype = state.dtype
    memories = ops.cast(memories, dtype)
    n = ops.shape(memories)[-1]
    units = ops.arange(n, dtype="int32")
    overlaps = ops.matmul(state, ops.transpose(memories))
    num = ops.shape(order)[0]

    def body(k, carry):
        s, m = carry
        i = ops.take(order, k)
        xi = ops.take(memories, i, axis=1)  # (K,)
        old = ops.take(s, i, axis=1)  # (B,)
        h = m - ops.expand_dims(old, 1) * xi
        delta = _field_difference(
            ops.expand_dims(h, -1), ops.reshape(xi, (-1, 1)), kind, degree, temperature, True
        )[:, 0]
        new = sign(delta, previous=old if tie == "keep" else None)
        if active is not None:
            new = ops.where(active, new, old)
        change = ops.expand_dims(new - old, 1)
        onehot = ops.cast(ops.equal(units, ops.cast(i, "int32")), dtype)
        return s + change * onehot, m + change * xi

    state, _ = ops.fori_loop(0, num, body, (state, overlaps))
    return state


def run_dam_dynamics(
    state,
    memories,
    kind="rectified",
    degree=3,
    temperature=1.0,
    dynamics="sequential",
    max_steps=100,
    tie="keep",
    seed=None,
    early_stop=True,
    return_steps=False,
):
    """Associative retrieval in dense associative memory until convergence.

    `sequential`: random unit order each sweep (seeded), `σ_i ← sgn(Δ_i)` one unit at a
    time (energy non-increasing). `parallel`: all units from the same state (memory
    `batch × K × N`; may oscillate).

    Args:
        state: Tensor `(batch, N)` of `±1`.
        memories: Tensor `(K, N)`.
        kind: Interaction, see `interaction`.
        degree: Integer `n ≥ 2`.
        temperature: `T > 0` (it changes nothing for the polynomial interactions, whose
            update only depends on the sign of `Δ`).
        dynamics: `"sequential"` or `"parallel"`.
        max_steps: Maximum number of sweeps.
        tie: `"keep"` or `"plus"`.
        seed: `keras.random.SeedGenerator`, int or `None`.
        early_stop: `while_loop` with early exit (`True`) or a fixed `fori_loop`.
        return_steps: Also return the number of sweeps per example.

    Returns:
        The final state, and with `return_steps` the sweeps per example.

    Example:
        >>> import keras
        >>> from keras_hopfield.functional_classical import run_dam_dynamics
        >>> xi = keras.ops.sign(keras.random.normal((20, 64), seed=1))
        >>> out = run_dam_dynamics(xi[:4], xi, degree=3, seed=0)
        >>> bool(keras.ops.all(out == xi[:4]))  # the memories are fixed points
        True
    """
    _check_choice("dynamics", dynamics, ("sequential", "parallel"))
    _check_choice("tie", tie, TIES)
    _check_choice("kind", kind, INTERACTIONS)
    state = ops.convert_to_tensor(state)
    memories = ops.cast(memories, state.dtype)
    n = ops.shape(memories)[-1]
    random = None if dynamics == "parallel" else _SweepRandom(seed)

    def sweep(t, s, act):
        if dynamics == "parallel":
            delta = dam_unit_fields(s, memories, kind, degree, temperature)
            new = sign(delta, previous=s if tie == "keep" else None)
            return ops.where(ops.expand_dims(act, 1), new, s)
        order = ops.argsort(random.uniform((n,), t, 0, "float32"))
        return dam_sequential_sweep(
            s, memories, order, kind, degree, temperature, tie, active=act
        )

    state, steps = _run_sweeps(sweep, state, max_steps, early_stop)
    return (state, steps) if return_steps else state


def dam_classifier(
    visible, memories, num_labels, kind="rectified", degree=3, temperature=1.0, form="exact"
):
    """Dense-memory classifier in its dual feed-forward form (MATH.md §3).

    Memories hold `N` visible and `N_c` label components, `ξ^μ = (ξ^μ_v, ξ^μ_c)`. With all
    label units initialised at `−1`, one associative update of label unit `α` gives

    $$c_\\alpha = \\tanh\\Big(\\sum_\\mu F\\big((s_\\mu + 2\\xi^\\mu_\\alpha)/T\\big)
      - F\\big(s_\\mu/T\\big)\\Big), \\qquad
      s_\\mu = \\sum_j \\xi^\\mu_j v_j - \\sum_\\gamma \\xi^\\mu_\\gamma,$$

    i.e. `tanh(β Σ_μ [F(ξ^μ_α + Σ_j ξ^μ_j v_j − Σ_{γ≠α} ξ^μ_γ) − F(−ξ^μ_α + …)])` with
    `β = 1/Tⁿ`: a network with one hidden layer of `K` memories (`s_μ`) whose output
    combines `F` at two shifted arguments. `form="exact"` computes exactly this (it equals
    the associative update, see `dam_unit_fields`). `form="linear"` keeps the first-order
    term, `c_α = tanh((2/T) Σ_μ ξ^μ_α f(s_μ/T))` with `f = F′`, the conventional
    one-hidden-layer network with rectified-polynomial activation of power `n − 1`.

    Args:
        visible: Tensor `(batch, N)` (e.g. pixels scaled to `[−1, 1]`).
        memories: Tensor `(K, N + N_c)`.
        num_labels: `N_c` (Python int ≥ 1), the last `N_c` columns of `memories`.
        kind: Interaction, see `interaction`.
        degree: Integer `n ≥ 2`.
        temperature: `T > 0`.
        form: `"exact"` (memory `batch × K × N_c`) or `"linear"`.

    Returns:
        Label outputs `(batch, N_c)` in `(−1, 1)`.

    Example:
        >>> import keras
        >>> from keras_hopfield.functional_classical import dam_classifier
        >>> xi = keras.random.uniform((50, 784 + 10), -1, 1, seed=0)
        >>> v = keras.random.uniform((8, 784), -1, 1, seed=1)
        >>> tuple(dam_classifier(v, xi, 10, degree=3, temperature=30.0).shape)
        (8, 10)
    """
    visible = ops.convert_to_tensor(visible)
    memories = ops.cast(memories, visible.dtype)
    total = ops.shape(memories)[-1]
    n_vis = total - num_labels
    xi_v = memories[:, :n_vis]
    xi_c = memories[:, n_vis:]
    hidden = ops.matmul(visible, ops.transpose(xi_v)) - ops.sum(xi_c, axis=-1)  # (B, K)
    if form == "exact":
        shifted = (ops.expand_dims(hidden, -1) + 2.0 * xi_c) / temperature  # (B, K, Nc)
        base = interaction(hidden / temperature, kind, degree)
        out = ops.sum(interaction(shifted, kind, degree), axis=1) - ops.sum(
            base, axis=1, keepdims=True
        )
    elif form == "linear":
        act = interaction_derivative(hidden / temperature, kind, degree)
        out = (2.0 / temperature) * ops.matmul(act, xi_c)
    else:
        raise ValueError(f"`form` must be 'exact' or 'linear'. Received: form={form!r}")
    return ops.tanh(out)


# ---------------------------------------------------------------------------
# Capacity formula (papers/002 Eq. 6)
# ---------------------------------------------------------------------------
def double_factorial(k):
    """`k!! = k (k−2) (k−4) …` for a Python int `k ≥ −1` (`(−1)!! = 0!! = 1`)."""
    out = 1
    while k > 1:
        out *= k
        k -= 2
    return out


def dam_capacity_estimate(num_units, degree):
    """Theoretical capacity of the power model, papers/002 Eq. (6).

    $$K_{\\max} \\approx \\frac{N^{n-1}}{2 (2n-3)!! \\ln N}.$$

    Args:
        num_units: `N` (float or int).
        degree: `n ≥ 2`.

    Returns:
        Python float.
    """
    import math

    return num_units ** (degree - 1) / (2.0 * double_factorial(2 * degree - 3) * math.log(num_units))
