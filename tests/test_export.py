"""Deployment: every zoo model exports and serves on every backend, and loads safely (issue 27).

For each model of `tests/export_zoo.py` (one small trained model per public
layer and model):

* `format="tf_saved_model"` on TensorFlow and JAX: `tf.saved_model.load(path).serve`
  gives the Keras outputs within 1e-5, for the export batch and another batch
  size, and an iterating model's graph keeps its loop (a `While` op; a
  StableHLO `while` inside the `XlaCallModule` on JAX).
* `format="onnx"` on all three backends: `onnxruntime` gives the Keras outputs
  within 1e-5 and the graph of an iterating model has a `Loop` node. PyTorch
  needs a fully defined `input_signature` (Keras uses the TorchScript tracer
  for dynamic shapes, which cannot keep a data-dependent loop: the library
  refuses it with a clear error, tested here).
* `.keras` files load with `safe_mode=True` and give the same outputs; files
  whose config was tampered with (unknown class, wrong shapes) fail with an
  error that names the problem.

The upstream failures met on the way are pinned at the end of the file as
minimal reproductions that use Keras, PyTorch or JAX only, each
`xfail(strict=True)` with the upstream reason: when one is fixed upstream
its test passes, the strict xfail fails, and the workaround can go.
"""

import json
import os
import zipfile

import keras
import numpy as np
import pytest
from keras import ops

from tests import export_zoo

BACKEND = keras.backend.backend()
NAMES = list(export_zoo.ZOO)
ATOL = 1e-5

_BUILT = {}


def _case(name):
    """Each zoo model is built and trained once per test process."""
    if name not in _BUILT:
        case = export_zoo.build(name)
        _BUILT[name] = (case, case.keras_output())
    return _BUILT[name]


def _slice(inputs, n):
    return keras.tree.map_structure(lambda a: a[:n], inputs)


def _keras(case, inputs):
    return ops.convert_to_numpy(case.model(*inputs, training=False))


def _check(actual, expected, what):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert np.all(np.isfinite(actual)), what
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ATOL, err_msg=what)


# --------------------------------------------------------------------------- SavedModel
def _saved_model_ops(path):
    """Op types of every graph function in a SavedModel, and the text of its XLA modules (JAX)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    found, modules = set(), []
    for meta in proto.meta_graphs:
        nodes = list(meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            nodes.extend(fn.node_def)
        for node in nodes:
            found.add(node.op)
            if node.op == "XlaCallModule":
                modules.append(node.attr["module"].s)
    return found, modules


def _has_stablehlo_while(module_bytes):
    """Whether a serialised StableHLO module (jax2tf's `XlaCallModule`) has a while loop.

    The portable artifact is VHLO bytecode; its op-name table spells the loop `while_v1`.
    """
    return b"while_v1" in module_bytes


@pytest.mark.skipif(BACKEND == "torch", reason="torch's SavedModel export is pinned upstream below")
@pytest.mark.parametrize("name", NAMES)
def test_tf_saved_model_serves_keras_outputs(name, tmp_path):
    import tensorflow as tf

    case, expected = _case(name)
    path = str(tmp_path / "saved_model")
    case.model.export(path, format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(path)
    _check(served.serve(*case.inputs), expected, f"{name}: SavedModel vs Keras")
    # The signature has a dynamic batch: another batch size serves too.
    small = _slice(case.inputs, 3)
    _check(served.serve(*small), _keras(case, small), f"{name}: SavedModel, batch 3")
    if case.iterates:
        found, modules = _saved_model_ops(path)
        if BACKEND == "tensorflow":
            assert found & {"While", "StatelessWhile"}, f"{name}: no While op in the SavedModel: {sorted(found)}"
        else:
            assert modules and any(_has_stablehlo_while(m) for m in modules), f"{name}: no while in the XLA module"


# --------------------------------------------------------------------------- ONNX
def _onnx_op_types(model):
    """Op types of an ONNX model, including loop bodies and local functions."""
    found = set()

    def visit(graph):
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.g is not None and len(attr.g.node):
                    visit(attr.g)
                for g in attr.graphs:
                    visit(g)

    visit(model.graph)
    for fn in model.functions:
        for node in fn.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if len(attr.g.node):
                    visit(attr.g)
    return found


def _static_signature(inputs):
    return keras.tree.map_structure(lambda a: keras.InputSpec(shape=a.shape, dtype=str(a.dtype)), inputs)


def _onnx_run(path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    flat = keras.tree.flatten(inputs)
    feeds = {spec.name: value for spec, value in zip(session.get_inputs(), flat)}
    assert len(feeds) == len(flat), [s.name for s in session.get_inputs()]
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("name", NAMES)
def test_onnx_serves_keras_outputs(name, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    case, expected = _case(name)
    path = str(tmp_path / "model.onnx")
    # PyTorch: fixed shapes (Keras's dynamic-shape path on torch is the TorchScript tracer).
    signature = _static_signature(case.inputs) if BACKEND == "torch" else None
    case.model.export(path, format="onnx", verbose=False, input_signature=signature)
    _check(_onnx_run(path, case.inputs), expected, f"{name}: onnxruntime vs Keras")
    if BACKEND != "torch":
        small = _slice(case.inputs, 3)
        _check(_onnx_run(path, small), _keras(case, small), f"{name}: onnxruntime, batch 3")
    if case.iterates:
        found = _onnx_op_types(onnx.load(path))
        assert "Loop" in found, f"{name}: the settling loop was not exported as an ONNX Loop: {sorted(found)}"


@pytest.mark.skipif(BACKEND != "torch", reason="the TorchScript tracer is Keras's torch ONNX path for dynamic shapes")
@pytest.mark.parametrize("name", ["retrieval", "cban"])
def test_torch_onnx_with_a_dynamic_batch_refuses_to_unroll_the_loop(name, tmp_path):
    """TorchScript would record the loop unrolled to the trip count of Keras's all-ones example
    input (silently wrong for other inputs); the library raises instead, naming the fix."""
    case, _ = _case(name)
    with pytest.raises(RuntimeError, match="fully defined `input_signature`"):
        case.model.export(str(tmp_path / "model.onnx"), format="onnx", verbose=False)


def test_inference_loop_gradient_is_the_fixed_loops(rng):
    """The early-exit retrieval loop differentiates like the fixed-trip loop on every backend
    (on JAX through a custom VJP, which `jax2tf` needs to write a SavedModel)."""
    from keras_hopfield import functional as F
    from keras_hopfield.backend import value_and_grad

    memory = ops.convert_to_tensor(rng.normal(size=(2, 6, 4)).astype("float32"))
    state = rng.normal(size=(2, 3, 4)).astype("float32")

    def loss(unrolled):
        def fn(x):
            out, _ = F.hopfield_iterate(x, memory, 2.0, n_updates=5, eps=1e-3, unrolled=unrolled)
            return ops.sum(out * ops.arange(4, dtype="float32"))

        return fn

    early_value, early_grad = value_and_grad(loss(False), state)
    fixed_value, fixed_grad = value_and_grad(loss(True), state)
    np.testing.assert_allclose(ops.convert_to_numpy(early_value), ops.convert_to_numpy(fixed_value), rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(early_grad), ops.convert_to_numpy(fixed_grad), rtol=1e-5, atol=1e-6)
    assert np.any(ops.convert_to_numpy(early_grad) != 0)


# --------------------------------------------------------------------------- .keras files, safe mode
def _config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def _class_names(config):
    names = []

    def walk(obj):
        if isinstance(obj, dict):
            if "class_name" in obj:
                names.append(obj["class_name"])
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)

    walk(config)
    return names


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_loads_in_safe_mode(name, tmp_path):
    case, expected = _case(name)
    path = str(tmp_path / f"{name}.keras")
    case.model.save(path)
    classes = _class_names(_config(path))
    assert "Lambda" not in classes and "__lambda__" not in classes, classes
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(case.model)
    np.testing.assert_allclose(_keras(export_zoo.Case(name, loaded, case.inputs, case.iterates), case.inputs),
                               expected, rtol=0, atol=1e-6)


def _tampered(case, tmp_path, edit):
    """Saves `case.model`, applies `edit(node)` to every dict of its config.json, returns the new file."""
    src, dst = str(tmp_path / "model.keras"), str(tmp_path / "tampered.keras")
    case.model.save(src)
    edited = []

    def walk(obj):
        if isinstance(obj, dict):
            if edit(obj):
                edited.append(obj.get("class_name"))
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                walk(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    assert edited, "the edit matched nothing"
    return dst


def _rename(old, new):
    def edit(node):
        if node.get("class_name") != old:
            return False
        node["class_name"] = new
        if "registered_name" in node:
            node["registered_name"] = f"keras_hopfield>{new}"
        return True

    return edit


def _set(class_name, **changes):
    def edit(node):
        if node.get("class_name") != class_name:
            return False
        node["config"].update(changes)
        return True

    return edit


@pytest.mark.parametrize(
    "name, old", [("lookup", "HopfieldLookup"), ("cban", "CBAN"), ("crhn", "RestrictedHopfieldMemory")]
)
def test_tampered_file_with_an_unknown_class_fails_naming_it(name, old, tmp_path):
    case, _ = _case(name)
    path = _tampered(case, tmp_path, _rename(old, "NoSuchMemory"))
    with pytest.raises((TypeError, ValueError)) as err:
        keras.saving.load_model(path, safe_mode=True)
    message = str(err.value)
    assert "NoSuchMemory" in message, message[:2000]


@pytest.mark.parametrize(
    "name, edit, variable",
    [
        ("lookup", _set("HopfieldLookup", memory_size=7), "lookup/stored_patterns"),
        ("predictive_coding", _set("PredictiveCodingMemory", widths=[13]), "pcn/kernel"),
        ("dense_memory", _set("DenseAssociativeMemory", num_memories=9), "dam/memories"),
    ],
)
def test_tampered_file_with_wrong_shapes_fails_naming_the_variable(name, edit, variable, tmp_path):
    case, _ = _case(name)
    path = _tampered(case, tmp_path, edit)
    with pytest.raises(ValueError) as err:
        keras.saving.load_model(path, safe_mode=True)
    message = str(err.value)
    assert "could not be loaded" in message and "shape" in message, message[:2000]
    assert variable in message, message[:2000]


def test_safe_mode_refuses_a_lambda(tmp_path):
    """What `safe_mode=True` protects against: a file whose config carries Python code."""
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)


# --------------------------------------------------------------------------- upstream, pinned
# Each test below reproduces an upstream failure with Keras / PyTorch / JAX only
# (no keras_hopfield) and is xfail(strict=True): it turns into a failure (XPASS)
# once upstream fixes it, telling us to drop the workaround named in its reason.


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch backend only")
@pytest.mark.xfail(
    strict=True,
    reason=(
        "Keras 3.15 torch SavedModel export: TorchExportArchive.track_and_add_endpoint passes "
        "dynamic_shapes=({0: Dim('batch')},) to torch.export for Layer.forward(*args), whose `args` "
        "is one tuple (torch._dynamo.exc.UserError: Detected mismatch between the structure of "
        "`inputs` and `dynamic_shapes`: `inputs[0]` is a <class 'tuple'>, but `dynamic_shapes[0]` is "
        "a <class 'dict'>; keras/src/export/torch.py has the fix, _normalize_dynamic_shapes, for "
        "format='torch' only); with a static signature it then needs torch_xla (ImportError), whose "
        "PyPI builds pin older torch versions than this project's torch==2.13.0. Use format='onnx'."
    ),
)
def test_upstream_torch_saved_model_export_of_a_dense_model(tmp_path):
    import tensorflow as tf

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    path = str(tmp_path / "dense")
    model.export(path, format="tf_saved_model", verbose=False)
    np.testing.assert_allclose(tf.saved_model.load(path).serve(x).numpy(), ops.convert_to_numpy(model(x)), atol=1e-6)


class _DoubleUntilLarge(keras.layers.Layer):
    """Doubles its input until the largest entry reaches 100: a data-dependent trip count."""

    def call(self, x):
        return ops.while_loop(lambda t: ops.max(t) < 100.0, lambda t: (t * 2.0,), (x,))[0]


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch backend only")
@pytest.mark.parametrize("static", [False, True], ids=["dynamic_batch", "static_shape"])
@pytest.mark.xfail(
    strict=True,
    reason=(
        "Keras 3.15 torch ONNX export of keras.ops.while_loop (a Python `while` on torch): with a "
        "dynamic batch Keras uses the TorchScript exporter, which records the loop unrolled to the "
        "trip count of its all-ones example input; with a static shape torch.export fails "
        "(GuardOnDataDependentSymNode) and Keras silently falls back to the same tracer. Wrong "
        "outputs for any input needing another trip count. keras_hopfield.backend.loops.while_loop "
        "uses torch's while_loop higher-order op under torch.export instead."
    ),
)
def test_upstream_torch_onnx_unrolls_keras_while_loop(static, tmp_path):
    inp = keras.Input((2,))
    model = keras.Model(inp, _DoubleUntilLarge()(inp))
    x = np.full((1, 2), 3.0, "float32")  # 6 doublings; the all-ones example needs 7
    path = str(tmp_path / "loop.onnx")
    signature = [keras.InputSpec(shape=(1, 2), dtype="float32")] if static else None
    model.export(path, format="onnx", verbose=False, input_signature=signature)
    np.testing.assert_allclose(_onnx_run(path, [x]), ops.convert_to_numpy(model(x)))


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch backend only")
@pytest.mark.xfail(
    strict=True,
    reason=(
        "torch 2.13: a tensor constant (torch.as_tensor of a Python scalar, as keras.ops makes for "
        "every scalar operand) inside a torch while_loop body or condition breaks "
        "ExportedProgram.run_decompositions, which torch.onnx runs (RuntimeError: Attempting to use "
        "FunctionalTensor on its own). keras_hopfield.backend.loops makes scalars torch.full ops "
        "while it traces a loop."
    ),
)
def test_upstream_torch_while_loop_with_a_tensor_constant_decomposes():
    import torch
    from torch._higher_order_ops.while_loop import while_loop

    class Loop(torch.nn.Module):
        def forward(self, x):
            def cond(i, t):
                return i < torch.as_tensor(5)

            def body(i, t):
                return i + 1, t * 2.0

            return while_loop(cond, body, (torch.zeros((), dtype=torch.int64), x))[1]

    program = torch.export.export(Loop(), (torch.ones(3),), strict=False).run_decompositions()
    np.testing.assert_allclose(program.module()(torch.ones(3)).numpy(), np.full(3, 32.0))


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch backend only")
@pytest.mark.xfail(
    strict=True,
    reason=(
        "Keras 3.15 torch backend: keras.ops.max(x, axis=...) tests "
        "isinstance(getattr(result, 'values', None), torch.Tensor), which Dynamo cannot trace inside "
        "a torch while_loop (UncapturedHigherOrderOpError: builtin isinstance() cannot determine type "
        "of argument). keras_hopfield uses keras.ops.amax in its loop bodies."
    ),
)
def test_upstream_keras_ops_max_inside_a_torch_while_loop():
    import torch
    from torch._higher_order_ops.while_loop import while_loop

    class Loop(torch.nn.Module):
        def forward(self, x):
            def cond(t):
                return torch.amax(t) < 100.0

            def body(t):
                return (t * 2.0 + 0.0 * ops.max(t, axis=-1, keepdims=True),)

            return while_loop(cond, body, (x,))[0]

    program = torch.export.export(Loop(), (torch.ones(1, 3),), strict=False)
    np.testing.assert_allclose(program.module()(torch.ones(1, 3)).numpy(), np.full((1, 3), 128.0))


class _Cube(keras.layers.Layer):
    def call(self, x):
        return ops.power(x, 3)


class _FullLike(keras.layers.Layer):
    def call(self, x):
        return x + ops.full((ops.shape(x)[0], 1), 1.0, dtype=x.dtype)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX backend only")
@pytest.mark.parametrize("layer", [_Cube, _FullLike], ids=["power", "full"])
@pytest.mark.xfail(
    strict=True,
    reason=(
        "jax2onnx 0.17.1 (Keras's ONNX path on JAX) replaces jnp.power and jnp.full with plugins "
        "that need concrete shapes: with Keras's symbolic batch axis they fail (TypeError: "
        "'_DimExpr' object cannot be interpreted as an integer; InconclusiveDimensionOperation). "
        "keras_hopfield uses lax.integer_pow (backend.kernels.integer_power) and ops.broadcast_to."
    ),
)
def test_upstream_jax2onnx_power_and_full_with_a_dynamic_batch(layer, tmp_path):
    pytest.importorskip("jax2onnx")
    inp = keras.Input((3,))
    model = keras.Model(inp, layer()(inp))
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    model(x)
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    np.testing.assert_allclose(_onnx_run(path, [x]), ops.convert_to_numpy(model(x)), rtol=1e-6)
