"""The classical (binary) Hopfield network: Hebbian and pseudo-inverse storage, energy and
sequential / parallel / stochastic dynamics (MATH.md §2).

States are `±1` with shape `(batch, n)`; patterns are stored row-wise `(P, n)`. Ties
`sgn(0)`: `tie="keep"` keeps the previous value, `tie="plus"` sets `+1`. Random unit
orders and Glauber noise come from a `keras.random.SeedGenerator` once per sweep
(`keras_hopfield.backend.random.SweepRandom`). Loops use `keras.ops` loops only, so
`jit_compile` works. `keras_hopfield.layers.classical.HebbianHopfield` wraps these.
"""

import keras
from keras import ops

from keras_hopfield.backend.loops import while_loop
from keras_hopfield.backend.random import SweepRandom as _SweepRandom

__all__ = [
    "DYNAMICS",
    "TIES",
    "sign",
    "binarize",
    "zero_diagonal",
    "hebb_weights",
    "pseudo_inverse_weights",
    "projector_update",
    "classical_local_field",
    "classical_energy",
    "classical_parallel_step",
    "classical_sequential_sweep",
    "run_classical_dynamics",
]


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
        >>> from keras_hopfield.functional import sign
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
        >>> from keras_hopfield.functional import hebb_weights
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
        >>> from keras_hopfield.functional import hebb_weights, run_classical_dynamics
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
