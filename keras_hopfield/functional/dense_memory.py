"""Dense associative memory (Krotov–Hopfield; papers/002, MATH.md §3): interaction
functions, energy, unit fields, sequential dynamics, the classifier read-out and the
capacity formula. `keras_hopfield.layers.dense_memory.DenseAssociativeMemory` wraps these.
"""

import math

from keras import ops

from keras_hopfield.backend import kernels
from keras_hopfield.backend.random import SweepRandom as _SweepRandom
from keras_hopfield.functional.classical import TIES, _check_choice, _run_sweeps, sign

__all__ = [
    "INTERACTIONS",
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
        >>> from keras_hopfield.functional import run_dam_dynamics
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
        >>> from keras_hopfield.functional import dam_classifier
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
