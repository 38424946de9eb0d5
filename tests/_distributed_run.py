"""Run every case of `_distributed_cases` on one device and on two, print one JSON result per line.

    python tests/_distributed_run.py jax         # DataParallel, and ModelParallel for the sharded memories
    python tests/_distributed_run.py tensorflow  # MirroredStrategy over two logical CPU devices

Run as its own process: JAX must see two simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2`) and TensorFlow its two
logical devices before either backend starts.
"""

import contextlib
import json
import os
import sys

ENGINE = sys.argv[1]
os.environ["KERAS_BACKEND"] = ENGINE
if ENGINE == "jax":
    # Simulated CPU devices: a collective waiting for the other device blocks one of XLA's
    # CPU pool threads, and with one thread per core (2 here) both can end up blocked, a
    # deadlock that aborts the process (docs/distributed.md). NPROC sizes XLA's pool.
    os.environ.setdefault("NPROC", "8")
    flags = "--xla_force_host_platform_device_count=2"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_hopfield.distribution import memory_layout_map  # noqa: E402
from tests._distributed_cases import CASES, SHARDED  # noqa: E402


def train(name, scope):
    keras.utils.set_random_seed(0)
    with scope:
        model, fit, probe = CASES[name]()
        if not model.weights:  # a subclassed model builds on its first call
            model(probe)
        start = [np.array(w) for w in model.get_weights()]
        # tf.distribute: made and compiled in the strategy's scope, trained outside it (the
        # usual pattern: the model remembers its strategy). keras.distribution: inside.
        if ENGINE == "jax":
            fit()
    if ENGINE != "jax":
        fit()
    out = np.asarray(model.predict(probe, verbose=0))
    return model, start, out


def compare(name, engine, make_scope):
    single, start, out1 = train(name, contextlib.nullcontext())
    result = {"case": name, "engine": engine}
    try:
        model, _, out2 = train(name, make_scope())
    except Exception as err:  # reported, checked by the test (a clear error is a result too)
        result["error"] = f"{type(err).__name__}: {err}"
        return result
    w1, w2 = single.get_weights(), model.get_weights()
    result["moved"] = max((float(np.abs(a - b).max()) for a, b in zip(w1, start)), default=0.0)
    result["weights_diff"] = max((float(np.abs(a - b).max()) for a, b in zip(w1, w2)), default=0.0)
    result["output_diff"] = float(np.abs(out1 - out2).max())
    if engine == "model_parallel":
        result["sharded"] = {
            v.path: [a for a in v.value.sharding.spec]
            for v in model.variables
            if any(a is not None for a in v.value.sharding.spec)
        }
    return result


names = sys.argv[2:] or list(CASES)
if ENGINE == "jax":
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
    engines = {
        "data_parallel": lambda: keras.distribution.DataParallel(devices=devices).scope(),
        "model_parallel": lambda: keras.distribution.ModelParallel(
            layout_map=memory_layout_map(mesh), batch_dim_name="batch"
        ).scope(),
    }
else:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    engines = {"mirrored": strategy.scope}

for name in names:
    for engine, make_scope in engines.items():
        if engine == "model_parallel" and name not in SHARDED:
            continue
        print("RESULT " + json.dumps(compare(name, engine, make_scope)), flush=True)
