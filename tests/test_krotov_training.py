"""Tests of Krotov & Hopfield's training recipe: optimizer, power loss, temperature annealing."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_hopfield.callbacks import TemperatureAnnealing
from keras_hopfield.layers.dense_memory import DenseAssociativeMemory
from keras_hopfield.losses import PowerLoss
from keras_hopfield.optimizers import KrotovOptimizer


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


def reference_steps(w, grads, lr, momentum, decay, steps_per_epoch, clip, axis=0):
    """NumPy transcription of papers/002 Eq. (13) with clipping and per-epoch decay."""
    velocity = np.zeros_like(w)
    for t, g in enumerate(grads):
        velocity = momentum * velocity - g
        rate = lr * decay ** (t // steps_per_epoch)
        scale = np.max(np.abs(velocity), axis=1 - axis, keepdims=True)
        w = np.clip(w + rate * velocity / scale, -clip, clip)
    return w


def test_optimizer_matches_reference_recipe(rng):
    w0 = rng.uniform(-0.9, 0.9, (4, 6)).astype("float32")
    grads = [rng.normal(size=(4, 6)).astype("float32") for _ in range(5)]
    var = keras.Variable(w0)
    opt = KrotovOptimizer(0.3, decay=0.5, steps_per_epoch=2, momentum=0.7)
    for g in grads:
        opt.apply([ops.convert_to_tensor(g)], [var])
    expected = reference_steps(w0, grads, 0.3, 0.7, 0.5, 2, 1.0)
    np.testing.assert_allclose(to_np(var), expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.abs(to_np(var)) <= 1.0)


def test_update_largest_component_equals_learning_rate(rng):
    w0 = rng.uniform(-0.5, 0.5, (3, 10)).astype("float32")
    g = rng.normal(size=(3, 10)).astype("float32")
    g[1] *= 1e-6  # a tiny gradient still gives a full-size step (no plateau)
    var = keras.Variable(w0)
    KrotovOptimizer(0.01, momentum=0.0).apply([ops.convert_to_tensor(g)], [var])
    delta = to_np(var) - w0
    np.testing.assert_allclose(np.abs(delta).max(axis=1), 0.01, rtol=1e-3)
    # Per memory (row) the step is -lr * g / max|g|: it points down the gradient.
    np.testing.assert_allclose(delta, -0.01 * g / np.abs(g).max(axis=1, keepdims=True), rtol=1e-3, atol=1e-7)
    # memory_axis=-1 normalises columns instead (a Dense kernel (inputs, units)).
    var2 = keras.Variable(w0)
    KrotovOptimizer(0.01, momentum=0.0, memory_axis=-1).apply([ops.convert_to_tensor(g)], [var2])
    np.testing.assert_allclose(np.abs(to_np(var2) - w0).max(axis=0), 0.01, rtol=1e-3)


def test_clipping_and_zero_gradient():
    var = keras.Variable(np.array([[0.995, 0.0], [0.3, -0.2]], "float32"))
    grad = np.array([[-1.0, 0.0], [0.0, 0.0]], "float32")  # pushes w[0, 0] above 1; row 1 all zero
    KrotovOptimizer(0.05, momentum=0.0).apply([ops.convert_to_tensor(grad)], [var])
    np.testing.assert_allclose(to_np(var), [[1.0, 0.0], [0.3, -0.2]])


def test_power_loss_values_and_formats():
    y_pred = np.array([[0.5, -0.5, 0.0], [-1.0, 1.0, 0.2]], "float32")
    labels = np.array([0, 1])
    onehot = np.eye(3, dtype="float32")[labels]
    signed = 2 * onehot - 1
    for m in (1, 3):
        expected = np.mean(np.sum((y_pred - signed) ** (2 * m), axis=-1))
        for loss, y_true in [
            (PowerLoss(power=m), onehot),
            (PowerLoss(power=m, targets="sparse"), labels),
            (PowerLoss(power=m, targets="signed"), signed),
        ]:
            np.testing.assert_allclose(float(to_np(loss(y_true, y_pred))), expected, rtol=1e-5)
    config = PowerLoss(power=4, targets="sparse").get_config()
    assert PowerLoss.from_config(config).power == 4
    with pytest.raises(ValueError, match="power"):
        PowerLoss(power=0)
    with pytest.raises(ValueError, match="targets"):
        PowerLoss(targets="probabilities")


def test_bad_optimizer_and_callback_arguments():
    for kwargs, name in [({"decay": 0.0}, "decay"), ({"decay": 1.5}, "decay"), ({"momentum": 1.0}, "momentum"),
                         ({"weight_clip": 0.0}, "weight_clip"), ({"steps_per_epoch": 0}, "steps_per_epoch")]:
        with pytest.raises(ValueError, match=name):
            KrotovOptimizer(**kwargs)
    with pytest.raises(ValueError, match="final_temperature"):
        TemperatureAnnealing(300.0, 0.0, 10)
    with pytest.raises(ValueError, match="epochs"):
        TemperatureAnnealing(300.0, 30.0, 0)


def make_blobs(rng, n_per_class=60, dim=24, classes=3):
    centers = rng.choice([-1.0, 1.0], size=(classes, dim))
    x = np.concatenate([np.clip(c + 0.8 * rng.normal(size=(n_per_class, dim)), -1, 1) for c in centers])
    y = np.repeat(np.arange(classes), n_per_class)
    perm = rng.permutation(len(y))
    return x[perm].astype("float32"), y[perm]


def test_dam_classifier_trains_with_recipe_and_annealing(rng, tmp_path):
    x, y = make_blobs(rng)
    onehot = np.eye(3, dtype="float32")[y]
    layer = DenseAssociativeMemory(20, degree=3, num_labels=3, mode="classifier", temperature=12.0, seed=0)
    model = keras.Sequential([keras.Input((24,)), layer])
    opt = KrotovOptimizer(0.05, decay=0.9, steps_per_epoch=6, momentum=0.8)
    model.compile(optimizer=opt, loss=PowerLoss(power=2))
    anneal = TemperatureAnnealing(12.0, 6.0, epochs=3)
    before = model.evaluate(x, onehot, verbose=0)
    history = model.fit(x, onehot, batch_size=30, epochs=5, callbacks=[anneal], verbose=0)
    # T(e) = 12 + (6 - 12) min(e / 3, 1) at the start of epoch e; the layer holds the last value.
    assert history.history["temperature"] == [12.0, 10.0, 8.0, 6.0, 6.0]
    assert float(to_np(layer.temperature_variable)) == 6.0
    assert history.history["loss"][-1] < 0.5 * before
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    assert accuracy > 0.9
    memories = to_np(layer.memories)
    assert np.all(np.abs(memories) <= 1.0)
    # 5 epochs x 6 steps: the decayed rate is visible in the optimizer's epoch counter.
    assert float(to_np(opt.current_epoch())) == 5.0
    path = os.path.join(tmp_path, "clf.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, KrotovOptimizer)
    assert loaded.optimizer.get_config()["momentum"] == pytest.approx(0.8)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0), atol=1e-5)
