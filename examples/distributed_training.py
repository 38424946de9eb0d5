"""Train keras-hopfield models on several devices with Keras's own distribution engines.

One script, three families, on the engine of the chosen backend:

* a `HopfieldRetrieval` model (gradient training with `fit`) and a `CBAN`
  (TD(1) settling loss) with data parallelism;
* a `HebbianHopfield` memory stored gradient-free under `fit` (`store_on_fit`);
* on JAX also a `HopfieldLookup` whose stored patterns are split over the
  devices (`keras.distribution.ModelParallel` with
  `keras_hopfield.distribution.memory_layout_map`).

Each model is trained twice with the same seeds and global batch, on one device
and on all of them, and the script prints the largest weight difference (float
round-off) next to the result. Without real accelerators it simulates
`--devices` CPU devices (JAX: `XLA_FLAGS=--xla_force_host_platform_device_count`
with the classic CPU runtime, see docs/distributed.md; TensorFlow: logical CPU
devices under `tf.distribute.MirroredStrategy`).

Example:
    python examples/distributed_training.py --backend jax --devices 2
    python examples/distributed_training.py --backend tensorflow --devices 2
"""

import argparse
import contextlib
import os
import sys
import time
import warnings


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("jax", "tensorflow"), default=os.environ.get("KERAS_BACKEND", "jax"))
    p.add_argument("--devices", type=int, default=2, help="number of (simulated CPU) devices, >= 2")
    p.add_argument("--quick", action="store_true", help="tiny data and one epoch (a smoke run)")
    args = p.parse_args(argv)
    if args.devices < 2:
        p.error(f"--devices must be >= 2, got {args.devices}")
    return args


def setup_devices(backend, n):
    """Simulated CPU devices, before the backend starts. Returns the engines: name -> scope factory."""
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        # Simulated CPU devices: a collective waiting for the other device blocks one of XLA's
        # CPU pool threads, and with one thread per core (2 here) both can end up blocked, a
        # deadlock that aborts the process (docs/distributed.md). NPROC sizes XLA's pool.
        os.environ.setdefault("NPROC", "8")
        flags = f"--xla_force_host_platform_device_count={n}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        import keras

        devices = keras.distribution.list_devices()
        mesh = keras.distribution.DeviceMesh((1, len(devices)), ["batch", "model"], devices)
        from keras_hopfield.distribution import memory_layout_map

        return {
            "DataParallel": lambda: keras.distribution.DataParallel(devices=devices).scope(),
            "ModelParallel": lambda: keras.distribution.ModelParallel(
                layout_map=memory_layout_map(mesh), batch_dim_name="batch"
            ).scope(),
        }
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])
    return {"MirroredStrategy": strategy.scope}


def main(argv=None):
    args = parse_args(argv)
    engines = setup_devices(args.backend, args.devices)
    import keras
    import numpy as np

    from keras_hopfield.layers import CBANBlock, HebbianHopfield, HopfieldLookup, HopfieldRetrieval
    from keras_hopfield.models import CBAN

    n = 256 if args.quick else 4096
    epochs = 1 if args.quick else 5
    batch = 16 * args.devices  # the global batch; each device gets 16
    rng = np.random.default_rng(0)

    def retrieval():
        stored = rng.normal(size=(n, 10, 32)).astype("float32")
        noisy = stored[:, 0] + rng.normal(size=(n, 32)).astype("float32")
        q, m = keras.Input((32,)), keras.Input((10, 32))
        out = HopfieldRetrieval(num_heads=1, key_dim=32, trainable_beta=True,
                                kernel_initializer=keras.initializers.GlorotUniform(0))(q, m)
        model = keras.Model([q, m], out)
        # SGD: Adam divides by the gradients' size and so magnifies float round-off over many steps
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
        fit = lambda: model.fit([noisy, stored], stored[:, 0], batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
        return model, fit, lambda h: f"train MSE {h.history['loss'][-1]:.4f} (the noise's: 1.0)"

    def cban():
        target = np.tanh(rng.normal(size=(n, 64))).astype("float32")
        mask = (rng.random((n, 64)) < 0.5).astype("float32")
        model = CBAN([CBANBlock(units=64, kernel_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=1))],
                     training_mode="td1", max_steps=20, max_train_steps=5)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        fit = lambda: model.fit((target * mask, mask), target, batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
        return model, fit, lambda h: f"settled loss {h.history['settled_loss'][-1]:.4f}"

    def hebbian():
        patterns = np.sign(rng.normal(size=(8, 256))).astype("float32")
        model = keras.Sequential([keras.Input((256,)), HebbianHopfield(store_on_fit=True, seed=0)])
        model.compile(loss="mse")
        def fit():
            with warnings.catch_warnings():  # "no trainable weights": Hebbian storage needs no gradient
                warnings.simplefilter("ignore", UserWarning)
                return model.fit(patterns, patterns, batch_size=2 * args.devices, epochs=1, shuffle=False, verbose=0)

        flipped = patterns * np.where(rng.random(patterns.shape) < 0.1, -1, 1).astype("float32")
        return model, fit, lambda h: (
            f"{np.mean(np.all(model.predict(flipped, verbose=0) == patterns, axis=1)):.0%} of 8 patterns "
            "retrieved from 10 % flipped bits"
        )

    def lookup():
        memory = 8 * args.devices * (64 if args.quick else 1024)
        x = rng.normal(size=(n, 32)).astype("float32")
        model = keras.Sequential([keras.Input((32,)), HopfieldLookup(memory_size=memory, key_dim=32,
                                 memory_initializer=keras.initializers.GlorotUniform(2))])
        model.compile(keras.optimizers.Adam(0.01), "mse")
        fit = lambda: model.fit(x, np.tanh(x), batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
        return model, fit, lambda h: f"{memory} stored patterns, train MSE {h.history['loss'][-1]:.4f}"

    jobs = {"HopfieldRetrieval": retrieval, "CBAN (TD(1))": cban, "HebbianHopfield (store_on_fit)": hebbian}
    print(f"backend {args.backend}, {args.devices} devices, global batch {batch}", flush=True)
    for engine, scope in engines.items():
        todo = {"HopfieldLookup (sharded memory)": lookup} if engine == "ModelParallel" else jobs
        for name, make in todo.items():
            runs = []
            for label, context in (("1 device", contextlib.nullcontext), (engine, scope)):
                keras.utils.set_random_seed(0)
                rng = np.random.default_rng(0)
                start = time.perf_counter()
                with context():
                    model, fit, report = make()
                    history = fit()
                    runs.append((model, report(history), time.perf_counter() - start))
            (single, _, t1), (model, text, t2) = runs
            diff = max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), model.get_weights()))
            print(f"{engine:16s} {name:32s} {text}; max |weight difference| vs 1 device {diff:.1e}; "
                  f"{t2:.1f} s ({t1:.1f} s on 1 device)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
