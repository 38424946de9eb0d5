"""Chunked (streaming log-sum-exp) retrieval: equal to the dense path, exact top-k, stable, configurable.

"Equal" means within 1e-5 in float32: absolute for read-outs (values of order
1), relative to the largest entry (`1e-5 · max(1, max |dense|)`) for energies
and gradients, which sum many terms (a stored pattern's gradient sums over
every state).

Sizes are tiny with small blocks (`chunk_size` 7–9 over 30–40 stored patterns,
so every case has several blocks and a shorter last one); the memory and speed
behaviour at 10⁵–10⁶ patterns is measured by benchmarks/large_memory.py.
"""

import numpy as np
import pytest
import keras
from keras import ops

from keras_hopfield import functional as F
from keras_hopfield.backend.gradients import value_and_grad
from keras_hopfield.layers import HopfieldLookup, HopfieldPooling, HopfieldRetrieval

T = ops.convert_to_tensor
TOL = 1e-5


def _np(x):
    return ops.convert_to_numpy(x)


def _close(a, b, tol=TOL, rel=False):
    a, b = _np(a).astype("float64"), _np(b).astype("float64")
    assert a.shape == b.shape
    scale = max(1.0, float(np.abs(b).max())) if rel else 1.0
    np.testing.assert_array_less(np.abs(a - b), tol * scale + 1e-12)


@pytest.fixture
def problem(rng):
    B, H, L, N, d = 2, 2, 3, 37, 5
    return dict(
        q=rng.normal(size=(B, H, L, d)).astype("float32"),
        k=rng.normal(size=(1, H, N, d)).astype("float32"),  # shared by the batch
        v=rng.normal(size=(1, H, N, 4)).astype("float32"),
        beta=np.array([0.7, 2.0], "float32").reshape(H, 1, 1),
        memory_mask=rng.random((B, 1, 1, N)) > 0.3,
        association_mask=rng.random((B, 1, L, N)) > 0.3,
    )


def _grads(fn, *arrays):
    """`fn(*tensors)` (a scalar) and its gradients with respect to every argument, in one backward pass."""
    backend = keras.backend.backend()
    xs = [T(a) for a in arrays]
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(xs))))(*xs)
        return value, list(grads)
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.identity(x) for x in xs]
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            value = fn(*xs)
        return value, tape.gradient(value, xs)
    import torch

    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    value = fn(*xs)
    return value.detach(), [g.detach() for g in torch.autograd.grad(value, xs)]


# (mask, top_k, values): every mask kind, with and without top-k, separate values and V = K.
UPDATE_CASES = [
    (None, None, "separate"),
    ("memory_mask", None, "memory"),
    ("association_mask", None, "separate"),
    (None, 4, "memory"),
    ("association_mask", 4, "separate"),
]


@pytest.mark.parametrize("mask,top_k,values", UPDATE_CASES)
def test_chunked_update_equals_dense_forward_and_gradients(problem, mask, top_k, values):
    m = None if mask is None else T(problem[mask])
    names = ("q", "k", "v", "beta") if values == "separate" else ("q", "k", "beta")

    def loss(retrieval):
        def fn(*a):
            value = a[2] if values == "separate" else None
            out = F.hopfield_update(a[0], a[1], a[-1], value, mask=m, retrieval=retrieval, chunk_size=8, top_k=top_k)
            return ops.sum(ops.sin(out))  # a non-uniform output gradient

        return fn

    args = [problem[n] for n in names]
    value = None if values == "memory" else T(problem["v"])
    dense = F.hopfield_update(T(args[0]), T(args[1]), T(args[-1]), value, mask=m, retrieval="dense", top_k=top_k)
    chunked = F.hopfield_update(
        T(args[0]), T(args[1]), T(args[-1]), value, mask=m, retrieval="chunked", chunk_size=8, top_k=top_k
    )
    _close(chunked, dense)
    ld, gd = _grads(loss("dense"), *args)
    lc, gc = _grads(loss("chunked"), *args)
    _close(lc, ld)
    for name, a, b in zip(names, gc, gd):
        assert float(np.abs(_np(b)).max()) > 0, name
        _close(a, b, rel=True)


@pytest.mark.parametrize("mask,top_k", [(None, None), ("memory_mask", 4), ("association_mask", None)])
def test_chunked_energy_equals_dense_forward_and_gradients(problem, mask, top_k):
    m = None if mask is None else T(problem[mask])
    args = [problem[n] for n in ("q", "k", "beta")]

    def loss(retrieval):
        def fn(q, k, beta):
            e = F.hopfield_energy(q, k, beta, mask=m, retrieval=retrieval, chunk_size=8, top_k=top_k)
            return ops.sum(ops.sin(e))

        return fn

    ld, gd = _grads(loss("dense"), *args)
    lc, gc = _grads(loss("chunked"), *args)
    _close(lc, ld, rel=True)
    for a, b in zip(gc, gd):
        _close(a, b, rel=True)  # energies are sums of terms up to ~|β s|: 1e-5 of their size
    e_dense = F.hopfield_energy(*[T(t) for t in args], mask=m, retrieval="dense", top_k=top_k)
    e_chunk = F.hopfield_energy(*[T(t) for t in args], mask=m, retrieval="chunked", chunk_size=8, top_k=top_k)
    _close(e_chunk, e_dense, rel=True)


def test_one_block_holding_every_pattern(problem):
    """`chunk_size >= N`: one block, computed as the dense softmax (same values and gradients)."""
    args = [problem[n] for n in ("q", "k", "beta")]
    m = T(problem["association_mask"])
    for fn in (F.hopfield_update, F.hopfield_energy):
        loss = lambda r, fn=fn: lambda q, k, b: ops.sum(ops.sin(fn(q, k, b, mask=m, retrieval=r, chunk_size=100)))  # noqa: E731
        ld, gd = _grads(loss("dense"), *args)
        lc, gc = _grads(loss("chunked"), *args)
        _close(lc, ld, rel=True)
        for a, b in zip(gc, gd):
            _close(a, b, rel=True)


def _top_k_reference(q, k, v, beta, kk, mask=None):
    """NumPy: softmax over the kk best scores of each state, in float64."""
    s = beta * np.einsum("ld,nd->ln", q.astype("float64"), k.astype("float64"))
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    out = np.zeros((q.shape[0], v.shape[1]))
    for i, row in enumerate(s):
        best = np.argsort(-row)[:kk]
        best = best[np.isfinite(row[best])]
        w = np.exp(row[best] - row[best].max())
        out[i] = (w / w.sum()) @ v[best]
    return out


@pytest.mark.parametrize("kk", [3, 40])
def test_top_k_is_exact(rng, kk):
    q = rng.normal(size=(6, 8)).astype("float32")
    k = rng.normal(size=(33, 8)).astype("float32")
    v = rng.normal(size=(33, 3)).astype("float32")
    mask = rng.random((6, 33)) > 0.4
    for m in (None, mask):
        ref = _top_k_reference(q, k, v, 1.5, kk, m)
        tm = None if m is None else T(m)
        for retrieval in ("dense", "chunked"):
            out = F.hopfield_update(T(q), T(k), 1.5, T(v), mask=tm, retrieval=retrieval, chunk_size=5, top_k=kk)
            _close(out, ref)
    # top_k = 1 is the hard nearest stored pattern (by score).
    hard = F.hopfield_update(T(q), T(k), 1.5, T(v), retrieval="chunked", chunk_size=5, top_k=1)
    _close(hard, v[np.argmax(q @ k.T, axis=1)])


def test_top_k_with_sparse_separation_matches_dense(problem):
    args = [T(problem[n]) for n in ("q", "k", "beta")]
    for sep in ("sparsemax", "entmax15"):
        d = F.hopfield_update(args[0], args[1], args[2], separation=sep, retrieval="dense", top_k=5)
        c = F.hopfield_update(args[0], args[1], args[2], separation=sep, retrieval="chunked", chunk_size=8, top_k=5)
        _close(c, d)


def test_iterated_chunked_updates_equal_dense(problem):
    q, k = T(problem["q"]), T(problem["k"])
    for unrolled in (True, False):
        d, _ = F.hopfield_iterate(q, k, 0.9, n_updates=3, eps=0.0, unrolled=unrolled, retrieval="dense")
        c, _ = F.hopfield_iterate(q, k, 0.9, n_updates=3, eps=0.0, unrolled=unrolled, retrieval="chunked", chunk_size=8)
        _close(c, d)
    out, p, _, _ = F.hopfield_retrieve(q, k, 0.9, max_steps=2, retrieval="chunked", chunk_size=8)
    assert p is None  # the chunked path never forms the association matrix
    _close(out, F.hopfield_retrieve(q, k, 0.9, max_steps=2, retrieval="dense")[0])


def test_large_beta_stays_finite_and_exact(rng):
    q = rng.normal(size=(4, 16)).astype("float32")
    k = rng.normal(size=(50, 16)).astype("float32")
    beta = 1e4
    out = F.hopfield_update(T(q), T(k), beta, retrieval="chunked", chunk_size=8)
    assert np.isfinite(_np(out)).all()
    # At β = 10⁴ the softmax is the nearest stored pattern by score.
    _close(out, k[np.argmax(q @ k.T, axis=1)])
    e = F.hopfield_energy(T(q), T(k), beta, retrieval="chunked", chunk_size=8)
    _close(e, F.hopfield_energy(T(q), T(k), beta, retrieval="dense"), rel=True)
    _, g = value_and_grad(lambda x: ops.sum(F.hopfield_update(x, T(k), beta, retrieval="chunked", chunk_size=8)), q)
    assert np.isfinite(_np(g)).all()
    _, g = value_and_grad(lambda x: ops.sum(F.hopfield_energy(x, T(k), beta, retrieval="chunked", chunk_size=8)), q)
    assert np.isfinite(_np(g)).all()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_finite_and_close_to_float32(rng, dtype):
    q = rng.normal(size=(4, 16)).astype("float32")
    k = rng.normal(size=(50, 16)).astype("float32")
    for beta in (1.0, 1e4):
        out = F.hopfield_update(ops.cast(q, dtype), ops.cast(k, dtype), beta, retrieval="chunked", chunk_size=8)
        assert keras.backend.standardize_dtype(out.dtype) == dtype
        ref = F.hopfield_update(T(q), T(k), beta, retrieval="dense")
        assert np.isfinite(_np(ops.cast(out, "float32"))).all()
        np.testing.assert_allclose(_np(ops.cast(out, "float32")), _np(ref), atol=0.1)
        e = F.hopfield_energy(ops.cast(q, dtype), ops.cast(k, dtype), beta, retrieval="chunked", chunk_size=8)
        assert np.isfinite(_np(e)).all()
    layer = HopfieldRetrieval.pure(beta=1e4, retrieval="chunked", chunk_size=8, dtype="mixed_" + dtype)
    out = layer(q, k)
    assert np.isfinite(_np(ops.cast(out, "float32"))).all()


def test_fully_masked_state_retrieves_zero(problem):
    m = np.ones((2, 1, 3, 37), bool)
    m[1, 0, 2] = False
    out = F.hopfield_update(T(problem["q"]), T(problem["k"]), T(problem["beta"]), mask=T(m), retrieval="chunked", chunk_size=8)
    assert np.all(_np(out)[1, :, 2] == 0)
    dense = F.hopfield_update(T(problem["q"]), T(problem["k"]), T(problem["beta"]), mask=T(m), retrieval="dense")
    _close(out, dense)


# ------------------------------------------------------------------- layers


def _pair(factory, **kw):
    return factory(retrieval="dense", **kw), factory(retrieval="chunked", chunk_size=7, **kw)


def test_retrieval_layer_chunked_equals_dense(rng):
    q = rng.normal(size=(3, 4, 16)).astype("float32")
    shared = rng.normal(size=(30, 16)).astype("float32")
    per_example = rng.normal(size=(3, 30, 16)).astype("float32")
    dense, chunked = _pair(HopfieldRetrieval, num_heads=2)
    dense(q, shared)
    chunked(q, shared)
    chunked.set_weights(dense.get_weights())
    memory_mask = rng.random((3, 30)) > 0.3
    association_mask = rng.random((3, 4, 30)) > 0.3
    for memory in (shared, per_example):
        _close(chunked(q, memory), dense(q, memory))
        _close(chunked.energy(q, memory, reduction="none"), dense.energy(q, memory, reduction="none"), rel=True)
    _close(chunked(q, shared, association_mask=association_mask), dense(q, shared, association_mask=association_mask))
    _close(chunked(q, per_example, memory_mask=memory_mask), dense(q, per_example, memory_mask=memory_mask))
    _close(
        chunked.energy(q, per_example, memory_mask=memory_mask, reduction="none"),
        dense.energy(q, per_example, memory_mask=memory_mask, reduction="none"),
        rel=True,
    )
    # Gradients through the layer (projections, LayerNorms), with respect to the query and the memory.
    fn = lambda layer: lambda x, y: ops.sum(ops.sin(layer(x, y, training=True)))  # noqa: E731
    _, gd = _grads(fn(dense), q, shared)
    _, gc = _grads(fn(chunked), q, shared)
    for a, b in zip(gc, gd):
        _close(a, b, rel=True)


@pytest.mark.parametrize(
    "kw",
    [dict(num_heads=2, top_k=5), dict(num_heads=1, max_steps=3, eps=0.0), dict(num_heads=2, add_bias_pattern=True)],
    ids=["top_k", "iterated", "bias_pattern"],
)
def test_retrieval_layer_variants_chunked_equal_dense(rng, kw):
    q = rng.normal(size=(3, 4, 16)).astype("float32")
    shared = rng.normal(size=(30, 16)).astype("float32")
    dense, chunked = _pair(HopfieldRetrieval, **kw)
    dense(q, shared)
    chunked(q, shared)
    chunked.set_weights(dense.get_weights())
    _close(chunked(q, shared), dense(q, shared))
    fn = lambda layer: lambda y: ops.sum(ops.sin(layer(q, y, training=True)))  # noqa: E731
    _close(_grads(fn(chunked), shared)[1][0], _grads(fn(dense), shared)[1][0], rel=True)


def test_retrieval_layer_keras_masks(rng):
    dense, chunked = _pair(HopfieldRetrieval, num_heads=2, key_dim=8)
    tokens = rng.integers(1, 20, size=(3, 9))
    tokens[0, 6:] = 0
    tokens[2, 3:] = 0
    emb = keras.layers.Embedding(20, 16, mask_zero=True)
    x = emb(tokens)
    d = dense(x)  # self-association with the Keras mask of the embedding
    chunked(x)
    chunked.set_weights(dense.get_weights())
    c = chunked(x)
    valid = tokens != 0
    _close(_np(c)[valid], _np(d)[valid])


def _train_pair(layer_cls, kw, x, rng):
    y = rng.normal(size=(x.shape[0], 3)).astype("float32")
    models = []
    for retrieval in ("dense", "chunked"):
        inp = keras.Input(x.shape[1:])
        out = layer_cls(retrieval=retrieval, chunk_size=9, **kw)(inp)
        if len(out.shape) > 2:
            out = keras.layers.Flatten()(out)
        model = keras.Model(inp, keras.layers.Dense(3)(out))
        model.compile(keras.optimizers.SGD(0.5), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    before = [w.copy() for w in models[0].get_weights()]
    _close(models[1](x), models[0](x))
    for model in models:
        model.train_on_batch(x, y)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(models[0].get_weights(), before))
    assert moved > 1e-3
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        _close(b, a)  # one SGD step: the gradients of every weight agree


@pytest.mark.parametrize("kw", [dict(memory_size=40, num_heads=2), dict(memory_size=40, separate_values=True, top_k=6)])
def test_lookup_layer_trains_the_same_chunked(rng, kw):
    x = rng.normal(size=(5, 4, 16)).astype("float32")
    _train_pair(HopfieldLookup, kw, x if "top_k" not in kw else x[:, 0], rng)


def test_pooling_layer_trains_the_same_chunked(rng):
    _train_pair(HopfieldPooling, dict(num_heads=2, num_queries=2), rng.normal(size=(4, 30, 16)).astype("float32"), rng)


def test_pooling_and_lookup_energy_chunked(rng):
    bags = rng.normal(size=(3, 30, 16)).astype("float32")
    mask = rng.random((3, 30)) > 0.3
    dense, chunked = _pair(HopfieldPooling, num_heads=2)
    dense(bags)
    chunked(bags)
    chunked.set_weights(dense.get_weights())
    _close(chunked(bags, mask=mask), dense(bags, mask=mask))
    _close(chunked.energy(bags, mask=mask), dense.energy(bags, mask=mask), rel=True)
    dense, chunked = _pair(HopfieldLookup, memory_size=40)
    x = rng.normal(size=(3, 16)).astype("float32")
    dense(x)
    chunked(x)
    chunked.set_weights(dense.get_weights())
    _close(chunked.energy(x), dense.energy(x), rel=True)


# ------------------------------------------------------- auto, config, errors


def test_auto_picks_chunked_from_the_threshold(monkeypatch, rng):
    t = F.AUTO_CHUNKED_MIN_PATTERNS
    assert F.resolve_retrieval("auto", t - 1) == "dense"
    assert F.resolve_retrieval("auto", t) == "chunked"
    assert F.resolve_retrieval("auto", None) == "dense"
    assert F.resolve_retrieval("auto", 10 * t, "sparsemax") == "dense"  # a sparse map needs the whole row
    assert F.resolve_retrieval("auto", 10 * t, "sparsemax", top_k=8) == "chunked"
    layer = HopfieldRetrieval(num_heads=2)
    assert layer.retrieval_path(t) == "chunked"
    assert layer.retrieval_path(t, return_association=True) == "dense"
    assert HopfieldRetrieval(dropout=0.1).retrieval_path(t, training=True) == "dense"
    assert HopfieldRetrieval(dropout=0.1).retrieval_path(t, training=False) == "chunked"
    assert HopfieldRetrieval(retrieval="dense").retrieval_path(10 * t) == "dense"
    # A β per stored pattern cannot be streamed: "auto" stays dense (and "chunked" says why, below).
    q, y = T(np.ones((2, 4), "float32")), T(np.ones((t, 4), "float32"))
    beta_per_pattern = T(np.full((1, t), 0.5, "float32"))
    _close(F.hopfield_update(q, y, beta_per_pattern), np.ones((2, 4)))

    # Below a lowered threshold the layer runs its chunked path (and stays equal to dense).
    calls = []
    original = F.modern._chunked_update  # where hopfield_update looks it up
    monkeypatch.setattr(F.modern, "_chunked_update", lambda *a, **k: calls.append(1) or original(*a, **k))
    q = rng.normal(size=(2, 16)).astype("float32")
    memory = rng.normal(size=(40, 16)).astype("float32")
    auto = HopfieldRetrieval.pure(beta=1.0)
    small = auto(q, memory)
    assert not calls
    monkeypatch.setattr(F.chunked, "AUTO_CHUNKED_MIN_PATTERNS", 40)
    big = auto(q, memory)
    assert calls
    _close(big, small)


def test_default_chunk_size():
    assert F.default_chunk_size(128) == 4096
    assert F.default_chunk_size(128, 10**6) == 4000  # a divisor: no shorter last block
    assert F.default_chunk_size(128, 999_983) == 4096  # prime: a shorter last block
    assert F.default_chunk_size(10**6) == 1024
    assert F.default_chunk_size(None, 100) == 100


@pytest.mark.parametrize("cls", [HopfieldRetrieval, HopfieldLookup, HopfieldPooling])
def test_config_round_trip_of_the_new_arguments(cls):
    extra = dict(memory_size=12) if cls is HopfieldLookup else {}
    layer = cls(retrieval="chunked", chunk_size=512, top_k=7, num_heads=2, **extra)
    config = layer.get_config()
    assert (config["retrieval"], config["chunk_size"], config["top_k"]) == ("chunked", 512, 7)
    clone = cls.from_config(config)
    assert (clone.retrieval, clone.chunk_size, clone.top_k) == ("chunked", 512, 7)
    default = cls(**extra).get_config()
    assert (default["retrieval"], default["chunk_size"], default["top_k"]) == ("auto", None, None)


def test_saved_model_keeps_the_chunked_path(tmp_path, rng):
    x = rng.normal(size=(3, 16)).astype("float32")
    inp = keras.Input((16,))
    model = keras.Model(inp, HopfieldLookup(memory_size=30, retrieval="chunked", chunk_size=8, top_k=4)(inp))
    path = tmp_path / "lookup.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.layers[-1]
    assert (layer.retrieval, layer.chunk_size, layer.top_k) == ("chunked", 8, 4)
    _close(loaded(x), model(x))


def test_argument_validation(rng):
    with pytest.raises(ValueError, match="retrieval"):
        HopfieldRetrieval(retrieval="streaming")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            HopfieldRetrieval(chunk_size=bad)
        with pytest.raises(ValueError, match="top_k"):
            HopfieldRetrieval(top_k=bad)
    with pytest.raises(ValueError, match="sparsemax"):
        HopfieldRetrieval(retrieval="chunked", separation="sparsemax")
    HopfieldRetrieval(retrieval="chunked", separation="sparsemax", top_k=4)  # fine with top_k
    with pytest.raises(ValueError, match="dropout"):
        HopfieldRetrieval(retrieval="chunked", dropout=0.1)
    layer = HopfieldRetrieval.pure(beta=1.0, retrieval="chunked")
    q, memory = rng.normal(size=(2, 8)).astype("float32"), rng.normal(size=(10, 8)).astype("float32")
    with pytest.raises(ValueError, match="return_association"):
        layer(q, memory, return_association=True)
    # Functional API.
    with pytest.raises(ValueError, match="retrieval"):
        F.hopfield_update(T(q), T(memory), 1.0, retrieval="fast")
    with pytest.raises(ValueError, match="chunk_size"):
        F.hopfield_update(T(q), T(memory), 1.0, retrieval="chunked", chunk_size=0)
    with pytest.raises(ValueError, match="top_k"):
        F.hopfield_energy(T(q), T(memory), 1.0, top_k=0)
    with pytest.raises(ValueError, match="entmax15"):
        F.hopfield_energy(T(q), T(memory), 1.0, separation="entmax15", retrieval="chunked")
    with pytest.raises(ValueError, match="one β per state"):
        F.hopfield_update(T(q), T(memory), T(np.ones((2, 10), "float32")), retrieval="chunked")
