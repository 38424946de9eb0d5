"""What every attack shares: the per-sample loss, argument checks, the
projected sign-gradient loop and the `Attack` base class.

The public names are re-exported by `keras_hopfield.attacks`.
"""

import inspect
import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import value_and_grad
from keras_hopfield.corruptions import _SeedStream, _to_float_tensor, check_value_range


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def per_sample_loss(loss="mse"):
    """Turn a loss identifier into a function returning one value per sample.

    Args:
        loss: `"mse"`, `"mae"`, any name accepted by `keras.losses.get`, or a
            callable `loss(y_true, y_pred)`. Whatever it returns is averaged
            over all non-batch axes.

    Returns:
        Callable `(y_true, y_pred) -> (N,)` tensor.

    Raises:
        ValueError: For an unknown loss name.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.attacks import per_sample_loss
        >>> from keras_hopfield.attacks import per_sample_loss
        >>> fn = per_sample_loss("mse")
        >>> np.asarray(fn(np.zeros((2, 3)), np.ones((2, 3)))).tolist()
        [1.0, 1.0]
    """
    if loss is None or loss == "mse":
        def fn(y_true, y_pred):
            return ops.square(y_pred - y_true)
    elif loss == "mae":
        def fn(y_true, y_pred):
            return ops.abs(y_pred - y_true)
    elif callable(loss):
        fn = loss
    else:
        try:
            fn = keras.losses.get(loss)
        except ValueError as err:
            raise ValueError(f"Unknown loss {loss!r}: {err}") from None

    def reduced(y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if y_true.dtype != y_pred.dtype and "float" in keras.backend.standardize_dtype(y_pred.dtype):
            y_true = ops.cast(y_true, y_pred.dtype)
        values = ops.convert_to_tensor(fn(y_true, y_pred))
        if len(values.shape) == 0:
            raise ValueError(
                "The attack loss must return per-sample values, not a scalar; pass a "
                "function without batch reduction (e.g. keras.losses.mean_squared_error)."
            )
        if len(values.shape) > 1:
            values = ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)
        return values

    return reduced


def _forward(model):
    if isinstance(model, keras.layers.Layer):
        return lambda t: model(t, training=False)
    if callable(model):
        return model
    raise ValueError(f"`model` must be a Keras model/layer or a callable; received {type(model).__name__}.")


def _check_eps(eps, name="eps"):
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number >= 0; received {eps!r}.") from None
    if not eps >= 0 or not math.isfinite(eps):
        raise ValueError(f"`{name}` must be a finite number >= 0; received {eps}.")
    return eps


def _check_steps(steps):
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1; received {steps!r}.")
    return int(steps)


def _prepare_input(x, clip_min, clip_max):
    if not clip_min < clip_max:
        raise ValueError(f"Need clip_min < clip_max; received {clip_min}, {clip_max}.")
    if isinstance(x, np.ndarray):
        check_value_range(x, "x", clip_min, clip_max)
        x = _to_float_tensor(x)
    else:
        x = _to_float_tensor(x)
        check_value_range(x, "x", clip_min, clip_max)
    if len(x.shape) < 2:
        raise ValueError(f"`x` must be a batch with a leading batch axis; received shape {tuple(x.shape)}.")
    return x


def _numpy_rng(seed):
    """A NumPy generator for host-side choices (sizes and offsets) of a seed."""
    if isinstance(seed, keras.random.SeedGenerator):
        value = keras.random.randint((), 0, 2**31 - 1, seed=seed)
        return np.random.default_rng(int(ops.convert_to_numpy(value)))
    return np.random.default_rng(seed)


def _sign_gradient_attack(
    model,
    x,
    y,
    loss,
    eps,
    step_size,
    steps,
    random_start=False,
    decay=0.0,
    nesterov=False,
    transform=None,
    n_transforms=1,
    targeted=False,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """Shared loop: (momentum) iterative sign-gradient ascent with projection."""
    eps = _check_eps(eps)
    step_size = _check_eps(step_size, "step_size")
    steps = _check_steps(steps)
    x = _prepare_input(x, clip_min, clip_max)
    y = x if y is None else _to_float_tensor(y)
    seeds = _SeedStream(seed)
    rng = _numpy_rng(seeds())
    forward = _forward(model)
    loss_fn = per_sample_loss(loss)
    direction = -1.0 if targeted else 1.0

    def objective(t):
        return ops.sum(loss_fn(y, forward(t)))

    def gradient(t):
        if transform is None:
            return value_and_grad(objective, t)[1]
        total = None
        for _ in range(n_transforms):
            g = value_and_grad(lambda u: objective(transform(u, rng)), t)[1]
            total = g if total is None else total + g
        return total / float(n_transforms)

    def project(t):
        t = ops.clip(t, x - eps, x + eps)
        return ops.clip(t, clip_min, clip_max)

    if eps == 0.0:
        return x
    x_adv = x
    if random_start:
        noise = keras.random.uniform(ops.shape(x), -eps, eps, dtype=x.dtype, seed=seeds())
        x_adv = project(x + noise)
    axes = tuple(range(1, len(x.shape)))
    momentum = ops.zeros_like(x)
    for _ in range(steps):
        probe = x_adv + step_size * decay * momentum if nesterov else x_adv
        grad = gradient(probe) * direction
        if decay > 0.0 or nesterov:
            grad = grad / (ops.mean(ops.abs(grad), axis=axes, keepdims=True) + 1e-12)
            momentum = decay * momentum + grad
            grad = momentum
        x_adv = project(x_adv + step_size * ops.sign(grad))
    return x_adv


# --------------------------------------------------------------------------
# Class interface
# --------------------------------------------------------------------------


class Attack:
    """An attack with fixed hyper-parameters, callable on any model.

    `Attack(**params)(model, x, y)` is `function(model, x, y, **params)` for
    the attack's function (e.g. `PGD(eps=0.1)(model, x)` is
    `pgd(model, x, eps=0.1)`). Unknown parameters and a negative `eps` are
    rejected when the attack is built.

    Args:
        **params: Keyword arguments of the attack function (`eps`, `steps`, ...).

    Returns:
        A callable `attack(model, x, y=None)` returning adversarial inputs.

    Example:
        >>> from keras_hopfield.attacks import PGD
        >>> from keras_hopfield.attacks import PGD
        >>> attack = PGD(eps=0.1, steps=5)
        >>> attack.get_config()["eps"]
        0.1
    """

    name = None
    function = None

    def __init__(self, **params):
        signature = inspect.signature(type(self).function)
        allowed = set(signature.parameters) - {"model", "x", "y"}
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(
                f"Unknown parameter(s) {sorted(unknown)} for attack '{self.name}'; allowed: {sorted(allowed)}."
            )
        if "eps" in params:
            _check_eps(params["eps"])
        self.params = dict(params)

    def __call__(self, model, x, y=None, **overrides):
        return type(self).function(model, x, y, **{**self.params, **overrides})

    def with_params(self, **params):
        """Copy of the attack with some parameters changed.

        Args:
            **params: Parameters to override.

        Returns:
            A new attack of the same class.
        """
        return type(self)(**{**self.params, **params})

    def get_config(self):
        """The attack's parameters (those given at construction).

        Returns:
            Dict of parameters.
        """
        return dict(self.params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _attack_class(name, function, doc):
    """The `Attack` subclass for `function`, defined in (and pickled by) the function's module."""
    cls = type(name.upper(), (Attack,), {"name": name, "function": staticmethod(function), "__doc__": doc})
    cls.__module__ = function.__module__
    return cls
