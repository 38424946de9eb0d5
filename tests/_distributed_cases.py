"""One small training case per model family, for the multi-device equivalence checks.

Each case builds a model with seeded initialisers, trains it a few steps (global
batch 8 or 16, two epochs, no shuffling) and names the inputs whose outputs are
compared. `tests/_distributed_run.py` runs every case once on one device and once
under a distribution engine; `tests/test_distributed.py` checks the results.
"""

import warnings

import keras
import numpy as np

from keras_hopfield.layers import (
    VHNN,
    CBANBlock,
    ConvHNN2D,
    CRHNEncoder,
    DeepHNN,
    DenseAssociativeMemory,
    HebbianHopfield,
    HopfieldLookup,
    HopfieldPooling,
    HopfieldRetrieval,
    RestrictedHopfieldMemory,
)
from keras_hopfield.losses import PowerLoss
from keras_hopfield.models import CBAN, CRHN, PredictiveCodingMemory
from keras_hopfield.optimizers import KrotovOptimizer

BATCH = 8  # the global batch: 4 examples per device on 2 devices
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _f32(a):
    return np.asarray(a, "float32")


def _glorot(seed):
    return keras.initializers.GlorotUniform(seed)


def _quiet(fit):
    """Gradient-free models warn that they have no trainable weights: expected here."""

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fit()

    return run


def _fit(model, x, y, batch_size=BATCH, epochs=2):
    return lambda: model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)


@case
def retrieval():
    r = np.random.default_rng(0)
    stored = _f32(r.normal(size=(32, 6, 8)))
    noisy = _f32(stored[:, 0] + 0.5 * r.normal(size=(32, 8)))
    q, m = keras.Input((8,)), keras.Input((6, 8))
    out = HopfieldRetrieval(num_heads=2, key_dim=4, trainable_beta=True, kernel_initializer=_glorot(0))(q, m)
    model = keras.Model([q, m], out)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, [noisy, stored], stored[:, 0]), [noisy[:8], stored[:8]]


@case
def pooling():
    x = _f32(np.random.default_rng(1).normal(size=(32, 5, 6)))
    y = x.mean(axis=(1, 2))[:, None]
    model = keras.Sequential(
        [
            keras.Input((5, 6)),
            HopfieldPooling(num_heads=1, key_dim=6, query_initializer=_glorot(1), kernel_initializer=_glorot(2)),
            keras.layers.Dense(1, kernel_initializer=_glorot(3)),
        ]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, x, y), x[:8]


@case
def lookup():
    x = _f32(np.random.default_rng(2).normal(size=(32, 6)))
    layer = HopfieldLookup(memory_size=16, key_dim=6, memory_initializer=_glorot(4), kernel_initializer=_glorot(5))
    model = keras.Sequential([keras.Input((6,)), layer])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, x, np.tanh(x)), x[:8]


@case
def hebbian():
    x = _f32(np.sign(np.random.default_rng(3).normal(size=(16, 32))))
    model = keras.Sequential([keras.Input((32,)), HebbianHopfield(store_on_fit=True, seed=0)])
    model.compile(loss="mse")
    return model, _quiet(_fit(model, x, x, epochs=1)), x[:8]


@case
def hebbian_pseudo_inverse():
    x = _f32(np.sign(np.random.default_rng(5).normal(size=(16, 32))))
    model = keras.Sequential([keras.Input((32,)), HebbianHopfield(rule="pseudo_inverse", store_on_fit=True, seed=0)])
    model.compile(loss="mse")
    return model, _quiet(_fit(model, x, x, epochs=1)), x[:8]


@case
def dense_associative_memory():
    r = np.random.default_rng(4)
    x = _f32(np.sign(r.normal(size=(32, 12))))
    y = np.eye(3, dtype="float32")[r.integers(0, 3, 32)]
    layer = DenseAssociativeMemory(
        10, degree=3, num_labels=3, mode="classifier", temperature=6.0, seed=0,
        memory_initializer=keras.initializers.RandomUniform(-0.3, 0.3, seed=6),
    )
    model = keras.Sequential([keras.Input((12,)), layer])
    model.compile(KrotovOptimizer(0.05, momentum=0.5), PowerLoss(power=2))
    return model, _fit(model, x, y), x[:8]


@case
def restricted_hopfield_memory():
    # Batches of 16 patterns > 8 hidden units: full-rank cross-covariances, so the SRA
    # rotations are unique and two devices must reproduce them exactly.
    z = _f32(np.sign(np.random.default_rng(6).normal(size=(32, 12))))
    model = keras.Sequential([keras.Input((12,)), RestrictedHopfieldMemory(hidden_units=8, seed=0, store_on_fit=True)])
    model.compile(loss="mse")
    return model, _quiet(_fit(model, z, z, batch_size=16)), z[:8]


@case
def crhn():
    x = _f32(np.random.default_rng(7).uniform(size=(16, 8, 8, 3)))
    model = CRHN(
        CRHNEncoder(filters=(4,), latent_dim=16, kernel_initializer=_glorot(8)),
        RestrictedHopfieldMemory(hidden_units=8, seed=0, max_steps=5),
    )

    def train():
        model.fit_autoencoder(x, optimizer=keras.optimizers.SGD(0.1), epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # not every latent is a fixed point
            model.store(x)

    return model, train, x[:8]


def _cban(mode):
    r = np.random.default_rng(8)
    y = _f32(np.tanh(r.normal(size=(16, 10))))
    mask = _f32(r.random((16, 10)) < 0.5)
    init = keras.initializers.RandomNormal(stddev=0.3, seed=9)
    model = CBAN([CBANBlock(units=12, kernel_initializer=init)], training_mode=mode, max_steps=20, max_train_steps=5)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model, _fit(model, (y * mask, mask), y), (y[:8] * mask[:8], mask[:8])


@case
def cban_td1():
    return _cban("td1")


@case
def cban_final():
    return _cban("final")


@case
def cban_implicit():
    return _cban("implicit")


@case
def cban_conv():
    r = np.random.default_rng(10)
    y = _f32(np.tanh(r.normal(size=(16, 6, 6, 1))))
    mask = _f32(r.random((16, 6, 6, 1)) < 0.6)
    init = keras.initializers.RandomNormal(stddev=0.1, seed=11)
    model = CBAN([CBANBlock(filters=3, kernel_size=3, kernel_initializer=init)], max_steps=8, max_train_steps=3)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model, _fit(model, (y * mask, mask), y, epochs=1), (y[:8] * mask[:8], mask[:8])


@case
def predictive_coding_memory():
    x = _f32(np.random.default_rng(11).uniform(size=(8, 6, 6, 1)))
    model = PredictiveCodingMemory(
        widths=(12,), activation="tanh", inference_steps=10, inference_rate=0.1, learning_rate=0.02,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01, seed=0), value_init_stddev=0.5, seed=0,
    )
    return model, _quiet(lambda: model.fit_memory(x, epochs=5, verbose=0)), x


@case
def deep_hnn():
    r = np.random.default_rng(12)
    x, y = _f32(r.normal(size=(16, 9, 3))), _f32(r.normal(size=(16, 4, 3)))
    model = keras.Sequential([keras.Input((9, 3)), DeepHNN(3, 4, depth=2, iterations=2, patterns_initializer=_glorot(13))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, x, y), x[:8]


@case
def vhnn():
    # Noise in training: two devices must draw the single-device noise, not repeat it per device.
    r = np.random.default_rng(13)
    x, y = _f32(r.normal(size=(16, 9, 3))), _f32(r.normal(size=(16, 9, 3)))
    model = keras.Sequential([keras.Input((9, 3)), VHNN(3, 9, iterations=2, noise=0.5, seed=3, patterns_initializer=_glorot(14))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, x, y), x[:8]


@case
def conv_hnn_2d():
    r = np.random.default_rng(14)
    x, y = _f32(r.normal(size=(16, 6, 6, 2))), _f32(r.normal(size=(16, 6, 6, 3)))
    model = keras.Sequential([keras.Input((6, 6, 2)), ConvHNN2D(3, 3, padding="same", iterations=1, patterns_initializer=_glorot(15))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, _fit(model, x, y), x[:8]


# The cases whose memory variables `keras_hopfield.distribution.memory_layout_map` shards.
SHARDED = ("lookup", "dense_associative_memory", "restricted_hopfield_memory")
