"""Tests for keras_hopfield.attacks (run on every Keras backend).

A small convolutional autoencoder is trained once per image set (synthetic
blobs everywhere; 14x14 MNIST digits too where KERAS_HOPFIELD_DATA is set) and
serves as the surrogate / model under attack.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_hopfield import attacks as A
from keras_hopfield.metrics import mse

EPS = 0.1


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def _images(source, data_dir=None, n=128):
    if source == "mnist":
        with np.load(os.path.join(data_dir, "mnist", "mnist.npz")) as data:
            x = data["x_train"][:n].astype("float32") / 255.0
        return x.reshape(n, 14, 2, 14, 2).mean(axis=(2, 4))[..., None]
    rng = np.random.default_rng(0)  # a few soft blobs per image (no data needed)
    yy, xx = np.mgrid[:14, :14]
    x = np.zeros((n, 14, 14), "float32")
    for i in range(n):
        for cy, cx in rng.uniform(2, 12, size=(3, 2)):
            x[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0)
    return np.clip(x, 0, 1)[..., None].astype("float32")


# Every property is checked on both image sets: synthetic blobs on every machine,
# MNIST digits where the data directory is set (a real-data test).
@pytest.fixture(scope="module", params=["blobs", pytest.param("mnist", marks=pytest.mark.real_data)])
def setup(request):
    keras.utils.set_random_seed(0)  # module-scoped: runs before the per-test seeding
    x = _images(request.param, request.getfixturevalue("data_dir") if request.param == "mnist" else None)
    surrogate = A.train_surrogate_autoencoder(x, epochs=5, batch_size=16, filters=(16,), learning_rate=1e-2, seed=0)
    return surrogate, x[:16]


def loss_of(model, x, x_in):
    return float(np_(mse(x, model(ops.convert_to_tensor(x_in), training=False))).mean())


ATTACK_KWARGS = {
    "fgsm": {},
    "ffgsm": {"alpha": 1.25 * EPS, "seed": 0},
    "bim": {"steps": 5},
    "pgd": {"steps": 5, "seed": 0},
    "mifgsm": {"steps": 5},
    "nifgsm": {"steps": 5},
    "difgsm": {"steps": 5, "seed": 0},
    "eotpgd": {"steps": 4, "eot_iter": 2, "seed": 0},
}


@pytest.fixture(scope="module")
def adversarial(setup):
    surrogate, x = setup
    return {name: np_(A.get(name, eps=EPS, **kw)(surrogate, x)) for name, kw in ATTACK_KWARGS.items()}


def test_surrogate_learned_to_reconstruct(setup):
    surrogate, x = setup
    assert loss_of(surrogate, x, x) < 0.5 * float(np.var(x))  # far better than predicting the mean


@pytest.mark.parametrize("name", sorted(ATTACK_KWARGS))
def test_attack_stays_in_eps_ball_and_pixel_range(setup, adversarial, name):
    _, x = setup
    x_adv = adversarial[name]
    assert x_adv.shape == x.shape
    assert np.abs(x_adv - x).max() <= EPS + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv - x).max() > 0.5 * EPS  # it did move


@pytest.mark.parametrize("name", sorted(ATTACK_KWARGS))
def test_attack_beats_clean_input_and_random_sign_noise(setup, adversarial, name):
    surrogate, x = setup
    clean = loss_of(surrogate, x, x)
    sign = np.sign(np.random.default_rng(1).standard_normal(x.shape)).astype("float32")
    random = loss_of(surrogate, x, np.clip(x + EPS * sign, 0.0, 1.0))
    attacked = loss_of(surrogate, x, adversarial[name])
    assert attacked > clean
    assert attacked > random


def test_fgsm_steps_along_the_finite_difference_gradient_of_an_autoassociative_loss():
    # y defaults to x itself: the target must stay a constant. (On TensorFlow the
    # tape once watched the target too, because it was the very tensor being
    # differentiated, and FGSM followed the gradient of ||f(x) - x||^2 in x.)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6, activation="sigmoid")])
    model.set_weights([np.random.default_rng(4).normal(0, 2, (6, 6)).astype("float32"), np.zeros(6, "float32")])
    x = np.random.default_rng(5).uniform(0.3, 0.7, size=(3, 6))
    target = ops.convert_to_tensor(x.astype("float32"))

    def loss(v):  # per-sample MSE towards the constant clean input, in float64 NumPy for the differences
        return ((np_(model(ops.convert_to_tensor(v.astype("float32")))) - x) ** 2).mean(axis=1)

    h = 1e-3
    grad = np.stack([(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(6)], axis=-1)
    assert np.abs(grad).min() > 1e-4  # every sign is well defined
    expected = np.clip(x + 0.05 * np.sign(grad), 0, 1)
    np.testing.assert_allclose(np_(A.fgsm(model, target, eps=0.05)), expected, atol=1e-6)
    np.testing.assert_allclose(np_(A.bim(model, target, eps=0.05, steps=1)), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["bim", "pgd"])
def test_iterative_attacks_beat_fgsm(setup, adversarial, name):
    surrogate, x = setup
    assert loss_of(surrogate, x, adversarial[name]) >= loss_of(surrogate, x, adversarial["fgsm"])


def test_zero_budget_is_identity_and_targeted_mode_lowers_loss(setup):
    surrogate, x = setup
    np.testing.assert_allclose(np_(A.pgd(surrogate, x, eps=0.0, seed=0)), x)
    # targeted towards the clean image starting from a noisy input: loss goes down
    noisy = np.clip(x + 0.2 * np.random.default_rng(2).standard_normal(x.shape), 0, 1).astype("float32")
    cleaned = A.bim(surrogate, noisy, y=x, eps=EPS, steps=3, targeted=True)
    assert loss_of(surrogate, x, cleaned) < loss_of(surrogate, x, noisy)


def test_class_interface_matches_functions_and_registry(setup):
    surrogate, x = setup
    attack = A.get("BIM", eps=EPS, steps=3)
    assert isinstance(attack, A.BIM) and attack.get_config() == {"eps": EPS, "steps": 3}
    np.testing.assert_allclose(np_(attack(surrogate, x[:4])), np_(A.bim(surrogate, x[:4], eps=EPS, steps=3)))
    assert A.get("mi-fgsm").name == "mifgsm" and A.get("EOT_PGD").name == "eotpgd"
    assert set(A.ATTACKS) == {"fgsm", "ffgsm", "bim", "pgd", "mifgsm", "nifgsm", "difgsm", "eotpgd"}
    assert A.get(attack, steps=5).get_config()["steps"] == 5


def test_transfer_workflow_hurts_another_model(setup):
    surrogate, x = setup
    # a different "memory" under test: blur (average-pool then upsample)
    target = keras.Sequential(
        [keras.Input((14, 14, 1)), keras.layers.AveragePooling2D(2), keras.layers.UpSampling2D(2)]
    )
    x_adv = A.transfer_attack(surrogate, x, "pgd", eps=EPS, steps=5, seed=0)
    assert np.abs(np_(x_adv) - x).max() <= EPS + 1e-6
    errors = A.evaluate_transfer({"blur": target, "surrogate": surrogate}, x, x_adv)
    clean = A.evaluate_transfer({"blur": target, "surrogate": surrogate}, x, x)
    assert set(errors) == {"blur", "surrogate"} and errors["blur"].shape == (len(x),)
    assert errors["blur"].mean() > clean["blur"].mean()
    assert errors["surrogate"].mean() > clean["surrogate"].mean()


def test_attacks_work_on_flat_inputs_and_custom_losses():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6, activation="sigmoid")])
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(4, 6)).astype("float32")
    for loss in ("mse", "mae", keras.losses.mean_squared_error):
        x_adv = np_(A.pgd(model, x, loss=loss, eps=0.05, steps=3, seed=0))
        assert np.abs(x_adv - x).max() <= 0.05 + 1e-6
    y = np.zeros((4, 6), "float32")
    x_adv = np_(A.fgsm(model, x, y=y, eps=0.05))
    before = float(np_(mse(y, model(x))).mean())
    assert float(np_(mse(y, model(x_adv))).mean()) > before


def test_input_diversity_keeps_shape_and_changes_image():
    x = np.random.default_rng(0).uniform(size=(2, 14, 14, 1)).astype("float32")
    out = np_(A.input_diversity(x, resize_rate=0.7, diversity_prob=1.0, seed=0))
    assert out.shape == x.shape and not np.allclose(out, x)
    np.testing.assert_array_equal(np_(A.input_diversity(x, diversity_prob=0.0, seed=0)), x)


def test_surrogate_autoencoder_preserves_shape():
    for shape in [(28, 28, 3), (15, 15, 1)]:  # even sizes are downsampled, odd ones are not
        model = A.make_surrogate_autoencoder(shape, compile=False)
        assert model.output_shape == (None, *shape)
    with pytest.raises(ValueError):
        A.make_surrogate_autoencoder((28, 28))


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: A.fgsm(m, x, eps=-0.1),
        lambda m, x: A.pgd(m, x, eps=float("nan")),
        lambda m, x: A.pgd(m, x * 3.0, eps=0.1),  # outside [0, 1]
        lambda m, x: A.pgd(m, x - 0.6, eps=0.1),
        lambda m, x: A.bim(m, x, eps=0.1, steps=0),
        lambda m, x: A.mifgsm(m, x, eps=0.1, decay=-1.0),
        lambda m, x: A.difgsm(m, x, eps=0.1, diversity_prob=1.5),
        lambda m, x: A.eotpgd(m, x, eps=0.1, transform="rotate"),
        lambda m, x: A.get("deepfool"),
        lambda m, x: A.PGD(epsilon=0.1),
        lambda m, x: A.PGD(eps=-1.0),
        lambda m, x: A.fgsm(m, x[0, :, 0, 0], eps=0.1),  # no batch axis
    ],
)
def test_bad_input_raises_value_error(call):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    with pytest.raises(ValueError):
        call(model, x)
