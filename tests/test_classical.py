"""Tests of the classical Hopfield network (HebbianHopfield and its functional core)."""

import os
import warnings

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from keras import ops

from keras_hopfield import functional_classical as fc
from keras_hopfield.layers.classical import HebbianHopfield


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


def hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h.astype("float32")


def random_patterns(rng, p, n):
    return rng.choice([-1.0, 1.0], size=(p, n)).astype("float32")


def flip(rng, x, fraction):
    mask = rng.random(x.shape) < fraction
    return np.where(mask, -x, x).astype("float32")


# ----------------------------------------------------------------- storage rules
def test_hebb_weights_match_formula(rng):
    x = random_patterns(rng, 7, 30)
    expected = x.T @ x / 30.0
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(to_np(fc.hebb_weights(x)), expected, atol=1e-6)
    np.testing.assert_allclose(to_np(fc.hebb_weights(x, remove_diagonal=False)), x.T @ x / 30.0, atol=1e-6)


def test_pseudo_inverse_is_projector_and_stores_correlated_patterns(rng):
    # Strongly correlated patterns: each is a common base pattern with 15% flips.
    base = random_patterns(rng, 1, 64)
    x = np.stack([flip(rng, base[0], 0.15) for _ in range(20)])
    projector = to_np(fc.pseudo_inverse_weights(x, remove_diagonal=False))
    np.testing.assert_allclose(projector, np.linalg.pinv(x) @ x, atol=2e-3)
    np.testing.assert_allclose(projector @ x.T, x.T, atol=2e-3)
    pinv = HebbianHopfield(rule="pseudo_inverse", dynamics="parallel")
    pinv.store(x)
    assert np.array_equal(to_np(pinv(x)), x)
    # The Hebb rule cannot hold these correlated patterns as fixed points.
    hebb = HebbianHopfield(rule="hebb", dynamics="parallel", max_steps=1)
    hebb.store(x)
    assert not np.array_equal(to_np(hebb(x)), x)


def test_incremental_projector_equals_batch_projector(rng):
    x = random_patterns(rng, 12, 40)
    projector = ops.zeros((40, 40))
    for chunk in np.split(x, 4):
        projector = fc.projector_update(projector, chunk)
    projector = fc.projector_update(projector, x[:3])  # re-presenting changes nothing
    np.testing.assert_allclose(to_np(projector), np.linalg.pinv(x) @ x, atol=2e-3)


# ------------------------------------------------------------------ fixed points
@pytest.mark.parametrize("dynamics", ["sequential", "parallel"])
@pytest.mark.parametrize("rule", ["hebb", "pseudo_inverse"])
def test_orthogonal_patterns_are_fixed_points(dynamics, rule):
    x = hadamard(32)[1:9]  # 8 mutually orthogonal ±1 patterns
    net = HebbianHopfield(rule=rule, dynamics=dynamics, seed=1)
    net.store(x)
    out, steps = net.retrieve(x, return_steps=True)
    assert np.array_equal(to_np(out), x)
    assert np.all(to_np(steps) == 1)  # one sweep that changes nothing, then stop
    # Every stored pattern is a global minimum of the energy: (P - n) / 2 (papers/004 L. 2.1.2).
    if rule == "hebb":
        np.testing.assert_allclose(to_np(net.energy(x)), (8 - 32) / 2.0, atol=1e-4)


def test_capacity_small_load_all_fixed_points(rng):
    n = 200
    x = random_patterns(rng, int(0.05 * n), n)  # load 0.05 < 0.138
    net = HebbianHopfield(dynamics="parallel")
    net.store(x)
    assert np.array_equal(to_np(net(x)), x)
    # ...and the same patterns with 10% flipped bits are retrieved exactly.
    seq = HebbianHopfield(dynamics="sequential", seed=0)
    seq.store(x)
    assert np.array_equal(to_np(seq(flip(rng, x, 0.1))), x)


def test_overload_destroys_fixed_points(rng):
    n = 100
    x = random_patterns(rng, 40, n)  # load 0.4, far above 0.138
    net = HebbianHopfield(dynamics="parallel", max_steps=1)
    net.store(x)
    stable = np.all(to_np(net(x)) == x, axis=1)
    assert stable.mean() < 0.2


# ---------------------------------------------------------------- energy / dynamics
@settings(max_examples=5, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(3, 8),
    diag=st.sampled_from(["zero", "positive"]),
    tie=st.sampled_from(["keep", "plus"]),
)
def test_energy_never_increases_under_sequential_dynamics(seed, n, diag, tie):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    weights = (a + a.T) / 2
    np.fill_diagonal(weights, 0.0 if diag == "zero" else np.abs(rng.normal(size=n)))
    weights = np.round(weights, 1).astype("float32")  # exact zeros in fields happen too
    bias = np.round(rng.normal(size=n), 1).astype("float32")
    state = random_patterns(rng, 4, n)
    order = rng.permutation(n).astype("int32")  # one sweep, checked after every unit
    energies = [to_np(fc.classical_energy(state, weights, bias))]
    for k in range(len(order)):  # one unit update at a time
        state = to_np(fc.classical_sequential_sweep(state, weights, order[k:k + 1], bias, tie))
        energies.append(to_np(fc.classical_energy(state, weights, bias)))
    energies = np.stack(energies)
    assert np.all(np.diff(energies, axis=0) <= 1e-5)
    assert set(np.unique(state)) <= {-1.0, 1.0}


def test_sequential_layer_energy_monotone_over_sweeps(rng):
    x = random_patterns(rng, 20, 50)  # overloaded: many spurious states, long descents
    start = random_patterns(rng, 16, 50)
    net = HebbianHopfield(dynamics="sequential", max_steps=1, seed=5)
    net.store(x)
    states = [start]
    for _ in range(3):  # one sweep per call, a fresh random order each time
        states.append(to_np(net(states[-1])))
    energies = np.stack([to_np(net.energy(s)) for s in states])
    assert np.all(np.diff(energies, axis=0) <= 1e-5)
    assert np.any(np.diff(energies, axis=0) < -1e-3)


def test_parallel_two_cycle_stops_at_max_steps():
    # J = [[0, -1], [-1, 0]] flips (1, 1) <-> (-1, -1) forever under parallel updates.
    net = HebbianHopfield(dynamics="parallel", max_steps=7)
    net.build((None, 2))
    net.kernel.assign(np.array([[0.0, -1.0], [-1.0, 0.0]], "float32"))
    out, steps = net.retrieve(np.array([[1.0, 1.0]], "float32"), return_steps=True)
    assert int(to_np(steps)[0]) == 7
    np.testing.assert_array_equal(to_np(out), [[-1.0, -1.0]])  # odd number of flips


def test_sequential_is_seeded_and_orders_differ(rng):
    x = random_patterns(rng, 12, 40)
    start = random_patterns(rng, 32, 40)
    outs = []
    for seed in (3, 3, 4):
        net = HebbianHopfield(dynamics="sequential", max_steps=8, seed=seed)
        net.store(x)
        outs.append(to_np(net(start)))
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_stochastic_dynamics_temperature(rng):
    x = random_patterns(rng, 3, 100)
    noisy = flip(rng, x, 0.1)
    cold = HebbianHopfield(dynamics="stochastic", temperature=0.01, max_steps=20, seed=0)
    cold.store(x)
    assert np.array_equal(to_np(cold(noisy)), x)
    hot = HebbianHopfield(dynamics="stochastic", temperature=100.0, max_steps=3, seed=0)
    hot.store(x)
    out = to_np(hot(np.repeat(x[:1], 50, axis=0)))
    overlap = np.abs(out @ x[0] / 100.0)
    assert overlap.mean() < 0.3  # thermal noise destroyed the memory
    hot.set_temperature(0.01)  # annealing changes the behaviour without rebuilding
    assert np.array_equal(to_np(hot(noisy)), x)


# ------------------------------------------------------------- fit / compile / save
@pytest.mark.parametrize("rule", ["hebb", "pseudo_inverse"])
def test_store_on_fit_learns_without_gradients(rule, rng):
    x = random_patterns(rng, 6, 96)
    layer = HebbianHopfield(rule=rule, store_on_fit=True, seed=0)
    model = keras.Sequential([keras.Input((96,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no trainable weights"
        model.fit(x, x, batch_size=2, epochs=1, shuffle=False, verbose=0)
    expected = fc.hebb_weights(x) if rule == "hebb" else fc.pseudo_inverse_weights(x)
    np.testing.assert_allclose(to_np(layer.kernel), to_np(expected), atol=2e-3)
    assert float(to_np(layer.num_patterns)) == 6.0
    # The compiled predict retrieves the stored patterns from corrupted versions.
    np.testing.assert_array_equal(model.predict(flip(rng, x, 0.05), verbose=0), x)
    # Training mode off: storage does not change.
    before = to_np(layer.kernel)
    layer(random_patterns(rng, 4, 96), training=False)
    np.testing.assert_array_equal(to_np(layer.kernel), before)


def test_fit_with_trainable_layers_around_the_memory(rng):
    # The retrieved state is piecewise constant in the input (no gradient reaches the layers
    # before the memory), but autodiff of the layers after it must work on every backend
    # (JAX cannot reverse-differentiate the early-exit while_loop).
    x = random_patterns(rng, 16, 20)
    y = rng.normal(size=(16, 1)).astype("float32")
    dense_in, dense_out = keras.layers.Dense(20), keras.layers.Dense(1)
    model = keras.Sequential(
        [keras.Input((20,)), dense_in, HebbianHopfield(dynamics="sequential", seed=0), dense_out]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    kernel_in = to_np(dense_in.kernel).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Gradients do not exist for dense_in"
        history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    np.testing.assert_array_equal(to_np(dense_in.kernel), kernel_in)


def test_serialization_round_trip(tmp_path, rng):
    x = random_patterns(rng, 6, 40)
    net = HebbianHopfield(rule="pseudo_inverse", dynamics="sequential", max_steps=30, tie="plus",
                          use_bias=True, seed=7, name="memory")
    model = keras.Sequential([keras.Input((40,)), net])
    net.store(x)
    net.bias.assign(np.full((40,), 0.01, "float32"))
    path = os.path.join(tmp_path, "hopfield.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("memory")
    assert isinstance(layer, HebbianHopfield)
    assert layer.get_config() == net.get_config()
    np.testing.assert_allclose(to_np(layer.kernel), to_np(net.kernel))
    np.testing.assert_allclose(to_np(layer.bias), to_np(net.bias))
    noisy = flip(rng, x, 0.1)
    np.testing.assert_array_equal(loaded.predict(noisy, verbose=0), model.predict(noisy, verbose=0))
    clone = HebbianHopfield.from_config(net.get_config())
    assert clone.rule == "pseudo_inverse" and clone.max_steps == 30 and clone.tie == "plus"


# --------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"rule": "oja"}, "rule"),
        ({"dynamics": "chaotic"}, "dynamics"),
        ({"max_steps": 0}, "max_steps"),
        ({"tie": "minus"}, "tie"),
        ({"units": 0}, "units"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HebbianHopfield(**kwargs)


def test_non_binary_patterns_rejected():
    net = HebbianHopfield()
    with pytest.raises(ValueError, match="binary"):
        net.store(np.array([[1.0, 0.0, -1.0, 1.0]], "float32"))
    with pytest.raises(ValueError, match="binary"):
        net.store(np.array([[0.5, -1.0]], "float32"))
    with pytest.raises(ValueError, match="shape"):
        net.store(np.ones((4,), "float32"))
    with pytest.raises(ValueError, match="temperature"):
        HebbianHopfield(dynamics="stochastic").set_temperature(0.0)
