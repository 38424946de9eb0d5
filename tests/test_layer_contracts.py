"""Layer contracts (issue 32): Keras's layer test on every public layer, input specs,
argument validation, what `fit` trains, the export policy and where per-backend code lives.

Every test here runs on the TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND`).
"""

import json
import pathlib
import re
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from keras.src.testing import TestCase

import keras_hopfield
from keras_hopfield import _validation as V
from keras_hopfield import layers as L
from keras_hopfield.initializers import BipartiteNormal

BACKEND = keras.backend.backend()
PACKAGE = pathlib.Path(keras_hopfield.__file__).parent


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


# --------------------------------------------------------------------------- run_layer_test
# One row per public layer (and per mode that changes the contract): constructor
# arguments, input shape, output shape, the numbers of trainable / non-trainable
# weights and seed generators, and whether the layer is differentiable (Keras's
# training check compiles it into a model and runs `fit`; for the gradient-free
# layers, which own no trainable weight, that `fit` must still run on every backend).
LAYER_CASES = {
    "HopfieldRetrieval": dict(
        cls=L.HopfieldRetrieval,
        init_kwargs={"num_heads": 2, "key_dim": 4},
        input_shape=(2, 3, 8),
        expected_output_shape=(2, 3, 8),
        # 3 LayerNorms (scale, offset) + query/memory/value/output projections (kernel, bias); log β
        expected_num_trainable_weights=14,
        expected_num_non_trainable_weights=1,
        expected_num_seed_generators=0,
        supports_masking=True,
    ),
    "HopfieldPooling": dict(
        cls=L.HopfieldPooling,
        init_kwargs={"num_heads": 2},
        input_shape=(2, 5, 8),
        expected_output_shape=(2, 8),
        expected_num_trainable_weights=15,  # the retrieval's 14 + the learned queries
        expected_num_non_trainable_weights=1,
        expected_num_seed_generators=0,
    ),
    "HopfieldLookup": dict(
        cls=L.HopfieldLookup,
        init_kwargs={"memory_size": 6, "separate_values": True, "trainable_values": False},
        input_shape=(2, 8),
        expected_output_shape=(2, 8),
        expected_num_trainable_weights=15,  # the retrieval's 14 + the stored patterns
        expected_num_non_trainable_weights=2,  # log β, the frozen values
        expected_num_seed_generators=0,
    ),
    "HebbianHopfield": dict(
        cls=L.HebbianHopfield,
        init_kwargs={"seed": 0, "max_steps": 3},
        input_shape=(2, 8),
        expected_output_shape=(2, 8),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=4,  # J, its accumulator, the pattern count, T
        expected_num_seed_generators=1,
        run_mixed_precision_check=False,  # the ±1 dynamics run in the compute dtype; no float16 contract
    ),
    "DenseAssociativeMemory": dict(
        cls=L.DenseAssociativeMemory,
        init_kwargs={"num_memories": 6, "max_steps": 3, "seed": 0},
        input_shape=(2, 8),
        expected_output_shape=(2, 8),
        expected_num_trainable_weights=0,  # associative mode learns nothing by gradient
        expected_num_non_trainable_weights=2,  # memories, T
        expected_num_seed_generators=1,
        run_mixed_precision_check=False,
    ),
    "DenseAssociativeMemory-classifier": dict(
        cls=L.DenseAssociativeMemory,
        init_kwargs={"num_memories": 6, "num_labels": 3, "mode": "classifier", "temperature": 4.0},
        input_shape=(2, 8),
        expected_output_shape=(2, 3),
        expected_num_trainable_weights=1,  # memories
        expected_num_non_trainable_weights=1,  # T
        expected_num_seed_generators=1,
        run_mixed_precision_check=False,
    ),
    "DeepHNN": dict(
        cls=L.DeepHNN,
        init_kwargs={"channels": 2, "features": 3, "depth": 2, "data_format": "channels_last"},
        input_shape=(2, 8, 2),
        expected_output_shape=(2, 3, 2),
        expected_num_trainable_weights=3,  # patterns, log β, bias
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
    ),
    "VHNN": dict(
        cls=L.VHNN,
        init_kwargs={"channels": 2, "features": 3, "iterations": 2, "seed": 0, "data_format": "channels_last"},
        input_shape=(2, 8, 2),
        expected_output_shape=(2, 8, 2),
        expected_num_trainable_weights=3,  # patterns, log β, log η
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=1,
    ),
    "ConvexMerge": dict(
        cls=L.ConvexMerge,
        init_kwargs={"channels": 3, "data_format": "channels_last"},
        input_shape=(2, 4, 3),
        expected_output_shape=(2, 4),
        expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
    ),
    "ConvHNN1D": dict(
        cls=L.ConvHNN1D,
        init_kwargs={"filters": 4, "kernel_size": 3, "data_format": "channels_last"},
        input_shape=(2, 10, 3),
        expected_output_shape=(2, 8, 4),
        expected_num_trainable_weights=3,  # patterns, log β, bias
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
    ),
    "ConvHNN2D": dict(
        cls=L.ConvHNN2D,
        init_kwargs={"filters": 4, "kernel_size": 3, "padding": "same", "data_format": "channels_last"},
        input_shape=(2, 6, 6, 2),
        expected_output_shape=(2, 6, 6, 4),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
    ),
    "CBANBlock": dict(
        cls=L.CBANBlock,
        init_kwargs={"units": 5},  # a dense block flattens a lower layer of any rank
        input_shape=(2, 3, 4),
        expected_output_shape=(2, 5),
        expected_num_trainable_weights=2,  # kernel, bias (conv and untied blocks: tests/test_cban.py)
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        supports_masking=False,
    ),
    "CRHNEncoder": dict(
        cls=L.CRHNEncoder,
        init_kwargs={"filters": (4,), "latent_dim": 8},
        input_shape=(2, 8, 8, 1),
        expected_output_shape=(2, 8, 8, 1),
        # shared kernel, encoder/decoder biases, dense kernel, latent and feature biases
        expected_num_trainable_weights=6,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
    ),
    "RestrictedHopfieldMemory": dict(
        cls=L.RestrictedHopfieldMemory,
        init_kwargs={"hidden_units": 4, "max_steps": 3, "seed": 0},
        input_shape=(2, 8),
        expected_output_shape=(2, 8),
        expected_num_trainable_weights=0,  # stored by SRA, without gradients
        expected_num_non_trainable_weights=3,  # W, forward bias, backward bias
        expected_num_seed_generators=0,
        run_mixed_precision_check=False,
    ),
}


def test_every_public_layer_has_a_contract_case():
    covered = {case["cls"].__name__ for case in LAYER_CASES.values()}
    assert covered == set(L.__all__)


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_run_layer_test(name):
    case = dict(LAYER_CASES[name])
    cls = case.pop("cls")
    TestCase().run_layer_test(cls, run_training_check=True, **case)


# --------------------------------------------------------------------------- input specs
# (layer factory, the input it is built on, a call with a wrong feature/channel size):
# after `build` every layer rejects the wrong size with Keras's input-spec error (or its
# own ValueError), never with a backend's low-level message or a silently wrong result.
WRONG_SIZE_CASES = {
    "ConvHNN2D-4ch": (lambda: L.ConvHNN2D(4, 3), (1, 6, 6, 2), (1, 6, 6, 4)),
    "ConvHNN2D-3ch": (lambda: L.ConvHNN2D(4, 3), (1, 6, 6, 2), (1, 6, 6, 3)),
    "ConvHNN1D": (lambda: L.ConvHNN1D(4, 3), (1, 8, 2), (1, 8, 4)),
    "ConvHNN2D-channels-first": (
        lambda: L.ConvHNN2D(4, 3, data_format="channels_first"), (1, 2, 6, 6), (1, 4, 6, 6),
    ),
    "CBANBlock-conv": (lambda: L.CBANBlock(filters=4), (1, 6, 6, 2), (1, 6, 6, 4)),
    "CBANBlock-dense": (lambda: L.CBANBlock(units=4), (1, 6), (1, 7)),
    "HopfieldRetrieval-query": (lambda: L.HopfieldRetrieval(), (1, 3, 8), (1, 3, 6)),
    "HopfieldRetrieval-pure": (lambda: L.HopfieldRetrieval.pure(beta=1.0), (1, 3, 8), (1, 3, 6)),
    "HopfieldPooling": (lambda: L.HopfieldPooling(), (1, 3, 8), (1, 3, 6)),
    "HopfieldLookup": (lambda: L.HopfieldLookup(5), (1, 8), (1, 6)),
    "DeepHNN-neurons": (lambda: L.DeepHNN(2, 3, data_format="channels_last"), (1, 8, 2), (1, 6, 2)),
    "DeepHNN-one-channel": (lambda: L.DeepHNN(1, 3, data_format="channels_last"), (1, 8), (1, 6)),
    "DeepHNN-channels": (lambda: L.DeepHNN(2, 3, data_format="channels_last"), (1, 8, 2), (1, 8, 3)),
    "VHNN": (lambda: L.VHNN(2, 3, data_format="channels_last"), (1, 8, 2), (1, 6, 2)),
    "ConvexMerge": (lambda: L.ConvexMerge(2, data_format="channels_last"), (1, 8, 2), (1, 6, 2)),
    "CRHNEncoder": (lambda: L.CRHNEncoder(filters=(4,), latent_dim=8), (1, 8, 8, 1), (1, 8, 8, 2)),
    "HebbianHopfield": (lambda: L.HebbianHopfield(max_steps=2), (1, 8), (1, 6)),
    "DenseAssociativeMemory": (lambda: L.DenseAssociativeMemory(4, max_steps=2), (1, 8), (1, 6)),
    "RestrictedHopfieldMemory": (lambda: L.RestrictedHopfieldMemory(4, max_steps=2), (1, 8), (1, 6)),
}


@pytest.mark.parametrize("name", sorted(WRONG_SIZE_CASES))
def test_wrong_size_call_raises_a_clear_error(name):
    make, good, bad = WRONG_SIZE_CASES[name]
    layer = make()
    layer(np.zeros(good, "float32"))
    # Keras's input-spec message ("is incompatible with the layer") or the layer's own,
    # which names the layer: the same on every backend.
    with pytest.raises(ValueError, match=rf"incompatible with the layer|{type(layer).__name__}"):
        layer(np.zeros(bad, "float32"))
    # The symbolic (functional) call is checked too.
    with pytest.raises(ValueError, match=rf"incompatible with the layer|{type(layer).__name__}"):
        layer(keras.KerasTensor((None,) + bad[1:]))


def test_wrong_memory_size_raises():
    layer = L.HopfieldRetrieval()
    layer(np.zeros((1, 3, 8), "float32"), np.zeros((1, 4, 8), "float32"))
    with pytest.raises(ValueError, match=r"HopfieldRetrieval.*`memory` with 8 features.*\(1, 4, 6\)"):
        layer(np.zeros((1, 3, 8), "float32"), np.zeros((1, 4, 6), "float32"))
    with pytest.raises(ValueError, match=r"`value` with 8 features"):
        layer(np.zeros((1, 3, 8), "float32"), np.zeros((1, 4, 8), "float32"), np.zeros((1, 4, 5), "float32"))


def test_conv_read_out_keeps_working_and_checks_its_logits():
    layer = L.ConvHNN2D(4, 3, data_format="channels_last")
    x = np.random.default_rng(0).random((1, 6, 6, 2)).astype("float32")
    logits = layer(x)
    assert tuple(layer(logits, reverse=True).shape) == (1, 6, 6, 2)  # 4 channels in, not the spec's 2
    assert layer.input_spec.axes == {-1: 2}  # the forward spec is back after the read-out
    with pytest.raises(ValueError, match=r"reverse=True\) expects logits with 4 channels"):
        layer(np.zeros((1, 4, 4, 2), "float32"), reverse=True)
    with pytest.raises(ValueError, match="before `reverse=True`"):
        L.ConvHNN2D(4, 3)(np.zeros((1, 4, 4, 4), "float32"), reverse=True)


def test_cban_block_up_and_down_check_their_inputs():
    block = L.CBANBlock(filters=4)
    block.build((None, 6, 6, 2))
    assert tuple(block.up(np.zeros((1, 6, 6, 2), "float32")).shape) == (1, 6, 6, 4)
    with pytest.raises(ValueError, match=r"CBANBlock.*`up` expects the lower layer"):
        block.up(np.zeros((1, 6, 6, 4), "float32"))  # used to run as a grouped convolution
    with pytest.raises(ValueError, match=r"CBANBlock.*`down` expects the upper layer"):
        block.down(np.zeros((1, 6, 6, 2), "float32"))
    dense = L.CBANBlock(units=3)
    dense.build((None, 5))
    with pytest.raises(ValueError, match=r"`up` expects the lower layer with shape \(None, 5\)"):
        dense.up(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match="build the block"):
        L.CBANBlock(units=3).up(np.zeros((2, 5), "float32"))


def test_single_channel_deep_hnn_still_takes_both_ranks():
    layer = L.DeepHNN(1, 3, data_format="channels_last")
    x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    y2 = np_(layer(x))
    y3 = np_(layer(x[..., None]))
    np.testing.assert_allclose(y3[..., 0], y2, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- what fit trains
def _fit(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)


def test_dense_memory_associative_fit_runs_and_leaves_the_memories():
    """Associative retrieval is piecewise constant: nothing to learn by gradient, so the
    memories are non-trainable, `fit` runs on every backend (it raised "element 0 of
    tensors does not require grad" on PyTorch) and leaves them as `store` set them."""
    rng = np.random.default_rng(0)
    memories = np.sign(rng.normal(size=(6, 16))).astype("float32")
    dam = L.DenseAssociativeMemory(6, degree=3, max_steps=3, seed=0)
    dam.store(memories)
    assert dam.trainable_weights == [] and not dam.memories.trainable
    model = keras.Sequential([keras.Input((16,)), dam])
    x = np.sign(rng.normal(size=(8, 16))).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras: "The model does not have any trainable weights"
        _fit(model, x, x)
    np.testing.assert_array_equal(np_(dam.memories), memories)


def test_dense_memory_classifier_fit_changes_the_memories():
    rng = np.random.default_rng(0)
    clf = L.DenseAssociativeMemory(6, degree=3, num_labels=2, mode="classifier", temperature=4.0)
    model = keras.Sequential([keras.Input((16,)), clf])
    before = np_(clf.memories).copy()
    assert clf.memories.trainable
    x = rng.uniform(-1, 1, size=(8, 16)).astype("float32")
    y = np.where(rng.random((8, 2)) < 0.5, -1.0, 1.0).astype("float32")
    _fit(model, x, y)
    assert np.abs(np_(clf.memories) - before).max() > 1e-4


# --------------------------------------------------------------------------- argument validation
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.HebbianHopfield(units=True), r"HebbianHopfield: `units` must be an integer >= 1 or None. Received: units=True"),
        (lambda: L.HopfieldRetrieval(norm_epsilon=-1), r"HopfieldRetrieval: `norm_epsilon` must be a finite number > 0"),
        (lambda: L.HopfieldRetrieval(num_heads=True), r"HopfieldRetrieval: `num_heads`"),
        (lambda: L.HopfieldRetrieval(use_bias="yes"), r"HopfieldRetrieval: `use_bias` must be True or False"),
        (lambda: L.HopfieldRetrieval(separation="relu"), r"HopfieldRetrieval: `separation` must be one of"),
        (lambda: L.HopfieldPooling(num_queries=0), r"HopfieldPooling: `num_queries`"),
        (lambda: L.HopfieldLookup(memory_size=4, eps=-1.0), r"HopfieldLookup: `eps` must be a finite number >= 0"),
        (lambda: L.DenseAssociativeMemory(True), r"DenseAssociativeMemory: `num_memories`"),
        (lambda: L.DenseAssociativeMemory(4, temperature=float("inf")), r"DenseAssociativeMemory: `temperature`"),
        (lambda: L.DenseAssociativeMemory(4, seed=True), r"DenseAssociativeMemory: `seed`"),
        (lambda: L.DeepHNN(channels=True, features=2), r"DeepHNN: `channels`"),
        (lambda: L.DeepHNN(1, 2, use_bias=1), r"DeepHNN: `use_bias` must be True or False"),
        (lambda: L.VHNN(1, 2, trainable_noise=None), r"VHNN: `trainable_noise`"),
        (lambda: L.ConvexMerge(2, per_feature="no"), r"ConvexMerge: `per_feature`"),
        (lambda: L.ConvHNN2D(True, 3), r"ConvHNN2D: `filters`"),
        (lambda: L.ConvHNN1D(2, 3, iterations=-1), r"ConvHNN1D: `iterations` must be an integer >= 0"),
        (lambda: L.CBANBlock(units=True), r"CBANBlock: `units`"),
        (lambda: L.CBANBlock(units=3, tied=1), r"CBANBlock: `tied` must be True or False"),
        (lambda: L.CRHNEncoder(kernel_size=True), r"CRHNEncoder: `kernel_size`"),
        (lambda: L.CRHNEncoder(filters=(4, True)), r"CRHNEncoder: `filters`"),
        (lambda: L.RestrictedHopfieldMemory(max_steps=2.0), r"RestrictedHopfieldMemory: `max_steps`"),
        (lambda: L.RestrictedHopfieldMemory(store_on_fit=1), r"RestrictedHopfieldMemory: `store_on_fit`"),
        (lambda: BipartiteNormal(scale=-1.0), r"BipartiteNormal: `scale`"),
    ],
)
def test_bad_arguments_name_the_layer_and_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_validation_helpers():
    assert V.positive_int("L", "n", 3) == 3 and V.positive_int("L", "n", np.int64(3)) == 3
    assert V.positive_int("L", "n", None, allow_none=True) is None
    for bad in (0, -1, True, 2.0, "2", None):
        with pytest.raises(ValueError, match=r"L: `n` must be an integer >= 1"):
            V.positive_int("L", "n", bad)
    assert V.non_negative_int("L", "n", 0) == 0
    assert V.non_negative_float("L", "x", 0) == 0.0 and isinstance(V.non_negative_float("L", "x", 0), float)
    for bad in (-1e-9, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match=r"`x` must be a finite number >= 0"):
            V.non_negative_float("L", "x", bad)
    with pytest.raises(ValueError, match=r"> 0"):
        V.positive_float("L", "x", 0.0)
    assert V.boolean("L", "flag", np.bool_(True)) is True
    for bad in (1, 0, None, "True"):
        with pytest.raises(ValueError, match=r"`flag` must be True or False"):
            V.boolean("L", "flag", bad)
    assert V.optional_boolean("L", "flag", None) is None
    assert V.choice("L", "mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"L: `mode` must be one of \('a', 'b'\). Received: mode='c'"):
        V.choice("L", "mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"`seed`"):
        V.seed("L", "seed", 1.5)


# --------------------------------------------------------------------------- defaults that tripped users
def test_affine_flags_follow_their_norm_flag():
    layer = L.HopfieldRetrieval(normalize_query=False, normalize_memory=False, normalize_value=False)
    assert not (layer.normalize_query_affine or layer.normalize_memory_affine or layer.normalize_value_affine)
    out = layer(np.zeros((1, 3, 8), "float32"))
    assert tuple(out.shape) == (1, 3, 8) and layer.query_norm is None
    default = L.HopfieldRetrieval()
    assert default.normalize_query_affine and default.normalize_memory_affine and default.normalize_value_affine
    assert not default.normalize_association_space_affine  # unchanged default (False), as in hflayers
    # Explicit values keep working, and the configs round-trip with the resolved flags.
    plain_norm = L.HopfieldRetrieval(normalize_query=True, normalize_query_affine=False)
    for original in (layer, default, plain_norm):
        config = original.get_config()
        json.dumps(config)
        clone = L.HopfieldRetrieval.from_config(config)
        assert clone.get_config() == config
    assert plain_norm.get_config()["normalize_query_affine"] is False
    with pytest.raises(ValueError, match=r"`normalize_memory_affine=True` has no effect with `normalize_memory=False`"):
        L.HopfieldRetrieval(normalize_memory=False, normalize_memory_affine=True)


def test_lookup_trainable_values_is_honoured_or_rejected():
    with pytest.raises(ValueError, match=r"HopfieldLookup: `trainable_values=False` needs `separate_values=True`"):
        L.HopfieldLookup(memory_size=4, trainable_values=False)
    layer = L.HopfieldLookup(memory_size=4, separate_values=True, trainable_values=False)
    layer(np.zeros((2, 8), "float32"))
    assert not layer.stored_values.trainable and layer.stored_patterns.trainable


# --------------------------------------------------------------------------- export policy
def test_top_level_exports_every_public_layer_and_model():
    for name in keras_hopfield.layers.__all__ + keras_hopfield.models.__all__:
        assert name in keras_hopfield.__all__, name
        exported = getattr(keras_hopfield, name)
        assert exported is getattr(keras_hopfield.layers, name, None) or exported is getattr(
            keras_hopfield.models, name
        )
    for name in keras_hopfield.__all__:
        assert hasattr(keras_hopfield, name), name
    assert "BipartiteNormal" not in keras_hopfield.layers.__all__  # an initialiser, not a layer


def test_bipartite_normal_moved_with_its_old_names_and_registered_name_kept(tmp_path):
    from keras_hopfield.layers import BipartiteNormal as from_layers
    from keras_hopfield.layers.cban import BipartiteNormal as from_cban

    assert from_layers is BipartiteNormal and from_cban is BipartiteNormal
    assert keras_hopfield.initializers.__all__ == ["BipartiteNormal"]
    assert keras.saving.get_registered_name(BipartiteNormal) == "keras_hopfield>BipartiteNormal"
    init = BipartiteNormal(0.1, seed=3)
    # A config written before the move (module `keras_hopfield.layers.cban`) still loads.
    old = keras.saving.serialize_keras_object(init)
    old["module"] = "keras_hopfield.layers.cban"
    revived = keras.saving.deserialize_keras_object(old)
    assert isinstance(revived, BipartiteNormal) and revived.get_config() == init.get_config()
    # And a saved model that uses it round-trips.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer=init)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0].kernel_initializer, BipartiteNormal)
    np.testing.assert_array_equal(np_(loaded.layers[0].kernel), np_(model.layers[0].kernel))


def test_no_per_backend_code_outside_the_backend_package():
    offenders = []
    branch = re.compile(r"backend\(\)\s*(==|!=|in\b|not in\b)|keras\.src\b")
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "backend" and path.parent.parent == PACKAGE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if branch.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "per-backend code outside keras_hopfield/backend/:\n" + "\n".join(offenders)
