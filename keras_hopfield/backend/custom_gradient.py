"""A function with a hand-written backward pass, on every Keras backend.

`keras.ops` has no custom-gradient primitive that works on all three
backends, and the chunked (streaming log-sum-exp) retrieval of
`keras_hopfield.functional` needs one: differentiated by autodiff through its
loop, every backend would keep each block's `(queries × block)` scores for the
reverse pass, i.e. the full `queries × N` matrix the chunked path exists to
avoid. Its backward pass instead recomputes the block scores from the saved
inputs and outputs (the memory-efficient / flash attention backward). This
module wraps such a forward/backward pair as `tf.custom_gradient` on
TensorFlow, `jax.custom_vjp` on JAX and a `torch.autograd.Function` on
PyTorch; the math of both passes is written with `keras.ops` by the caller.
"""

import keras

__all__ = ["with_custom_gradient", "compile_on_jax"]


def with_custom_gradient(forward, backward, num_differentiable):
    """Wrap `forward` so that its gradient is computed by `backward`.

    Args:
        forward: `forward(*tensors) -> tuple of tensors`. Runs without
            recording a tape.
        backward: `backward(tensors, outputs, cotangents, needs) -> tuple` of
            gradients for the first `num_differentiable` tensors (each with the
            shape and dtype of its tensor, or `None` for zero). `cotangents`
            has one tensor per output (zeros for unused outputs); `needs` is a
            tuple of `num_differentiable` bools, `False` where the gradient is
            not requested (PyTorch knows this; elsewhere all are `True` and
            the compiler drops unused work).
        num_differentiable: How many leading tensors get gradients; the rest
            (masks, indices) are constants.

    Returns:
        A callable `f(*tensors) -> tuple of tensors`, differentiable on the
        active backend. Residuals are only the inputs and the outputs.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.backend.custom_gradient import with_custom_gradient
        >>> square = with_custom_gradient(
        ...     lambda x: (x * x,), lambda xs, outs, cts, needs: (2.0 * xs[0] * cts[0],), 1)
        >>> float(square(ops.convert_to_tensor(3.0))[0])
        9.0
    """
    backend = keras.backend.backend()
    k = int(num_differentiable)
    if backend == "tensorflow":
        return _tf(forward, backward, k)
    if backend == "jax":
        return _jax(forward, backward, k)
    if backend == "torch":
        return _torch(forward, backward, k)
    raise NotImplementedError(
        f"Custom gradients are not available on the '{backend}' Keras backend; "
        "use tensorflow, jax or torch."
    )


def _tf(forward, backward, k):
    import tensorflow as tf

    def f(*tensors):
        @tf.custom_gradient
        def g(*args):
            outs = tuple(forward(*args))

            def grad(*cts):
                cts = tuple(tf.zeros_like(o) if c is None else c for o, c in zip(outs, cts))
                grads = tuple(backward(args, outs, cts, (True,) * k))
                return list(grads) + [None] * (len(args) - k)

            return outs, grad

        return tuple(g(*tensors))

    return f


def _jax(forward, backward, k):
    import jax

    @jax.custom_vjp
    def f(*tensors):
        return tuple(forward(*tensors))

    def fwd(*tensors):
        outs = tuple(forward(*tensors))
        return outs, (tensors, outs)

    def bwd(res, cts):
        tensors, outs = res
        grads = tuple(backward(tensors, outs, tuple(cts), (True,) * k))
        grads = tuple(
            jax.numpy.zeros_like(t) if g is None else g for t, g in zip(tensors[:k], grads)
        )
        return grads + (None,) * (len(tensors) - k)

    f.defvjp(fwd, bwd)
    return f


def _torch(forward, backward, k):
    import torch

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            outs = tuple(forward(*tensors))
            ctx.save_for_backward(*tensors, *outs)
            ctx.num_inputs = len(tensors)
            return outs

        @staticmethod
        def backward(ctx, *cts):
            saved = ctx.saved_tensors
            tensors, outs = saved[: ctx.num_inputs], saved[ctx.num_inputs :]
            needs = tuple(bool(n) for n in ctx.needs_input_grad[:k])
            grads = tuple(backward(tensors, outs, cts, needs))
            return grads + (None,) * (ctx.num_inputs - k)

    def f(*tensors):
        return tuple(Fn.apply(*tensors))

    return f


def compile_on_jax(fn):
    """`jax.jit(fn)` on JAX, `fn` elsewhere.

    For functions built once per static setting (and cached): eager JAX would
    trace and compile their `lax` loops afresh on every call, while a jitted
    function compiles once per input shape and is inlined into an enclosing
    `jit`. TensorFlow and PyTorch run the function as it is.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.backend.custom_gradient import compile_on_jax
        >>> float(compile_on_jax(lambda x: x + 1.0)(ops.convert_to_tensor(1.0)))
        2.0
    """
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn
