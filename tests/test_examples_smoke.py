"""Smoke runs of the example and the benchmark script (`--quick`), on the current backend.

Each runs as a subprocess with the current `KERAS_BACKEND` (so a broken script
cannot leave global Keras state behind) and checks only that the JSON it
writes is well formed: finite metrics, positive timings. No accuracy or speed
thresholds here: those belong in the documented full runs.
"""

import json
import math
from pathlib import Path

import keras
import pytest

from tests._scripts import run_script

REPO = Path(__file__).resolve().parents[1]




@pytest.mark.real_data
def test_mil_mnist_bags_quick(tmp_path, data_dir):
    out = tmp_path / "mil"
    proc = run_script([str(REPO / "examples" / "mil_mnist_bags.py"), "--quick", "--out", str(out)], tmp_path)
    assert "command:" in proc.stdout
    result = json.loads((out / "mil_mnist_bags.json").read_text())
    assert result["backend"] == keras.backend.backend()
    for key in ("test_accuracy", "test_auc", "test_loss"):
        assert math.isfinite(result[key]), (key, result[key])
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert 0.0 <= result["test_auc"] <= 1.0
    # Padded instances get exactly zero attention; real ones sum to one.
    assert result["padded_attention_max"] == 0.0
    assert result["attention_sum_error_max"] < 1e-4
    # The quick run writes its figure next to the JSON, never into docs/.
    figure = Path(result["figure"])
    assert figure.parent == out and figure.is_file() and figure.stat().st_size > 0


def test_retrieval_speed_quick(tmp_path):
    path = tmp_path / "bench.json"
    proc = run_script([str(REPO / "benchmarks" / "retrieval_speed.py"), "--quick", "--json", str(path)], tmp_path)
    assert "ratio" in proc.stdout
    result = json.loads(path.read_text())
    assert result["backend"] == keras.backend.backend()
    rows = result["rows"]
    names = {r["name"] for r in rows}
    assert {"dot_product_attention", "HopfieldRetrieval.pure", "MultiHeadAttention"} <= names
    assert {"HopfieldRetrieval (default LayerNorms)", "HopfieldRetrieval (no norms)"} <= names
    assert {r["phase"] for r in rows} == {"forward", "fwd+bwd"}
    for r in rows:
        assert r["ms"] > 0 and math.isfinite(r["ms"]), r
        assert r["ratio"] > 0 and math.isfinite(r["ratio"]), r
    # Same computation on both sides (numerical agreement, not speed).
    for key, diff in result["equivalence_max_abs_diff"].items():
        assert diff < 1e-3, (key, diff)


@pytest.mark.real_data
def test_deephnn_mnist_quick(tmp_path, data_dir):
    out = tmp_path / "deep"
    run_script([str(REPO / "examples" / "deephnn_mnist.py"), "--quick", "--out", str(out)], tmp_path)
    result = json.loads((out / "deephnn_mnist.json").read_text())
    assert result["quick"] is True
    # The paper's MNIST model: exactly its parameter count.
    assert result["conv_model"]["trainable_params"] == 56440
    assert 0.0 <= result["handmade"]["test_accuracy_untrained"] <= 1.0


@pytest.mark.real_data
def test_convhnn_denoise_quick(tmp_path, data_dir):
    out = tmp_path / "conv"
    run_script([str(REPO / "examples" / "convhnn_denoise.py"), "--quick", "--out", str(out)], tmp_path)
    result = json.loads((out / "convhnn_denoise.json").read_text())
    assert result["hopfield"]["trainable_params"] == 733
    for model in ("hopfield", "plain"):
        assert math.isfinite(result[model]["test_mse"]) and result[model]["test_mse"] > 0


@pytest.mark.real_data
def test_vhnn_switching_quick(tmp_path, data_dir):
    out = tmp_path / "vhnn"
    run_script([str(REPO / "examples" / "vhnn_switching.py"), "--quick", "--out", str(out)], tmp_path)
    result = json.loads((out / "vhnn_switching.json").read_text())
    assert result["bounds"]["beta_prop_3_4"] > 0
    assert Path(result["figure"]).parent == out


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="Keras has no distribution API on PyTorch")
def test_distributed_training_quick(tmp_path):
    proc = run_script([str(REPO / "examples" / "distributed_training.py"), "--quick", "--backend", keras.backend.backend()], tmp_path)
    rows = [line for line in proc.stdout.splitlines() if "vs 1 device" in line]
    engines = {"jax": ("DataParallel", "ModelParallel"), "tensorflow": ("MirroredStrategy",)}[keras.backend.backend()]
    assert {row.split()[0] for row in rows} == set(engines), proc.stdout
    for row in rows:  # every model trained to the single-device weights, up to round-off
        diff = float(row.split("max |weight difference| vs 1 device ")[1].split(";")[0])
        assert diff < 1e-3, row


def test_deployment_quick(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "deploy"
    proc = run_script([str(REPO / "examples" / "deployment.py"), "--quick", "--out", str(out)], tmp_path, timeout=400)
    assert "command:" in proc.stdout
    result = json.loads((out / "deployment.json").read_text())
    assert result["backend"] == keras.backend.backend()
    formats = {"onnx"} if keras.backend.backend() == "torch" else {"tf_saved_model", "onnx"}
    assert {(r["model"], r["format"]) for r in result["rows"]} == {(m, f) for m in ("lookup", "cban", "crhn") for f in formats}
    for row in result["rows"]:
        assert row["max_abs_diff"] <= 1e-5, row  # the served artefact gives the Keras outputs
        if row["iterates"]:  # lookup, cban and crhn all iterate: the graph kept the loop
            assert row["loop_kept"] is True, row


def test_large_memory_benchmark_quick(tmp_path):
    path = tmp_path / "large_memory.json"
    proc = run_script(
        [str(REPO / "benchmarks" / "large_memory.py"), "--quick", "--phases", "forward", "--json", str(path)],
        tmp_path,
        timeout=300,
    )
    assert "command:" in proc.stdout and "ratio" in proc.stdout
    result = json.loads(path.read_text())
    assert result["backend"] == keras.backend.backend()
    assert {(r["path"], r["n"]) for r in result["rows"]} == {
        (p, n) for p in ("dense", "chunked", "dpa") for n in result["sizes"]
    }
    for r in result["rows"]:
        assert r["peak_mb"] > 0 and r["ms"] > 0 and math.isfinite(r["ms"]), r
    for t in result["timings"]:
        assert {"chunked/dense", "chunked/dpa"} <= set(t["ratios"]), t
        assert all(v > 0 and math.isfinite(v) for v in t["ratios"].values()), t
    assert set(result["summary"]) == {f"{p}/forward" for p in ("dense", "chunked", "dpa")}
    assert not result["failures"]


def test_large_memory_lookup_quick(tmp_path):
    out = tmp_path / "lookup"
    script = str(REPO / "examples" / "large_memory_lookup.py")
    proc = run_script([script, "--quick", "--retrieval", "chunked", "--out", str(out)], tmp_path)
    assert "command:" in proc.stdout
    result = json.loads((out / "large_memory_lookup.json").read_text())
    assert result["backend"] == keras.backend.backend()
    assert result["patterns"] == 20_000
    assert set(result["results"]) == {"softmax", "top_k=16"}
    for name, r in result["results"].items():
        assert r["path"] == "chunked"
        assert r["max_abs_diff_to_numpy"] < 1e-5, (name, r)
        assert 0.0 <= r["retrieved"] <= 1.0 and math.isfinite(r["mean_cosine_to_target"]), (name, r)
        # Noise of norm 0.5 on unit patterns in 64 dimensions: the read-out finds the stored pattern.
        assert r["retrieved"] > 0.9, (name, r)
