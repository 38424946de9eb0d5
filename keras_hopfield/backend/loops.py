"""A fixed-trip loop that is reverse-differentiable and XLA-compilable everywhere.

`keras.ops.fori_loop` lowers to `tf.while_loop` without `maximum_iterations` on
TensorFlow, whose gradient cannot be XLA-compiled (`jit_compile=True`), and to
`jax.lax.while_loop` on JAX when its bounds are tensors. Settling dynamics that
are trained through (Hopfield iterations, TD(1) transients) need a loop that
compiles and differentiates on every backend: this module is the one place
that chooses the right primitive per backend.
"""

import keras
from keras import ops, tree

__all__ = ["fixed_loop", "fixed_scan"]


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
