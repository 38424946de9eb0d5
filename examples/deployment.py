"""Train, export, serve: every keras-hopfield model as a SavedModel and as ONNX (docs/deployment.md).

For each model of the export zoo (`tests/export_zoo.py`: one small model per
public layer and model, fitted for a step or two with its own recipe) the
script

1. exports it with `model.export(path, format="tf_saved_model")` (TensorFlow
   and JAX backends; PyTorch's SavedModel export is broken upstream, see the
   guide) and with `format="onnx"` (every backend; PyTorch with a fully
   defined `input_signature`),
2. loads each artefact with its own runtime (`tf.saved_model.load`,
   `onnxruntime.InferenceSession`) and serves the model's sample inputs,
3. prints the largest absolute difference from the Keras outputs, and
   whether an iterating model's graph kept its loop (a `While` op or a
   StableHLO while in a SavedModel, an ONNX `Loop`).

Usage:

    python examples/deployment.py                      # every zoo model
    python examples/deployment.py --quick --out /tmp/d  # three models (CI smoke run)
    python examples/deployment.py --models cban crhn

Needs the `export` extra: `pip install "keras-hopfield[export]"`.
Writes `deployment.json` into `--out` (default `outputs/deployment/`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "examples"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _common import command_line  # noqa: E402

import keras  # noqa: E402

from tests import export_zoo  # noqa: E402

QUICK = ("lookup", "cban", "crhn")


def serve_saved_model(case, path):
    """Exports `case.model` as a SavedModel, reloads it with TensorFlow alone and serves the inputs."""
    import tensorflow as tf

    case.model.export(path, format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(path)
    return np.asarray(served.serve(*case.inputs))


def serve_onnx(case, path):
    """Exports `case.model` as ONNX and serves the inputs with onnxruntime."""
    import onnxruntime

    signature = None
    if keras.backend.backend() == "torch":  # Keras's torch ONNX export needs fixed shapes
        signature = keras.tree.map_structure(
            lambda a: keras.InputSpec(shape=a.shape, dtype=str(a.dtype)), case.inputs
        )
    case.model.export(path, format="onnx", verbose=False, input_signature=signature)
    onnxruntime.set_default_logger_severity(3)  # errors only (not "removing unused initializer")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {spec.name: x for spec, x in zip(session.get_inputs(), keras.tree.flatten(case.inputs))}
    return session.run(None, feeds)[0]


def saved_model_has_loop(path):
    """A `While` op in the SavedModel's graphs (TensorFlow), or a StableHLO while (`while_v1` in the
    VHLO bytecode) in its `XlaCallModule` (JAX)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    for meta in proto.meta_graphs:
        nodes = list(meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            nodes.extend(fn.node_def)
        for node in nodes:
            if node.op in ("While", "StatelessWhile"):
                return True
            if node.op == "XlaCallModule" and b"while_v1" in node.attr["module"].s:
                return True
    return False


def onnx_has_loop(path):
    import onnx

    def ops_of(graph):
        found = set()
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if len(attr.g.node):
                    found |= ops_of(attr.g)
        return found

    model = onnx.load(path)
    found = ops_of(model.graph)
    for fn in model.functions:
        found |= {node.op_type for node in fn.node}
    return "Loop" in found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(export_zoo.ZOO), help="zoo models (default: all)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--out", default=None, help="folder for deployment.json (default outputs/deployment)")
    args = parser.parse_args(argv)
    command = command_line("deployment.py", argv)
    backend = keras.backend.backend()
    names = args.models or (list(QUICK) if args.quick else list(export_zoo.ZOO))
    formats = ["onnx"] if backend == "torch" else ["tf_saved_model", "onnx"]
    out_dir = Path(args.out or REPO / "outputs" / "deployment")
    out_dir.mkdir(parents=True, exist_ok=True)

    rows = []
    print(f"{'model':<24} {'format':<15} {'max |served - keras|':>21} {'loop kept':>10} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            case = export_zoo.build(name)
            expected = case.keras_output()
            for fmt in formats:
                start = time.perf_counter()
                if fmt == "tf_saved_model":
                    path = str(Path(tmp) / f"{name}_saved_model")
                    served = serve_saved_model(case, path)
                    loop = saved_model_has_loop(path) if case.iterates else None
                else:
                    path = str(Path(tmp) / f"{name}.onnx")
                    served = serve_onnx(case, path)
                    loop = onnx_has_loop(path) if case.iterates else None
                seconds = time.perf_counter() - start
                diff = float(np.max(np.abs(np.asarray(served) - expected)))
                rows.append({"model": name, "format": fmt, "max_abs_diff": diff, "iterates": case.iterates,
                             "loop_kept": loop, "seconds": round(seconds, 2)})
                kept = "-" if loop is None else ("yes" if loop else "NO")
                print(f"{name:<24} {fmt:<15} {diff:>21.2e} {kept:>10} {seconds:>8.1f}", flush=True)
            keras.backend.clear_session()

    worst = max(r["max_abs_diff"] for r in rows)
    print(f"largest difference over {len(rows)} exports: {worst:.2e} (tolerance 1e-5)")
    result = {"command": command, "backend": backend, "keras": keras.__version__, "rows": rows, "max_abs_diff": worst}
    path = out_dir / "deployment.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
