"""Shared timing harness of the benchmarks: one compiled forward / forward+backward
pair per contender, on the current Keras backend, timed interleaved in one run.

`build(layer, apply, xs, mode)` returns three thunks (forward, forward+backward,
forward to NumPy); `apply(layer, xs)` calls the contender (`layer` may be `None`
for a plain function of the inputs). "fwd+bwd" is the value and gradient of
`sum(output)` with respect to the inputs and all trainable weights.
"""

import json
import platform
import statistics
import time
from pathlib import Path

import keras
import numpy as np

BACKEND = keras.backend.backend()


def _build_jax(layer, apply, xs):
    import jax
    import jax.numpy as jnp

    xs = [jnp.asarray(x) for x in xs]
    tv = [v.value for v in layer.trainable_variables] if layer is not None else []
    ntv = [v.value for v in layer.non_trainable_variables] if layer is not None else []

    def out_fn(tv, ntv, xs):
        if layer is None:
            return apply(None, xs)
        return apply(lambda *a, **kw: layer.stateless_call(tv, ntv, *a, **kw)[0], xs)

    fwd = jax.jit(out_fn)
    grad = jax.jit(jax.value_and_grad(lambda tv, ntv, xs: jnp.sum(out_fn(tv, ntv, xs)), argnums=(0, 2)))
    return (
        lambda: fwd(tv, ntv, xs).block_until_ready(),
        lambda: jax.block_until_ready(grad(tv, ntv, xs)),
        lambda: np.asarray(fwd(tv, ntv, xs)),
    )


def _build_tf(layer, apply, xs, jit_compile):
    import tensorflow as tf

    xs = [tf.constant(x) for x in xs]
    weights = [v.value for v in layer.trainable_variables] if layer is not None else []

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def fwd(*xs):
        return apply(layer, list(xs))

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def fwd_bwd(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            loss = tf.reduce_sum(apply(layer, list(xs)))
        return loss, tape.gradient(loss, list(xs) + weights)

    # TF executes eagerly-synchronously on CPU: the call returns when done.
    return lambda: fwd(*xs), lambda: fwd_bwd(*xs), lambda: fwd(*xs).numpy()


def _build_torch(layer, apply, xs):
    import torch

    xs = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
    weights = [v.value for v in layer.trainable_variables] if layer is not None else []

    def fwd():
        with torch.no_grad():
            return apply(layer, xs)

    def fwd_bwd():
        xg = [x.detach().requires_grad_(True) for x in xs]
        with torch.enable_grad():
            loss = apply(layer, xg).sum()
            return loss, torch.autograd.grad(loss, xg + weights)

    return fwd, fwd_bwd, lambda: fwd().detach().numpy()


def build(layer, apply, xs, mode):
    if BACKEND == "jax":
        return _build_jax(layer, apply, xs)
    if BACKEND == "tensorflow":
        return _build_tf(layer, apply, xs, jit_compile=(mode == "tf.function+xla"))
    if BACKEND == "torch":
        return _build_torch(layer, apply, xs)
    raise SystemExit(f"unsupported backend {BACKEND!r}")


def modes_for_backend(tf_mode):
    if BACKEND == "jax":
        return ["jax.jit"]
    if BACKEND == "torch":
        return ["torch eager"]
    return {"graph": ["tf.function"], "xla": ["tf.function+xla"], "both": ["tf.function", "tf.function+xla"]}[tf_mode]


def time_interleaved(thunks, warmup, repeats):
    """Median seconds of each thunk; each repeat runs every thunk once, rotating the order."""
    for t in thunks:
        for _ in range(warmup):
            t()
    samples = [[] for _ in thunks]
    k = len(thunks)
    for r in range(repeats):
        for j in range(k):
            i = (r + j) % k
            t0 = time.perf_counter()
            thunks[i]()
            samples[i].append(time.perf_counter() - t0)
    return [statistics.median(s) for s in samples], samples


def time_train_on_batch(model, x, y, repeats):
    """Median seconds of `model.train_on_batch(x, y)` over `repeats` calls after one warm-up
    (tracing) call, and the logs of the last call."""
    model.train_on_batch(x, y)  # trace / compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        float(logs["loss"])  # wait for the step's result
        times.append(time.perf_counter() - start)
    return statistics.median(times), logs


def versions():
    out = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    try:
        if BACKEND == "jax":
            import jax

            out["jax"] = jax.__version__
        elif BACKEND == "tensorflow":
            import tensorflow as tf

            out["tensorflow"] = tf.__version__
        elif BACKEND == "torch":
            import torch

            out["torch"] = torch.__version__
            out["torch_threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001 - informational only
        pass
    return out


def write_json(path, info):
    """Writes a benchmark's result dict to `path` (parents created) and says so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    print(f"wrote {path}")
