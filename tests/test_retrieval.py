"""HopfieldRetrieval / HopfieldPooling / HopfieldLookup on every backend."""

import os

import keras
import numpy as np
import pytest
from keras import ops
from keras.src.testing import TestCase

from keras_hopfield.layers import HopfieldLookup, HopfieldPooling, HopfieldRetrieval
from tests.test_functional import np_retrieve, np_softmax

BACKEND = keras.backend.backend()


class LayerTest(TestCase):
    def test_retrieval_self_association(self):
        self.run_layer_test(
            HopfieldRetrieval,
            init_kwargs={"num_heads": 2, "key_dim": 4, "max_steps": 2, "dropout": 0.1, "seed": 1},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 8),
            # 3 LayerNorms x 2 + 3 projections x 2 + output x 2
            expected_num_trainable_weights=14,
            expected_num_non_trainable_weights=1,  # log β
            expected_num_seed_generators=1,
            supports_masking=True,
        )

    def test_retrieval_query_memory_value(self):
        self.run_layer_test(
            HopfieldRetrieval,
            init_kwargs={"num_heads": 2, "key_dim": 3, "value_dim": 5, "output_dim": 7, "trainable_beta": True},
            input_shape={"query_shape": (2, 4, 6), "memory_shape": (2, 9, 10), "value_shape": (2, 9, 11)},
            expected_output_shape=(2, 4, 7),
            expected_num_trainable_weights=15,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
            run_training_check=False,  # dict inputs; training is covered by the fit tests below
        )

    def test_retrieval_pure_and_sparse(self):
        for sep in ("softmax", "sparsemax", "entmax15"):
            self.run_layer_test(
                HopfieldRetrieval,
                init_kwargs={
                    "num_heads": 2,
                    "beta": [1.0, 2.0],
                    "max_steps": 3,
                    "separation": sep,
                    "normalize_query": False,
                    "normalize_query_affine": False,
                    "normalize_memory": False,
                    "normalize_memory_affine": False,
                    "normalize_value": False,
                    "normalize_value_affine": False,
                    "project_query": False,
                    "project_memory": False,
                    "project_value": False,
                    "use_output_projection": False,
                    "use_bias": False,
                },
                input_shape={"query_shape": (2, 3, 8), "memory_shape": (2, 6, 8)},
                expected_output_shape=(2, 3, 8),
                expected_num_trainable_weights=0,
                expected_num_non_trainable_weights=1,
                run_training_check=False,
            )

    def test_retrieval_anchor_extras(self):
        self.run_layer_test(
            HopfieldRetrieval,
            init_kwargs={
                "num_heads": 2,
                "normalize_association_space": True,
                "normalize_association_space_affine": True,
                "value_from_memory": True,
                "add_bias_pattern": True,
                "add_zero_pattern": True,
                "activation": "tanh",
            },
            input_shape={"query_shape": (2, 4, 6), "memory_shape": (2, 5, 6)},
            expected_output_shape=(2, 4, 6),
            run_training_check=False,
            # query/memory norms 2x2 (no value norm with value_from_memory), q/k/v/out 4x2,
            # association norm 2, bias key/value 2
            expected_num_trainable_weights=16,
        )

    def test_pooling(self):
        self.run_layer_test(
            HopfieldPooling,
            init_kwargs={"num_heads": 2, "num_queries": 3},
            input_shape=(2, 7, 8),
            expected_output_shape=(2, 3, 8),
            expected_num_trainable_weights=15,
        )
        self.run_layer_test(
            HopfieldPooling,
            init_kwargs={"num_heads": 4},
            input_shape=(2, 7, 8),
            expected_output_shape=(2, 8),
            expected_num_trainable_weights=15,
        )

    def test_lookup(self):
        self.run_layer_test(
            HopfieldLookup,
            init_kwargs={"memory_size": 12, "num_heads": 2, "separate_values": True},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=16,
        )
        self.run_layer_test(
            HopfieldLookup,
            init_kwargs={"memory_size": 12, "separate_values": True, "trainable_values": False},
            input_shape=(3, 8),
            expected_output_shape=(3, 8),
            expected_num_trainable_weights=15,
            expected_num_non_trainable_weights=2,
        )


# --------------------------------------------------------------------------- numerics


def _np_layernorm(x, gamma=None, beta=None, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma + beta
    return y


def test_pure_layer_equals_numpy(rng):
    Y = rng.normal(size=(10, 6)).astype("float32")
    xi = rng.normal(size=(4, 6)).astype("float32")
    layer = HopfieldRetrieval.pure(beta=1.3, max_steps=4, eps=0.0)
    out = ops.convert_to_numpy(layer(xi, Y))
    np.testing.assert_allclose(out, np_retrieve(xi, Y, 1.3, 4), atol=1e-5)
    assert layer.trainable_weights == []


def test_full_layer_equals_numpy_multihead(rng):
    """One step with norms and projections = multi-head attention with β (NumPy transcription)."""
    h, k, v = 2, 3, 4
    layer = HopfieldRetrieval(num_heads=h, key_dim=k, value_dim=v, output_dim=5, beta=[0.5, 2.0])
    q = rng.normal(size=(2, 3, 6)).astype("float32")
    m = rng.normal(size=(2, 7, 8)).astype("float32")
    val = rng.normal(size=(2, 7, 9)).astype("float32")
    out = ops.convert_to_numpy(layer(q, m, val))
    w = {x.path.split("/", 1)[1]: ops.convert_to_numpy(x) for x in layer.weights}
    Q = np.einsum("blc,chk->blhk", _np_layernorm(q, w["query_norm/gamma"], w["query_norm/beta"]), w["query/kernel"]) + w["query/bias"]
    K = np.einsum("bnc,chk->bnhk", _np_layernorm(m, w["memory_norm/gamma"], w["memory_norm/beta"]), w["memory/kernel"]) + w["memory/bias"]
    V = np.einsum("bnc,chk->bnhk", _np_layernorm(val, w["value_norm/gamma"], w["value_norm/beta"]), w["value/kernel"]) + w["value/bias"]
    beta = np.array([0.5, 2.0])[None, :, None, None]
    P = np_softmax(beta * np.einsum("blhk,bnhk->bhln", Q, K))
    Z = np.einsum("bhln,bnhv->blhv", P, V)
    ref = np.einsum("blhv,hvo->blo", Z, w["output/kernel"]) + w["output/bias"]
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_shared_memory_and_rank2_query(rng):
    Y = rng.normal(size=(10, 6)).astype("float32")
    xi = rng.normal(size=(4, 6)).astype("float32")
    layer = HopfieldRetrieval(num_heads=2, beta=1.0)
    shared = ops.convert_to_numpy(layer(xi, Y))
    batched = ops.convert_to_numpy(layer(xi[:, None, :], np.broadcast_to(Y, (4, 10, 6))))
    assert shared.shape == (4, 6)
    np.testing.assert_allclose(shared, batched[:, 0], atol=1e-5)


def test_memory_mask_equals_subset(rng):
    m = rng.normal(size=(2, 6, 8)).astype("float32")
    q = rng.normal(size=(2, 3, 8)).astype("float32")
    layer = HopfieldRetrieval(num_heads=2, max_steps=3, eps=0.0)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    out, p = layer(q, m, memory_mask=mask, return_association=True)
    out, p = ops.convert_to_numpy(out), ops.convert_to_numpy(p)
    assert (p[0, :, :, 3:] == 0).all() and (p[1, :, :, 5:] == 0).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    for b, n in ((0, 3), (1, 5)):
        sub = ops.convert_to_numpy(layer(q[b : b + 1], m[b : b + 1, :n]))
        np.testing.assert_allclose(out[b : b + 1], sub, atol=1e-5)


def test_association_mask_and_keras_mask(rng):
    q = rng.normal(size=(2, 4, 8)).astype("float32")
    layer = HopfieldRetrieval(num_heads=1)
    am = np.tril(np.ones((4, 4), bool))  # causal association
    _, p = layer(q, association_mask=am, return_association=True)
    p = ops.convert_to_numpy(p)
    assert (p[:, 0, ~am] == 0).all()
    # Keras masks from an Embedding(mask_zero=True) reach the layer and its output.
    tokens = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    y, a = HopfieldRetrieval(num_heads=2)(x, return_association=True)
    model = keras.Model(tokens, [y, a])
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    _, att = model.predict(ids, verbose=0)
    assert (att[0, :, :3, 3:] == 0).all(), "padded tokens must get no association weight"
    np.testing.assert_allclose(att[1].sum(-1), 1.0, atol=1e-5)


def test_pooling_ignores_padding(rng):
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    layer = HopfieldPooling(num_heads=2)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1] * 6], bool)
    out, p = layer(x, mask=mask, return_association=True)
    assert tuple(out.shape) == (2, 8)
    assert (ops.convert_to_numpy(p)[0, :, :, 4:] == 0).all()
    np.testing.assert_allclose(ops.convert_to_numpy(out)[0], ops.convert_to_numpy(layer(x[:1, :4]))[0], atol=1e-5)


def test_eps_stops_early_in_layer(rng):
    Y = rng.normal(size=(8, 6)).astype("float32")
    xi = rng.normal(size=(3, 6)).astype("float32")
    early = HopfieldRetrieval.pure(beta=2.0, max_steps=30, eps=1e9)
    two = HopfieldRetrieval.pure(beta=2.0, max_steps=2)
    np.testing.assert_allclose(ops.convert_to_numpy(early(xi, Y)), ops.convert_to_numpy(two(xi, Y)), atol=1e-6)
    # The training path (fixed-trip loop) gives the same result as the inference path.
    long = HopfieldRetrieval.pure(beta=2.0, max_steps=30, eps=1e-4)
    np.testing.assert_allclose(
        ops.convert_to_numpy(long(xi, Y, training=True)), ops.convert_to_numpy(long(xi, Y)), atol=1e-6
    )


def test_energy_and_trajectory(rng):
    Y = rng.normal(size=(12, 8)).astype("float32")
    xi = rng.normal(size=(5, 8)).astype("float32")
    layer = HopfieldRetrieval(num_heads=2, max_steps=6, beta=[0.5, 3.0])
    traj = layer.trajectory(xi[:, None], Y)
    e = ops.convert_to_numpy(traj["energy"])
    assert e.shape == (6, 5)
    assert (np.diff(e, axis=0) <= 1e-4 * (1 + np.abs(e[:-1]))).all(), "energy must not increase"
    assert tuple(traj["states"].shape) == (6, 5, 2, 1, 4)
    per = ops.convert_to_numpy(layer.energy(xi[:, None], Y, reduction="none"))
    assert per.shape == (5, 2, 1)
    np.testing.assert_allclose(per.sum((1, 2)), e[0], rtol=1e-5)
    np.testing.assert_allclose(
        ops.convert_to_numpy(traj["output"]), ops.convert_to_numpy(layer(xi[:, None], Y)), atol=1e-4
    )


@pytest.mark.parametrize("policy", ["float16", "mixed_float16", "mixed_bfloat16", "bfloat16"])
def test_half_precision_large_beta_finite(policy, rng):
    Y = rng.normal(size=(16, 32)).astype("float32")
    xi = Y[:4] + 0.3 * rng.normal(size=(4, 32)).astype("float32")
    for layer in (
        HopfieldRetrieval.pure(beta=1e4, max_steps=3, dtype=policy),
        HopfieldRetrieval(num_heads=4, beta=1e4, max_steps=3, dtype=policy),
        HopfieldRetrieval(num_heads=2, beta=1e4, separation="entmax15", dtype=policy),
    ):
        out = ops.convert_to_numpy(ops.cast(layer(xi, Y), "float32"))
        assert np.isfinite(out).all(), (policy, layer.get_config()["separation"])
        assert np.isfinite(ops.convert_to_numpy(layer.energy(xi, Y))).all()
    pure = ops.convert_to_numpy(ops.cast(HopfieldRetrieval.pure(beta=1e4, dtype=policy)(xi, Y), "float32"))
    np.testing.assert_allclose(pure, Y[:4], atol=0.1)


def test_trainable_beta_learns():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    Y = np.sign(rng.normal(size=(6, 16))).astype("float32")
    x = np.repeat(Y, 20, axis=0) + 0.8 * rng.normal(size=(120, 16)).astype("float32")
    target = np.repeat(Y, 20, axis=0)
    inp = keras.Input((16,))
    layer = HopfieldRetrieval.pure(beta=0.01, trainable_beta=True)
    out = layer(inp, ops.convert_to_tensor(Y))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(0.1), "mse")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=15, batch_size=30, verbose=0)
    assert float(ops.convert_to_numpy(layer.beta)[0]) > 0.05
    assert model.evaluate(x, target, verbose=0) < 0.5 * before


# --------------------------------------------------------------------------- retrieval of real digits


@pytest.mark.real_data
def test_mnist_half_masked_retrieval(data_dir):
    from keras_hopfield import datasets
    from keras_hopfield.metrics import nearest_pattern_accuracy

    x, _ = datasets.load("mnist", "test", data_dir=data_dir, limit=200)
    Y = (2.0 * x.reshape(200, -1) - 1.0).astype("float32")  # ±1-coded pixels
    q = Y.reshape(200, 28, 28).copy()
    q[:, 14:] = 0.0  # bottom half unknown
    q = q.reshape(200, -1)
    out = ops.convert_to_numpy(HopfieldRetrieval.pure(beta=1.0, max_steps=2)(q, Y))
    accuracy = float(ops.convert_to_numpy(nearest_pattern_accuracy(Y, out)))
    assert accuracy >= 0.95, accuracy


# --------------------------------------------------------------------------- saving, export, jit


def _small_model(seed=0):
    keras.utils.set_random_seed(seed)
    q = keras.Input((4, 8), name="q")
    m = keras.Input((6, 8), name="m")
    h = HopfieldRetrieval(num_heads=2, max_steps=3, trainable_beta=True, dropout=0.1, seed=3)(q, m)
    pooled = HopfieldPooling(num_heads=2)(h)
    looked = HopfieldLookup(memory_size=5)(pooled)
    return keras.Model([q, m], keras.layers.Dense(1)(looked))


def test_keras_save_load_identical(tmp_path, rng):
    model = _small_model()
    data = [rng.normal(size=(3, 4, 8)).astype("float32"), rng.normal(size=(3, 6, 8)).astype("float32")]
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(data, verbose=0), loaded.predict(data, verbose=0), atol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export needs the TensorFlow backend")
def test_export_saved_model(tmp_path, rng):
    import tensorflow as tf

    model = _small_model()
    data = [rng.normal(size=(3, 4, 8)).astype("float32"), rng.normal(size=(3, 6, 8)).astype("float32")]
    path = os.path.join(tmp_path, "exported")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(
        model.predict(data, verbose=0), reloaded.serve(data).numpy(), atol=1e-5
    )


def test_jit_compile_fit(rng):
    model = _small_model()
    model.compile("adam", "mse", jit_compile=True)
    data = [rng.normal(size=(16, 4, 8)).astype("float32"), rng.normal(size=(16, 6, 8)).astype("float32")]
    history = model.fit(data, rng.normal(size=(16, 1)).astype("float32"), epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"beta": [1.0, 2.0, 3.0], "num_heads": 2}, "beta"),
        ({"num_heads": 0}, "num_heads"),
        ({"separation": "relu"}, "separation"),
        ({"max_steps": 0}, "max_steps"),
        ({"eps": -1.0}, "eps"),
        ({"dropout": 1.5}, "dropout"),
        ({"normalize_query": False, "normalize_query_affine": True}, "normalize_query_affine"),
        ({"norm_epsilon": -1}, "norm_epsilon"),
        ({"use_bias": 1}, "use_bias"),
        ({"use_output_projection": False, "output_dim": 3}, "output_dim"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HopfieldRetrieval(**kwargs)


def test_bad_shapes(rng):
    with pytest.raises(ValueError, match=r"query.*rank.*\(2, 3, 4, 5\)"):
        HopfieldRetrieval()(np.zeros((2, 3, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"num_heads.*3.*query feature size 8"):
        HopfieldRetrieval(num_heads=3)(np.zeros((2, 4, 8), "float32"))
    with pytest.raises(ValueError, match=r"different association spaces.*memory.shape=\(2, 5, 7\)"):
        HopfieldRetrieval.pure(beta=1.0)(np.zeros((2, 4, 8), "float32"), np.zeros((2, 5, 7), "float32"))
    with pytest.raises(ValueError, match=r"value.*same rank and number of patterns"):
        HopfieldRetrieval()(
            np.zeros((2, 4, 8), "float32"), np.zeros((2, 5, 8), "float32"), np.zeros((2, 6, 8), "float32")
        )
    with pytest.raises(ValueError, match=r"num_heads.*static"):
        HopfieldRetrieval.pure(beta=1.0, num_heads=3)(np.zeros((2, 8), "float32"), np.zeros((5, 8), "float32"))
    with pytest.raises(ValueError, match=r"HopfieldPooling.*rank 3"):
        HopfieldPooling()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="memory_size"):
        HopfieldLookup(memory_size=0)


# --------------------------------------------------------------------------- fused path, masks, specs


@pytest.mark.parametrize("shared", [False, True])
def test_fused_and_explicit_paths_agree(shared, rng):
    """On torch one softmax step runs through ops.dot_product_attention; asking for the
    association forces the explicit path, so both must give the same output everywhere."""
    layer = HopfieldRetrieval(num_heads=2, key_dim=3, value_dim=5, beta=[0.7, 1.9])
    q = rng.normal(size=(3, 4, 6)).astype("float32")
    m = rng.normal(size=(7, 6) if shared else (3, 7, 6)).astype("float32")
    fast = ops.convert_to_numpy(layer(q, m))
    explicit, _ = layer(q, m, return_association=True)
    np.testing.assert_allclose(fast, ops.convert_to_numpy(explicit), atol=1e-5)
    pure = HopfieldRetrieval.pure(beta=2.0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(pure(q, m)), ops.convert_to_numpy(pure(q, m, return_association=True)[0]), atol=1e-5
    )


def test_fused_path_does_not_copy_a_shared_memory_per_batch_element(rng, monkeypatch):
    """A memory shared by the batch goes to dot_product_attention once, with the batch folded
    into the query axis: broadcasting it to the batch made torch's SDPA copy it B times
    (3.7 GB for 128 queries over 60 000 patterns of dimension 64)."""
    seen = []
    fused = ops.dot_product_attention

    def spy(query, key, value, **kwargs):
        seen.append((tuple(query.shape), tuple(key.shape), tuple(value.shape)))
        return fused(query, key, value, **kwargs)

    monkeypatch.setattr(ops, "dot_product_attention", spy)
    patterns = rng.normal(size=(50, 8)).astype("float32")
    lookup = HopfieldLookup.pure(beta=3.0, memory_size=50)
    lookup.build((None, 8))
    lookup.stored_patterns.assign(patterns)
    q = rng.normal(size=(6, 8)).astype("float32")
    out = ops.convert_to_numpy(lookup._fused_call(q, ops.convert_to_tensor(patterns), None))
    assert seen == [((1, 6, 1, 8), (1, 50, 1, 8), (1, 50, 1, 8))]
    scores = 3.0 * q @ patterns.T
    p = np.exp(scores - scores.max(1, keepdims=True))
    np.testing.assert_allclose(out, (p / p.sum(1, keepdims=True)) @ patterns, atol=1e-5)
    multi = HopfieldRetrieval(num_heads=2, key_dim=3)  # JAX's dot_product_attention wants value_dim == key_dim
    q3, m = rng.normal(size=(4, 2, 6)).astype("float32"), rng.normal(size=(7, 6)).astype("float32")
    explicit = multi(q3, m, return_association=True)[0]
    seen.clear()
    np.testing.assert_allclose(
        ops.convert_to_numpy(multi._fused_call(q3, m, None)), ops.convert_to_numpy(explicit), atol=1e-5
    )
    assert seen[0][0][:2] == (1, 8) and seen[0][1][0] == 1


def test_call_keeps_callers_keras_mask():
    h = keras.layers.Embedding(20, 8, mask_zero=True)(np.array([[1, 2, 0, 0]]))
    before = ops.convert_to_numpy(keras.layers.GlobalAveragePooling1D()(h))
    HopfieldRetrieval(num_heads=2)(h)
    after = ops.convert_to_numpy(keras.layers.GlobalAveragePooling1D()(h))
    np.testing.assert_allclose(before, after)


def test_symbolic_association_shapes_count_extra_patterns():
    x = keras.Input((10, 16))
    pool = HopfieldPooling(num_heads=2, add_zero_pattern=True, add_bias_pattern=True)
    _, a = pool(x, return_association=True)
    eager = pool(np.zeros((3, 10, 16), "float32"), return_association=True)[1]
    assert a.shape[1:] == tuple(eager.shape[1:]) == (2, 1, 12)
