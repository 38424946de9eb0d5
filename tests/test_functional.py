"""Numerics of keras_hopfield.functional against NumPy references (all backends)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from keras_hopfield import functional as F


def np_softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def np_sparsemax(z):
    """Reference: projection onto the simplex by bisection on τ (no sorting)."""
    out = np.empty_like(z, dtype=np.float64)
    for idx in np.ndindex(z.shape[:-1]):
        v = z[idx].astype(np.float64)
        lo, hi = v.max() - 1.0, v.max()
        for _ in range(200):
            tau = (lo + hi) / 2
            if np.maximum(v - tau, 0).sum() > 1:
                lo = tau
            else:
                hi = tau
        out[idx] = np.maximum(v - (lo + hi) / 2, 0)
    return out


def np_entmax15(z):
    out = np.empty_like(z, dtype=np.float64)
    for idx in np.ndindex(z.shape[:-1]):
        v = z[idx].astype(np.float64) / 2
        lo, hi = v.max() - 1.0, v.max()
        for _ in range(200):
            tau = (lo + hi) / 2
            if (np.maximum(v - tau, 0) ** 2).sum() > 1:
                lo = tau
            else:
                hi = tau
        out[idx] = np.maximum(v - (lo + hi) / 2, 0) ** 2
    return out


NP_SEP = {"softmax": np_softmax, "sparsemax": np_sparsemax, "entmax15": np_entmax15}


def np_retrieve(xi, Y, beta, steps, sep="softmax"):
    for _ in range(steps):
        xi = NP_SEP[sep](beta * xi @ Y.T) @ Y
    return xi


def np_energy(xi, Y, beta):
    z = beta * xi @ Y.T
    m = z.max(-1, keepdims=True)
    lse = (np.log(np.exp(z - m).sum(-1)) + m[..., 0]) / beta
    return -lse + 0.5 * (xi * xi).sum(-1) + np.log(Y.shape[0]) / beta + 0.5 * (Y * Y).sum(-1).max()


@pytest.mark.parametrize("sep", ["softmax", "sparsemax", "entmax15"])
def test_separation_matches_numpy(sep, rng):
    z = rng.normal(size=(4, 3, 9)).astype("float32") * 3
    got = ops.convert_to_numpy(F.separate(ops.convert_to_tensor(z), sep))
    np.testing.assert_allclose(got, NP_SEP[sep](z), atol=2e-5)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    if sep != "softmax":
        assert (got == 0).any(), "sparse separation should give exact zeros"


@pytest.mark.parametrize("sep", ["softmax", "sparsemax", "entmax15"])
def test_separation_mask_and_axis(sep, rng):
    z = rng.normal(size=(2, 5, 7)).astype("float32")
    mask = rng.random((2, 5, 7)) > 0.4
    mask[0, 0] = False  # a fully masked row gives zeros, not NaN
    got = ops.convert_to_numpy(F.separate(ops.convert_to_tensor(z), sep, mask=ops.convert_to_tensor(mask)))
    assert np.isfinite(got).all()
    assert (got[~mask] == 0).all()
    np.testing.assert_allclose(got[0, 0], 0.0)
    # On the valid entries it equals the map applied to the valid entries only.
    row = z[1, 2][mask[1, 2]]
    np.testing.assert_allclose(got[1, 2][mask[1, 2]], NP_SEP[sep](row[None])[0], atol=2e-5)
    # Another axis: separating over axis 1 equals separating the transpose.
    a1 = ops.convert_to_numpy(F.separate(ops.convert_to_tensor(z), sep, axis=1))
    np.testing.assert_allclose(a1, np.swapaxes(NP_SEP[sep](np.swapaxes(z, 1, 2)), 1, 2), atol=2e-5)


def test_value_and_grad_treats_a_captured_copy_of_the_argument_as_constant():
    from keras_hopfield.backend.gradients import value_and_grad

    x = ops.convert_to_tensor(np.array([1.0, -2.0, 3.0], "float32"))
    # fn closes over the very tensor it is differentiated at: d/dt sum(t * x) = x, not 2 x.
    value, grad = value_and_grad(lambda t: ops.sum(t * x), x)
    np.testing.assert_allclose(ops.convert_to_numpy(grad), [1.0, -2.0, 3.0])
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)), 14.0)


@pytest.mark.parametrize("sep", ["sparsemax", "entmax15"])
def test_sparse_separation_gradients_finite(sep, rng):
    from keras_hopfield.backend.gradients import value_and_grad

    z = rng.normal(size=(3, 6)).astype("float32")
    z[0, :2] = 5.0  # ties at the top
    w = ops.convert_to_tensor(rng.normal(size=(3, 6)).astype("float32"))

    def f(x):
        return ops.sum(F.separate(x, sep) * w)

    val, grad = value_and_grad(f, z)
    grad = ops.convert_to_numpy(grad)
    assert np.isfinite(grad).all()
    # Finite differences on a generic coordinate.
    h = 1e-3
    zp, zm = z.copy(), z.copy()
    zp[1, 3] += h
    zm[1, 3] -= h
    fd = (float(ops.convert_to_numpy(f(ops.convert_to_tensor(zp)))) - float(ops.convert_to_numpy(f(ops.convert_to_tensor(zm))))) / (2 * h)
    assert abs(fd - grad[1, 3]) < 5e-2 * max(1.0, abs(fd))


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("sep", ["softmax", "sparsemax", "entmax15"])
def test_retrieve_matches_numpy(steps, sep, rng):
    Y = rng.normal(size=(12, 8)).astype("float32")
    xi = rng.normal(size=(5, 8)).astype("float32")
    out, p, state, n = F.hopfield_retrieve(
        ops.convert_to_tensor(xi), ops.convert_to_tensor(Y), 0.7, separation=sep, max_steps=steps
    )
    np.testing.assert_allclose(ops.convert_to_numpy(out), np_retrieve(xi, Y, 0.7, steps, sep), atol=1e-4)
    np.testing.assert_array_equal(ops.convert_to_numpy(n), steps - 1)


def test_energy_matches_numpy(rng):
    Y = rng.normal(size=(10, 6)).astype("float32")
    xi = rng.normal(size=(4, 6)).astype("float32")
    e = F.hopfield_energy(ops.convert_to_tensor(xi), ops.convert_to_tensor(Y), 2.5)
    np.testing.assert_allclose(ops.convert_to_numpy(e), np_energy(xi, Y, 2.5), rtol=1e-5, atol=1e-4)
    # Ramsauer's constants make the energy non-negative.
    assert (ops.convert_to_numpy(e) >= -1e-4).all()
    # lse is the scaled log-sum-exp and stays finite for huge β.
    z = ops.convert_to_tensor(np.array([[1.0, 2.0, 3.0]], "float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(F.lse(z, 1e6)), [3.0], rtol=1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 20),
    d=st.integers(2, 12),
    log_beta=st.floats(-2.0, 3.0),
    sep=st.sampled_from(["softmax", "sparsemax", "entmax15"]),
)
def test_energy_never_increases(seed, n, d, log_beta, sep):
    """Prop. 3.2 (papers/004) / Hu et al. 2023: the update is a CCCP step."""
    r = np.random.default_rng(seed)
    Y = ops.convert_to_tensor(r.normal(size=(n, d)))  # float64 where the backend allows (not JAX x32)
    xi = ops.convert_to_tensor(r.normal(size=(3, d)) * 2)
    beta = float(np.exp(log_beta))
    prev = ops.convert_to_numpy(F.hopfield_energy(xi, Y, beta, sep))
    tol = 1e-5  # float32 round-off (JAX runs x32; some backends' softmax computes in float32)
    for _ in range(6):
        xi = F.hopfield_update(xi, Y, beta, separation=sep)
        e = ops.convert_to_numpy(F.hopfield_energy(xi, Y, beta, sep))
        assert (e <= prev + tol * (1 + np.abs(prev))).all(), (e, prev)
        prev = e


def test_small_beta_single_global_fixed_point(rng):
    """papers/004 Prop. 3.3: β m_max² < 1 ⇒ every start converges to one point."""
    Y = np.sign(rng.normal(size=(20, 64))).astype("float32")  # ±1: equal norms, Δ_min > 0
    beta = 0.9 * F.global_fixed_point_beta(Y)
    assert beta * np.max(((Y - Y.mean(0)) ** 2).sum(1)) < 1
    starts = (rng.normal(size=(50, 64)) * 5).astype("float32")
    out, _, _, _ = F.hopfield_retrieve(
        ops.convert_to_tensor(starts), ops.convert_to_tensor(Y), beta, max_steps=200, eps=0.0
    )
    out = ops.convert_to_numpy(out)
    assert np.abs(out - out[0]).max() < 1e-5
    # ... while a large β keeps several attractors (retrieval regime).
    big = F.retrieval_beta(Y)
    assert np.isfinite(big) and big > beta
    noisy = Y.copy()
    noisy[:, :8] *= -1  # flip 8 of 64 signs
    out, _, _, _ = F.hopfield_retrieve(
        ops.convert_to_tensor(noisy), ops.convert_to_tensor(Y), big, max_steps=5
    )
    np.testing.assert_allclose(ops.convert_to_numpy(out), Y, atol=1e-2)


def test_eps_stops_early_and_unrolled_loop_agrees(rng):
    Y = ops.convert_to_tensor(rng.normal(size=(6, 5)).astype("float32"))
    xi = ops.convert_to_tensor(rng.normal(size=(4, 5)).astype("float32"))
    res = {}
    for unrolled in (True, False):
        out, _, _, steps = F.hopfield_retrieve(xi, Y, 3.0, max_steps=50, eps=1e-3, unroll_for_gradients=unrolled)
        res[unrolled] = (ops.convert_to_numpy(out), ops.convert_to_numpy(steps))
        assert (res[unrolled][1] < 49).all(), "every pattern should converge well before 49 updates"
        assert (res[unrolled][1] >= 1).all()
    np.testing.assert_allclose(res[True][0], res[False][0], atol=1e-6)
    np.testing.assert_array_equal(res[True][1], res[False][1])
    # A huge eps freezes every pattern after its first update.
    out_eps, _, _, steps = F.hopfield_retrieve(xi, Y, 3.0, max_steps=10, eps=1e9)
    out_two, _, _, _ = F.hopfield_retrieve(xi, Y, 3.0, max_steps=2)
    np.testing.assert_array_equal(ops.convert_to_numpy(steps), 1)
    np.testing.assert_allclose(ops.convert_to_numpy(out_eps), ops.convert_to_numpy(out_two), atol=1e-6)


def test_large_beta_and_half_precision_finite(rng):
    Y = rng.normal(size=(16, 32)).astype("float32")
    xi = Y[:4] + 0.3 * rng.normal(size=(4, 32)).astype("float32")
    for dtype in ("float32", "float16", "bfloat16"):
        out, p, _, _ = F.hopfield_retrieve(
            ops.cast(xi, dtype), ops.cast(Y, dtype), 1e4, max_steps=3
        )
        out = ops.convert_to_numpy(ops.cast(out, "float32"))
        assert np.isfinite(out).all(), dtype
        e = ops.convert_to_numpy(ops.cast(F.hopfield_energy(ops.cast(xi, dtype), ops.cast(Y, dtype), 1e4), "float32"))
        assert np.isfinite(e).all(), dtype
    np.testing.assert_allclose(out, Y[:4], atol=0.1)


def test_beta_regime_helpers():
    Y = np.eye(4) * 3.0
    np.testing.assert_allclose(F.pattern_separation(Y), 9.0)
    assert F.retrieval_beta(Y) > 0
    assert np.isnan(F.retrieval_beta(np.ones((3, 4))))
    with pytest.raises(ValueError, match="at least 2"):
        F.retrieval_beta(np.ones((1, 4)))
    with pytest.raises(ValueError, match="separation"):
        F.separate(ops.ones((2, 3)), "relu")
    with pytest.raises(ValueError, match="max_steps"):
        F.hopfield_retrieve(ops.ones((2, 3)), ops.ones((4, 3)), 1.0, max_steps=0)


# --------------------------------------------------------------------------- backend kernels and loops
def _np_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape", [(7, 3), (2, 5, 4, 9), (3, 15), (2, 3, 16), (4, 20)])
def test_kernel_softmax_equals_reference_for_short_and_long_axes(rng, shape):
    """`backend.kernels.softmax` (torch: short last axes go through a moved axis) is the plain softmax."""
    from keras_hopfield.backend import kernels

    z = rng.normal(scale=3.0, size=shape).astype("float32")
    got = ops.convert_to_numpy(kernels.softmax(ops.convert_to_tensor(z), axis=-1))
    np.testing.assert_allclose(got, _np_softmax(z), rtol=1e-5, atol=1e-6)
    got0 = ops.convert_to_numpy(kernels.softmax(ops.convert_to_tensor(z), axis=0))
    np.testing.assert_allclose(got0, _np_softmax(z, axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape", [(2, 5, 4, 9), (7, 3), (2, 3, 4, 32), (2, 3, 1, 1), (3, 20, 16), (2, 2, 3, 5, 17), (4, 3, 20)]
)
def test_softmax_mix_values_and_gradients_equal_reference(rng, shape):
    """`kernels.softmax_mix(l, A) = softmax(l) @ A`, and so are its gradients for `l` and `A`.

    On torch this runs a hand-written autograd Function: channel-major for
    K < 16; for K ≥ 16 a 1×1 convolution when there are ≥ 16 positions per
    batch item (`(3, 20, 16)`, `(2, 2, 3, 5, 17)`), row-major `mm` otherwise
    (`(2, 3, 4, 32)`, `(4, 3, 20)`); on TensorFlow, for K < 16, the
    channel-major form with its `tf.custom_gradient`; on JAX a
    `jax.custom_vjp`; elsewhere the generic `keras.ops` path.
    """
    from keras_hopfield.backend import kernels, value_and_grad

    k = shape[-1]
    logits = rng.normal(scale=3.0, size=shape).astype("float32")
    mix = rng.normal(size=(k, k)).astype("float32")  # not symmetric: the transpose must be right
    weights = rng.normal(size=shape).astype("float32")
    bias = rng.normal(size=(k,)).astype("float32")
    got = ops.convert_to_numpy(kernels.softmax_mix(ops.convert_to_tensor(logits), ops.convert_to_tensor(mix)))
    np.testing.assert_allclose(got, _np_softmax(logits) @ mix, rtol=1e-5, atol=1e-5)
    b = ops.convert_to_tensor(bias)
    got = ops.convert_to_numpy(kernels.softmax_mix(ops.convert_to_tensor(logits), ops.convert_to_tensor(mix), b))
    np.testing.assert_allclose(got, _np_softmax(logits) @ mix + bias, rtol=1e-5, atol=1e-5)

    w = ops.convert_to_tensor(weights)
    m = ops.convert_to_tensor(mix)
    _, g_logits = value_and_grad(lambda z: ops.sum(kernels.softmax_mix(z, m) * w), logits)
    lt = ops.convert_to_tensor(logits)
    _, g_mix = value_and_grad(lambda a: ops.sum(kernels.softmax_mix(lt, a) * w), mix)
    s = _np_softmax(logits).reshape(-1, k)
    gw = weights.reshape(-1, k)
    ds = gw @ mix.T
    ref_logits = s * (ds - (s * ds).sum(-1, keepdims=True))
    np.testing.assert_allclose(ops.convert_to_numpy(g_logits).reshape(-1, k), ref_logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(g_mix), s.T @ gw, rtol=1e-4, atol=1e-4)
    # With the bias: the same logits gradient, and the bias gets the summed output gradient.
    _, g_logits_b = value_and_grad(lambda z: ops.sum(kernels.softmax_mix(z, m, b) * w), logits)
    _, g_bias = value_and_grad(lambda v: ops.sum(kernels.softmax_mix(lt, m, v) * w), bias)
    np.testing.assert_allclose(ops.convert_to_numpy(g_logits_b).reshape(-1, k), ref_logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(g_bias), gw.sum(0), rtol=1e-4, atol=1e-4)


def test_softmax_mix_chained_calls_have_independent_gradients(rng):
    """Nested and differently sized calls in one backward pass (on torch they share scratch buffers).

    The gradients equal those of the plain `softmax @ mix` composition, and a
    gradient already returned is not changed by a later backward pass.
    """
    from keras_hopfield.backend import kernels, value_and_grad

    logits = rng.normal(scale=2.0, size=(2, 5, 4, 9)).astype("float32")
    m1, m2 = (ops.convert_to_tensor(rng.normal(size=(9, 9)).astype("float32")) for _ in range(2))
    w = ops.convert_to_tensor(rng.normal(size=(2, 5, 4, 9)).astype("float32"))

    def loss(mix_fn, weights):
        def f(z):
            outer = mix_fn(mix_fn(z, m1), m2)
            small = mix_fn(z[:1, :2], m2)  # a smaller call in the same backward pass
            return ops.sum(outer * weights) + ops.sum(small * weights[:1, :2])

        return f

    def plain(z, mix):
        return ops.matmul(ops.softmax(z, axis=-1), mix)

    _, got = value_and_grad(loss(kernels.softmax_mix, w), logits)
    _, ref = value_and_grad(loss(plain, w), logits)
    np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(ref), rtol=1e-4, atol=1e-5)

    def single(weights):
        return lambda z: ops.sum(kernels.softmax_mix(z, m1) * weights)

    _, got = value_and_grad(single(w), logits)
    first = np.array(ops.convert_to_numpy(got))  # a copy, not a view
    value_and_grad(single(-2.0 * w), logits)
    np.testing.assert_array_equal(ops.convert_to_numpy(got), first)


@pytest.mark.parametrize("k", [9, 32])
def test_softmax_mix_takes_strided_logits_and_a_sum_loss(rng, k):
    """A transposed (non-contiguous) logits tensor and the broadcast gradient of a `sum` loss.

    On torch both reach the hand-written backward as strided tensors (the
    1×1-convolution path for K = 32 makes them contiguous first).
    """
    from keras_hopfield.backend import kernels, value_and_grad

    base = rng.normal(scale=2.0, size=(2, 6, 5, k)).astype("float32")
    mix = rng.normal(size=(k, k)).astype("float32")
    m = ops.convert_to_tensor(mix)
    bias = ops.convert_to_tensor(rng.normal(size=(k,)).astype("float32"))

    def f(z):
        return ops.sum(kernels.softmax_mix(ops.transpose(z, (0, 2, 1, 3)), m, bias))

    value, grad = value_and_grad(f, base)
    s = _np_softmax(base.transpose(0, 2, 1, 3)).reshape(-1, k)
    np.testing.assert_allclose(float(value), float((s @ mix).sum() + s.shape[0] * ops.convert_to_numpy(bias).sum()),
                               rtol=1e-4)
    ds = np.ones_like(s) @ mix.T
    ref = (s * (ds - (s * ds).sum(-1, keepdims=True))).reshape(2, 5, 6, k).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(ops.convert_to_numpy(grad), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [9, 32])
def test_softmax_mix_stays_finite_for_huge_logits(k):
    """Logits of ±1e4 (a large β) give the mix row of the winning channel, with finite gradients."""
    from keras_hopfield.backend import kernels, value_and_grad

    logits = np.full((2, 3, k), -1e4, dtype="float32")
    winners = np.arange(6).reshape(2, 3) % k
    np.put_along_axis(logits, winners[..., None], 1e4, axis=-1)
    mix = np.arange(k * k, dtype="float32").reshape(k, k) / k
    out = ops.convert_to_numpy(kernels.softmax_mix(ops.convert_to_tensor(logits), ops.convert_to_tensor(mix)))
    np.testing.assert_allclose(out, mix[winners], rtol=1e-6)
    m = ops.convert_to_tensor(mix)
    _, grad = value_and_grad(lambda z: ops.sum(kernels.softmax_mix(z, m)), logits)
    assert np.all(np.isfinite(ops.convert_to_numpy(grad)))


def test_softmax_mix_with_mixed_dtypes_takes_the_generic_path():
    """float16 logits with a float32 mix are promoted as `keras.ops.matmul` does (no fused-kernel dtype error)."""
    from keras_hopfield.backend import kernels

    logits = np.linspace(-2, 2, 2 * 9, dtype="float32").reshape(2, 9)
    mix = np.eye(9, dtype="float32")
    got = kernels.softmax_mix(ops.convert_to_tensor(logits, "float16"), ops.convert_to_tensor(mix))
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(got, "float32")), _np_softmax(logits), atol=2e-3)


def test_fixed_loop_unrolled_equals_loop_and_gradient():
    from keras_hopfield.backend.loops import fixed_loop

    def body(i, carry):
        x, w = carry
        return ops.tanh(x * w + ops.cast(i, x.dtype)), w

    x0 = ops.convert_to_tensor(np.linspace(-1, 1, 5).astype("float32"))
    w = ops.convert_to_tensor(np.float32(0.7))
    looped, _ = fixed_loop(3, body, (x0, w))
    unrolled, _ = fixed_loop(3, body, (x0, w), unroll=True)
    np.testing.assert_allclose(ops.convert_to_numpy(unrolled), ops.convert_to_numpy(looped), rtol=1e-6)
    ref = np.linspace(-1, 1, 5)
    for i in range(3):
        ref = np.tanh(ref * 0.7 + i)
    np.testing.assert_allclose(ops.convert_to_numpy(unrolled), ref, rtol=1e-5)
