"""Modern (continuous) Hopfield networks: association, update, energy and iteration.

papers/004 (Ramsauer et al.), MATH.md §1. The *state* (query) patterns live on the
second-to-last axis of `state` (`(..., L, d)`), the stored patterns on the second-to-last
axis of `memory` (`(..., N, d)`); leading axes broadcast. Masks are boolean with Keras
semantics (`True` marks a stored pattern that may be attended to). Also the β regimes of
papers/004 §3.3 (host-side diagnostics on concrete pattern sets).
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend.loops import fixed_loop, while_loop, with_fixed_loop_gradient
from keras_hopfield.functional._common import _beta_tensor, _floatx_min
from keras_hopfield.functional.chunked import _chunked_energy, _chunked_update, _path, _validate_top_k
from keras_hopfield.functional.separation import separate, separation_conjugate

__all__ = [
    "association",
    "hopfield_update",
    "hopfield_energy",
    "hopfield_iterate",
    "hopfield_retrieve",
    "global_fixed_point_beta",
    "pattern_separation",
    "retrieval_beta",
]


def _scores(state, memory):
    """`ξ Yᵀ`, computed in float32 for half-precision inputs.

    β·ξᵀy overflows float16 (max 65504) long before β is large in any useful
    sense, and the sparse maps' thresholds need the precision, so scores and
    separation always run in at least float32.
    """
    if keras.backend.standardize_dtype(state.dtype) in ("float16", "bfloat16"):
        state, memory = ops.cast(state, "float32"), ops.cast(memory, "float32")
    return ops.matmul(state, ops.swapaxes(memory, -1, -2))


def _top_k_keep(z, mask, top_k):
    """Boolean mask of the `top_k` largest scores per row (among the unmasked ones).

    Ties with the k-th score are all kept (the dense path thresholds at the
    k-th value; the chunked path keeps exactly k).
    """
    n = z.shape[-1]
    if top_k is None or (n is not None and top_k >= n):
        return mask
    neg = _floatx_min(z.dtype)
    zm = z if mask is None else ops.where(ops.cast(mask, "bool"), z, neg)
    kth = ops.stop_gradient(ops.top_k(zm, int(top_k))[0][..., -1:])
    keep = zm >= kth
    return keep if mask is None else ops.logical_and(keep, ops.cast(mask, "bool"))


def association(state, memory, beta, separation="softmax", mask=None, top_k=None):
    """Association weights `sep(β ξ Yᵀ)` of states over stored patterns.

    Args:
        state: `(..., L, d)` state (query) patterns.
        memory: `(..., N, d)` stored patterns (keys).
        beta: Scalar or tensor broadcastable to `(..., L, N)`.
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.
        top_k: Keep only the `top_k` best-scoring stored patterns per state
            (the others get weight 0); `None` keeps all.

    Returns:
        `(..., L, N)` association weights.
    """
    _validate_top_k(top_k)
    in_dtype = keras.backend.standardize_dtype(state.dtype)
    scores = _scores(state, memory)
    scores = scores * _beta_tensor(beta, scores.dtype)
    mask = _top_k_keep(scores, mask, top_k)
    return ops.cast(separate(scores, separation, axis=-1, mask=mask), in_dtype)


def hopfield_update(
    state,
    memory,
    beta,
    value=None,
    separation="softmax",
    mask=None,
    retrieval="auto",
    chunk_size=None,
    top_k=None,
):
    """One modern-Hopfield update `ξ ← Vᵀ sep(β Y ξ)` (Ramsauer et al. 2021, Eq. 3).

    With `value=None` the stored patterns are read out (`V = Y`): this is the
    update whose energy `hopfield_energy` never increases.

    Args:
        state: `(..., L, d)` state patterns.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature (scalar or broadcastable to `(..., L, N)`;
            on the chunked path its last axis must be 1).
        value: Optional `(..., N, d_v)` pattern projections.
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.
        retrieval: `"dense"` (the `(..., L, N)` association matrix),
            `"chunked"` (streaming log-sum-exp over blocks of stored patterns,
            memory independent of `L × N`) or `"auto"` (chunked from
            `AUTO_CHUNKED_MIN_PATTERNS` stored patterns on, when β is one
            per state); see `resolve_retrieval`.
        chunk_size: Stored patterns per block of the chunked path (`None`:
            `default_chunk_size`).
        top_k: Retrieve from the `top_k` best-scoring stored patterns of each
            state only (exact; `None` keeps all).

    Returns:
        `(..., L, d)` (or `(..., L, d_v)`) updated states.
    """
    if _path(retrieval, memory, separation, top_k, beta) == "chunked":
        return _chunked_update(state, memory, value, beta, separation, mask, chunk_size, top_k)
    p = association(state, memory, beta, separation, mask, top_k)
    return ops.matmul(p, memory if value is None else value)


def hopfield_energy(
    state, memory, beta, separation="softmax", mask=None, retrieval="auto", chunk_size=None, top_k=None
):
    """Modern Hopfield energy of each state pattern.

    `E(ξ) = −β⁻¹ Ψ*(β Y ξ) + ½ ξᵀξ + β⁻¹ ln N + ½ M²` with `M = maxᵢ ‖yᵢ‖`
    (Ramsauer et al. 2021, Eq. 2; for softmax `Ψ* = logsumexp` so the first
    term is `−lse(β, Yξ)`). For sparsemax / entmax-1.5 `Ψ*` is the conjugate of
    the Tsallis entropy (Hu et al. 2023) and the `β⁻¹ ln N` constant is
    dropped. `hopfield_update` never increases this energy. With `top_k`,
    `Ψ*` and `N` run over the `top_k` best-scoring stored patterns of each
    state (the energy of the top-k update; `M` still over every visible one).

    Args:
        state: `(..., L, d)` state patterns.
        memory: `(..., N, d)` stored patterns.
        beta: Inverse temperature: a Python float, a scalar tensor, or a tensor
            broadcastable to `(..., L, 1)` (e.g. `(heads, 1, 1)` per head).
        separation: Name of the separation function.
        mask: Optional boolean mask broadcastable to `(..., L, N)`.
        retrieval: `"dense"`, `"chunked"` or `"auto"`, as in `hopfield_update`.
        chunk_size: Block size of the chunked path.
        top_k: Energy of the top-k update (see above).

    Returns:
        `(..., L)` energies (float32 for half-precision inputs).
    """
    if _path(retrieval, memory, separation, top_k, beta) == "chunked":
        return _chunked_energy(state, memory, beta, separation, mask, chunk_size, top_k)
    scores = _scores(state, memory)
    if keras.backend.standardize_dtype(state.dtype) != keras.backend.standardize_dtype(scores.dtype):
        state, memory = ops.cast(state, scores.dtype), ops.cast(memory, scores.dtype)
    beta_s = _beta_tensor(beta, scores.dtype)  # broadcasts to (..., L, N)
    # The per-state energy has the memory axis reduced, so β loses its last axis.
    beta_e = ops.squeeze(beta_s, axis=-1) if len(beta_s.shape) > 0 else beta_s
    keep = _top_k_keep(scores * beta_s, mask, top_k)
    conj = separation_conjugate(scores * beta_s, separation, mask=keep)
    sq_norms = ops.sum(memory * memory, axis=-1)
    if mask is not None:
        m = ops.broadcast_to(ops.cast(mask, "bool"), ops.shape(scores))
        # M and N count only the stored patterns a state may see.
        big_m = ops.max(ops.where(m, ops.expand_dims(sq_norms, -2), ops.zeros_like(scores)), axis=-1)
        n = ops.maximum(ops.sum(ops.cast(m, state.dtype), axis=-1), 1.0)
    else:
        big_m = ops.max(sq_norms, axis=-1, keepdims=True)
        n = ops.cast(ops.shape(memory)[-2], state.dtype)
    if top_k is not None and keep is not mask:
        kept = ops.broadcast_to(keep, ops.shape(scores))
        n = ops.maximum(ops.sum(ops.cast(kept, state.dtype), axis=-1), 1.0)
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
    retrieval="auto",
    chunk_size=None,
    top_k=None,
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
        retrieval: `"dense"`, `"chunked"` or `"auto"`, as in `hopfield_update`.
        chunk_size: Block size of the chunked path.
        top_k: Retrieve from the `top_k` best stored patterns per state.

    Returns:
        `(output, association, state, steps)`: the read-out, the read-out
        association weights `(..., L, N)` (`None` on the chunked path, which
        never forms them), the final state `(..., L, d)` and the number of
        updates each state pattern took `(..., L)` (int32).
    """
    if int(max_steps) < 1:
        raise ValueError(f"`max_steps` must be an integer >= 1. Received: max_steps={max_steps}")
    path = _path(retrieval, memory, separation, top_k, beta)
    state, steps = hopfield_iterate(
        state, memory, beta, separation, mask, max_steps - 1, eps, unroll_for_gradients, path, chunk_size, top_k
    )
    if path == "chunked":
        out = _chunked_update(state, memory, value, beta, separation, mask, chunk_size, top_k)
        return out, None, state, steps
    p = association(state, memory, beta, separation, mask, top_k)
    out = ops.matmul(p, memory if value is None else value)
    return out, p, state, steps


def hopfield_iterate(
    state,
    memory,
    beta,
    separation="softmax",
    mask=None,
    n_updates=1,
    eps=0.0,
    unrolled=True,
    retrieval="auto",
    chunk_size=None,
    top_k=None,
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
        retrieval: `"dense"`, `"chunked"` or `"auto"`, as in `hopfield_update`.
        chunk_size: Block size of the chunked path.
        top_k: Update from the `top_k` best stored patterns per state.

    Returns:
        `(state, steps)`: final states and the number of updates each pattern
        took (int32, shape `(..., L)`).
    """
    steps = ops.zeros(ops.shape(state)[:-1], dtype="int32")
    if n_updates <= 0:
        return state, steps
    path = _path(retrieval, memory, separation, top_k, beta)
    active = ops.ones(ops.shape(state)[:-1], dtype="bool")
    # Tensors travel in the carry and static settings pick a cached body, so
    # eager JAX reuses its traced loop across calls instead of re-tracing a
    # fresh closure every time (~0.3 s per call on CPU).
    static_beta = float(beta) if isinstance(beta, (int, float)) else None
    operands = (memory,) + (() if static_beta is not None else (beta,)) + (() if mask is None else (mask,))
    step = _iterate_step(separation, float(eps) ** 2, static_beta, mask is not None, path, chunk_size, top_k)
    if unrolled:
        body = _iterate_fixed_body(step)
        state, active, steps, _ = fixed_loop(n_updates, body, (state, active, steps, operands))
    else:
        # Early exit; on JAX its gradient is the fixed loop's (what `jax2tf` needs to export it).
        state, steps = _iterate_early_exit(step, int(n_updates))(state, active, steps, operands)
    return state, steps


@functools.lru_cache(maxsize=256)
def _iterate_step(separation, eps2, static_beta, masked, retrieval="dense", chunk_size=None, top_k=None):
    def step(xi, active, steps, operands):
        memory, rest = operands[0], list(operands[1:])
        beta = static_beta if static_beta is not None else rest.pop(0)
        mask = rest.pop(0) if masked else None
        new = hopfield_update(xi, memory, beta, None, separation, mask, retrieval, chunk_size, top_k)
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
