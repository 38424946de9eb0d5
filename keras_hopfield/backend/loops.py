"""A fixed-trip loop that is reverse-differentiable and XLA-compilable everywhere.

`keras.ops.fori_loop` lowers to `tf.while_loop` without `maximum_iterations` on
TensorFlow, whose gradient cannot be XLA-compiled (`jit_compile=True`), and to
`jax.lax.while_loop` on JAX when its bounds are tensors. Settling dynamics that
are trained through (Hopfield iterations, TD(1) transients) need a loop that
compiles and differentiates on every backend: this module is the one place
that chooses the right primitive per backend.
"""

import keras
from keras import ops

__all__ = ["fixed_loop"]


def fixed_loop(n, body, init):
    """Run `carry = body(i, carry)` for `i = 0 .. n−1`; `n` is a Python int.

    TensorFlow: `tf.while_loop(..., maximum_iterations=n)` (XLA needs the bound
    for the gradient's accumulators). JAX: `lax.fori_loop` with static bounds,
    which JAX lowers to `scan` (reverse-differentiable). PyTorch: the eager loop
    of `keras.ops.fori_loop`.

    Args:
        n: Number of iterations (Python int ≥ 0).
        body: `body(i, carry) -> carry` with the structure of `init`.
        init: Initial carry (a tensor or a tuple of tensors).

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
