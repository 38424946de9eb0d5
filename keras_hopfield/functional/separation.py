"""Log-sum-exp and the separation functions of modern Hopfield networks.

`softmax`, `sparsemax` and `entmax15` map association scores to weights (papers/004,
MATH.md §1); `separation_conjugate` is the convex conjugate term of the energy.
Written with `keras.ops` only: runs on TensorFlow, JAX and PyTorch and under `jit`.
"""

from keras import ops

from keras_hopfield.backend import kernels
from keras_hopfield.functional._common import _floatx_min

__all__ = [
    "SEPARATIONS",
    "lse",
    "softmax",
    "sparsemax",
    "entmax15",
    "separate",
    "separation_conjugate",
]


SEPARATIONS = ("softmax", "sparsemax", "entmax15")


def _validate_separation(separation):
    if separation not in SEPARATIONS:
        raise ValueError(
            f"Unknown `separation`={separation!r}; expected one of {SEPARATIONS}."
        )


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
