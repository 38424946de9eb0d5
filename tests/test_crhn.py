"""Tests of the CRHN: tied encoder/decoder, restricted Hopfield memory with SRA, the model."""

import json
import math
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from keras_hopfield.layers.crhn import (
    CRHNEncoder,
    RestrictedHopfieldMemory,
    binarize,
    procrustes_rotation,
    sign_straight_through,
)
from keras_hopfield.models.crhn import CRHN

from tests._scripts import run_script

BACKEND = keras.backend.backend()
REPO = Path(__file__).resolve().parents[1]


def to_np(x):
    x = ops.convert_to_numpy(ops.stop_gradient(ops.convert_to_tensor(x)))
    return np.asarray(x)


def patterns(rng, p, n):
    return rng.choice([-1.0, 1.0], size=(p, n)).astype("float32")


def flip(rng, z, fraction):
    return np.where(rng.random(z.shape) < fraction, -z, z).astype("float32")


@pytest.fixture(scope="module")
def stored_memory():
    rng = np.random.default_rng(1)
    z = patterns(rng, 24, 96)
    memory = RestrictedHopfieldMemory(hidden_units=64, seed=0)
    info = memory.store(z)
    return memory, z, info


# ----------------------------------------------------------------- interface
def test_binarize_and_straight_through_gradient():
    assert to_np(binarize(np.array([-0.5, 0.0, 2.0], "float32"))).tolist() == [-1.0, 1.0, 1.0]
    from keras_hopfield.backend import value_and_grad

    u = np.array([-2.0, -0.5, 0.3, 1.5], "float32")
    _, grad = value_and_grad(lambda t: ops.sum(sign_straight_through(t) * 3.0), u)
    # Hard-tanh straight-through: gradient 3 inside [-1, 1], 0 outside.
    assert to_np(grad).tolist() == [0.0, 3.0, 3.0, 0.0]


def test_tied_decoder_is_exact_adjoint_of_encoder(rng):
    for latent_dim in (None, 24):
        enc = CRHNEncoder(filters=(3, 5), kernel_size=4, strides=2, latent_dim=latent_dim)
        x = rng.normal(size=(2, 8, 12, 2)).astype("float32")
        enc.build(x.shape)
        y = rng.normal(size=(2, enc.latent_size)).astype("float32")
        lhs = float(np.sum(to_np(enc.linear_map(x)) * y))
        rhs = float(np.sum(x * to_np(enc.adjoint_map(y))))
        assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs)), (latent_dim, lhs, rhs)
    # One set of kernels: the decoder has no kernels of its own.
    names = [v.path for v in enc.trainable_variables]
    assert sum("kernel" in n for n in names) == 3  # two convolutions + the dense map


def test_encoder_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size - strides"):
        CRHNEncoder(kernel_size=3, strides=2)
    with pytest.raises(ValueError, match="divisible"):
        CRHNEncoder(filters=(4, 4, 4)).build((None, 12, 12, 3))
    enc = CRHNEncoder(filters=(4,), latent_dim=8)
    enc.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="latent"):
        enc.decode(np.zeros((2, 9), "float32"))


# -------------------------------------------------------------------- memory
@pytest.fixture(scope="module")
def two_layer_memory():
    # One two-layer memory and two SRA sweeps, shared by the tests that need several
    # layers (on JAX each sweep call and each new shape is a recompilation).
    z = patterns(np.random.default_rng(2), 16, 48)
    memory = RestrictedHopfieldMemory(hidden_units=(32, 24), seed=3)
    objectives = [memory.sra_step(z, return_objectives=True) for _ in range(3)]
    return memory, z, objectives


def test_sra_step_never_increases_procrustes_objective(two_layer_memory):
    _, _, sweeps = two_layer_memory
    for objectives in sweeps:
        assert {o["kind"] for o in objectives} == {"left", "right"}
        assert {o["layer"] for o in objectives} == {0, 1}
        for o in objectives:
            assert o["after"] <= o["before"] * (1 + 1e-5) + 1e-4, o


def test_procrustes_rotation_recovers_rotation(rng):
    a = rng.normal(size=(40, 5)).astype("float32")
    q = np.linalg.qr(rng.normal(size=(5, 5)))[0].astype("float32")
    r, t, before, after = procrustes_rotation(a, a @ q + 0.5, center=True)
    np.testing.assert_allclose(to_np(r), q, atol=1e-4)
    np.testing.assert_allclose(to_np(t), np.full(5, 0.5), atol=1e-4)
    assert float(to_np(after)) < 1e-3 < float(to_np(before))


def test_stored_patterns_are_fixed_points(stored_memory):
    memory, z, info = stored_memory
    assert info["fixed_points"] == len(z)
    assert memory.fixed_points(z).all()
    np.testing.assert_array_equal(to_np(memory(z)), z)
    _, steps = memory.retrieve(z, return_steps=True)
    assert to_np(steps).max() == 0


def test_weights_stay_semi_orthogonal(stored_memory, two_layer_memory):
    for mem in (stored_memory[0], two_layer_memory[0]):
        for w in mem.kernels:
            w = to_np(w).astype("float64")
            assert np.linalg.norm(w.T @ w - np.eye(w.shape[1])) <= 1e-4
        assert mem.orthogonality_error() <= 1e-4


def test_one_retrieval_step_is_non_expansive(stored_memory, rng):
    memory, _, _ = stored_memory
    for scale in (0.01, 0.3, 2.0):
        v = rng.uniform(-1, 1, size=(64, 96)).astype("float32")
        d = (scale * rng.normal(size=(64, 96))).astype("float32")
        gap = np.linalg.norm(to_np(memory.step(v + d)) - to_np(memory.step(v)), axis=1)
        assert np.all(gap <= np.linalg.norm(d, axis=1) * (1 + 1e-5) + 1e-6)


def test_retrieval_corrects_flipped_bits_and_energy_decreases(stored_memory, rng):
    memory, z, _ = stored_memory
    noisy = flip(rng, z, 0.05)
    retrieved = to_np(memory(noisy))
    assert (retrieved == z).mean() > (noisy == z).mean()
    # One hidden layer: each half step minimises E exactly, so E never increases.
    trajectory = to_np(memory.trajectory(flip(rng, z, 0.2), steps=5))
    energies = np.stack([to_np(memory.energy(s)) for s in trajectory])
    assert np.all(np.diff(energies, axis=0) <= 1e-3)


def test_continuous_dynamics_are_a_contraction_to_one_state(stored_memory, rng):
    memory, z, _ = stored_memory
    continuous = RestrictedHopfieldMemory.from_config({**memory.get_config(), "dynamics": "continuous", "max_steps": 200})
    continuous.build((None, z.shape[1]))
    continuous.set_weights(memory.get_weights())
    assert continuous.get_config()["dynamics"] == "continuous" and continuous.get_config()["tolerance"] == 1e-3
    # The query enters through the sign interface: a ±0.7 copy gives what its sign gives.
    noisy = flip(rng, z, 0.05)
    np.testing.assert_allclose(to_np(continuous(0.7 * noisy)), to_np(continuous(noisy)), atol=1e-6)
    # One continuous step from a stored pattern keeps its signs (it is a binary fixed point) ...
    trajectory = to_np(continuous.trajectory(z, steps=3))
    np.testing.assert_array_equal(np.sign(trajectory[1]), z)
    assert np.all(np.abs(trajectory[1]) < 1.0)
    # ... but T is non-expansive (semi-orthogonal W) with tanh gain < 1: iterated without
    # re-binarising it contracts every state to the same fixed point (docs/crhn.md).
    v, steps = continuous.retrieve(z, return_steps=True)
    v, steps = to_np(v), to_np(steps)
    assert np.all(steps < 200) and np.abs(to_np(continuous.step(v)) - v).max() < 1e-3  # converged
    assert np.abs(v - v.mean(axis=0)).max() < 0.05  # one state for all 24 stored patterns
    assert (np.sign(v) == z).mean() < 0.6  # which is none of them
    with pytest.raises(ValueError, match="`dynamics` must be one of"):
        RestrictedHopfieldMemory(dynamics="analog")
    with pytest.raises(ValueError, match="`tolerance` must be a finite number > 0"):
        RestrictedHopfieldMemory(dynamics="continuous", tolerance=0)


def test_memory_bad_inputs(stored_memory, rng):
    memory, _, _ = stored_memory
    with pytest.raises(ValueError, match="latent size 50"):
        memory.store(patterns(rng, 4, 50))
    with pytest.raises(ValueError, match="latent size"):
        memory.retrieve(patterns(rng, 4, 50))
    with pytest.raises(ValueError, match="exceeds the latent size"):
        RestrictedHopfieldMemory(hidden_units=128).build((None, 64))
    with pytest.raises(ValueError, match="non-increasing"):
        RestrictedHopfieldMemory(hidden_units=(16, 32))
    with pytest.raises(ValueError, match="target_activation"):
        RestrictedHopfieldMemory(target_activation=1.0)


def test_storing_too_many_patterns_warns_with_count(rng):
    memory = RestrictedHopfieldMemory(hidden_units=8, seed=0, max_sweeps=4)
    with pytest.warns(UserWarning, match=r"\d+ of 60 patterns are not fixed points"):
        info = memory.store(patterns(rng, 60, 16))
    assert info["fixed_points"] < 60


def test_store_under_fit_equals_eager_sweeps(rng):
    # One SRA sweep per training call via variable.assign (works on JAX's stateless
    # trainer too). More patterns than units: the cross-covariances have full rank, the
    # Procrustes rotations are unique, and fit must match the eager sweeps.
    z = patterns(rng, 64, 24)
    inputs = keras.Input((24,))
    layer = RestrictedHopfieldMemory(hidden_units=16, seed=0, store_on_fit=True)
    model = keras.Model(inputs, layer(inputs))
    start = layer.get_weights()
    model.compile(loss="mse")
    model.fit(z, z, batch_size=64, epochs=2, verbose=0)
    eager = RestrictedHopfieldMemory(hidden_units=16)
    eager.build((None, 24))
    eager.set_weights(start)
    for _ in range(2):
        eager.sra_step(z)
    assert not np.allclose(layer.get_weights()[0], start[0])
    for got, want in zip(layer.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(got, want, atol=2e-3)
    assert layer.orthogonality_error() <= 1e-4


def test_store_under_fit_makes_fixed_points(rng):
    z = patterns(rng, 16, 48)
    inputs = keras.Input((48,))
    layer = RestrictedHopfieldMemory(hidden_units=32, seed=0, store_on_fit=True)
    model = keras.Model(inputs, layer(inputs))
    model.compile(loss="mse")
    model.fit(z, z, batch_size=16, epochs=4, verbose=0)
    assert layer.fixed_points(z).all()
    np.testing.assert_array_equal(to_np(model.predict(z, verbose=0)), z)


# --------------------------------------------------------------------- model
def small_crhn(seed=0):
    return CRHN(
        CRHNEncoder(filters=(4, 8), latent_dim=48),
        RestrictedHopfieldMemory(hidden_units=32, seed=seed, max_steps=10),
    )


@pytest.fixture(scope="module")
def trained_crhn():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(12, 8, 8, 3)).astype("float32")
    crhn = small_crhn()
    history = crhn.fit_autoencoder(x, optimizer=keras.optimizers.Adam(0.01), epochs=4, batch_size=6, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        info = crhn.store(x)
    return crhn, x, history, info


def test_crhn_two_stage_training_and_retrieval(trained_crhn):
    crhn, x, history, info = trained_crhn
    # Stage 1 trains the tied encoder/decoder with `fit` (straight-through sign).
    loss = history.history["loss"]
    assert all(math.isfinite(v) for v in loss) and loss[-1] < loss[0]
    # Latents of images are correlated, unlike random patterns: SRA stores most.
    fixed = crhn.memory.fixed_points(crhn.encode(x))
    assert info["fixed_points"] == fixed.sum() >= 0.75 * len(x)
    images, trajectory = crhn.retrieve(x, return_trajectory=True)
    assert tuple(images.shape) == x.shape
    assert tuple(trajectory.shape) == (crhn.memory.max_steps + 1, len(x), 48)
    # Stored images that are fixed points are retrieved as the plain autoencoder gives them.
    plain = to_np(crhn.autoencode(x))[fixed]
    np.testing.assert_allclose(to_np(crhn(x))[fixed], plain, atol=1e-5)
    np.testing.assert_allclose(to_np(images)[fixed], plain, atol=1e-5)


def test_crhn_store_under_model_fit(rng):
    x = rng.uniform(size=(10, 8, 8, 3)).astype("float32")
    crhn = small_crhn(seed=2)
    crhn.fit_autoencoder(x, epochs=1, verbose=0)
    start = crhn.memory.get_weights()
    z = crhn.encode(x)
    fixed_before = crhn.memory.fixed_points(z).sum()
    crhn.memory.store_on_fit = True
    crhn.encoder.trainable = False
    crhn.compile(loss="mse")
    crhn.fit(x, x, batch_size=len(x), epochs=6, verbose=0)
    np.testing.assert_array_equal(crhn.encode(x), z)  # the frozen encoder did not move
    assert not np.allclose(crhn.memory.get_weights()[0], start[0])
    assert crhn.memory.orthogonality_error() <= 1e-4
    # Correlated image latents: SRA under fit stores some of them (not necessarily all).
    assert crhn.memory.fixed_points(z).sum() > fixed_before


def test_crhn_rejects_mismatched_memory():
    crhn = CRHN(CRHNEncoder(filters=(4,), latent_dim=16), RestrictedHopfieldMemory(hidden_units=8))
    crhn.memory.build((None, 20))
    with pytest.raises(ValueError, match="latent size"):
        crhn.build((None, 8, 8, 3))
    with pytest.raises(TypeError, match="CRHNEncoder"):
        CRHN(encoder=keras.layers.Dense(3))


def test_crhn_keras_serialization_round_trip(trained_crhn, tmp_path):
    crhn, x, _, _ = trained_crhn
    path = tmp_path / "crhn.keras"
    crhn.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, CRHN)
    np.testing.assert_allclose(to_np(loaded(x)), to_np(crhn(x)), atol=1e-5)
    assert loaded.memory.get_config() == crhn.memory.get_config()
    assert loaded.encoder.get_config() == crhn.encoder.get_config()


def _torch_export_broken(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    try:
        model.export(str(tmp_path / "dense_probe"))
    except Exception as err:  # noqa: BLE001 - the reason is reported in the skip
        return f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return None


def test_crhn_export(trained_crhn, tmp_path):
    crhn, x, _, _ = trained_crhn
    if BACKEND == "torch":
        reason = _torch_export_broken(tmp_path)
        if reason:
            pytest.skip(f"Keras's torch SavedModel export fails for any model, plain Dense too (pinned upstream in tests/test_export.py): {reason}")
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    path = str(tmp_path / "crhn_export")
    crhn.export(path)
    served = tf.saved_model.load(path)
    out = served.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(out), to_np(crhn(x)), atol=1e-4)


# ------------------------------------------------------- example and benchmark


@pytest.mark.real_data
def test_robustness_example_quick(tmp_path, data_dir):
    out = tmp_path / "crhn"
    proc = run_script([str(REPO / "examples" / "crhn_robustness.py"), "--quick", "--out", str(out), "--data-dir", data_dir],
                tmp_path)
    assert "command:" in proc.stdout
    result = json.loads((out / "crhn_robustness.json").read_text())
    assert result["backend"] == BACKEND and result["quick"]
    models = {r["model_key"] for r in result["records"]}
    assert models == {"crhn", "mhn", "ablation", "input"}
    assert all(math.isfinite(r["mse_mean"]) and r["mse_mean"] >= 0 for r in result["records"])
    families = {r["family"] for r in result["records"]}
    assert families == {"clean", "occlusion", "noise", "brightness", "contrast", "attack"}
    assert {t["baseline"] for t in result["welch"]} == {"MHN", "CRHN w/o RHN"}
    assert all(0.0 <= t["p"] <= 1.0 or math.isnan(t["p"]) for t in result["welch"])
    assert set(result["mhn_beta"].values()) <= {1.0, 2.0, 3.0, 5.0, 10.0, 100.0, 1000.0}
    for path in result["figures"].values():
        assert Path(path).is_file()


def test_sra_speed_benchmark_quick(tmp_path):
    path = tmp_path / "sra.json"
    proc = run_script([str(REPO / "benchmarks" / "sra_speed.py"), "--quick", "--json", str(path)], tmp_path)
    assert "command:" in proc.stdout
    result = json.loads(path.read_text())
    assert result["backend"] == BACKEND
    assert result["sra"]["fixed_fraction"] == 1.0 and result["sra"]["orthogonality_error"] <= 1e-4
    assert result["adam"]["epochs"] >= 1 and result["ratio_adam_over_sra_cold"] > 0
