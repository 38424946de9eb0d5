"""Tests for keras_hopfield.corruptions (run on every Keras backend)."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_hopfield import corruptions as C

BACKEND = keras.backend.backend()


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.fixture
def images(rng):
    return rng.uniform(size=(6, 16, 20, 3)).astype("float32")


def _neighbour_agreement(mask):
    """Fraction of horizontally/vertically adjacent pixel pairs with equal mask value."""
    m = mask[..., 0] if mask.ndim == 4 else mask
    return 0.5 * ((m[:, 1:, :] == m[:, :-1, :]).mean() + (m[:, :, 1:] == m[:, :, :-1]).mean())


# ---------------------------------------------------------------- noise


def test_gaussian_noise_has_requested_variance():
    x = np.full((8, 32, 32, 1), 0.5, "float32")
    noisy = np_(C.gaussian_noise(x, variance=0.04, clip=False, seed=3))
    assert noisy.shape == x.shape
    assert abs(np.var(noisy - x) - 0.04) < 0.004
    assert abs(np.mean(noisy - x)) < 0.01
    clipped = np_(C.gaussian_noise(x, variance=2.0, seed=3))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert np.isclose(clipped, 0.0).mean() > 0.2  # strong noise saturates at the bounds
    np.testing.assert_allclose(np_(C.gaussian_noise(x, 0.0, seed=1)), x)


def test_seeds_are_reproducible_and_generators_advance(images):
    a = np_(C.gaussian_noise(images, 0.1, seed=7))
    b = np_(C.gaussian_noise(images, 0.1, seed=7))
    c = np_(C.gaussian_noise(images, 0.1, seed=8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    gen = keras.random.SeedGenerator(0)
    m1 = np_(C.random_pixel_mask(images, 0.5, seed=gen)[1])
    m2 = np_(C.random_pixel_mask(images, 0.5, seed=gen)[1])
    assert (m1 != m2).any()


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_random_pixel_mask_obscures_exact_fraction(images, fraction):
    corrupted, known = C.random_pixel_mask(images, fraction, fill_value=0.25, seed=0)
    corrupted, known = np_(corrupted), np_(known)
    assert known.dtype == bool and known.shape == images.shape
    # all channels of a pixel share the mask
    assert (known == known[..., :1]).all()
    hidden = (~known[..., 0]).reshape(len(images), -1).sum(axis=1)
    assert (hidden == round(fraction * 16 * 20)).all()
    np.testing.assert_allclose(corrupted[known], images[known])
    assert np.allclose(corrupted[~known], 0.25)


def test_perlin_noise_is_smooth_bounded_and_frequency_dependent():
    low = np_(C.perlin_noise((6, 16, 20), frequency=2, seed=0))
    high = np_(C.perlin_noise((6, 16, 20), frequency=16, seed=0))
    assert low.shape == (6, 16, 20)
    for field in (low, high):
        assert field.min() >= -1.0 and field.max() <= 1.0 and field.std() > 0.05

    def lag_corr(f):
        return np.corrcoef(f[:, :, 1:].ravel(), f[:, :, :-1].ravel())[0, 1]

    assert lag_corr(low) > 0.95  # smooth at low frequency
    assert lag_corr(low) > lag_corr(high)  # finer structure at higher frequency
    # different images get different fields
    assert not np.allclose(low[0], low[1])


def test_perlin_mask_cban_defaults_are_blobs_covering_one_third(rng):
    images = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
    corrupted, known = C.perlin_mask(images, seed=1)  # frequency 7, 1/3 obscured
    known = np_(known)
    hidden = (~known[..., 0]).reshape(len(images), -1).sum(axis=1)
    assert (hidden == round(28 * 28 / 3)).all()
    _, random_known = C.random_pixel_mask(images, 1 / 3, seed=1)
    # Perlin masks are spatially coherent (~0.78 of neighbours agree), random
    # pixel masks are not (p^2 + (1 - p)^2 = 0.56)
    assert _neighbour_agreement(known) > 0.72
    assert _neighbour_agreement(np_(random_known)) < 0.6


def _strokes(n=4, size=24):
    x = np.zeros((n, size, size, 1), "float32")
    for i in range(n):
        x[i, 3 + i : 20, 5 + i : 8 + i] = 1.0  # vertical stroke
        x[i, 10:13, 4:20] = 1.0  # horizontal stroke
    return x


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9])
def test_random_patch_mask_covers_requested_foreground_fraction(fraction):
    x = _strokes()
    corrupted, known = C.random_patch_mask(x, fraction, min_size=3, max_size=6, seed=2)
    known = np_(known)[..., 0]
    fg = x[..., 0] > 0
    for i in range(len(x)):
        covered = (~known[i] & fg[i]).sum() / fg[i].sum()
        assert covered >= fraction
        # stops as soon as the target is met: the last patch adds at most 36 pixels
        assert (~known[i] & fg[i]).sum() < fraction * fg[i].sum() + 36
    # patches are squares at least min_size wide: every hidden pixel lies in a 3x3 hidden block
    hidden = ~known
    assert hidden.any()
    np.testing.assert_allclose(np_(corrupted)[..., 0][hidden], 0.0)


def test_random_patch_mask_leaves_blank_images_and_respects_threshold():
    x = np.zeros((4, 24, 24, 1), "float32")
    x[1:, 4:8, 4:8] = 0.3
    _, known = C.random_patch_mask(x, 0.5, seed=0)
    known = np_(known)
    assert known[0].all()  # no foreground -> nothing hidden
    assert not known[1].all()
    _, known_thr = C.random_patch_mask(x, 0.5, foreground_threshold=0.5, seed=0)
    assert np_(known_thr).all()  # nothing brighter than 0.5
    fg = x[1, ..., 0] > 0
    assert (~known[1, ..., 0] & fg).sum() >= 0.5 * fg.sum()


@pytest.mark.parametrize(
    "position, expected_start", [("left", 0), ("right", 10), ("center", 5)]
)
def test_occlude_columns_positions(images, position, expected_start):
    corrupted, known = C.occlude_columns(images, 10, position=position)
    known = np_(known)
    cols = ~known[:, 0, :, 0]
    expected = np.zeros(20, bool)
    expected[expected_start : expected_start + 10] = True
    assert (cols == expected).all()
    assert (known == known[:, :1]).all()  # whole columns
    np.testing.assert_allclose(np_(corrupted)[~known], 0.0)


def test_occlude_columns_random_and_fraction_and_rows(images):
    _, known = C.occlude_columns(images, 0.5, seed=4)  # 10 of 20 columns
    cols = ~np_(known)[:, 0, :, 0]
    assert (cols.sum(axis=1) == 10).all()
    for row in cols:  # contiguous band
        idx = np.flatnonzero(row)
        assert idx[-1] - idx[0] == 9
    assert len({tuple(r) for r in cols}) > 1  # random start differs across images
    _, known = C.occlude_rows(images, 4, position="top")
    rows = ~np_(known)[:, :, 0, 0]
    assert (rows[:, :4]).all() and not rows[:, 4:].any()
    _, known = C.occlude_columns(images, 0)
    assert np_(known).all()


@pytest.mark.parametrize("fraction, kept", [(0.5, 8), (0.25, 4)])
def test_keep_top_fraction_pcn_partial_images(images, fraction, kept):
    corrupted, known = C.keep_top_fraction(images, fraction)
    known, corrupted = np_(known), np_(corrupted)
    assert known[:, :kept].all() and not known[:, kept:].any()
    np.testing.assert_allclose(corrupted[:, :kept], images[:, :kept])
    np.testing.assert_allclose(corrupted[:, kept:], 0.0)


# ---------------------------------------------------------------- photometric


@pytest.mark.parametrize("delta", [-0.3, 0.0, 0.4])
def test_brightness_matches_formula(images, delta):
    np.testing.assert_allclose(np_(C.adjust_brightness(images, delta)), np.clip(images + delta, 0, 1), atol=1e-6)


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0])
def test_contrast_uses_per_image_mean(images, factor):
    mu = images.mean(axis=(1, 2, 3), keepdims=True)
    expected = np.clip(mu + factor * (images - mu), 0, 1)
    out = np_(C.adjust_contrast(images, factor))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    if factor == 0.0:
        assert np.allclose(out.std(axis=(1, 2, 3)), 0.0, atol=1e-6)


def test_single_image_is_accepted_and_returned_without_batch_axis(images):
    out = C.gaussian_noise(images[0], 0.1, seed=0)
    assert tuple(out.shape) == images[0].shape
    corrupted, known = C.perlin_mask(images[0], seed=0)
    assert tuple(corrupted.shape) == images[0].shape and tuple(known.shape) == images[0].shape


def test_accepts_backend_tensors(images):
    x = ops.convert_to_tensor(images)
    corrupted, known = C.random_pixel_mask(x, 0.5, seed=0)
    assert tuple(corrupted.shape) == images.shape
    assert np_(C.adjust_brightness(x, 0.1)).max() <= 1.0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda x: C.gaussian_noise(x * 2.0, 0.1),  # outside [0, 1]
        lambda x: C.gaussian_noise(x - 0.5, 0.1),
        lambda x: C.gaussian_noise(ops.convert_to_tensor(x * 255.0), 0.1),  # concrete tensor
        lambda x: C.gaussian_noise(x, -0.1),  # negative variance
        lambda x: C.gaussian_noise(x[0, :, :, 0], 0.1),  # rank 2
        lambda x: C.gaussian_noise(x[None], 0.1),  # rank 5
        lambda x: C.random_pixel_mask(x, 1.5),
        lambda x: C.random_pixel_mask(x, -0.1),
        lambda x: C.perlin_mask(x, 0.3, frequency=0),
        lambda x: C.random_patch_mask(x, 2.0),
        lambda x: C.random_patch_mask(x, 0.5, min_size=5, max_size=3),
        lambda x: C.occlude_columns(x, 21),
        lambda x: C.occlude_columns(x, 1.2),
        lambda x: C.occlude_rows(x, 2, position="middle"),
        lambda x: C.keep_top_fraction(x, 1.01),
        lambda x: C.adjust_contrast(x, -1.0),
        lambda x: C.adjust_brightness(x, float("nan")),
        lambda x: C.gaussian_noise(x, 0.1, seed="abc"),
    ],
)
def test_bad_input_raises_value_error(images, call):
    with pytest.raises(ValueError):
        call(images)


def test_range_error_message_is_helpful(images):
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\].*255"):
        C.gaussian_noise((images * 255).astype("uint8"), 0.1)


# ---------------------------------------------------------------- layers

LAYERS = [
    lambda: C.GaussianNoise(0.2, seed=1),
    lambda: C.RandomPixelMask(0.4, seed=1),
    lambda: C.PerlinMask(1 / 3, frequency=5, seed=1),
    lambda: C.RandomPatchMask(0.5, seed=1),
    lambda: C.ColumnOcclusion(5, seed=1),
    lambda: C.RowOcclusion(0.25, position="top"),
    lambda: C.KeepTopFraction(0.5),
    lambda: C.Brightness(0.3),
    lambda: C.Contrast(0.5),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_active_in_training_identity_otherwise(images, make):
    layer = make()
    np.testing.assert_array_equal(np_(layer(images)), images)
    np.testing.assert_array_equal(np_(layer(images, training=False)), images)
    out = np_(layer(images, training=True))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert out.min() >= 0.0 and out.max() <= 1.0
    always = type(layer).from_config({**layer.get_config(), "apply_at_inference": True})
    assert not np.allclose(np_(always(images)), images)
    assert layer.compute_output_shape((None, 16, 20, 3)) == (None, 16, 20, 3)


@pytest.mark.parametrize("make", LAYERS)
def test_layer_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_hopfield>")
    assert type(keras.saving.deserialize_keras_object(serialized)) is type(layer)


def test_layer_seed_reproducible_and_advancing(images):
    a, b = C.PerlinMask(seed=5, return_mask=True), C.PerlinMask(seed=5, return_mask=True)
    ka1, kb1 = np_(a(images, training=True)[1]), np_(b(images, training=True)[1])
    np.testing.assert_array_equal(ka1, kb1)
    ka2 = np_(a(images, training=True)[1])
    assert (ka1 != ka2).any()  # the generator advances between calls


def test_mask_layer_return_mask_shapes(images):
    layer = C.RandomPixelMask(0.5, return_mask=True, seed=0)
    corrupted, known = layer(images, training=True)
    assert np_(known).dtype == bool and np_(known).shape == images.shape
    _, known_inf = layer(images)
    assert np_(known_inf).all()
    assert layer.compute_output_shape((None, 16, 20, 3)) == ((None, 16, 20, 3), (None, 16, 20, 3))


def test_layers_in_saved_model(tmp_path, images):
    model = keras.Sequential(
        [keras.Input((16, 20, 3)), C.GaussianNoise(0.1, seed=0), C.PerlinMask(seed=0), C.Contrast(0.8)]
    )
    path = os.path.join(tmp_path, "corrupt.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[1].fraction == pytest.approx(1 / 3)
    np.testing.assert_allclose(np_(loaded.predict(images, verbose=0)), images, atol=1e-6)  # inference: identity


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data pipelines run the TensorFlow backend")
def test_layers_inside_tf_data_pipeline(images):
    import tensorflow as tf

    pipeline = keras.Sequential(
        [C.GaussianNoise(0.05, seed=0), C.PerlinMask(0.3, seed=0), C.RandomPatchMask(0.3, seed=0),
         C.ColumnOcclusion(3, seed=0)]
    )
    masks = C.RandomPixelMask(0.25, return_mask=True, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(3)
    ds = ds.map(lambda x: (pipeline(x, training=True), masks(x, training=True)[1]))
    batches = list(ds)
    assert len(batches) == 2
    out = np.concatenate([b[0].numpy() for b in batches])
    known = np.concatenate([b[1].numpy() for b in batches])
    assert out.shape == images.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, images)
    assert ((~known[..., 0]).reshape(6, -1).sum(axis=1) == 80).all()
    # the stateful seed generator advances across batches
    assert (known[:3] != known[3:]).any()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="keras-cv layers run on the TensorFlow backend")
def test_keras_cv_layers_compose_with_ours(images):
    keras_cv = pytest.importorskip("keras_cv")
    pipeline = keras.Sequential(
        [
            keras_cv.layers.RandomCutout(height_factor=0.3, width_factor=0.3, fill_value=0.0, seed=0),
            keras_cv.layers.GridMask(ratio_factor=(0.3, 0.3), rotation_factor=0.0, seed=0),
            C.GaussianNoise(0.01, seed=0),
            C.PerlinMask(0.2, seed=0),
        ]
    )
    out = np_(pipeline(images, training=True))
    assert out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    zeros = (out == 0.0).all(axis=-1).mean()
    assert zeros > 0.2  # Perlin (20 %) plus cutout and grid-mask holes
    # keras-cv augmenters always apply; ours stay the identity at inference
    ours = keras.Sequential(pipeline.layers[2:])
    np.testing.assert_allclose(np_(ours(images, training=False)), images)


# ---------------------------------------------------------------- real data


@pytest.mark.real_data
def test_corruptions_on_mnist(data_dir):
    with np.load(os.path.join(data_dir, "mnist", "mnist.npz")) as data:
        x = data["x_test"][:16, ..., None].astype("float32") / 255.0
    _, known = C.perlin_mask(x, 1 / 3, frequency=7, seed=0)
    assert ((~np_(known)[..., 0]).reshape(16, -1).sum(axis=1) == round(784 / 3)).all()
    corrupted, known = C.random_patch_mask(x, 0.5, seed=0)
    known = np_(known)[..., 0]
    fg = x[..., 0] > 0
    assert all((~known[i] & fg[i]).sum() >= 0.5 * fg[i].sum() for i in range(16))
    noisy = np_(C.gaussian_noise(x, 0.2, seed=0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and np.mean((noisy - x) ** 2) > 0.05


@pytest.mark.real_data
def test_patch_mask_on_omniglot_strokes(data_dir):
    with np.load(os.path.join(data_dir, "omniglot", "images_background.npz")) as data:
        raw = data["images"][:4, 0]  # True = white background
    x = (~raw).astype("float32")[..., None]  # strokes as foreground (> 0)
    corrupted, known = C.random_patch_mask(x, 0.5, min_size=3, max_size=6, seed=0)
    known = np_(known)[..., 0]
    fg = x[..., 0] > 0
    for i in range(4):
        frac = (~known[i] & fg[i]).sum() / fg[i].sum()
        assert 0.5 <= frac < 0.5 + 36 / fg[i].sum()
