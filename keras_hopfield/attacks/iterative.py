"""L-infinity adversarial attacks on any Keras model, on every backend.

All attacks maximise a loss `L(y, f(x'))` over inputs `x'` in the L-infinity
ball of radius `eps` around `x` that stay in the valid pixel range
`[clip_min, clip_max]`:

    x' = argmax_{||x' - x||_inf <= eps, clip_min <= x' <= clip_max}  L(y, f(x'))

For an auto-associative memory the target defaults to the clean input
(`y = x`), so an attack pushes the retrieval away from the stored pattern.
Gradients are taken with respect to the input only (model weights are never
changed) through `keras_hopfield.backend.value_and_grad`, the one place
with per-backend code.

Implemented: `fgsm` (Goodfellow et al., 2015), `ffgsm` (fast FGSM with
random init, Wong et al., 2020), `bim` (Kurakin et al., 2017), `pgd` (Madry
et al., 2018), `mifgsm` (momentum, Dong et al., 2018), `nifgsm` (Nesterov,
Lin et al., 2020), `difgsm` (input diversity, Xie et al., 2019) and
`eotpgd` (expectation over transformation, Athalye et al., 2018). Each also
has a class (`FGSM`, `PGD`, ...) registered in `ATTACKS` and returned by
`get(name)`.

Transfer workflow (CRHN paper): memories without useful gradients are
attacked through a differentiable surrogate; `make_surrogate_autoencoder` /
`train_surrogate_autoencoder` build one, `transfer_attack` crafts the
adversarial inputs on it and `evaluate_transfer` feeds them to every model
under test.
"""

import inspect
import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend import value_and_grad
from keras_hopfield.corruptions import _SeedStream, _check_seed, _to_float_tensor, check_value_range

__all__ = [
    "fgsm",
    "ffgsm",
    "bim",
    "pgd",
    "mifgsm",
    "nifgsm",
    "difgsm",
    "eotpgd",
    "input_diversity",
    "per_sample_loss",
    "Attack",
    "FGSM",
    "FFGSM",
    "BIM",
    "PGD",
    "MIFGSM",
    "NIFGSM",
    "DIFGSM",
    "EOTPGD",
    "ATTACKS",
    "get",
    "make_surrogate_autoencoder",
    "train_surrogate_autoencoder",
    "transfer_attack",
    "evaluate_transfer",
]


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


def input_diversity(x, resize_rate=0.9, diversity_prob=0.5, seed=None):
    """Random resize-and-pad transformation of DI-FGSM (Xie et al., 2019).

    With probability `diversity_prob` the batch is shrunk (nearest neighbour)
    to a random size `r` with `resize_rate * H <= r <= H` (same ratio for the
    width) and zero-padded at a random offset back to `H x W`; otherwise it
    is returned unchanged:

        T(x) = pad(resize(x, r), H, W)  with probability p,   x  otherwise

    The output keeps the input size, so the transformation works for any
    model with a fixed input shape. The transform is differentiable.

    Args:
        x: `(N, H, W, C)` batch (tensor or array).
        resize_rate: Smallest relative size, in (0, 1].
        diversity_prob: Probability p in [0, 1] of transforming.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Tensor with the shape of `x`.

    Raises:
        ValueError: For a non-image input or parameters out of range.

    Example:
        >>> import numpy as np
        >>> out = input_diversity(np.ones((1, 16, 16, 1), "float32"), diversity_prob=1.0, seed=0)
        >>> tuple(out.shape)
        (1, 16, 16, 1)
    """
    if not 0.0 < float(resize_rate) <= 1.0:
        raise ValueError(f"`resize_rate` must be in (0, 1]; received {resize_rate}.")
    if not 0.0 <= float(diversity_prob) <= 1.0:
        raise ValueError(f"`diversity_prob` must be in [0, 1]; received {diversity_prob}.")
    rng = seed if isinstance(seed, np.random.Generator) else _numpy_rng(_check_seed(seed))
    x = _to_float_tensor(x)
    if len(x.shape) != 4:
        raise ValueError(f"Input diversity needs (N, H, W, C) images; received shape {tuple(x.shape)}.")
    if rng.random() >= diversity_prob:
        return x
    h, w = int(x.shape[1]), int(x.shape[2])
    scale = rng.uniform(resize_rate, 1.0)
    new_h = max(1, min(h, int(round(h * scale))))
    new_w = max(1, min(w, int(round(w * scale))))
    if new_h == h and new_w == w:
        return x
    resized = ops.image.resize(x, (new_h, new_w), interpolation="nearest")
    top = int(rng.integers(0, h - new_h + 1))
    left = int(rng.integers(0, w - new_w + 1))
    return ops.pad(resized, [[0, 0], [top, h - new_h - top], [left, w - new_w - left], [0, 0]])


def _gaussian_transform(noise_std):
    def transform(t, rng):
        noise = rng.normal(0.0, noise_std, size=tuple(t.shape)).astype(keras.backend.standardize_dtype(t.dtype))
        return t + ops.convert_to_tensor(noise, dtype=t.dtype)

    return transform


def _diversity_transform(resize_rate, diversity_prob):
    def transform(t, rng):
        return input_diversity(t, resize_rate, diversity_prob, seed=rng)

    return transform


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
# Attacks
# --------------------------------------------------------------------------


def fgsm(model, x, y=None, loss="mse", eps=8 / 255, targeted=False, clip_min=0.0, clip_max=1.0):
    """Fast gradient sign method (Goodfellow et al., 2015).

        x' = clip(x + eps * sign(grad_x L(y, f(x))), clip_min, clip_max)

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x` (auto-associative memories).
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        targeted: Minimise instead of maximise the loss (towards `y`).
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.

    Returns:
        Adversarial batch (backend tensor) with the shape of `x`.

    Raises:
        ValueError: For `eps < 0` or `x` outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> x_adv = fgsm(model, np.full((2, 4), 0.5, "float32"), eps=0.1)
        >>> bool(np.abs(np.asarray(x_adv) - 0.5).max() <= 0.1 + 1e-6)
        True
    """
    return _sign_gradient_attack(
        model, x, y, loss, eps, eps, 1, targeted=targeted, clip_min=clip_min, clip_max=clip_max
    )


def ffgsm(model, x, y=None, loss="mse", eps=8 / 255, alpha=10 / 255, targeted=False, clip_min=0.0,
          clip_max=1.0, seed=None):
    """Fast FGSM with a random start (Wong et al., 2020, "Fast is better than free").

        x0 = x + U(-eps, eps),   x' = Proj_eps(x0 + alpha * sign(grad_x L(y, f(x0))))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        alpha: Step size (the paper uses 1.25 * eps, e.g. 10/255 for 8/255).
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For `eps < 0`, `alpha < 0` or `x` outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(ffgsm(model, np.full((2, 4), 0.5, "float32"), seed=0).shape)
        (2, 4)
    """
    return _sign_gradient_attack(
        model, x, y, loss, eps, alpha, 1, random_start=True, targeted=targeted,
        clip_min=clip_min, clip_max=clip_max, seed=seed,
    )


def bim(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, targeted=False,
        clip_min=0.0, clip_max=1.0):
    """Basic iterative method (Kurakin et al., 2017).

        x_0 = x,   x_{t+1} = Proj_eps(x_t + a * sign(grad_x L(y, f(x_t))))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `eps / steps`.
        steps: Number of iterations (>= 1).
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For `eps < 0`, `step_size < 0`, `steps < 1` or `x`
            outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(bim(model, np.full((2, 4), 0.5, "float32"), steps=3).shape)
        (2, 4)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = eps / steps if step_size is None else step_size
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, targeted=targeted, clip_min=clip_min, clip_max=clip_max
    )


def pgd(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, random_start=True,
        targeted=False, clip_min=0.0, clip_max=1.0, seed=None):
    """Projected gradient descent (Madry et al., 2018).

        x_0 = x + U(-eps, eps),   x_{t+1} = Proj_eps(x_t + a * sign(grad_x L(y, f(x_t))))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `2.5 * eps / steps` (Madry et al.).
        steps: Number of iterations (>= 1).
        random_start: Start from a uniform random point of the eps-ball.
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For `eps < 0`, `step_size < 0`, `steps < 1` or `x`
            outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(pgd(model, np.full((2, 4), 0.5, "float32"), steps=3, seed=0).shape)
        (2, 4)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, random_start=random_start, targeted=targeted,
        clip_min=clip_min, clip_max=clip_max, seed=seed,
    )


def mifgsm(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, decay=1.0,
           targeted=False, clip_min=0.0, clip_max=1.0):
    """Momentum iterative FGSM (Dong et al., 2018).

        g_{t+1} = mu * g_t + grad_t / mean|grad_t|,   x_{t+1} = Proj_eps(x_t + a * sign(g_{t+1}))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `eps / steps`.
        steps: Number of iterations (>= 1).
        decay: Momentum decay mu >= 0 (paper: 1.0).
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For negative `eps`, `step_size` or `decay`, `steps < 1` or
            `x` outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(mifgsm(model, np.full((2, 4), 0.5, "float32"), steps=3).shape)
        (2, 4)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = eps / steps if step_size is None else step_size
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, decay=_check_eps(decay, "decay"), targeted=targeted,
        clip_min=clip_min, clip_max=clip_max,
    )


def nifgsm(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, decay=1.0,
           targeted=False, clip_min=0.0, clip_max=1.0):
    """Nesterov iterative FGSM (Lin et al., 2020).

    The gradient is taken at the Nesterov look-ahead point:

        x^nes_t = x_t + a * mu * g_t,   g_{t+1} = mu * g_t + grad(x^nes_t) / mean|grad(x^nes_t)|,
        x_{t+1} = Proj_eps(x_t + a * sign(g_{t+1}))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `eps / steps`.
        steps: Number of iterations (>= 1).
        decay: Momentum decay mu >= 0.
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For negative `eps`, `step_size` or `decay`, `steps < 1` or
            `x` outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(nifgsm(model, np.full((2, 4), 0.5, "float32"), steps=3).shape)
        (2, 4)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = eps / steps if step_size is None else step_size
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, decay=_check_eps(decay, "decay"), nesterov=True,
        targeted=targeted, clip_min=clip_min, clip_max=clip_max,
    )


def difgsm(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, decay=0.0,
           resize_rate=0.9, diversity_prob=0.5, random_start=False, targeted=False, clip_min=0.0,
           clip_max=1.0, seed=None):
    """Diverse-input iterative FGSM (Xie et al., 2019).

    Each gradient is taken through a random resize-and-pad `T` (see
    `input_diversity`), applied with probability `diversity_prob`:

        x_{t+1} = Proj_eps(x_t + a * sign(grad_x L(y, f(T(x_t)))))

    With `decay > 0` this is M-DI2-FGSM (momentum as in `mifgsm`).

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: `(N, H, W, C)` input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `eps / steps`.
        steps: Number of iterations (>= 1).
        decay: Momentum decay mu >= 0 (0 disables momentum).
        resize_rate: Smallest relative size of the resize, in (0, 1].
        diversity_prob: Probability of transforming at each step.
        random_start: Start from a uniform random point of the eps-ball.
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For invalid budgets or probabilities, non-image `x` or `x`
            outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
        >>> tuple(difgsm(model, np.full((2, 8, 8, 1), 0.5, "float32"), steps=2, seed=0).shape)
        (2, 8, 8, 1)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = eps / steps if step_size is None else step_size
    if not 0.0 < float(resize_rate) <= 1.0:
        raise ValueError(f"`resize_rate` must be in (0, 1]; received {resize_rate}.")
    if not 0.0 <= float(diversity_prob) <= 1.0:
        raise ValueError(f"`diversity_prob` must be in [0, 1]; received {diversity_prob}.")
    if len(np.shape(x) if isinstance(x, np.ndarray) else ops.shape(x)) != 4:
        raise ValueError("DI-FGSM needs (N, H, W, C) images.")
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, random_start=random_start,
        decay=_check_eps(decay, "decay"), transform=_diversity_transform(resize_rate, diversity_prob),
        targeted=targeted, clip_min=clip_min, clip_max=clip_max, seed=seed,
    )


def eotpgd(model, x, y=None, loss="mse", eps=8 / 255, step_size=None, steps=10, eot_iter=4,
           transform="noise", noise_std=0.05, random_start=True, targeted=False, clip_min=0.0,
           clip_max=1.0, seed=None):
    """PGD with expectation over transformation (Athalye et al., 2018).

    Each step uses the gradient averaged over `eot_iter` random
    transformations T_k:

        g_t = (1 / K) * sum_k grad_x L(y, f(T_k(x_t))),   x_{t+1} = Proj_eps(x_t + a * sign(g_t))

    Args:
        model: Keras model/layer (called with `training=False`) or callable.
        x: Input batch in `[clip_min, clip_max]`.
        y: Target; defaults to `x`.
        loss: `"mse"`, `"mae"`, a Keras loss name or `loss(y_true, y_pred)`.
        eps: L-infinity budget >= 0.
        step_size: Step a; defaults to `2.5 * eps / steps`.
        steps: Number of iterations (>= 1).
        eot_iter: Number K >= 1 of transformations averaged per step.
        transform: `"noise"` (additive Gaussian noise of std `noise_std`),
            `"diversity"` (resize-and-pad, as DI-FGSM, always applied) or a
            callable `transform(x, rng)` with `rng` a `numpy.random.Generator`.
        noise_std: Standard deviation for `transform="noise"`.
        random_start: Start from a uniform random point of the eps-ball.
        targeted: Minimise instead of maximise the loss.
        clip_min: Smallest valid input value.
        clip_max: Largest valid input value.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        Adversarial batch with the shape of `x`.

    Raises:
        ValueError: For invalid budgets, `eot_iter < 1`, an unknown transform
            or `x` outside the valid range.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(eotpgd(model, np.full((2, 4), 0.5, "float32"), steps=2, eot_iter=2, seed=0).shape)
        (2, 4)
    """
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    if not isinstance(eot_iter, (int, np.integer)) or eot_iter < 1:
        raise ValueError(f"`eot_iter` must be an integer >= 1; received {eot_iter!r}.")
    if transform == "noise":
        fn = _gaussian_transform(_check_eps(noise_std, "noise_std"))
    elif transform == "diversity":
        fn = _diversity_transform(0.9, 1.0)
    elif callable(transform):
        fn = transform
    else:
        raise ValueError(f"`transform` must be 'noise', 'diversity' or a callable; received {transform!r}.")
    return _sign_gradient_attack(
        model, x, y, loss, eps, step_size, steps, random_start=random_start, transform=fn,
        n_transforms=int(eot_iter), targeted=targeted, clip_min=clip_min, clip_max=clip_max, seed=seed,
    )


# --------------------------------------------------------------------------
# Class interface and registry
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
    cls = type(name.upper(), (Attack,), {"name": name, "function": staticmethod(function), "__doc__": doc})
    cls.__module__ = __name__
    return cls


FGSM = _attack_class("fgsm", fgsm, """FGSM attack object (see `fgsm`).

    Args:
        **params: Keyword arguments of `fgsm` (`eps`, `loss`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> FGSM(eps=0.1)
        FGSM(eps=0.1)
    """)
FFGSM = _attack_class("ffgsm", ffgsm, """Fast-FGSM attack object (see `ffgsm`).

    Args:
        **params: Keyword arguments of `ffgsm` (`eps`, `alpha`, `seed`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> FFGSM(eps=0.1, alpha=0.125)
        FFGSM(eps=0.1, alpha=0.125)
    """)
BIM = _attack_class("bim", bim, """BIM attack object (see `bim`).

    Args:
        **params: Keyword arguments of `bim` (`eps`, `step_size`, `steps`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> BIM(eps=0.1, steps=5)
        BIM(eps=0.1, steps=5)
    """)
PGD = _attack_class("pgd", pgd, """PGD attack object (see `pgd`).

    Args:
        **params: Keyword arguments of `pgd` (`eps`, `steps`, `random_start`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> PGD(eps=0.1, steps=5)
        PGD(eps=0.1, steps=5)
    """)
MIFGSM = _attack_class("mifgsm", mifgsm, """MI-FGSM attack object (see `mifgsm`).

    Args:
        **params: Keyword arguments of `mifgsm` (`eps`, `steps`, `decay`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> MIFGSM(decay=1.0)
        MIFGSM(decay=1.0)
    """)
NIFGSM = _attack_class("nifgsm", nifgsm, """NI-FGSM attack object (see `nifgsm`).

    Args:
        **params: Keyword arguments of `nifgsm` (`eps`, `steps`, `decay`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> NIFGSM(steps=5)
        NIFGSM(steps=5)
    """)
DIFGSM = _attack_class("difgsm", difgsm, """DI-FGSM attack object (see `difgsm`).

    Args:
        **params: Keyword arguments of `difgsm` (`eps`, `diversity_prob`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> DIFGSM(diversity_prob=0.7)
        DIFGSM(diversity_prob=0.7)
    """)
EOTPGD = _attack_class("eotpgd", eotpgd, """EOT-PGD attack object (see `eotpgd`).

    Args:
        **params: Keyword arguments of `eotpgd` (`eps`, `eot_iter`, `transform`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> EOTPGD(eot_iter=2)
        EOTPGD(eot_iter=2)
    """)

ATTACKS = {cls.name: cls for cls in (FGSM, FFGSM, BIM, PGD, MIFGSM, NIFGSM, DIFGSM, EOTPGD)}
"""Registry of attack classes by lower-case name (`"fgsm"`, `"pgd"`, ...)."""


def get(identifier, **params):
    """Look up an attack by name (or pass an attack through).

    Names are case-insensitive and ignore `-` and `_` (`"MI-FGSM"`,
    `"mi_fgsm"` and `"mifgsm"` are the same).

    Args:
        identifier: Attack name, `Attack` instance or callable
            `attack(model, x, y, **params)`.
        **params: Parameters for a newly built attack (or overrides for an
            `Attack` instance).

    Returns:
        An `Attack` instance (or the callable, with `params` bound).

    Raises:
        ValueError: For an unknown name.

    Example:
        >>> get("PGD", eps=0.05)
        PGD(eps=0.05)
    """
    if isinstance(identifier, Attack):
        return identifier.with_params(**params) if params else identifier
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "").replace("_", "")
        if key not in ATTACKS:
            raise ValueError(f"Unknown attack {identifier!r}; available: {sorted(ATTACKS)}.")
        return ATTACKS[key](**params)
    if callable(identifier):
        if not params:
            return identifier
        return lambda model, x, y=None, **kw: identifier(model, x, y, **{**params, **kw})
    raise ValueError(f"Cannot interpret {identifier!r} as an attack.")


# --------------------------------------------------------------------------
# Surrogate (transfer) workflow
# --------------------------------------------------------------------------


def make_surrogate_autoencoder(input_shape, filters=(16, 32), seed=None, compile=True, learning_rate=3e-3):
    """A small convolutional autoencoder to craft transferable attacks on.

    Encoder: `len(filters)` 3x3 convolutions with ReLU, each halving the
    resolution while the size stays even; decoder: the mirrored transposed
    convolutions and a 3x3 sigmoid output convolution, so that

        f: [0, 1]^(H x W x C) -> [0, 1]^(H x W x C).

    Args:
        input_shape: `(H, W, C)`.
        filters: Channels of the encoder convolutions.
        seed: Optional int seed for the kernel initialisers.
        compile: Compile with Adam and the pixel-wise binary cross-entropy
            loss (which, unlike MSE, does not get stuck at the all-black
            output on sparse images such as MNIST digits).
        learning_rate: Adam learning rate.

    Returns:
        A `keras.Model` mapping images to reconstructions.

    Raises:
        ValueError: For an input shape that is not `(H, W, C)`.

    Example:
        >>> model = make_surrogate_autoencoder((28, 28, 1))
        >>> model.output_shape
        (None, 28, 28, 1)
    """
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C); received {input_shape}.")
    h, w, c = (int(v) for v in input_shape)
    counter = iter(range(1000))

    def init():
        if seed is None:
            return "glorot_uniform"
        return keras.initializers.GlorotUniform(seed=int(seed) + next(counter))

    inputs = keras.Input((h, w, c))
    t = inputs
    strides = []
    for f in filters:
        stride = 2 if h % 2 == 0 and w % 2 == 0 else 1
        h, w = h // stride, w // stride
        strides.append(stride)
        t = keras.layers.Conv2D(f, 3, strides=stride, padding="same", activation="relu", kernel_initializer=init())(t)
    for f, stride in zip(reversed(filters), reversed(strides)):
        t = keras.layers.Conv2DTranspose(
            f, 3, strides=stride, padding="same", activation="relu", kernel_initializer=init()
        )(t)
    outputs = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", kernel_initializer=init())(t)
    model = keras.Model(inputs, outputs, name="surrogate_autoencoder")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def train_surrogate_autoencoder(x, epochs=10, batch_size=32, filters=(16, 32), noise_variance=0.0, seed=None,
                                learning_rate=3e-3, verbose=0):
    """Build and fit a surrogate autoencoder on images `x`.

    Minimises the pixel-wise binary cross-entropy

        L = -mean[ x log f(x~) + (1 - x) log(1 - f(x~)) ]

    where `x~ = x` or, with
    `noise_variance > 0`, `x~` is `x` with Gaussian noise (a denoising
    autoencoder, which behaves more like a memory).

    Args:
        x: Training images `(N, H, W, C)` in [0, 1] (NumPy array).
        epochs: Training epochs.
        batch_size: Batch size.
        filters: Encoder channels (see `make_surrogate_autoencoder`).
        noise_variance: Variance of the training noise (0 disables it).
        seed: Optional int seed (initialisers and training noise).
        learning_rate: Adam learning rate.
        verbose: Keras `fit` verbosity.

    Returns:
        The trained `keras.Model`.

    Raises:
        ValueError: For images of the wrong rank or outside [0, 1].

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
        >>> model = train_surrogate_autoencoder(x, epochs=1)
        >>> model.output_shape
        (None, 8, 8, 1)
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 4:
        raise ValueError(f"`x` must be (N, H, W, C); received shape {x.shape}.")
    check_value_range(x, "x")
    model = make_surrogate_autoencoder(x.shape[1:], filters=filters, seed=seed, learning_rate=learning_rate)
    inputs = x
    if noise_variance:
        rng = np.random.default_rng(seed)
        inputs = np.clip(x + rng.normal(0.0, math.sqrt(noise_variance), x.shape), 0.0, 1.0).astype("float32")
    model.fit(inputs, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return model


def transfer_attack(surrogate, x, attack="pgd", y=None, **params):
    """Craft adversarial inputs on a surrogate model (for a black-box memory).

        x' = attack(surrogate, x, y)

    The result is then given to every model under test (see
    `evaluate_transfer`), as in the CRHN robustness study where memories
    are attacked through an autoencoder surrogate.

    Args:
        surrogate: Differentiable Keras model (e.g. from
            `train_surrogate_autoencoder`).
        x: Clean inputs in [0, 1].
        attack: Attack name, `Attack` instance or attack function.
        y: Target for the surrogate's loss; defaults to `x`.
        **params: Attack parameters (`eps`, `steps`, ...).

    Returns:
        Adversarial inputs (backend tensor) with the shape of `x`.

    Raises:
        ValueError: For an unknown attack or invalid parameters.

    Example:
        >>> import numpy as np
        >>> surrogate = make_surrogate_autoencoder((8, 8, 1))
        >>> x = np.full((2, 8, 8, 1), 0.5, "float32")
        >>> tuple(transfer_attack(surrogate, x, "fgsm", eps=0.1).shape)
        (2, 8, 8, 1)
    """
    return get(attack, **params)(surrogate, x, y)


def evaluate_transfer(models, x, x_adv, metric=None, batch_size=None):
    """Score every model on transferred adversarial inputs.

    For each model f the per-image error against the clean images is

        e_n = metric(x_n, f(x'_n))    (default: mean squared error)

    Args:
        models: Dict `name -> model` (Keras models or callables on batches).
        x: Clean images (the retrieval targets).
        x_adv: Adversarial inputs, e.g. from `transfer_attack`.
        metric: Callable `(original, retrieved) -> (N,)`; defaults to
            `keras_hopfield.metrics.mse`.
        batch_size: Passed to `model.predict` for Keras models; `None` calls
            the model directly on the whole batch.

    Returns:
        Dict `name -> NumPy array (N,)` of per-image errors.

    Example:
        >>> import numpy as np
        >>> x = np.full((2, 8, 8, 1), 0.5, "float32")
        >>> errors = evaluate_transfer({"identity": lambda t: t}, x, x)
        >>> errors["identity"].tolist()
        [0.0, 0.0]
    """
    from keras_hopfield.metrics import mse

    metric = metric or mse
    results = {}
    for name, model in models.items():
        if isinstance(model, keras.Model) and batch_size is not None:
            retrieved = model.predict(ops.convert_to_numpy(x_adv), batch_size=batch_size, verbose=0)
        else:
            retrieved = _forward(model)(x_adv)
        results[name] = np.asarray(ops.convert_to_numpy(metric(x, retrieved)))
    return results
