"""Chunked retrieval: streaming log-sum-exp over blocks of stored patterns.

The memory-efficient attention of Rabe & Staats 2021 / FlashAttention applied to the
modern Hopfield update and energy: never forms the `(queries × N)` association matrix,
forward or backward (the backward pass recomputes each block through
`keras_hopfield.backend.custom_gradient`). Exact softmax, and exact `top_k` by a running
top-k of scores and indices. `hopfield_update`/`hopfield_energy` route here through
`resolve_retrieval` (`retrieval="auto" | "dense" | "chunked"`).
"""

import functools

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import kernels
from keras_hopfield.backend.custom_gradient import compile_on_jax, with_custom_gradient
from keras_hopfield.backend.loops import fixed_loop, fixed_scan
from keras_hopfield.functional._common import _beta_tensor, _core_dtype, _floatx_min
from keras_hopfield.functional.separation import _validate_separation, lse, separate, separation_conjugate, softmax

__all__ = [
    "RETRIEVALS",
    "AUTO_CHUNKED_MIN_PATTERNS",
    "resolve_retrieval",
    "default_chunk_size",
]


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
# the bounds below. `benchmarks/large_memory.py --sizes 100000 --chunk-sizes
# 2048 4096 8192 16384` (128 queries, forward and fwd+bwd) on all three
# backends: 4096-pattern blocks (2¹⁹ scores) were within 10 % of the fastest
# block size on each, and take a quarter of the memory of 2²¹.
_CHUNK_SCORES = 2**19
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
    """Block size of the chunked path: about 2¹⁹ scores per block.

    `num_queries` (all state patterns of a call, heads and batch included;
    `None` if unknown) times the block stays near 2¹⁹ float32 scores (2 MB),
    within `[1024, 65536]` stored patterns and never above `num_patterns`.
    When `num_patterns` has a divisor between half that size and that size,
    the divisor is used: without a shorter last block the backward pass
    writes the stored patterns' gradient with no extra copy.

    Example:
        >>> from keras_hopfield.functional import default_chunk_size
        >>> default_chunk_size(128), default_chunk_size(128, 10**6), default_chunk_size(1, 5000)
        (4096, 4000, 5000)
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
