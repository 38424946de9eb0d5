"""Loops that compile, differentiate and export on every backend.

`keras.ops.fori_loop` lowers to `tf.while_loop` without `maximum_iterations` on
TensorFlow, whose gradient cannot be XLA-compiled (`jit_compile=True`), and to
`jax.lax.while_loop` on JAX when its bounds are tensors. Settling dynamics that
are trained through (Hopfield iterations, TD(1) transients) need a loop that
compiles and differentiates on every backend: this module is the one place
that chooses the right primitive per backend.

Early-exit loops (`while_loop`) must also survive export. `keras.ops.while_loop`
is a Python `while` on PyTorch, which `torch.export` cannot trace (the exit
test is data-dependent) and which the TorchScript tracer silently unrolls to
the trip count of its example input. `while_loop` here runs
`torch._higher_order_ops.while_loop` while `torch.export` traces (ONNX gets a
`Loop` node) and refuses TorchScript tracing with a clear error.
`with_fixed_loop_gradient` gives a JAX early-exit loop a reverse-mode
gradient (that of the equivalent fixed-trip loop), which `jax2tf` needs to
write a SavedModel.
"""

import keras
from keras import ops, tree

__all__ = ["fixed_loop", "fixed_scan", "while_loop", "with_fixed_loop_gradient"]


def fixed_loop(n, body, init, unroll=False):
    """Run `carry = body(i, carry)` for `i = 0 .. n−1`; `n` is a Python int.

    TensorFlow: `tf.while_loop(..., maximum_iterations=n)` (XLA needs the bound
    for the gradient's accumulators). JAX: `lax.fori_loop` with static bounds,
    which JAX lowers to `scan` (reverse-differentiable). PyTorch: the eager loop
    of `keras.ops.fori_loop`.

    Args:
        n: Number of iterations (Python int ≥ 0).
        body: `body(i, carry) -> carry` with the structure of `init`.
        init: Initial carry (a tensor or a tuple of tensors).
        unroll: If `True`, run the `n` steps as straight-line code (Python
            loop, `i` a Python int) instead of a loop primitive. Worth it for
            a handful of cheap steps: a graph-mode `tf.while_loop` and its
            gradient's accumulators cost more than one small step, and
            PyTorch pays `fori_loop`'s per-step overhead. The graph grows
            with `n`, so keep it for small `n`.

    Returns:
        The final carry.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.backend.loops import fixed_loop
        >>> float(fixed_loop(3, lambda i, x: x * 2.0, ops.convert_to_tensor(1.0)))
        8.0
    """
    n = int(n)
    if n <= 0:
        return init
    if unroll:
        carry = init
        for i in range(n):
            carry = body(i, carry)
        return carry
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        structure = init
        flat = tf.nest.flatten(init)

        def tf_body(i, *flat_carry):
            carry = tf.nest.pack_sequence_as(structure, list(flat_carry))
            out = tf.nest.flatten(body(i, carry))
            return (i + 1, *out)

        result = tf.while_loop(
            lambda i, *_: i < n, tf_body, (tf.constant(0), *flat), maximum_iterations=n
        )
        return tf.nest.pack_sequence_as(structure, list(result[1:]))
    return ops.fori_loop(0, n, body, init)


def fixed_scan(n, body, init):
    """Run `carry, y = body(i, carry)` for `i = 0 .. n−1` and stack the `y`s.

    The per-step outputs are what TD(1) transient training needs (a loss at
    every settling step) without keeping a `(n, ...)` buffer in the carry, whose
    reverse pass would cost `O(n²)` memory. TensorFlow: `tf.while_loop` with
    `maximum_iterations=n` writing into fixed-size `TensorArray`s (so the
    gradient compiles under XLA, unlike `keras.ops.scan`'s). JAX and PyTorch:
    `keras.ops.scan`.

    Args:
        n: Number of iterations (Python int ≥ 1).
        body: `body(i, carry) -> (carry, y)`; `y` is a tensor or a tuple of tensors.
        init: Initial carry (a tensor or a tuple of tensors).

    Returns:
        `(carry, ys)`: the final carry and the `y`s stacked on a new leading axis of length `n`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.backend.loops import fixed_scan
        >>> carry, ys = fixed_scan(3, lambda i, x: (x * 2.0, x), ops.convert_to_tensor(1.0))
        >>> float(carry), [float(y) for y in ys]
        (8.0, [1.0, 2.0, 4.0])
    """
    n = int(n)
    if n <= 0:
        raise ValueError(f"fixed_scan needs n >= 1 iterations, got {n}.")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Trace one step to learn the structure and dtypes of `y`.
        _, y_probe = body(tf.constant(0), init)
        y_structure = y_probe
        y_flat = tf.nest.flatten(y_probe)
        arrays = [
            tf.TensorArray(t.dtype, size=n, element_shape=t.shape) for t in y_flat
        ]
        c_structure = init
        c_flat = tf.nest.flatten(init)
        k = len(c_flat)

        def tf_body(i, *state):
            carry = tf.nest.pack_sequence_as(c_structure, list(state[:k]))
            carry, y = body(i, carry)
            out_arrays = [a.write(i, t) for a, t in zip(state[k:], tf.nest.flatten(y))]
            return (i + 1, *tf.nest.flatten(carry), *out_arrays)

        result = tf.while_loop(
            lambda i, *_: i < n,
            tf_body,
            (tf.constant(0), *c_flat, *arrays),
            maximum_iterations=n,
        )
        carry = tf.nest.pack_sequence_as(c_structure, list(result[1 : 1 + k]))
        ys = tf.nest.pack_sequence_as(y_structure, [a.stack() for a in result[1 + k :]])
        return carry, ys

    if backend == "torch":
        import torch

        if not torch.is_grad_enabled():
            # No autograd graph (inference, or inside a custom backward pass):
            # write each step's `y` into one preallocated buffer instead of
            # keeping a list of them and stacking it (which holds both at once).
            carry, y0 = body(0, init)
            structure = tree.map_structure(lambda _: 0, y0)
            flat0 = tree.flatten(y0)
            bufs = [torch.empty((n,) + tuple(t.shape), dtype=t.dtype, device=t.device) for t in flat0]
            for buf, t in zip(bufs, flat0):
                buf[0] = t
            del flat0, y0
            for i in range(1, n):
                carry, y = body(i, carry)
                for buf, t in zip(bufs, tree.flatten(y)):
                    buf[i] = t
                del y
            return carry, tree.pack_sequence_as(structure, bufs)

    def scan_body(state, _):
        i, carry = state
        carry, y = body(i, carry)
        return (i + 1, carry), y

    (_, carry), ys = ops.scan(scan_body, (ops.convert_to_tensor(0, dtype="int32"), init), None, length=n)
    return carry, ys


def _torch_exporting():
    import torch

    return bool(torch.compiler.is_exporting())


def _torch_jit_tracing():
    import torch

    return bool(torch.jit.is_tracing())


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """`keras.ops.while_loop` that `torch.export` (and so ONNX export on PyTorch) can trace.

    Same contract as `keras.ops.while_loop`: `loop_vars` is a tuple or list of
    tensors (or nested lists of them), `cond(*loop_vars)` returns a scalar
    boolean tensor and `body(*loop_vars)` returns new loop variables of the
    same structure, shapes and dtypes. TensorFlow and JAX: `keras.ops.while_loop`
    (`tf.while_loop`, `lax.while_loop`). PyTorch: the eager Python loop of
    `keras.ops.while_loop`, except while `torch.export` traces, where it is
    `torch._higher_order_ops.while_loop` (exported as one loop, not unrolled).

    Args:
        cond: `cond(*loop_vars) -> bool tensor`.
        body: `body(*loop_vars) -> loop_vars`.
        loop_vars: Tuple or list of initial loop variables.
        maximum_iterations: Optional Python int bound on the trip count.

    Returns:
        The final loop variables, as a tuple.

    Raises:
        RuntimeError: Under the TorchScript tracer (`torch.jit.trace`, or Keras's
            ONNX export on PyTorch with a dynamic dimension), which would record
            the loop unrolled to the trip count of its example input.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.backend.loops import while_loop
        >>> i, x = while_loop(lambda i, x: x < 10.0, lambda i, x: (i + 1, x * 2.0),
        ...                   (ops.convert_to_tensor(0), ops.convert_to_tensor(1.0)))
        >>> int(i), float(x)
        (4, 16.0)
    """
    if not isinstance(loop_vars, (tuple, list)):
        raise TypeError(f"`loop_vars` must be a tuple or list. Received: {type(loop_vars).__name__}")
    if keras.backend.backend() == "torch":
        if _torch_jit_tracing():
            raise RuntimeError(
                "keras_hopfield: an early-exit loop (settling or retrieval until convergence) cannot be "
                "recorded by the TorchScript tracer, which would unroll it to the number of iterations its "
                "example input needed and give wrong results for other inputs. Keras's ONNX export on the "
                "PyTorch backend uses that tracer when the input signature has a dynamic dimension: pass a "
                "fully defined `input_signature` (e.g. [keras.InputSpec(shape=(8, 32), dtype='float32')]) "
                "so that the `torch.export` path, which keeps the loop, is used."
            )
        if _torch_exporting():
            return _torch_export_while_loop(cond, body, tuple(loop_vars), maximum_iterations)
    return tuple(ops.while_loop(cond, body, tuple(loop_vars), maximum_iterations=maximum_iterations))


def _torch_export_while_loop(cond, body, loop_vars, maximum_iterations):
    import torch
    from torch._higher_order_ops.while_loop import while_loop as torch_while_loop

    # The structure is flattened with plain Python here: `torch.export` traces `cond` and
    # `body` with Dynamo, which cannot trace `keras.tree` (torch pytree) calls.
    flat = []
    template = _index_template(loop_vars, flat)
    # Contiguous carries: the loop's outputs must match its inputs' strides too.
    flat = [ops.convert_to_tensor(t).clone(memory_format=torch.contiguous_format) for t in flat]
    bounded = maximum_iterations is not None

    def unpack(args):
        return _fill_template(template, args[1:] if bounded else args)

    def flat_cond(*args):
        ok = cond(*unpack(args))
        if bounded:
            ok = torch.logical_and(ok, args[0] < maximum_iterations)
        return ok.reshape(())

    def flat_body(*args):
        new = []
        _index_template(tuple(body(*unpack(args))), new)
        # Identical dtypes in and out, as the higher-order op requires (no silent promotion).
        new = [ops.cast(n, o.dtype) for n, o in zip(new, flat)]
        return ((args[0] + 1,) if bounded else ()) + tuple(n.clone(memory_format=torch.contiguous_format) for n in new)

    init = ((torch.zeros((), dtype=torch.int64),) if bounded else ()) + tuple(flat)
    # Keras turns Python scalars into tensors with `torch.as_tensor`, which records a tensor
    # constant; a constant inside a `while_loop` subgraph breaks torch's decompositions
    # (ONNX export's step 2: "Attempting to use FunctionalTensor on its own"). While the loop
    # is traced, scalars become `torch.full` ops instead.
    original = torch.as_tensor

    def as_tensor(data, dtype=None, device=None):
        if isinstance(data, (bool, int, float)):
            if dtype is None:
                dtype = (
                    torch.bool if isinstance(data, bool)
                    else torch.int64 if isinstance(data, int) else torch.get_default_dtype()
                )
            return torch.full((), data, dtype=dtype, device=device)
        return original(data, dtype=dtype, device=device)

    # torch.onnx traces with `backed_size_oblivious=True` (sizes 0/1 are not special), under
    # which a loop's size-1 axes (β's (heads, 1, 1)) no longer broadcast inside its body.
    torch.as_tensor = as_tensor
    try:
        with torch.fx.experimental._config.patch(backed_size_oblivious=False):
            result = torch_while_loop(flat_cond, flat_body, init)
    finally:
        torch.as_tensor = original
    return tuple(unpack(result))


def _index_template(structure, flat):
    """Appends the leaves of nested lists/tuples to `flat`; returns the structure with leaf indices."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(_index_template(s, flat) for s in structure)
    flat.append(structure)
    return len(flat) - 1


def _fill_template(template, leaves):
    if isinstance(template, (list, tuple)):
        return type(template)(_fill_template(t, leaves) for t in template)
    return leaves[template]


def with_fixed_loop_gradient(early_fn, fixed_fn):
    """An early-exit loop whose reverse-mode gradient is that of an equivalent fixed-trip loop.

    `early_fn(*args)` runs a `while_loop` that exits once every example has
    converged; `fixed_fn(*args)` must return the same values by running the
    maximum number of steps with converged examples frozen (`ops.where`), so
    that its gradient is the early loop's. JAX cannot reverse-differentiate
    `lax.while_loop`, and `jax2tf` needs that gradient to write a SavedModel:
    on JAX the result is a `jax.custom_vjp` function that runs `early_fn`
    forward and differentiates `fixed_fn` backward (reverse mode only: a
    `custom_vjp` function has no `jax.jvp`). TensorFlow and PyTorch
    differentiate their loops themselves: `early_fn` is returned unchanged.

    Args:
        early_fn: Function of tensors running the early-exit loop.
        fixed_fn: Function of the same tensors, with the same outputs, as a
            fixed-trip loop.

    Returns:
        A function with `early_fn`'s signature.
    """
    if keras.backend.backend() != "jax":
        return early_fn
    import jax

    @jax.custom_vjp
    def run(*args):
        return early_fn(*args)

    def forward(*args):
        return early_fn(*args), args

    def backward(args, cotangents):
        _, pullback = jax.vjp(fixed_fn, *args)
        return pullback(cotangents)

    run.defvjp(forward, backward)
    return run
