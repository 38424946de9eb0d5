"""ConvHNN2D / ConvHNN1D and the transposed read-out on every backend.

The reference is a NumPy transcription of Listing 4.2 of papers/004 (PyTorch,
NCHW, patterns `(filters, channels_in, kh, kw)`), with the padding of
`padding="same"` made explicit in TensorFlow's convention (the extra row /
column, if any, at the end), and a scatter-add transcription of the read-out
`conv_transpose(softmax(l), P)`.
"""

import itertools
import os

import keras
import numpy as np
import pytest
from keras import ops
from keras.src.testing import TestCase

from keras_hopfield.layers.conv import ConvHNN1D, ConvHNN2D

BACKEND = keras.backend.backend()


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t))


def np_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- NumPy transcriptions
def pads_for(size, k, s, d, padding):
    """(before, after) zero padding of one spatial axis, TensorFlow's 'same' convention."""
    if padding == "valid":
        return (0, 0)
    k_eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + k_eff - size, 0)
    return (total // 2, total - total // 2)


def np_conv2d(x, w, strides, pads, dilation):
    """torch.nn.functional.conv2d (cross-correlation) on NCHW after explicit padding."""
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    ho, wo = (h - (kh - 1) * dh - 1) // sh + 1, (wd - (kw - 1) * dw - 1) // sw + 1
    out = 0.0
    for u in range(kh):
        for v in range(kw):
            patch = x[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dw : v * dw + sw * (wo - 1) + 1 : sw]
            out = out + np.einsum("oc,bcij->boij", w[:, :, u, v], patch)
    return out


def listing_4_2(x, patterns, logbeta, bias, strides, pads, dilation, iterations):
    """Listing 4.2 (ConvHNN2d.forward), line by line; patterns (out, in, kh, kw)."""
    channels_out = patterns.shape[0]
    flat = patterns.reshape(channels_out, -1)
    weight_loop = (np.exp(logbeta) * np.einsum("in,jn->ij", flat, flat)).reshape(channels_out, channels_out, 1, 1)
    x = np_conv2d(x, np.exp(logbeta) * patterns, strides, pads, dilation)
    for _ in range(iterations):
        x = np_softmax(x, axis=1)
        x = np_conv2d(x, weight_loop, (1, 1), ((0, 0), (0, 0)), (1, 1))
    return x + bias.reshape(1, channels_out, 1, 1)


def np_read_out(logits, patterns, strides, pads, dilation, size):
    """Every position adds its recalled patch Σ_o softmax(l)_o P_o into the padded frame; crop."""
    p = np_softmax(logits, axis=1)
    b, _, ho, wo = p.shape
    _, c, kh, kw = patterns.shape
    (sh, sw), (dh, dw) = strides, dilation
    frame = np.zeros((b, c, size[0] + sum(pads[0]), size[1] + sum(pads[1])))
    for u in range(kh):
        for v in range(kw):
            frame[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dw : v * dw + sw * (wo - 1) + 1 : sw] += np.einsum(
                "oc,boij->bcij", patterns[:, :, u, v], p
            )
    return frame[:, :, pads[0][0] : pads[0][0] + size[0], pads[1][0] : pads[1][0] + size[1]]


def np_patch_energy(x, patterns, beta, strides, pads, dilation):
    """Energy of every (padded) input patch under the flattened patterns; x NCHW."""
    co, c, kh, kw = patterns.shape
    eye = np.eye(c * kh * kw).reshape(c * kh * kw, c, kh, kw)
    patches = np_conv2d(x, eye, strides, pads, dilation)  # (B, K, Ho, Wo), K ordered (c, u, v)
    states = patches.transpose(0, 2, 3, 1)
    mem = patterns.reshape(co, -1)
    z = beta * states @ mem.T
    m = z.max(-1, keepdims=True)
    lse = (m[..., 0] + np.log(np.exp(z - m).sum(-1))) / beta
    big_m = np.max(np.sum(mem**2, axis=1))
    return -lse + 0.5 * np.sum(states**2, -1) + np.log(co) / beta + 0.5 * big_m


def _layer_with(cls, x_shape, patterns_oikk, logbeta, bias, **kwargs):
    layer = cls(patterns_oikk.shape[0], **kwargs)
    layer.build(x_shape)
    kernel = patterns_oikk.transpose(2, 3, 1, 0)  # (kh, kw, in, out): Keras's kernel layout
    if cls is ConvHNN1D:
        kernel = kernel[:, 0]
    layer.patterns.assign(kernel)
    layer.log_beta.assign(logbeta)
    layer.bias.assign(bias)
    return layer


# --------------------------------------------------------------------------- run_layer_test
class LayerTest(TestCase):
    def test_conv_hnn_2d(self):
        self.run_layer_test(
            ConvHNN2D,
            init_kwargs={"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "iterations": 2},
            input_shape=(2, 7, 6, 2),
            expected_output_shape=(2, 4, 3, 3),
            expected_num_trainable_weights=3,  # patterns, log β, bias
            expected_num_non_trainable_weights=0,
        )

    def test_conv_hnn_2d_channels_first_frozen(self):
        self.run_layer_test(
            ConvHNN2D,
            init_kwargs={
                "filters": 3,
                "kernel_size": (2, 3),
                "dilation_rate": 2,
                "data_format": "channels_first",
                "activation": "silu",
                "trainable_patterns": False,
            },
            input_shape=(2, 2, 7, 6),
            expected_output_shape=(2, 3, 5, 2),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=1,
        )

    def test_conv_hnn_1d(self):
        self.run_layer_test(
            ConvHNN1D,
            init_kwargs={"filters": 3, "kernel_size": 3, "padding": "same", "use_bias": False},
            input_shape=(2, 7, 2),
            expected_output_shape=(2, 7, 3),
            expected_num_trainable_weights=2,
        )


# --------------------------------------------------------------------------- forward and read-out vs NumPy
CASES = [
    # (input HxW, kernel, strides, padding, dilation, iterations, data_format)
    ((7, 6), (3, 3), (1, 1), "valid", (1, 1), 2, "channels_last"),
    ((7, 6), (3, 2), (2, 3), "same", (1, 1), 1, "channels_last"),
    ((7, 6), (2, 3), (1, 1), "same", (2, 1), 0, "channels_first"),
    ((7, 6), (3, 3), (2, 2), "valid", (1, 1), 3, "channels_first"),
    # More iterations than layers.deep._UNROLL_MAX: the loop-primitive path.
    ((6, 5), (3, 3), (1, 1), "same", (1, 1), 6, "channels_last"),
    ((6, 5), (3, 3), (1, 1), "valid", (1, 1), 6, "channels_first"),
]


@pytest.mark.parametrize("size, kernel, strides, padding, dilation, iterations, data_format", CASES)
def test_conv_hnn_2d_equals_listing_4_2(rng, size, kernel, strides, padding, dilation, iterations, data_format):
    b, c, co = 2, 2, 3
    x = rng.normal(size=(b, c) + size).astype("float32")  # NCHW
    patterns = (0.5 * rng.normal(size=(co, c) + kernel)).astype("float32")
    logbeta, bias = np.float32(np.log(0.7)), rng.normal(size=co).astype("float32")
    xin = x if data_format == "channels_first" else x.transpose(0, 2, 3, 1)
    layer = _layer_with(
        ConvHNN2D, xin.shape, patterns, logbeta, bias, kernel_size=kernel, strides=strides, padding=padding,
        dilation_rate=dilation, iterations=iterations, data_format=data_format,
    )
    pads = [pads_for(size[i], kernel[i], strides[i], dilation[i], padding) for i in range(2)]
    want = listing_4_2(x.astype("float64"), patterns, logbeta, bias, strides, pads, dilation, iterations)
    logits = layer(xin)
    got = to_np(logits)
    if data_format == "channels_last":
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(to_np(layer.beta)), 0.7, rtol=1e-6)

    # Read-out: transposed convolution with the same patterns, back to the input's size.
    recon = to_np(layer(logits, reverse=True))
    if data_format == "channels_last":
        recon = recon.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(recon, np_read_out(want, patterns, strides, pads, dilation, size), rtol=1e-4, atol=1e-4)

    # Energy of every input patch.
    energy = to_np(layer.energy(xin))
    np.testing.assert_allclose(
        energy, np_patch_energy(x.astype("float64"), patterns, 0.7, strides, pads, dilation), rtol=1e-4, atol=1e-3
    )


def test_conv_hnn_1d_equals_listing_4_2(rng):
    """ConvHNN1D is ConvHNN2D on a width-1 image."""
    b, c, co, length = 2, 2, 3, 9
    x = rng.normal(size=(b, c, length, 1)).astype("float32")
    patterns = (0.5 * rng.normal(size=(co, c, 3, 1))).astype("float32")
    logbeta, bias = np.float32(np.log(0.7)), rng.normal(size=co).astype("float32")
    layer = _layer_with(
        ConvHNN1D, (b, length, c), patterns, logbeta, bias, kernel_size=3, strides=2, padding="same", iterations=2
    )
    pads = [pads_for(length, 3, 2, 1, "same"), (0, 0)]
    want = listing_4_2(x.astype("float64"), patterns, logbeta, bias, (2, 1), pads, (1, 1), 2)
    logits = layer(x[..., 0].transpose(0, 2, 1))
    np.testing.assert_allclose(to_np(logits).transpose(0, 2, 1), want[..., 0], rtol=1e-4, atol=1e-4)
    recon = to_np(layer(logits, reverse=True))
    want_recon = np_read_out(want, patterns, (2, 1), pads, (1, 1), (length, 1))
    np.testing.assert_allclose(recon.transpose(0, 2, 1), want_recon[..., 0], rtol=1e-4, atol=1e-4)


def test_read_out_is_adjoint_of_convolution(rng):
    """⟨conv(x, P), q⟩ = ⟨x, conv_transpose(q, P)⟩: with logits log q, the read-out is the adjoint on q."""
    x = rng.normal(size=(2, 9, 8, 2)).astype("float32")
    layer = ConvHNN2D(4, 3, strides=2, padding="same", iterations=0, beta=1.0, use_bias=False)
    y = to_np(layer(x))
    q = np_softmax(rng.normal(size=y.shape), axis=-1).astype("float32")
    back = to_np(layer(np.log(q), reverse=True))
    assert back.shape == x.shape
    np.testing.assert_allclose(to_np(layer.reconstruct(np.log(q))), back, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.sum(y * q), np.sum(x * back), rtol=1e-4)


def test_energy_never_increases_under_one_update(rng):
    """Non-overlapping patches (stride = kernel): the read-out of softmax(βPx) is one Hopfield update per patch."""
    x = rng.normal(size=(2, 8, 6, 1)).astype("float32")
    layer = ConvHNN2D(5, (2, 3), strides=(2, 3), iterations=0, beta=0.8, use_bias=False)
    retrieved = layer(layer(x), reverse=True)
    before, after = to_np(layer.energy(x)), to_np(layer.energy(retrieved))
    assert before.shape == after.shape == (2, 4, 2)
    assert np.all(after <= before + 1e-4), (before - after).min()
    assert np.mean(after < before - 1e-3) > 0.9


# --------------------------------------------------------------------------- shapes vs keras.layers.Conv2D
SHAPE_CASES = [
    (kernel, strides, padding, dilation)
    for kernel, strides, padding, dilation in itertools.product(
        [1, 2, 3, (2, 4)], [1, 2, (3, 1)], ["valid", "same"], [1, 2, (1, 3)]
    )
    if not (strides != 1 and dilation != 1)
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_shapes_match_conv2d(data_format):
    sizes = [(9, 10), (8, 13), (None, 11)]
    for (kernel, strides, padding, dilation), size in itertools.product(SHAPE_CASES, sizes):
        args = dict(kernel_size=kernel, strides=strides, padding=padding, dilation_rate=dilation, data_format=data_format)
        shape = (None, 3) + size if data_format == "channels_first" else (None,) + size + (3,)
        want = keras.layers.Conv2D(4, **args).compute_output_shape(shape)
        layer = ConvHNN2D(4, patterns_initializer="zeros", **args)  # shapes only: skip random init
        out = layer(keras.KerasTensor(shape))
        assert tuple(out.shape) == tuple(want), (args, size)
        back = layer(out, reverse=True)
        if None not in size:
            assert tuple(back.shape) == shape, (args, size, back.shape)
        else:
            assert tuple(back.shape) == tuple(
                keras.layers.Conv2DTranspose(3, **args).compute_output_shape(tuple(want))
            ), (args, size, back.shape)


@pytest.mark.parametrize("padding, strides, dilation", [("valid", (2, 1), 1), ("same", 2, 1), ("same", 1, (2, 1))])
def test_no_iterations_equals_conv2d(rng, padding, strides, dilation):
    """iterations=0, β=1: exactly keras.layers.Conv2D with kernel P and the same bias."""
    x = rng.normal(size=(2, 7, 6, 2)).astype("float32")
    args = dict(kernel_size=3, strides=strides, padding=padding, dilation_rate=dilation)
    conv = keras.layers.Conv2D(3, bias_initializer="random_normal", **args)
    want = to_np(conv(x))
    layer = ConvHNN2D(3, iterations=0, beta=1.0, **args)
    layer.build(x.shape)
    layer.patterns.assign(conv.kernel)
    layer.bias.assign(conv.bias)
    np.testing.assert_allclose(to_np(layer(x)), want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- saving, export, training
def _denoiser(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((10, 10, 1))
    hop = ConvHNN2D(4, 3, iterations=1, activation="silu", name="hop")
    h = hop(inp)
    z = keras.layers.Conv2D(2, 3, activation="silu")(h)
    logits = keras.layers.Conv2DTranspose(4, 3)(z)
    return keras.Model(inp, hop(logits, reverse=True)), hop


def test_denoiser_model_save_load_and_fit(tmp_path, rng):
    model, hop = _denoiser()
    assert len(model.weights) == 3 + 2 + 2  # the read-out shares the Hopfield patterns
    x = rng.random((8, 10, 10, 1)).astype("float32")
    before = to_np(hop.patterns).copy(), float(to_np(hop.log_beta))
    model.compile(keras.optimizers.Adam(0.05), "mse")
    hist = model.fit(x, x, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert not np.allclose(before[0], to_np(hop.patterns)) and before[1] != float(to_np(hop.log_beta))
    path = os.path.join(tmp_path, "denoiser.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(
    BACKEND == "torch", reason="Keras 3.15's torch SavedModel export fails for any model, a plain Dense one too (pinned upstream in tests/test_export.py, which tests ONNX on torch)"
)
def test_export_saved_model(tmp_path, rng):
    import tensorflow as tf

    model, _ = _denoiser()
    x = rng.random((3, 10, 10, 1)).astype("float32")
    path = os.path.join(tmp_path, "exported")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.serve(x).numpy(), rtol=1e-5, atol=1e-5)


def test_serialization_round_trip():
    for layer in (
        ConvHNN2D(5, (3, 2), strides=(2, 1), padding="same", iterations=3, beta=0.3, activation="silu",
                  data_format="channels_first", trainable_beta=False, use_bias=False),
        ConvHNN1D(2, 4, dilation_rate=2, iterations=0, patterns_initializer="random_normal"),
    ):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(revived) is type(layer) and revived.get_config() == config


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": 0, "kernel_size": 3}, "filters"),
        ({"filters": -1, "kernel_size": 3}, "filters"),
        ({"filters": 2, "kernel_size": 0}, "kernel_size"),
        ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, "dilation_rate"),
        ({"filters": 2, "kernel_size": 3, "padding": "causal"}, "padding"),
        ({"filters": 2, "kernel_size": 3, "iterations": -1}, "iterations"),
        ({"filters": 2, "kernel_size": 3, "beta": -1.0}, "beta"),
        ({"filters": 2, "kernel_size": 3, "data_format": "NHWC"}, "data_format"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvHNN2D(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"kernel is larger than the input.*kernel_size=\(5, 5\).*5 > 4"):
        ConvHNN2D(2, 5)(np.zeros((1, 4, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"kernel is larger than the input.*dilation_rate=\(3,\).*7 > 6"):
        ConvHNN1D(2, 3, dilation_rate=3)(np.zeros((1, 6, 1), "float32"))
    with pytest.raises(ValueError, match=r"rank 4.*\(2, 8, 1\)"):
        ConvHNN2D(2, 3)(np.zeros((2, 8, 1), "float32"))
    with pytest.raises(ValueError, match="before `reverse=True`"):
        ConvHNN2D(2, 3)._read_out(np.zeros((1, 6, 6, 2), "float32"))
    layer = ConvHNN2D(2, 3)
    layer(np.zeros((1, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match=r"reverse=True\) expects logits with 2 channels"):
        layer(np.zeros((1, 6, 6, 3), "float32"), reverse=True)
    # 'same' padding accepts a kernel larger than the input, like Conv2D.
    assert tuple(ConvHNN2D(2, 5, padding="same")(np.zeros((1, 4, 4, 1), "float32")).shape) == (1, 4, 4, 2)
