"""Tests of dense associative memory (DenseAssociativeMemory and its functional core)."""

import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from keras import ops

from keras_hopfield import functional_classical as fc
from keras_hopfield.layers.dense_memory import DenseAssociativeMemory


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


def spins(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape).astype("float32")


def flip(rng, x, fraction):
    return np.where(rng.random(x.shape) < fraction, -x, x).astype("float32")


def test_interaction_functions():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], "float32")
    np.testing.assert_allclose(to_np(fc.interaction(x, "rectified", 3)), [0, 0, 0, 0.125, 8], atol=1e-6)
    np.testing.assert_allclose(to_np(fc.interaction(x, "power", 3)), x**3, atol=1e-6)
    np.testing.assert_allclose(to_np(fc.interaction(x, "power", 2)), x**2, atol=1e-6)
    np.testing.assert_allclose(to_np(fc.interaction(x, "exponential", 3)), np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(
        to_np(fc.interaction_derivative(x, "rectified", 3)), 3 * np.maximum(x, 0) ** 2, atol=1e-6
    )
    assert fc.double_factorial(3) == 3 and fc.double_factorial(5) == 15 and fc.double_factorial(-1) == 1
    # papers/002 App. B: K_max(no errors) ~ 360 for n = 3 and ~ 7240 for n = 4 at N = 100.
    assert round(fc.dam_capacity_estimate(100, 3)) == 362
    assert round(fc.dam_capacity_estimate(100, 4)) == 7238


def test_energy_matches_definition(rng):
    xi = rng.uniform(-1, 1, (30, 20)).astype("float32")
    s = spins(rng, (5, 20))
    overlaps = s @ xi.T
    for kind, ref in [
        ("rectified", -np.sum(np.maximum(overlaps / 2.0, 0) ** 3, -1)),
        ("power", -np.sum((overlaps / 2.0) ** 3, -1)),
        ("exponential", -np.sum(np.exp(overlaps / 2.0), -1)),
    ]:
        got = to_np(fc.dam_energy(s, xi, kind, 3, temperature=2.0))
        np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_unit_fields_are_energy_differences(rng):
    xi = rng.uniform(-1, 1, (40, 12)).astype("float32")
    s = spins(rng, (3, 12))
    delta = to_np(fc.dam_unit_fields(s, xi, "rectified", 3, temperature=1.5))
    for i in range(12):
        plus, minus = s.copy(), s.copy()
        plus[:, i], minus[:, i] = 1.0, -1.0
        diff = to_np(fc.dam_energy(minus, xi, "rectified", 3, 1.5)) - to_np(fc.dam_energy(plus, xi, "rectified", 3, 1.5))
        np.testing.assert_allclose(delta[:, i], diff, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["rectified", "power"])
def test_dual_form_equals_associative_form(kind, rng):
    n_vis, n_lab, k = 30, 4, 60
    memories = rng.uniform(-1, 1, (k, n_vis + n_lab)).astype("float32")
    visible = rng.uniform(-1, 1, (6, n_vis)).astype("float32")
    temperature = 4.0
    dual = to_np(fc.dam_classifier(visible, memories, n_lab, kind, 3, temperature, form="exact"))
    # Associative form: full state with every label unit at -1, one update of each label unit.
    state = np.concatenate([visible, -np.ones((6, n_lab), "float32")], axis=1)
    fields = to_np(fc.dam_unit_fields(state, memories, kind, 3, temperature, units=list(range(n_vis, n_vis + n_lab))))
    np.testing.assert_allclose(dual, np.tanh(fields), rtol=1e-4, atol=1e-5)
    # The same through the layer (classifier mode, memories shared with an associative layer).
    clf = DenseAssociativeMemory(k, degree=3, interaction=kind, temperature=temperature,
                                 num_labels=n_lab, mode="classifier")
    clf.store(memories)
    np.testing.assert_allclose(to_np(clf(visible)), dual, rtol=1e-4, atol=1e-5)
    # Zero-temperature read-out: the label signs equal one sequential update of that unit.
    for alpha in (0, n_lab - 1):
        unit = n_vis + alpha
        updated = to_np(fc.dam_sequential_sweep(state, memories, np.array([unit], "int32"), kind, 3, temperature))
        np.testing.assert_array_equal(updated[:, unit], np.where(fields[:, alpha] > 0, 1.0, -1.0))


def test_linear_form_is_first_order_of_exact(rng):
    memories = rng.uniform(-1, 1, (50, 40 + 3)).astype("float32") * 0.05  # small label weights
    visible = rng.uniform(0, 1, (4, 40)).astype("float32")
    exact = to_np(fc.dam_classifier(visible, memories, 3, "power", 3, 40.0, form="exact"))
    linear = to_np(fc.dam_classifier(visible, memories, 3, "power", 3, 40.0, form="linear"))
    np.testing.assert_allclose(np.arctanh(linear), np.arctanh(exact), rtol=0.05, atol=1e-6)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(["rectified", "power", "exponential"]),
       degree=st.integers(2, 5))
def test_energy_never_increases_under_sequential_dynamics(seed, kind, degree):
    rng = np.random.default_rng(seed)
    n, k = 10, 25
    memories = np.round(rng.uniform(-1, 1, (k, n)), 1).astype("float32")
    state = spins(rng, (4, n))
    order = np.concatenate([rng.permutation(n), rng.permutation(n)]).astype("int32")
    energies = [to_np(fc.dam_energy(state, memories, kind, degree, 3.0))]
    for step in range(0, len(order), 5):  # check after every 5 single-unit updates
        state = to_np(fc.dam_sequential_sweep(state, memories, order[step:step + 5], kind, degree, 3.0))
        energies.append(to_np(fc.dam_energy(state, memories, kind, degree, 3.0)))
    energies = np.stack(energies)
    scale = np.abs(energies).max() + 1.0
    assert np.all(np.diff(energies, axis=0) <= 1e-5 * scale)


@pytest.mark.parametrize("kind", ["rectified", "power", "exponential"])
def test_memories_are_fixed_points_and_retrieved(kind, rng):
    n, k = 64, 100  # above the Hebb capacity (0.138 n ~ 9), below N^2/(6 ln N) ~ 164 for n = 3
    memories = spins(rng, (k, n))
    dam = DenseAssociativeMemory(k, degree=3, interaction=kind, temperature=8.0 if kind == "exponential" else 1.0, seed=0)
    dam.store(memories)
    out, steps = dam.retrieve(memories[:20], return_steps=True)
    fixed = np.all(to_np(out) == memories[:20], axis=1)
    assert fixed.mean() >= 0.9
    noisy = flip(rng, memories[:20], 0.1)
    retrieved = np.all(to_np(dam(noisy)) == memories[:20], axis=1)
    assert retrieved.mean() >= 0.8
    energy_drop = to_np(dam.energy(to_np(dam(noisy)))) <= to_np(dam.energy(noisy)) + 1e-4
    assert energy_drop.all()


def test_higher_degree_stores_more(rng):
    n, k = 40, 120  # 3 N: far above the n = 2 (Hopfield-like) capacity
    memories = spins(rng, (k, n))
    noisy = flip(rng, memories[:30], 0.05)
    accuracy = {}
    for degree in (2, 5):
        dam = DenseAssociativeMemory(k, degree=degree, interaction="power", seed=1)
        dam.store(memories)
        accuracy[degree] = np.mean(np.all(to_np(dam(noisy)) == memories[:30], axis=1))
    assert accuracy[2] < 0.2 and accuracy[5] > 0.9


def test_parallel_dynamics_and_seeding(rng):
    memories = spins(rng, (30, 32))
    noisy = flip(rng, memories[:8], 0.1)
    par = DenseAssociativeMemory(30, degree=4, dynamics="parallel")
    par.store(memories)
    np.testing.assert_array_equal(to_np(par(noisy)), memories[:8])
    outs = []
    for seed in (2, 2):
        dam = DenseAssociativeMemory(30, degree=2, seed=seed)
        dam.store(memories)
        outs.append(to_np(dam(spins(np.random.default_rng(9), (16, 32)))))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_compiled_predict_and_serialization(tmp_path, rng):
    memories = rng.uniform(-1, 1, (20, 16 + 3)).astype("float32")
    layer = DenseAssociativeMemory(20, degree=4, interaction="rectified", temperature=3.0, num_labels=3,
                                   mode="classifier", classifier_form="exact", name="dam")
    model = keras.Sequential([keras.Input((16,)), layer])
    layer.store(memories)
    layer.set_temperature(2.5)
    x = rng.uniform(-1, 1, (5, 16)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.shape == (5, 3)
    path = os.path.join(tmp_path, "dam.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    restored = loaded.get_layer("dam")
    assert restored.get_config() == layer.get_config()
    assert float(to_np(restored.temperature_variable)) == 2.5
    assert layer.compute_output_shape((None, 16)) == (None, 3)
    # Associative mode through a compiled predict.
    assoc = DenseAssociativeMemory(20, degree=3, seed=0)
    binary = spins(rng, (20, 24))
    amodel = keras.Sequential([keras.Input((24,)), assoc])
    assoc.store(binary)
    np.testing.assert_array_equal(amodel.predict(binary[:4], verbose=0), binary[:4])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"degree": 1}, "degree"),
        ({"degree": 0}, "degree"),
        ({"degree": 2.5}, "degree"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -3.0}, "temperature"),
        ({"interaction": "cubic"}, "interaction"),
        ({"mode": "classifier"}, "num_labels"),
        ({"mode": "generative"}, "mode"),
        ({"dynamics": "stochastic"}, "dynamics"),
        ({"classifier_form": "approx"}, "classifier_form"),
        ({"max_steps": 0}, "max_steps"),
        ({"num_labels": -1}, "num_labels"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DenseAssociativeMemory(10, **kwargs)
    with pytest.raises(ValueError, match="num_memories"):
        DenseAssociativeMemory(0)


def test_store_checks_shape():
    dam = DenseAssociativeMemory(5)
    with pytest.raises(ValueError, match="shape"):
        dam.store(np.ones((4, 10), "float32"))
    with pytest.raises(ValueError, match="temperature"):
        dam.set_temperature(-1.0)
