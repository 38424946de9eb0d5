"""One small trained model per public layer and model, for the export and safe-mode tests.

Each builder makes a model with a handful of weights, fits it for a step or
two with its own training recipe (so the exported weights are trained ones,
not initial values), and returns a `Case`: the model, sample inputs in the
structure `model(...)` takes, and whether the model iterates (a settling or
retrieval loop whose trip count depends on the input).

Shared by `tests/test_export.py` and `examples/deployment.py`
(`sys.path` must hold the repository root: `from tests.export_zoo import ZOO`).

Stochastic dynamics (`HebbianHopfield`/`DenseAssociativeMemory` with
`dynamics="sequential"` or `"stochastic"`, `VHNN` noise at training time)
draw random numbers at call time, so an exported artefact cannot reproduce a
later Keras call exactly; the zoo uses the deterministic `"parallel"`
dynamics for them (see docs/deployment.md).
"""

import dataclasses
import warnings

import keras
import numpy as np

from keras_hopfield import (
    CBAN,
    CRHN,
    CBANBlock,
    CRHNEncoder,
    DenseAssociativeMemory,
    HebbianHopfield,
    HopfieldLookup,
    HopfieldPooling,
    HopfieldRetrieval,
    PredictiveCodingMemory,
    RestrictedHopfieldMemory,
)
from keras_hopfield.layers import VHNN, ConvexMerge, ConvHNN1D, ConvHNN2D, DeepHNN


@dataclasses.dataclass
class Case:
    """A trained zoo model.

    Attributes:
        name: Zoo key.
        model: The trained `keras.Model`.
        inputs: Sample inputs, a list with one entry per positional argument of
            the model's call (`model(*inputs)`); nested structures (CBAN's
            `(evidence, mask)`) stay nested.
        iterates: `True` if the forward pass runs a data-dependent loop
            (`while_loop` with an early exit), which the exported graph must keep.
    """

    name: str
    model: keras.Model
    inputs: list
    iterates: bool

    def keras_output(self):
        return keras.ops.convert_to_numpy(self.model(*self.inputs, training=False))


def _fit(model, x, y, loss="mse", optimizer=None, steps=2, batch_size=None):
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-2), loss=loss)
    batch_size = batch_size or (len(x[0]) if isinstance(x, (list, tuple)) else len(x))
    model.fit(x, y, batch_size=batch_size, epochs=steps, verbose=0, shuffle=False)
    return model


def retrieval(seed=0):
    """HopfieldRetrieval (state → stored patterns, 4 updates with early exit) + Dense."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    q = keras.Input((4, 8), name="query")
    m = keras.Input((6, 8), name="memory")
    h = HopfieldRetrieval(num_heads=2, key_dim=4, max_steps=5, eps=1e-4, name="retrieval")(q, m)
    model = keras.Model([q, m], keras.layers.Dense(3)(h), name="retrieval_model")
    x = [rng.normal(size=(6, 4, 8)).astype("float32"), rng.normal(size=(6, 6, 8)).astype("float32")]
    _fit(model, x, rng.normal(size=(6, 4, 3)).astype("float32"))
    return Case("retrieval", model, [x], iterates=True)


def pooling(seed=0):
    """HopfieldPooling (3 updates) of a set, Dense head."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((7, 8), name="set")
    pooled = HopfieldPooling(num_heads=2, key_dim=4, max_steps=3, eps=1e-4, name="pooling")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(pooled)), name="pooling_model")
    x = rng.normal(size=(6, 7, 8)).astype("float32")
    _fit(model, x, rng.normal(size=(6, 2)).astype("float32"))
    return Case("pooling", model, [x], iterates=True)


def lookup(seed=0):
    """HopfieldLookup (learned memory) between two Dense layers."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(8)(inp)
    looked = HopfieldLookup(memory_size=5, num_heads=1, max_steps=3, eps=1e-4, name="lookup")(h)
    model = keras.Model(inp, keras.layers.Dense(2)(looked), name="lookup_model")
    x = rng.normal(size=(6, 8)).astype("float32")
    _fit(model, x, rng.normal(size=(6, 2)).astype("float32"))
    return Case("lookup", model, [x], iterates=True)


def _flipped(patterns, rng, fraction):
    flips = rng.random(patterns.shape) < fraction
    return np.where(flips, -patterns, patterns).astype("float32")


def hebbian(seed=0):
    """HebbianHopfield storing on fit (parallel dynamics, early exit)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    patterns = np.sign(rng.normal(size=(3, 32))).astype("float32")
    inp = keras.Input((32,), name="state")
    model = keras.Model(
        inp, HebbianHopfield(dynamics="parallel", max_steps=20, store_on_fit=True, name="hebbian")(inp)
    )
    model.compile(optimizer="sgd", loss="mse")  # storing is gradient-free; fit streams the patterns in
    model.fit(patterns, patterns, batch_size=3, epochs=1, verbose=0)
    return Case("hebbian", model, [_flipped(np.repeat(patterns, 2, 0), rng, 0.15)], iterates=True)


def dense_memory(seed=0):
    """DenseAssociativeMemory, associative mode, memories trained by a classifier fit."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    n, labels = 24, 2
    x = np.sign(rng.normal(size=(8, n))).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, labels, 8), labels).astype("float32") * 2 - 1
    clf = DenseAssociativeMemory(8, degree=3, num_labels=labels, mode="classifier", name="dam_classifier")
    inp = keras.Input((n,))
    trainer = keras.Model(inp, clf(inp))
    _fit(trainer, x, y)
    # The same memories run the associative (retrieval) dynamics.
    dam = DenseAssociativeMemory(8, degree=3, num_labels=labels, dynamics="parallel", max_steps=20, name="dam")
    inp = keras.Input((n + labels,), name="state")
    model = keras.Model(inp, dam(inp), name="dam_model")
    dam.set_weights(clf.get_weights())
    queries = np.concatenate([x[:6], np.ones((6, labels), "float32")], axis=-1)
    return Case("dense_memory", model, [_flipped(queries, rng, 0.1)], iterates=True)


def dense_memory_classifier(seed=0):
    """DenseAssociativeMemory in classifier mode (one step, no loop)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = np.sign(rng.normal(size=(8, 20))).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 8), 3).astype("float32") * 2 - 1
    inp = keras.Input((20,), name="visible")
    model = keras.Model(inp, DenseAssociativeMemory(6, degree=3, num_labels=3, mode="classifier")(inp))
    _fit(model, x, y)
    return Case("dense_memory_classifier", model, [x[:6]], iterates=False)


def deep_hnn(seed=0):
    """DeepHNN (2 layers, 3 iterations) and ConvexMerge."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((6, 2), name="x")
    h = DeepHNN(2, 3, depth=2, iterations=3, name="deep")(inp)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(ConvexMerge(2, name="merge")(h)))
    model = keras.Model(inp, out, name="deep_model")
    x = rng.normal(size=(6, 6, 2)).astype("float32")
    _fit(model, x, rng.normal(size=(6, 2)).astype("float32"))
    return Case("deep_hnn", model, [x], iterates=False)


def vhnn(seed=0):
    """VHNN (3 iterations, training noise) with a Dense head."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((6, 2), name="x")
    v = VHNN(2, 3, iterations=3, noise=0.2, seed=4, name="vhnn")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(v)), name="vhnn_model")
    x = rng.normal(size=(6, 6, 2)).astype("float32")
    _fit(model, x, rng.normal(size=(6, 2)).astype("float32"))
    return Case("vhnn", model, [x], iterates=False)


def conv_hnn_2d(seed=0):
    """ConvHNN2D denoiser: Hopfield encoder, conv bottleneck, the tied Hopfield read-out."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((8, 8, 1), name="image")
    hop = ConvHNN2D(4, 3, iterations=2, activation="silu", name="hop")
    z = keras.layers.Conv2D(2, 3, activation="silu")(hop(inp))
    logits = keras.layers.Conv2DTranspose(4, 3)(z)
    model = keras.Model(inp, hop(logits, reverse=True), name="convhnn2d_model")
    x = rng.random((4, 8, 8, 1)).astype("float32")
    _fit(model, x, x)
    return Case("conv_hnn_2d", model, [x], iterates=False)


def conv_hnn_1d(seed=0):
    """ConvHNN1D on a sequence, Dense head."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = keras.Input((10, 2), name="sequence")
    h = ConvHNN1D(3, 3, iterations=2, name="hop1d")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(h)), name="convhnn1d_model")
    x = rng.normal(size=(4, 10, 2)).astype("float32")
    _fit(model, x, rng.normal(size=(4, 2)).astype("float32"))
    return Case("conv_hnn_1d", model, [x], iterates=False)


def cban(seed=0):
    """CBAN (two dense blocks), TD(1) training, settling `while_loop` at inference."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    y = np.tanh(2.0 * rng.normal(size=(8, 12))).astype("float32")
    mask = (rng.random((8, 12)) < 0.5).astype("float32")
    model = CBAN([CBANBlock(units=10), CBANBlock(units=5)], max_steps=25, max_train_steps=4, name="cban")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit((y * mask, mask), y, batch_size=8, epochs=2, verbose=0)
    return Case("cban", model, [(y[:6] * mask[:6], mask[:6])], iterates=True)


def cban_conv(seed=0):
    """CBAN with a convolutional and a pooling block on 8×8 images."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    mask = (rng.random((4, 8, 8, 1)) < 0.6).astype("float32")
    model = CBAN(
        [CBANBlock(filters=3, kernel_size=3), CBANBlock(filters=4, kernel_size=3, pooling=True)],
        max_steps=10, max_train_steps=3, name="cban_conv",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit((x * mask, mask), x, batch_size=4, epochs=1, verbose=0)
    return Case("cban_conv", model, [(x * mask, mask)], iterates=True)


def crhn(seed=0):
    """CRHN: tied conv autoencoder (one fit epoch), latents stored by SRA, binary retrieval loop."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(6, 8, 8, 3)).astype("float32")
    model = CRHN(
        CRHNEncoder(filters=(4,), latent_dim=24),
        RestrictedHopfieldMemory(hidden_units=16, seed=seed, max_steps=10),
        name="crhn",
    )
    model.fit_autoencoder(x, optimizer=keras.optimizers.Adam(0.01), epochs=2, batch_size=6, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not every pattern is a fixed point"
        model.store(x)
    return Case("crhn", model, [x], iterates=True)


def predictive_coding(seed=0):
    """PredictiveCodingMemory trained by inference learning; call = fixed-trip inference loop."""
    keras.utils.set_random_seed(seed)
    x = np.random.default_rng(seed).uniform(size=(4, 6, 6, 1)).astype("float32")
    model = PredictiveCodingMemory(
        widths=(12,),
        activation="tanh",
        inference_steps=10,
        inference_rate=0.1,
        learning_rate=0.02,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01, seed=seed),
        value_init_stddev=0.5,
        seed=seed,
        name="pcn",
    )
    model.fit_memory(x, epochs=3, verbose=0)
    return Case("predictive_coding", model, [x], iterates=False)


ZOO = {
    f.__name__: f
    for f in (
        retrieval,
        pooling,
        lookup,
        hebbian,
        dense_memory,
        dense_memory_classifier,
        deep_hnn,
        vhnn,
        conv_hnn_2d,
        conv_hnn_1d,
        cban,
        cban_conv,
        crhn,
        predictive_coding,
    )
}
"""Zoo key -> builder `f(seed=0) -> Case`."""


def build(name, seed=0):
    """Builds and trains zoo model `name` (a key of `ZOO`)."""
    if name not in ZOO:
        raise KeyError(f"Unknown zoo model {name!r}; known: {sorted(ZOO)}")
    case = ZOO[name](seed)
    case.keras_output()  # one inference call: `export` reads its input signature from it
    return case
