"""What `keras.Model.export` needs per backend for models that settle in a `while_loop`."""

import keras

__all__ = ["while_loop_export_kwargs"]


def while_loop_export_kwargs(format, kwargs):
    """`export` keyword arguments for a model whose inference runs an early-exit `while_loop`.

    On JAX a `"tf_saved_model"` export goes through `jax2tf`, which cannot
    differentiate a `while_loop`; inference needs no gradient, so the function is
    exported without one (`jax2tf_kwargs={"with_gradient": False}` unless the
    caller set it). Every other backend and format: `kwargs` unchanged.

    Args:
        format: The `export` format.
        kwargs: The other keyword arguments of `export` (a new dict is returned).

    Returns:
        The keyword arguments to pass on to `keras.Model.export`.
    """
    kwargs = dict(kwargs)
    if keras.backend.backend() == "jax" and format == "tf_saved_model":
        jax2tf_kwargs = dict(kwargs.pop("jax2tf_kwargs", None) or {})
        jax2tf_kwargs.setdefault("with_gradient", False)
        kwargs["jax2tf_kwargs"] = jax2tf_kwargs
    return kwargs
