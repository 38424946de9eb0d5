"""Every model family trains on Keras's distribution engines as it does on one device.

`tests/_distributed_run.py` (a subprocess: the devices must exist before the
backend starts) trains each case of `tests/_distributed_cases.py` on one device
and on two simulated CPU devices, with the same global batch:

* JAX: `keras.distribution.DataParallel`, and `ModelParallel` with
  `keras_hopfield.distribution.memory_layout_map` for the memory layers;
* TensorFlow: `tf.distribute.MirroredStrategy` over two logical CPU devices.

PyTorch has no Keras distribution API (see docs/distributed.md).
"""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_hopfield.backend import distribution as D
from keras_hopfield.distribution import MEMORY_VARIABLES, memory_layout_map
from tests._distributed_cases import CASES, SHARDED

REPO = Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()
ENGINES = {"jax": ("data_parallel", "model_parallel"), "tensorflow": ("mirrored",)}.get(BACKEND, ())
RUNS = [(c, e) for e in ENGINES for c in CASES if e != "model_parallel" or c in SHARDED]
# Cannot be split over tf.distribute replicas: a clear error instead (checked below).
REFUSED = {("predictive_coding_memory", "mirrored")}

needs_engine = pytest.mark.skipif(
    not ENGINES, reason=f"the {BACKEND} backend has no Keras distribution engine (docs/distributed.md)"
)


@pytest.fixture(scope="module")
def results():
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "_distributed_run.py"), BACKEND],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return {(r["case"], r["engine"]): r for r in rows}


@needs_engine
@pytest.mark.parametrize("case, engine", [r for r in RUNS if r not in REFUSED])
def test_two_devices_train_like_one(results, case, engine):
    r = results[(case, engine)]
    assert "error" not in r, r.get("error")
    assert r["moved"] > 1e-3, r  # training really changed the weights
    # Settling stops on a tolerance, so CBAN's float round-off differences can grow a little.
    weights_tol, output_tol = (1e-4, 1e-3) if case.startswith("cban") else (1e-5, 1e-5)
    assert r["weights_diff"] <= weights_tol, r
    assert r["output_diff"] <= output_tol, r


@pytest.mark.skipif("model_parallel" not in ENGINES, reason="keras.distribution.ModelParallel is JAX's")
@pytest.mark.parametrize("case", SHARDED)
def test_memory_variables_are_sharded_over_the_model_axis(results, case):
    sharded = results[(case, "model_parallel")]["sharded"]
    assert len(sharded) == 1, sharded  # the memory variable, and nothing else
    (path, spec), = sharded.items()
    assert "model" in spec and spec.count("model") == 1, (path, spec)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="MirroredStrategy is TensorFlow's")
def test_predictive_coding_memory_refuses_mirrored_strategy_with_a_clear_error(results):
    error = results[("predictive_coding_memory", "mirrored")]["error"]
    assert "PredictiveCodingMemory cannot be trained under tf.distribute.MirroredStrategy with 2 replicas" in error
    assert "keras.distribution.DataParallel" in error  # and says what to do instead


def test_memory_layout_map_keys_and_errors():
    mesh = keras.distribution.DeviceMesh((1,), ["model"], ["cpu:0"])
    layout_map = memory_layout_map(mesh)
    assert layout_map["seq/hopfield_lookup_2/stored_patterns"].axes == ("model", None)
    assert layout_map["m/dense_associative_memory/memories"].axes == ("model", None)
    assert layout_map["crhn/restricted_hopfield_memory/kernel_1"].axes == (None, "model")
    assert layout_map["crhn/crhn_encoder/kernel_0"] is None  # the encoder's kernels stay replicated
    assert len(MEMORY_VARIABLES) == 4
    with pytest.raises(ValueError, match="no axis model_axis='shards'"):
        memory_layout_map(mesh, model_axis="shards")
    other = keras.distribution.LayoutMap(keras.distribution.DeviceMesh((1,), ["model"], ["cpu:0"]))
    with pytest.raises(ValueError, match="same `device_mesh`"):
        memory_layout_map(mesh, layout_map=other)


def test_replica_helpers_are_the_identity_on_one_device():
    x = np.arange(6, dtype="float32").reshape(3, 2)
    assert D.num_replicas() == 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(D.global_batch(x)), x)
    assert float(D.scale_loss(keras.ops.convert_to_tensor(3.0))) == 3.0
    np.testing.assert_array_equal(D.draw_for_global_batch(lambda shape: np.ones(shape), (2, 3), batch_axis=1), np.ones((2, 3)))
    D.require_single_replica("Model", "reason.", "remedy.")  # no error outside tf.distribute
