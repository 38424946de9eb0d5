"""Pure tensor math shared by every model: log-sum-exp, separation functions,
Hopfield energies and update steps.

Everything here is written with `keras.ops` only, so it runs unchanged on the
TensorFlow, JAX and PyTorch backends and inside compiled (XLA / `jit`) code.
Layers in `keras_hopfield.layers` call these functions; nothing else
re-implements the Hopfield update.

Conventions: the *state* (query) patterns live on the second-to-last axis of
`state` (`(..., L, d)`), the *stored* patterns on the second-to-last axis of
`memory` (`(..., N, d)`). Leading axes broadcast, so a memory of shape
`(N, d)` is shared by a batch of states `(B, L, d)`. Masks are boolean with
Keras semantics: `True` marks a stored pattern that may be attended to.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import kernels
from keras_hopfield.backend.loops import fixed_loop, while_loop, with_fixed_loop_gradient

SEPARATIONS = ("softmax", "sparsemax", "entmax15")

__all__ = [
    "SEPARATIONS",
    "lse",
    "softmax",
    "sparsemax",
    "entmax15",
    "separate",
    "separation_conjugate",
    "association",
    "hopfield_update",
    "hopfield_energy",
    "hopfield_iterate",
    "hopfield_retrieve",
    "global_fixed_point_beta",
    "pattern_separation",
    "retrieval_beta",
    "ATTRACTOR_ACTIVATIONS",
    "SETTLE_LOSSES",
    "attractor_activation",
    "attractor_activation_derivative",
    "barrier",
    "barrier_of_preactivation",
    "settle_loss",
]


def _validate_separation(separation):
    if separation not in SEPARATIONS:
        raise ValueError(
            f"Unknown `separation`={separation!r}; expected one of {SEPARATIONS}."
        )


def _floatx_min(dtype):
    return float(np.finfo(np.dtype(keras.backend.standardize_dtype(dtype))).min)


def lse(z, beta=1.0, axis=-1, keepdims=False):
    """Scaled log-sum-exp `lse(β, z) = β⁻¹ log Σᵢ exp(β zᵢ)`.

    Computed with the max-shift trick (`ops.logsumexp`), so it stays finite for
    large β.

    Args:
        z: Tensor.
        beta: Inverse temperature, a scalar or a tensor broadcastable to `z`
            (after `keepdims` reduction it must broadcast to the result).
        axis: Axis to reduce.
        keepdims: Keep the reduced axis.

    Returns:
        Tensor with `axis` reduced.
    """
    beta = ops.cast(beta, z.dtype) if not isinstance(beta, (int, float)) else beta
    out = ops.logsumexp(ops.multiply(z, beta), axis=axis, keepdims=True)
    out = ops.divide(out, beta)
    if not keepdims:
        out = ops.squeeze(out, axis=axis)
    return out


def softmax(z, axis=-1, mask=None):
    """Softmax over `axis`; masked entries (mask `False`) get weight 0.

    A row whose entries are all masked returns all zeros (not a uniform row),
    so a state with nothing to attend to retrieves the zero vector.
    """
    if mask is None:
        return kernels.softmax(z, axis=axis)
    mask = ops.cast(mask, "bool")
    z = ops.where(mask, z, _floatx_min(z.dtype))
    p = kernels.softmax(z, axis=axis)
    return ops.where(mask, p, ops.zeros_like(p))


def _masked_fill_for_threshold(z, mask, margin):
    """Replace masked entries by a value that the sparse maps send to 0.

    For sparsemax τ ≥ max(z) − 1 and for entmax-1.5 (on z/2) τ ≥ max(z)/2 − 1,
    so any entry ≤ max_valid(z) − margin (margin 1 resp. 2) gets zero weight.
    Subtracting |max| as well keeps the fill distinct from max in low precision.
    """
    mask = ops.cast(mask, "bool")
    neg_inf = _floatx_min(z.dtype)
    zmax = ops.max(ops.where(mask, z, neg_inf), axis=-1, keepdims=True)
    any_valid = ops.any(mask, axis=-1, keepdims=True)
    zmax = ops.where(any_valid, zmax, ops.zeros_like(zmax))
    fill = zmax - margin - ops.abs(zmax)
    return ops.where(mask, z, ops.broadcast_to(fill, ops.shape(z)))


def _sort_desc(z):
    return ops.flip(ops.sort(z, axis=-1), axis=-1)


def _ranks(z):
    d = ops.shape(z)[-1]
    return ops.cast(ops.arange(1, d + 1), z.dtype)


def sparsemax(z, axis=-1, mask=None):
    """Sparsemax (Martins & Astudillo 2016): Euclidean projection onto the simplex.

    `sparsemax(z) = argmin_{p ∈ Δ} ‖p − z‖² = [z − τ(z)]₊`. Exact sort-based
    algorithm; gradients flow through the sort, which gives the known Jacobian
    `diag(s) − s sᵀ/|S|` on the support `S`.

    Args:
        z: Scores.
        axis: Axis over which to normalise.
        mask: Optional boolean mask broadcastable to `z` (`True` = keep).

    Returns:
        Tensor of the shape of `z`, non-negative, summing to 1 over `axis`
        (to 0 where every entry is masked).
    """
    return _sparse_map(z, axis, mask, _sparsemax_last)


def entmax15(z, axis=-1, mask=None):
    """1.5-entmax (Peters et al. 2019): `p = [z/2 − τ]₊²`, sparse and smooth.

    Exact sort-based algorithm. Args and returns as in `sparsemax`.
    """
    return _sparse_map(z, axis, mask, _entmax15_last)


def _sparse_map(z, axis, mask, fn):
    ndim = len(z.shape)
    axis = axis % ndim
    if axis != ndim - 1:
        z = ops.moveaxis(z, axis, -1)
        if mask is not None:
            mask = ops.moveaxis(ops.broadcast_to(mask, ops.shape(ops.moveaxis(z, -1, axis))), axis, -1)
    if mask is not None:
        margin = 1.0 if fn is _sparsemax_last else 2.0
        mask = ops.broadcast_to(ops.cast(mask, "bool"), ops.shape(z))
        z = _masked_fill_for_threshold(z, mask, margin)
    p = fn(z)
    if mask is not None:
        p = ops.where(mask, p, ops.zeros_like(p))
    if axis != ndim - 1:
        p = ops.moveaxis(p, -1, axis)
    return p


def _sparsemax_last(z):
    z = z - ops.max(z, axis=-1, keepdims=True)
    zs = _sort_desc(z)
    k = _ranks(z)
    cs = ops.cumsum(zs, axis=-1)
    support = ops.cast(1.0 + k * zs > cs, "int32")
    k_z = ops.sum(support, axis=-1, keepdims=True)
    cs_k = ops.take_along_axis(cs, k_z - 1, axis=-1)
    tau = (cs_k - 1.0) / ops.cast(k_z, z.dtype)
    return ops.relu(z - tau)


def _entmax15_last(z):
    z = z / 2.0
    z = z - ops.max(z, axis=-1, keepdims=True)
    zs = _sort_desc(z)
    rho = _ranks(z)
    mean = ops.cumsum(zs, axis=-1) / rho
    mean_sq = ops.cumsum(zs * zs, axis=-1) / rho
    delta = (1.0 - rho * (mean_sq - mean * mean)) / rho
    # τ_k uses sqrt(max(δ_k, 0)); evaluate only the selected k so that the
    # unselected δ ≤ 0 never put a sqrt'(0) = ∞ into the backward pass.
    tau_all = mean - ops.sqrt(ops.relu(ops.stop_gradient(delta)))
    support = ops.sum(ops.cast(tau_all <= zs, "int32"), axis=-1, keepdims=True)
    idx = support - 1
    mean_k = ops.take_along_axis(mean, idx, axis=-1)
    delta_k = ops.take_along_axis(delta, idx, axis=-1)
    positive = delta_k > 0
    safe = ops.where(positive, delta_k, ops.ones_like(delta_k))
    tau = mean_k - ops.where(positive, ops.sqrt(safe), ops.zeros_like(safe))
    p = ops.relu(z - tau)
    return p * p


_SEPARATION_FNS = {"softmax": softmax, "sparsemax": sparsemax, "entmax15": entmax15}


def separate(z, separation="softmax", axis=-1, mask=None):
    """Apply the separation function named `separation` over `axis`.

    Args:
        z: Scores, typically `β Y ξ`.
        separation: `"softmax"` (Ramsauer et al. 2021), `"sparsemax"` or
            `"entmax15"` (sparse modern Hopfield networks, Hu et al. 2023).
        axis: The memory axis.
        mask: Optional boolean mask (`True` = keep).

    Returns:
        Association weights, same shape as `z`.
    """
    _validate_separation(separation)
    return _SEPARATION_FNS[separation](z, axis=axis, mask=mask)


def separation_conjugate(z, separation="softmax", mask=None):
    """Convex conjugate `Ψ*(z) = max_{p∈Δ} ⟨p, z⟩ + H(p)` over the last axis.

    `H` is the entropy that defines the separation map (`∇Ψ* = sep`): Shannon
    for softmax (`Ψ* = logsumexp`), Tsallis α=2 `½(1 − Σp²)` for sparsemax,
    Tsallis α=1.5 `(4/3)(1 − Σp^{3/2})` for entmax-1.5.
    """
    _validate_separation(separation)
    if separation == "softmax":
        if mask is not None:
            z = ops.where(ops.cast(mask, "bool"), z, _floatx_min(z.dtype))
        return ops.logsumexp(z, axis=-1)
    p = separate(z, separation, axis=-1, mask=mask)
    zz = z if mask is None else ops.where(ops.cast(mask, "bool"), z, ops.zeros_like(z))
    inner = ops.sum(p * zz, axis=-1)
    if separation == "sparsemax":
        entropy = 0.5 * (1.0 - ops.sum(p * p, axis=-1))
    else:
        entropy = (4.0 / 3.0) * (1.0 - ops.sum(p * ops.sqrt(p), axis=-1))
    return inner + entropy


def _beta_tensor(beta, dtype):
    if isinstance(beta, (int, float)):
        return ops.convert_to_tensor(beta, dtype=dtype)
    return ops.cast(beta, dtype)


def _scores(state, memory):
    """`ξ Yᵀ`, computed in float32 for half-precision inputs.

    β·ξᵀy overflows float16 (max 65504) long before β is large in any useful
    sense, and the sparse maps' thresholds need the precision, so scores and
    separation always run in at least float32.
    """
    if keras.backend.standardize_dtype(state.dtype) in ("float16", "bfloat16"):
        state, memory = ops.cast(state, "float32"), ops.cast(memory, "float32")
    return ops.matmul(state, ops.swapaxes(memory, -1, -2))


def association(state, memory, beta, separation="softmax", mask=None):
    """Association weights `sep(β ξ Yᵀ)` of states over stored patterns.

    Args:
        state: `(..., L, d)` state (query) patterns.
        memory: `(..., N, d)` stored patterns (keys).
        beta: Scalar or tensor broadcastable to `(..., L, N)`.
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.

    Returns:
        `(..., L, N)` association weights.
    """
    in_dtype = keras.backend.standardize_dtype(state.dtype)
    scores = _scores(state, memory)
    scores = scores * _beta_tensor(beta, scores.dtype)
    return ops.cast(separate(scores, separation, axis=-1, mask=mask), in_dtype)


def hopfield_update(state, memory, beta, value=None, separation="softmax", mask=None):
    """One modern-Hopfield update `ξ ← Vᵀ sep(β Y ξ)` (Ramsauer et al. 2021, Eq. 3).

    With `value=None` the stored patterns are read out (`V = Y`): this is the
    update whose energy `hopfield_energy` never increases.

    Args:
        state: `(..., L, d)` state patterns.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature (scalar or broadcastable to `(..., L, N)`).
        value: Optional `(..., N, d_v)` pattern projections.
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.

    Returns:
        `(..., L, d)` (or `(..., L, d_v)`) updated states.
    """
    p = association(state, memory, beta, separation, mask)
    return ops.matmul(p, memory if value is None else value)


def hopfield_energy(state, memory, beta, separation="softmax", mask=None):
    """Modern Hopfield energy of each state pattern.

    `E(ξ) = −β⁻¹ Ψ*(β Y ξ) + ½ ξᵀξ + β⁻¹ ln N + ½ M²` with `M = maxᵢ ‖yᵢ‖`
    (Ramsauer et al. 2021, Eq. 2; for softmax `Ψ* = logsumexp` so the first
    term is `−lse(β, Yξ)`). For sparsemax / entmax-1.5 `Ψ*` is the conjugate of
    the Tsallis entropy (Hu et al. 2023) and the `β⁻¹ ln N` constant is
    dropped. `hopfield_update` never increases this energy.

    Args:
        state: `(..., L, d)` state patterns.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature: a Python float, a scalar tensor, or a tensor
            broadcastable to `(..., L, 1)` (e.g. `(heads, 1, 1)` per head).
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.

    Returns:
        `(..., L)` energies (float32 for half-precision inputs).
    """
    scores = _scores(state, memory)
    if keras.backend.standardize_dtype(state.dtype) != keras.backend.standardize_dtype(scores.dtype):
        state, memory = ops.cast(state, scores.dtype), ops.cast(memory, scores.dtype)
    beta_s = _beta_tensor(beta, scores.dtype)  # broadcasts to (..., L, N)
    # The per-state energy has the memory axis reduced, so β loses its last axis.
    beta_e = ops.squeeze(beta_s, axis=-1) if len(beta_s.shape) > 0 else beta_s
    conj = separation_conjugate(scores * beta_s, separation, mask=mask)
    sq_norms = ops.sum(memory * memory, axis=-1)
    if mask is not None:
        m = ops.broadcast_to(ops.cast(mask, "bool"), ops.shape(scores))
        # M and N count only the stored patterns a state may see.
        big_m = ops.max(ops.where(m, ops.expand_dims(sq_norms, -2), ops.zeros_like(scores)), axis=-1)
        n = ops.maximum(ops.sum(ops.cast(m, state.dtype), axis=-1), 1.0)
    else:
        big_m = ops.max(sq_norms, axis=-1, keepdims=True)
        n = ops.cast(ops.shape(memory)[-2], state.dtype)
    energy = -conj / beta_e + 0.5 * ops.sum(state * state, axis=-1) + 0.5 * big_m
    if separation == "softmax":
        energy = energy + ops.log(ops.cast(n, scores.dtype)) / beta_e
    return energy


def hopfield_retrieve(
    state,
    memory,
    beta,
    value=None,
    separation="softmax",
    mask=None,
    max_steps=1,
    eps=0.0,
    unroll_for_gradients=True,
):
    """Iterate the Hopfield update, then read out, inside a compiled loop.

    The state is updated `ξ ← Yᵀ sep(β Y ξ)` for at most `max_steps − 1`
    steps; each state pattern stops (is frozen) as soon as its update changes
    it by less than `eps` in L2 norm. The final read-out is
    `Vᵀ sep(β Y ξ)` (`V = Y` when `value is None`). So `max_steps=1` is one
    plain attention step; the ml-jku `update_steps_max` equals
    `max_steps − 1`.

    Args:
        state: `(..., L, d)` initial states.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature.
        value: Optional `(..., N, d_v)` values for the read-out.
        separation: Separation function name.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.
        max_steps: Number of association computations, ≥ 1 (Python int).
        eps: Convergence threshold on the state change (0 disables it).
        unroll_for_gradients: If True, use a fixed-trip `fori_loop` with
            masking (reverse-differentiable on every backend, JAX included);
            if False, a `while_loop` that really stops early (inference).

    Returns:
        `(output, association, state, steps)`: the read-out, the read-out
        association weights `(..., L, N)`, the final state `(..., L, d)` and
        the number of updates each state pattern took `(..., L)` (int32).
    """
    if int(max_steps) < 1:
        raise ValueError(f"`max_steps` must be an integer >= 1. Received: max_steps={max_steps}")
    state, steps = hopfield_iterate(
        state, memory, beta, separation, mask, max_steps - 1, eps, unroll_for_gradients
    )
    p = association(state, memory, beta, separation, mask)
    out = ops.matmul(p, memory if value is None else value)
    return out, p, state, steps


def hopfield_iterate(
    state, memory, beta, separation="softmax", mask=None, n_updates=1, eps=0.0, unrolled=True
):
    """Apply `hopfield_update` (with `V = Y`) up to `n_updates` times.

    Each state pattern is frozen once an update moves it by less than `eps`
    (L2 norm). The loop is `ops.fori_loop` with masking when `unrolled`
    (differentiable everywhere) or `ops.while_loop` that exits as soon as every
    pattern has converged (inference; JAX cannot differentiate through it).

    Args:
        state: `(..., L, d)` initial states.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature.
        separation: Separation function name.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.
        n_updates: Maximum number of updates (Python int ≥ 0).
        eps: Convergence threshold (0 disables early stopping).
        unrolled: Choose the fixed-trip loop (see above).

    Returns:
        `(state, steps)`: final states and the number of updates each pattern
        took (int32, shape `(..., L)`).
    """
    steps = ops.zeros(ops.shape(state)[:-1], dtype="int32")
    if n_updates <= 0:
        return state, steps
    active = ops.ones(ops.shape(state)[:-1], dtype="bool")
    # Tensors travel in the carry and static settings pick a cached body, so
    # eager JAX reuses its traced loop across calls instead of re-tracing a
    # fresh closure every time (~0.3 s per call on CPU).
    static_beta = float(beta) if isinstance(beta, (int, float)) else None
    operands = (memory,) + (() if static_beta is not None else (beta,)) + (() if mask is None else (mask,))
    step = _iterate_step(separation, float(eps) ** 2, static_beta, mask is not None)
    if unrolled:
        body = _iterate_fixed_body(step)
        state, active, steps, _ = fixed_loop(n_updates, body, (state, active, steps, operands))
    else:
        # Early exit; on JAX its gradient is the fixed loop's (what `jax2tf` needs to export it).
        state, steps = _iterate_early_exit(step, int(n_updates))(state, active, steps, operands)
    return state, steps


@functools.lru_cache(maxsize=256)
def _iterate_step(separation, eps2, static_beta, masked):
    def step(xi, active, steps, operands):
        memory, rest = operands[0], list(operands[1:])
        beta = static_beta if static_beta is not None else rest.pop(0)
        mask = rest.pop(0) if masked else None
        new = hopfield_update(xi, memory, beta, None, separation, mask)
        new = ops.where(ops.expand_dims(active, -1), new, xi)
        change = ops.sum(ops.square(new - xi), axis=-1)
        steps = steps + ops.cast(active, "int32")
        if eps2 > 0:
            active = ops.logical_and(active, change >= eps2)
        return new, active, steps

    return step


@functools.lru_cache(maxsize=256)
def _iterate_fixed_body(step):
    def body(i, carry):
        xi, active, steps, operands = carry
        return (*step(xi, active, steps, operands), operands)

    return body


@functools.lru_cache(maxsize=256)
def _iterate_while_fns(step, n_updates):
    def cond(xi, active, steps, operands, i):
        return ops.logical_and(ops.any(active), i < n_updates)

    def wbody(xi, active, steps, operands, i):
        return (*step(xi, active, steps, operands), operands, i + 1)

    return cond, wbody


@functools.lru_cache(maxsize=256)
def _iterate_early_exit(step, n_updates):
    cond, wbody = _iterate_while_fns(step, n_updates)
    fixed_body = _iterate_fixed_body(step)

    def early(state, active, steps, operands):
        i0 = ops.convert_to_tensor(0, "int32")
        state, _, steps, _, _ = while_loop(cond, wbody, (state, active, steps, operands, i0))
        return state, steps

    def fixed(state, active, steps, operands):
        state, _, steps, _ = fixed_loop(n_updates, fixed_body, (state, active, steps, operands))
        return state, steps

    return with_fixed_loop_gradient(early, fixed)


# ---------------------------------------------------------------------------
# Regimes of β (papers/004 §3.3; Ramsauer et al. 2021 Lemmas A3, A5).
# These are diagnostics on concrete pattern sets, computed on the host.
# ---------------------------------------------------------------------------


def global_fixed_point_beta(patterns):
    """Largest β for which the update is a contraction to one global fixed point.

    papers/004 Prop. 3.3: the Jacobian norm is below `β m_max²`, with
    `m_max = maxᵢ ‖xᵢ − m_X‖` and `m_X` the pattern mean; so for
    `β < 1 / m_max²` every state converges to the same fixed point.

    Args:
        patterns: `(N, d)` array of stored patterns.

    Returns:
        The float `1 / m_max²`.
    """
    x = np.asarray(ops.convert_to_numpy(patterns), dtype=np.float64)
    m_max2 = np.max(np.sum((x - x.mean(0)) ** 2, axis=1))
    return float(1.0 / m_max2) if m_max2 > 0 else math.inf


def pattern_separation(patterns):
    """Separation `Δᵢ = xᵢᵀxᵢ − max_{j≠i} xᵢᵀxⱼ` of each stored pattern (papers/004 Def. 3.3.2)."""
    x = np.asarray(ops.convert_to_numpy(patterns), dtype=np.float64)
    g = x @ x.T
    off = g.copy()
    np.fill_diagonal(off, -np.inf)
    return np.diag(g) - off.max(axis=1)


def retrieval_beta(patterns, iterations=50):
    """Smallest β that Prop. 3.4 of papers/004 guarantees retrieves every pattern.

    The condition `Δ_min ≥ 2/(βN) + β⁻¹ log(2(N−1)NβM²)` is rewritten with
    `β' = β Δ_min` as `β' ≥ a + log β'`, `a = 2/N + log(2(N−1)N M²/Δ_min)`,
    and its larger root is found by the fixed-point iteration `u ← a + log u`
    from `u₀ = 2a` (papers/004 §4.3.3).

    Args:
        patterns: `(N, d)` array of stored patterns, N ≥ 2.
        iterations: Fixed-point iterations.

    Returns:
        The float β (`0.0` if every β > 0 satisfies the condition, `nan` if
        the patterns are not separated, Δ_min ≤ 0).
    """
    x = np.asarray(ops.convert_to_numpy(patterns), dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"`patterns` must hold at least 2 patterns. Received shape {x.shape}")
    delta_min = pattern_separation(x).min()
    if delta_min <= 0:
        return math.nan
    m2 = np.max(np.sum(x * x, axis=1))
    a = 2.0 / n + math.log(2.0 * (n - 1) * n * m2 / delta_min)
    if a <= 1.0:
        # β' − log β' ≥ 1 ≥ a for every β' > 0: any β > 0 retrieves.
        return 0.0
    u = 2.0 * a
    for _ in range(iterations):
        u = a + math.log(u)
    return float(u / delta_min)


# ---------------------------------------------------------------------------
# Bipartite attractor nets (papers/001 §3, MATH.md §5): activations, barriers,
# and the settling losses.

ATTRACTOR_ACTIVATIONS = ("tanh", "leaky_sigmoid")
SETTLE_LOSSES = ("se", "delta_e", "delta_e_plus")


def _validate_attractor_activation(activation, alpha):
    if activation not in ATTRACTOR_ACTIVATIONS:
        raise ValueError(
            f"Unknown `activation`={activation!r}; expected one of {ATTRACTOR_ACTIVATIONS}."
        )
    if activation == "leaky_sigmoid" and not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"The leaky sigmoid needs a slope 0 < alpha < 1. Received: alpha={alpha!r}")


def attractor_activation(a, activation="tanh", alpha=0.2):
    """The unit activation `f(a)` of an attractor net (papers/001 §3, §3.3).

    `tanh`, or the *leaky sigmoid*: `a` on `[−1, 1]` and slope `alpha`
    outside, `f(a) = α(a ∓ 1) ± 1` for `|a| > 1`.

    Args:
        a: Net input (pre-activation) tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]` (`0 < alpha < 1`).

    Returns:
        `f(a)`, same shape as `a`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import attractor_activation
        >>> y = attractor_activation(ops.convert_to_tensor([-3.0, 0.5, 2.0]), "leaky_sigmoid", 0.2)
        >>> round(float(y[0]), 4), round(float(y[2]), 4)
        (-1.4, 1.2)
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        return ops.tanh(a)
    return ops.clip(a, -1.0, 1.0) + alpha * (a - ops.clip(a, -1.0, 1.0))


def attractor_activation_derivative(a, activation="tanh", alpha=0.2):
    """`f′(a)` of `attractor_activation` (1 − tanh², or 1 inside / `alpha` outside `[−1, 1]`).

    Args:
        a: Net input (pre-activation) tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `f′(a)`, same shape as `a`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import attractor_activation_derivative
        >>> float(attractor_activation_derivative(ops.convert_to_tensor(0.0)))
        1.0
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        t = ops.tanh(a)
        return 1.0 - t * t
    inside = ops.cast(ops.abs(a) <= 1.0, a.dtype)
    return inside + alpha * (1.0 - inside)


def _xlogx(t):
    safe = ops.maximum(t, 1e-30)
    return ops.where(t > 0, t * ops.log(safe), ops.zeros_like(t))


def barrier(x, activation="tanh", alpha=0.2):
    """The barrier `ρ(x) = ∫₀ˣ f⁻¹(ξ) dξ` of an attractor activation (papers/001 Eq. 3, §3.3).

    tanh: `ρ(x) = ½[(1+x) ln(1+x) + (1−x) ln(1−x)]` (the exact integral of
    `atanh`; the paper's Eq. 3 drops the ½, its App. B.1 has it — the ½ is what
    makes `ρ′ = f⁻¹`, so that the layer update minimises the energy). Finite at
    `x = ±1` (`0 ln 0 = 0`). Leaky sigmoid: `½x²` on `[−1, 1]`, else
    `[x² + (1−α)(1 ∓ 2x)] / (2α)`.

    Args:
        x: Activation tensor (for tanh, in `[−1, 1]`).
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `ρ(x)` elementwise.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import barrier
        >>> round(float(barrier(ops.convert_to_tensor(1.0))), 6)  # ln 2
        0.693147
    """
    _validate_attractor_activation(activation, alpha)
    x = ops.convert_to_tensor(x)
    if activation == "tanh":
        return 0.5 * (_xlogx(1.0 + x) + _xlogx(1.0 - x))
    quadratic = 0.5 * x * x
    above = (x * x + (1.0 - alpha) * (1.0 - 2.0 * x)) / (2.0 * alpha)
    below = (x * x + (1.0 - alpha) * (1.0 + 2.0 * x)) / (2.0 * alpha)
    return ops.where(x > 1.0, above, ops.where(x < -1.0, below, quadratic))


def barrier_of_preactivation(a, activation="tanh", alpha=0.2):
    """`ρ(f(a))` computed from the net input, stable where `f(a)` saturates.

    For tanh, `ρ(tanh a) = a tanh a − log cosh a`, with `log cosh a = |a| +
    log(1 + e^{−2|a|}) − log 2` (no `log(1 − x)` at `x → ±1`).

    Args:
        a: Net input tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `ρ(f(a))` elementwise.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import barrier_of_preactivation
        >>> round(float(barrier_of_preactivation(ops.convert_to_tensor(30.0))), 5)  # → ln 2
        0.69315
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        abs_a = ops.abs(a)
        log_cosh = abs_a + ops.log1p(ops.exp(-2.0 * abs_a)) - math.log(2.0)
        return a * ops.tanh(a) - log_cosh
    return barrier(attractor_activation(a, activation, alpha), activation, alpha)


def settle_loss(a, target, loss="se", activation="tanh", alpha=0.2, temperature=1.0, axis=None):
    """Per-example settling loss on the unclamped visible state `ṽ = f(a)` (papers/001 §3.2, App. B).

    - `"se"`: `L_SE = Σᵢ (ṽᵢ − yᵢ)²`.
    - `"delta_e"`: `L_ΔE = E(x) − E(x̃) = Σᵢ f⁻¹(ṽᵢ)(ṽᵢ − yᵢ) + ρ(yᵢ) − ρ(ṽᵢ)`,
      with `f⁻¹(ṽ) = a` (no inverse needed). `L_ΔE ≥ 0`, zero iff `ṽ = y`.
    - `"delta_e_plus"`: `L_ΔE+ = log(1 + exp(L_ΔE / T))` (softplus, stable).

    Args:
        a: Net input of the visible units, `ṽ = f(a)`; shape `(batch, ...)`.
        target: Target visible state `y`, same shape.
        loss: `"se"`, `"delta_e"` or `"delta_e_plus"`.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.
        temperature: `T` of `L_ΔE+` (App. B.2).
        axis: Axes summed over; default all but the first (batch) axis.

    Returns:
        Loss per example, shape `(batch,)`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import settle_loss
        >>> a = ops.convert_to_tensor([[0.0, 0.0]])
        >>> float(settle_loss(a, ops.convert_to_tensor([[0.5, -0.5]]), "se")[0])
        0.5
    """
    if loss not in SETTLE_LOSSES:
        raise ValueError(f"Unknown settling `loss`={loss!r}; expected one of {SETTLE_LOSSES}.")
    a = ops.convert_to_tensor(a)
    target = ops.cast(target, a.dtype)
    if axis is None:
        axis = tuple(range(1, len(a.shape)))
    v = attractor_activation(a, activation, alpha)
    if loss == "se":
        return ops.sum(ops.square(v - target), axis=axis)
    delta = ops.sum(
        a * (v - target)
        + barrier(target, activation, alpha)
        - barrier_of_preactivation(a, activation, alpha),
        axis=axis,
    )
    if loss == "delta_e":
        return delta
    return ops.softplus(delta / temperature)
