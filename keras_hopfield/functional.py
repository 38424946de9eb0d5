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
from keras_hopfield.backend.custom_gradient import compile_on_jax, with_custom_gradient
from keras_hopfield.backend.loops import fixed_loop, fixed_scan, while_loop, with_fixed_loop_gradient

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
    "RETRIEVALS",
    "AUTO_CHUNKED_MIN_PATTERNS",
    "resolve_retrieval",
    "default_chunk_size",
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


def _core_dtype(dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


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
# Chunked retrieval: streaming log-sum-exp over blocks of stored patterns
# (the memory-efficient attention of Rabe & Staats 2021 / FlashAttention).
# Never forms the (queries × N) association matrix, forward or backward.
# ---------------------------------------------------------------------------

RETRIEVALS = ("auto", "dense", "chunked")
# `retrieval="auto"` switches to the chunked path from this many stored
# patterns on (benchmarks/large_memory.py: below it the dense matrix is small
# and the dense path is as fast or faster).
AUTO_CHUNKED_MIN_PATTERNS = 65536
# Default block: about this many scores per block (queries × chunk), within
# the bounds below (benchmarks/large_memory.py --chunk-sizes).
_CHUNK_SCORES = 2**21
_MIN_CHUNK, _MAX_CHUNK = 1024, 65536


def _validate_top_k(top_k):
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"`top_k` must be a positive integer or None. Received: top_k={top_k!r}")


def _validate_chunk_size(chunk_size):
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0
    ):
        raise ValueError(f"`chunk_size` must be a positive integer or None. Received: chunk_size={chunk_size!r}")


def resolve_retrieval(retrieval, num_patterns, separation="softmax", top_k=None):
    """Which retrieval path (`"dense"` or `"chunked"`) a call takes.

    The chunked path streams over blocks of stored patterns with a running
    maximum, sum and weighted value sum (exact softmax), or keeps a running
    top-k of scores and indices (exact `top_k`). It needs softmax, or any
    separation together with `top_k` (the separation is then applied to the k
    kept scores), and a static number of stored patterns.

    Args:
        retrieval: `"auto"`, `"dense"` or `"chunked"`.
        num_patterns: Number of stored patterns `N` (static int, or `None`
            when unknown at trace time).
        separation: Separation function name.
        top_k: `None` or the number of patterns kept per state.

    Returns:
        `"dense"` or `"chunked"`: `"auto"` gives `"chunked"` when the chunked
        path applies and `num_patterns >= AUTO_CHUNKED_MIN_PATTERNS`.

    Example:
        >>> from keras_hopfield.functional import resolve_retrieval
        >>> resolve_retrieval("auto", 10**6), resolve_retrieval("auto", 100)
        ('chunked', 'dense')
    """
    if retrieval not in RETRIEVALS:
        raise ValueError(f"Unknown `retrieval`={retrieval!r}; expected one of {RETRIEVALS}.")
    _validate_separation(separation)
    _validate_top_k(top_k)
    if retrieval == "dense":
        return "dense"
    streamable = separation == "softmax" or top_k is not None
    if retrieval == "chunked":
        if not streamable:
            raise ValueError(
                f"`retrieval='chunked'` streams a softmax; separation={separation!r} needs the whole "
                "association row. Use separation='softmax', set `top_k` (the separation then runs over "
                "the k kept patterns), or retrieval='dense'."
            )
        if num_patterns is None:
            raise ValueError(
                "`retrieval='chunked'` needs a static number of stored patterns (memory.shape[-2] is None)."
            )
        return "chunked"
    if streamable and num_patterns is not None and num_patterns >= AUTO_CHUNKED_MIN_PATTERNS:
        return "chunked"
    return "dense"


def _path(retrieval, memory, separation, top_k, beta):
    """`resolve_retrieval` for a call; `"auto"` also stays dense for a β per stored pattern."""
    path = resolve_retrieval(retrieval, memory.shape[-2], separation, top_k)
    if path == "chunked" and retrieval == "auto" and not isinstance(beta, (int, float)):
        shape = tuple(getattr(beta, "shape", ()))
        if len(shape) > 0 and shape[-1] not in (1, None):
            return "dense"
    return path


def default_chunk_size(num_queries, num_patterns=None):
    """Block size of the chunked path: about 2²¹ scores per block.

    `num_queries` (all state patterns of a call, heads and batch included;
    `None` if unknown) times the block stays near 2²¹ float32 scores (8 MB),
    within `[1024, 65536]` stored patterns and never above `num_patterns`.
    When `num_patterns` has a divisor between half that size and that size,
    the divisor is used: without a shorter last block the backward pass
    writes the stored patterns' gradient with no extra copy.

    Example:
        >>> from keras_hopfield.functional import default_chunk_size
        >>> default_chunk_size(128), default_chunk_size(128, 10**6), default_chunk_size(1, 5000)
        (16384, 15625, 5000)
    """
    if num_queries is None or num_queries <= 0:
        chunk = 4096
    else:
        chunk = _CHUNK_SCORES // int(num_queries)
        chunk = 1 << max(chunk, 1).bit_length() - 1  # a power of two, rounded down
    chunk = min(max(chunk, _MIN_CHUNK), _MAX_CHUNK)
    if num_patterns is not None:
        n = int(num_patterns)
        if n <= chunk:
            return n
        for c in range(chunk, chunk // 2 - 1, -1):
            if n % c == 0:
                return c
    return chunk


def _num_queries(state):
    shape = state.shape[:-1]
    if any(s is None for s in shape):
        return None
    return int(np.prod(shape)) if len(shape) else 1


def _rows(x, start, size):
    """`x[..., start:start + size, :]`; `start` may be a traced loop index."""
    if isinstance(start, int):
        return x[..., start : start + size, :]
    rank = len(x.shape)
    starts = [0] * rank
    starts[rank - 2] = start
    shape = [-1 if d is None else d for d in x.shape]
    shape[rank - 2] = size
    return ops.slice(x, starts, shape)


def _cols(mask, start, size):
    """The block's columns of a mask broadcastable to `(..., L, N)` (`None` stays `None`)."""
    if mask is None or mask.shape[-1] == 1:
        return mask
    if isinstance(start, int):
        return mask[..., start : start + size]
    rank = len(mask.shape)
    starts = [0] * rank
    starts[-1] = start
    shape = [-1 if d is None else d for d in mask.shape]
    shape[-1] = size
    return ops.slice(mask, starts, shape)


def _reduce_to(x, target_shape):
    """Sum a broadcast gradient `x` back to `target_shape` (static leading dims)."""
    target_shape = tuple(target_shape)
    extra = len(x.shape) - len(target_shape)
    if extra > 0:
        x = ops.sum(x, axis=tuple(range(extra)))
    axes = tuple(i for i, (t, s) in enumerate(zip(target_shape, x.shape)) if t == 1 and s != 1)
    if axes:
        x = ops.sum(x, axis=axes, keepdims=True)
    return x


def _blocks(n, chunk):
    """`(n_full, rem)`: `n_full` blocks of `chunk` stored patterns and a last one of `rem`."""
    return n // chunk, n % chunk


def _dot_t(a, b):
    """`a bᵀ` over the last two axes. (`einsum` measured 1.5× slower than this in TF
    graph mode; XLA and torch use the transposed view directly.)"""
    return ops.matmul(a, ops.swapaxes(b, -1, -2))


def _t_dot(a, b):
    """`aᵀ b` over the last two axes."""
    return ops.matmul(ops.swapaxes(a, -1, -2), b)


def _block_scores(qb, kc, mc, neg):
    """Scaled scores `β qᵀk` of one block (`qb = β q`), hidden ones set to `neg`."""
    s = _dot_t(qb, ops.cast(kc, qb.dtype))
    return s if mc is None else ops.where(mc, s, neg)


def _stream_forward(q, k, v, beta, mask, chunk, value_mode):
    """Running log-sum-exp `lse` and normalised read-out `out` over blocks of stored patterns.

    Each block gives its own softmax read-out `o_b = softmax(s_b) V_b` and
    log-sum-exp `lse_b`; two partial results merge exactly as
    `lse = logaddexp(lse₁, lse₂)`, `out = e^{lse₁−lse} out₁ + e^{lse₂−lse} out₂`.
    The block's softmax is the backend's fused kernel (on TensorFlow and
    PyTorch faster than separate max / exp / sum passes), and
    `lse_b = max s_b − log max softmax(s_b)` (the largest weight is
    `1 / Σ exp(s_b − max s_b)`). With `value_mode == "none"` only `lse` is
    computed (a `logsumexp` per block).

    Returns `(out, lse)`, `out` `None` for `value_mode == "none"`; `lse` is the
    natural log-sum-exp of the scaled scores `β qᵀk`. Rows with nothing to
    attend to give `out = 0` and `lse ≈ min float`.
    """
    neg = _floatx_min(q.dtype)
    n_full, rem = _blocks(k.shape[-2], chunk)
    qb = q * beta  # β folded into the states once, not into every block of scores

    def block(start, size):
        kc = _rows(k, start, size)
        mc = _cols(mask, start, size)
        s = _block_scores(qb, kc, mc, neg)
        if value_mode == "none":
            return (ops.logsumexp(s, axis=-1, keepdims=True),)
        p = kernels.softmax(s, axis=-1)
        s_max = ops.max(s, axis=-1, keepdims=True)
        p_max = ops.max(p, axis=-1, keepdims=True)
        if mc is not None:
            # A row whose block is all hidden: softmax is uniform over the fill value.
            seen = s_max > neg
            p = ops.where(ops.logical_and(mc, seen), p, 0.0)
            lse = ops.where(seen, s_max - ops.log(ops.where(seen, p_max, 1.0)), neg)
        else:
            lse = s_max - ops.log(p_max)
        vc = kc if value_mode == "same" else _rows(v, start, size)
        return lse, ops.matmul(p, ops.cast(vc, q.dtype))

    def merge(carry, start, size):
        new = block(start, size)
        lse1, lse2 = carry[0], new[0]
        hi = ops.maximum(lse1, lse2)
        lse = hi + ops.log1p(ops.exp(-ops.abs(lse1 - lse2)))
        if value_mode == "none":
            return (lse,)
        return lse, carry[1] * ops.exp(lse1 - lse) + new[1] * ops.exp(lse2 - lse)

    if n_full:
        carry = block(0, chunk)
        carry = fixed_loop(n_full - 1, lambda i, c: merge(c, (i + 1) * chunk, chunk), carry)
        if rem:
            carry = merge(carry, n_full * chunk, rem)
    else:
        carry = block(0, rem)
    lse = carry[0]
    out = None if value_mode == "none" else carry[1]
    if mask is not None:
        # logaddexp of fill values drifts above `neg` by log(#blocks): clamp hidden rows back.
        lse = ops.where(lse > 0.5 * neg, lse, neg)
    return out, ops.squeeze(lse, -1)


def _stream_backward(q, k, v, beta, mask, out, lse, d_out, d_lse, chunk, value_mode, needs):
    """Gradients of `_stream_forward` by recomputing each block's scores.

    With `p = exp(s − lse)` and `D = Σ_j dO_j O_j` per state, the score
    gradient is `ds = p ⊙ (dO Vᵀ − D + d_lse)`. With `G = Σ_blocks ds K`:
    `dq = β G`, `dβ = Σ q ⊙ G` (since `Σ_j ds_j qᵀk_j = qᵀ G`),
    `dk = dsᵀ (β q) (+ pᵀ dO when V = K)`, `dv = pᵀ dO`. Only one block of
    scores exists at a time; `dk`/`dv` are written block by block
    (`fixed_scan`), so memory is the inputs' size plus one block.
    """
    neg = _floatx_min(q.dtype)
    n = k.shape[-2]
    n_full, rem = _blocks(n, chunk)
    need_k = needs[1]
    need_v = value_mode == "separate" and needs[2]
    qb = q * beta
    lse_ = ops.expand_dims(lse, -1)
    g = ops.expand_dims(ops.cast(d_lse, q.dtype), -1)
    if value_mode != "none":
        d_out = ops.cast(d_out, q.dtype)
        g = g - ops.sum(d_out * out, axis=-1, keepdims=True)
    k_shape = tuple(k.shape[:-2])
    v_shape = None if v is None else tuple(v.shape[:-2])

    def block(acc, start, size):
        kc = ops.cast(_rows(k, start, size), q.dtype)
        mc = _cols(mask, start, size)
        p = ops.exp(_block_scores(qb, kc, mc, neg) - lse_)
        if mc is not None:
            p = ops.where(mc, p, 0.0)
        if value_mode != "none":
            vc = kc if value_mode == "same" else ops.cast(_rows(v, start, size), q.dtype)
            ds = p * (_dot_t(d_out, vc) + g)
        else:
            ds = p * g
        acc = acc + ops.matmul(ds, kc)
        ys = ()
        if need_k:
            dk = _t_dot(ds, qb)
            if value_mode == "same":
                dk = dk + _t_dot(p, d_out)
            ys += (ops.cast(_reduce_to(dk, k_shape + dk.shape[-2:]), k.dtype),)
        if need_v:
            dv = _t_dot(p, d_out)
            ys += (ops.cast(_reduce_to(dv, v_shape + dv.shape[-2:]), v.dtype),)
        return acc, ys

    acc = ops.zeros_like(q) + ops.zeros_like(lse_)  # G, in the broadcast (..., L, d) shape
    parts = []
    if n_full:
        if need_k or need_v:
            acc, ys = fixed_scan(n_full, lambda i, a: block(a, i * chunk, chunk), acc)
            parts.append(ys)
        else:
            acc = fixed_loop(n_full, lambda i, a: block(a, i * chunk, chunk)[0], acc)
    if rem:
        acc, ys = block(acc, n_full * chunk, rem)
        parts.append(tuple(ops.expand_dims(y, 0) for y in ys))
    grads_kv = []
    for j in range(int(need_k) + int(need_v)):
        blocks = []
        for part in parts:
            y = part[j]  # (n_blocks, *lead, size, d)
            lead = y.shape[1:-2]
            if all(s == 1 for s in lead):
                # Moving the block axis past size-1 axes keeps the memory order: a reshape.
                y = ops.reshape(y, tuple(lead) + (-1, y.shape[-1]))
            else:
                y = ops.moveaxis(y, 0, -3)
                shape = ops.shape(y)
                y = ops.reshape(y, tuple(shape[:-3]) + (-1, y.shape[-1]))
            blocks.append(y)
        grads_kv.append(blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=-2))
    dk = grads_kv.pop(0) if need_k else None
    dv = grads_kv.pop(0) if need_v else None
    dq = ops.cast(_reduce_to(acc * beta, q.shape), q.dtype)
    db = ops.cast(_reduce_to(ops.sum(q * acc, axis=-1, keepdims=True), beta.shape), beta.dtype)
    return (dq, dk) + ((dv,) if value_mode == "separate" else ()) + (db,)


@functools.lru_cache(maxsize=128)
def _stream_op(backend, chunk, value_mode, has_mask):
    """The streaming softmax as one differentiable op (cached per static setting)."""

    separate_v = value_mode == "separate"
    n_diff = 4 if separate_v else 3

    def unpack(t):
        q, k = t[0], t[1]
        v = t[2] if separate_v else None
        beta = t[n_diff - 1]
        mask = t[n_diff] if has_mask else None
        return q, k, v, beta, mask

    def forward(*t):
        q, k, v, beta, mask = unpack(t)
        out, lse = _stream_forward(q, k, v, beta, mask, chunk, value_mode)
        return (lse,) if out is None else (out, lse)

    def backward(t, outs, cts, needs):
        q, k, v, beta, mask = unpack(t)
        if value_mode == "none":
            out, d_out, (lse,), (d_lse,) = None, None, outs, cts
        else:
            (out, lse), (d_out, d_lse) = outs, cts
        return _stream_backward(q, k, v, beta, mask, out, lse, d_out, d_lse, chunk, value_mode, needs)

    return with_custom_gradient(forward, backward, n_diff)


def _chunked_inputs(state, memory, beta, mask, chunk_size, top_k):
    _validate_chunk_size(chunk_size)
    _validate_top_k(top_k)
    n = memory.shape[-2]
    if n is None:
        raise ValueError("The chunked path needs a static number of stored patterns (memory.shape[-2] is None).")
    cdt = _core_dtype(state.dtype)
    q = ops.cast(state, cdt)
    beta = _beta_tensor(beta, cdt)
    if len(beta.shape) > 0 and beta.shape[-1] not in (1, None):
        raise ValueError(
            "The chunked path needs one β per state (a scalar or a tensor whose last axis is 1); "
            f"received beta.shape={tuple(beta.shape)}."
        )
    if mask is not None:
        mask = ops.cast(mask, "bool")
    chunk = chunk_size or default_chunk_size(_num_queries(q), n)
    if top_k is not None:
        chunk = max(chunk, min(int(top_k), n))
    return q, beta, mask, min(chunk, n), n


def _stream_softmax(q, memory, value, beta, mask, chunk, need_out=True):
    if not need_out:
        mode = "none"
    elif value is None:
        mode = "same"
    else:
        mode = "separate"
    op = _stream_op(keras.backend.backend(), int(chunk), mode, mask is not None)
    tensors = (q, memory) + ((value,) if mode == "separate" else ()) + (beta,) + (() if mask is None else (mask,))
    outs = op(*tensors)
    return (None, outs[0]) if mode == "none" else (outs[0], outs[1])


def _stream_top_k(q, k, beta, mask, chunk, kk):
    """Indices `(..., L, kk)` of the `kk` best scores of each state and whether each is visible.

    A running top-k over blocks: each block's scores are merged with the kept
    ones by one `top_k` over `kk + chunk` values. No gradient flows here; the
    kept scores are recomputed from the gathered patterns.
    """
    qb, k = ops.stop_gradient(q * beta), ops.stop_gradient(k)
    neg = _floatx_min(q.dtype)
    n_full, rem = _blocks(k.shape[-2], chunk)

    def scores(start, size):
        mc = _cols(mask, start, size)
        s = _block_scores(qb, _rows(k, start, size), mc, neg)
        return s, (None if mc is None else ops.broadcast_to(mc, ops.shape(s)))

    def first(size):
        s, vis = scores(0, size)
        vals, pos = ops.top_k(s, kk, sorted=False)
        pos = ops.cast(pos, "int32")
        return (vals, pos) + (() if vis is None else (ops.take_along_axis(vis, pos, axis=-1),))

    def merge(carry, start, size):
        s, vis = scores(start, size)
        vals, pos = ops.top_k(ops.concatenate([carry[0], s], axis=-1), kk, sorted=False)
        pos = ops.cast(pos, "int32")
        kept = pos < kk
        idx = ops.where(kept, ops.take_along_axis(carry[1], ops.minimum(pos, kk - 1), axis=-1), pos - kk + start)
        new = (vals, idx)
        if vis is not None:
            new += (ops.take_along_axis(ops.concatenate([carry[2], vis], axis=-1), pos, axis=-1),)
        return new

    if n_full:
        carry = first(chunk)
        carry = fixed_loop(n_full - 1, lambda i, c: merge(c, (i + 1) * chunk, chunk), carry)
        if rem:
            carry = merge(carry, n_full * chunk, rem)
    else:
        carry = first(rem)
    return carry[1], (carry[2] if mask is not None else None)


def _gather_rows(x, idx):
    """`x[..., idx, :]` per leading index: `x` `(*lx, N, d)`, `idx` `(*li, L, K)` → `(*l, L, K, d)`."""
    lead = x.shape[:-2]
    n, d = x.shape[-2], x.shape[-1]
    if all(s == 1 for s in lead):
        return ops.take(ops.reshape(x, (n, d)), idx, axis=0)
    dyn = ops.shape(x)[:-2]
    groups = 1
    for s in dyn:
        groups = groups * s
    offsets = ops.reshape(ops.arange(groups, dtype="int32") * n, tuple(dyn) + (1, 1))
    return ops.take(ops.reshape(x, (-1, d)), idx + offsets, axis=0)


def _top_k_scores(q, memory, beta, mask, chunk, top_k, n):
    """Scores of the `top_k` best stored patterns, recomputed differentiably."""
    kk = min(int(top_k), n)
    idx, visible = _stream_top_k(q, memory, beta, mask, chunk, kk)
    k_sel = ops.cast(_gather_rows(memory, idx), q.dtype)  # (..., L, kk, d)
    raw = ops.squeeze(ops.matmul(ops.expand_dims(q, -2), ops.swapaxes(k_sel, -1, -2)), -2)
    return raw * beta, visible, idx, k_sel


def _chunked_update(state, memory, value, beta, separation, mask, chunk_size, top_k):
    if value is memory:
        value = None
    state, memory = ops.convert_to_tensor(state), ops.convert_to_tensor(memory)
    value = None if value is None else ops.convert_to_tensor(value)
    in_dtype = keras.backend.standardize_dtype(state.dtype)
    q, beta_t, mask, chunk, n = _chunked_inputs(state, memory, beta, mask, chunk_size, top_k)
    fn = _chunked_update_fn(keras.backend.backend(), separation, chunk, top_k, n, value is not None, in_dtype)
    return fn(q, memory, value, beta_t, mask)


@functools.lru_cache(maxsize=128)
def _chunked_update_fn(backend, separation, chunk, top_k, n, separate_values, out_dtype):
    """The chunked update for one static setting, compiled once per shape on JAX.

    (Eager JAX would otherwise trace and compile each block loop on every call.)
    """

    def fn(q, memory, value, beta, mask):
        if top_k is None and chunk >= n:
            # One block holding every pattern: the streaming sums are the dense softmax.
            p = softmax(_block_scores(q * beta, memory, None, None), mask=mask)
            out = ops.matmul(p, ops.cast(memory if value is None else value, q.dtype))
        elif top_k is None:
            out, _ = _stream_softmax(q, memory, value, beta, mask, chunk)
        else:
            s, visible, idx, k_sel = _top_k_scores(q, memory, beta, mask, chunk, top_k, n)
            p = separate(s, separation, axis=-1, mask=visible)
            v_sel = k_sel if value is None else ops.cast(_gather_rows(value, idx), q.dtype)
            out = ops.squeeze(ops.matmul(ops.expand_dims(p, -2), v_sel), -2)
        return ops.cast(out, out_dtype)

    return compile_on_jax(fn)


def _stream_masked_max(sq_norms, mask, chunk):
    """Per state: index of the largest visible `‖y‖²` and the number of visible patterns (no gradient)."""
    sq_norms = ops.stop_gradient(sq_norms)
    n_full, rem = _blocks(sq_norms.shape[-1], chunk)

    def block(carry, start, size):
        sn = ops.expand_dims(_cols(sq_norms, start, size), -2)  # (..., 1, size)
        # ‖y‖² ≥ 0, so the hidden patterns (−1) are exactly the negative entries.
        vals = ops.where(_cols(mask, start, size), sn, -1.0)
        best = ops.max(vals, axis=-1)
        arg = ops.cast(ops.argmax(vals, axis=-1), "int32") + start
        count = ops.sum(ops.cast(vals >= 0.0, "int32"), axis=-1)
        if carry is None:
            return best, arg, count
        better = best > carry[0]
        return ops.where(better, best, carry[0]), ops.where(better, arg, carry[1]), carry[2] + count

    if n_full:
        carry = block(None, 0, chunk)
        carry = fixed_loop(n_full - 1, lambda i, c: block(c, (i + 1) * chunk, chunk), carry)
        if rem:
            carry = block(carry, n_full * chunk, rem)
    else:
        carry = block(None, 0, rem)
    return carry[1], carry[2]


def _chunked_energy(state, memory, beta, separation, mask, chunk_size, top_k):
    state, memory = ops.convert_to_tensor(state), ops.convert_to_tensor(memory)
    q, beta_t, mask, chunk, n = _chunked_inputs(state, memory, beta, mask, chunk_size, top_k)
    return _chunked_energy_fn(keras.backend.backend(), separation, chunk, top_k, n)(q, memory, beta_t, mask)


@functools.lru_cache(maxsize=128)
def _chunked_energy_fn(backend, separation, chunk, top_k, n):
    return compile_on_jax(functools.partial(_chunked_energy_impl, separation=separation, chunk=chunk, top_k=top_k, n=n))


def _chunked_energy_impl(q, memory, beta_t, mask, separation, chunk, top_k, n):
    beta_e = ops.squeeze(beta_t, axis=-1) if len(beta_t.shape) > 0 else beta_t
    if top_k is None and chunk >= n:
        # One block holding every pattern: the dense log-sum-exp.
        conj = separation_conjugate(_block_scores(q * beta_t, memory, None, None), "softmax", mask=mask)
        kept = None
    elif top_k is None:
        _, conj = _stream_softmax(q, memory, None, beta_t, mask, chunk, need_out=False)
        kept = None
    else:
        s, visible, _, _ = _top_k_scores(q, memory, beta_t, mask, chunk, top_k, n)
        conj = separation_conjugate(s, separation, mask=visible)
        kept = (
            ops.cast(ops.shape(s)[-1], q.dtype)
            if visible is None
            else ops.maximum(ops.sum(ops.cast(visible, q.dtype), axis=-1), 1.0)
        )
    sq_norms = ops.sum(ops.square(ops.cast(memory, q.dtype)), axis=-1)
    if mask is None:
        big_m = ops.max(sq_norms, axis=-1, keepdims=True)
        count = ops.cast(n, q.dtype)
    else:
        arg, count = _stream_masked_max(sq_norms, mask, chunk)
        m_at = ops.squeeze(_gather_rows(ops.expand_dims(sq_norms, -1), arg[..., None]), (-2, -1))
        big_m = ops.where(count > 0, m_at, 0.0)
        count = ops.maximum(ops.cast(count, q.dtype), 1.0)
    n_kept = count if kept is None else kept
    energy = -conj / beta_e + 0.5 * ops.sum(q * q, axis=-1) + 0.5 * big_m
    if separation == "softmax":
        energy = energy + ops.log(n_kept) / beta_e
    return energy


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
