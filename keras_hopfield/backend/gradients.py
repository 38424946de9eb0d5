"""Input gradients on every Keras backend.

This module is the only place in `keras_hopfield` that branches on the active
Keras backend. Everything else (corruptions, metrics, attacks) is written with
`keras.ops`; only differentiation needs the backend's own machinery
(`tf.GradientTape`, `jax.value_and_grad`, `torch.autograd`).
"""

import keras
import numpy as np
from keras import ops

__all__ = ["value_and_grad", "is_concrete", "supports_gradients"]

_GRADIENT_BACKENDS = ("tensorflow", "jax", "torch")


def supports_gradients(backend=None):
    """Whether `value_and_grad` works on a Keras backend.

    Args:
        backend: Backend name; defaults to `keras.backend.backend()`.

    Returns:
        `True` for `"tensorflow"`, `"jax"` and `"torch"`, `False` otherwise.

    Example:
        >>> from keras_hopfield.backend.gradients import supports_gradients
        >>> supports_gradients("jax")
        True
    """
    backend = backend or keras.backend.backend()
    return backend in _GRADIENT_BACKENDS


def value_and_grad(fn, x):
    """Evaluate a scalar function and its gradient with respect to its input.

    Computes

        loss = fn(x),    grad = d loss / d x

    with the active backend's automatic differentiation. Only the argument
    is differentiated: model weights and any tensor `fn` captures (even the
    very tensor passed as `x`, e.g. an attack's target) are constants, and
    no weight is ever updated.

    Args:
        fn: Callable mapping a backend tensor shaped like `x` to a scalar
            tensor (reduce per-sample losses with a sum so every sample gets
            its own, batch-size independent gradient).
        x: NumPy array or backend tensor (float).

    Returns:
        A tuple `(loss, grad)` of backend tensors: the scalar value of
        `fn(x)` and its gradient, with the shape and dtype of `x`.

    Raises:
        NotImplementedError: On a backend without automatic differentiation
            (e.g. `"numpy"`).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_hopfield.backend.gradients import value_and_grad
        >>> loss, grad = value_and_grad(lambda t: ops.sum(t**2), np.ones(3, "float32"))
        >>> ops.convert_to_numpy(grad).tolist()
        [2.0, 2.0, 2.0]
    """
    backend = keras.backend.backend()
    x = ops.convert_to_tensor(x)
    if "float" not in keras.backend.standardize_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    if backend == "tensorflow":
        import tensorflow as tf

        # A fresh tensor: the tape then differentiates only the argument, not
        # the same tensor captured by `fn` (an attack's target `y` is the clean
        # input `x` itself), matching JAX and PyTorch, whose `x` is a new
        # tracer / leaf too.
        x = tf.identity(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = fn(x)
        grad = tape.gradient(loss, x)
        if grad is None:  # loss does not depend on x
            grad = tf.zeros_like(x)
        return loss, grad
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn)(x)
    if backend == "torch":
        import torch

        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            loss = fn(x)
            (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(x)
        return loss.detach(), grad.detach()
    raise NotImplementedError(
        f"Input gradients are not available on the '{backend}' Keras backend; "
        f"set KERAS_BACKEND to one of {', '.join(_GRADIENT_BACKENDS)}."
    )


def is_concrete(x):
    """Whether `x` holds actual values that can be inspected cheaply.

    `False` for symbolic Keras tensors, TensorFlow graph tensors (e.g. inside
    `tf.function` or a `tf.data` pipeline), JAX tracers (inside `jax.jit` /
    `jax.grad`) and tensors being traced by `torch.compile`. Input
    validation that needs data values (e.g. "images lie in [0, 1]") runs only
    on concrete values.

    Args:
        x: Any array-like.

    Returns:
        `True` when the values of `x` are available eagerly.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.backend.gradients import is_concrete
        >>> is_concrete(np.zeros(3))
        True
    """
    if isinstance(x, (np.ndarray, np.generic, int, float, list, tuple)):
        return True
    if isinstance(x, keras.KerasTensor):
        return False
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(x, tf.Tensor):
            return tf.executing_eagerly() and hasattr(x, "numpy")
        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "torch":
        import torch

        compiler = getattr(torch, "compiler", None)
        if compiler is not None and hasattr(compiler, "is_compiling"):
            return not compiler.is_compiling()
        return True
    return True
