"""Iterative attacks: `bim` (Kurakin et al., 2017), `pgd` (Madry et al., 2018),
`mifgsm` (momentum, Dong et al., 2018), `nifgsm` (Nesterov, Lin et al.,
2020), `difgsm` (input diversity, Xie et al., 2019, with its transform
`input_diversity`) and `eotpgd` (expectation over transformation, Athalye et
al., 2018), and their classes `BIM`, ..., `EOTPGD`.
"""

import keras
import numpy as np
from keras import ops

from keras_hopfield.attacks._common import _attack_class, _check_eps, _check_steps, _numpy_rng, _sign_gradient_attack
from keras_hopfield.corruptions import _check_seed, _to_float_tensor

__all__ = [
    "bim",
    "pgd",
    "mifgsm",
    "nifgsm",
    "difgsm",
    "eotpgd",
    "input_diversity",
    "BIM",
    "PGD",
    "MIFGSM",
    "NIFGSM",
    "DIFGSM",
    "EOTPGD",
]


# --------------------------------------------------------------------------
# Input transformations
# --------------------------------------------------------------------------


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
        >>> from keras_hopfield.attacks import input_diversity
        >>> from keras_hopfield.attacks import input_diversity
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


# --------------------------------------------------------------------------
# Attacks
# --------------------------------------------------------------------------


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
        >>> from keras_hopfield.attacks import bim
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
        >>> from keras_hopfield.attacks import pgd
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
        >>> from keras_hopfield.attacks import mifgsm
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
        >>> from keras_hopfield.attacks import nifgsm
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
        >>> from keras_hopfield.attacks import difgsm
        >>> from keras_hopfield.attacks import difgsm
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
        >>> from keras_hopfield.attacks import eotpgd
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
# Attack classes
# --------------------------------------------------------------------------


BIM = _attack_class("bim", bim, """BIM attack object (see `bim`).

    Args:
        **params: Keyword arguments of `bim` (`eps`, `step_size`, `steps`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import BIM
        >>> from keras_hopfield.attacks import BIM
        >>> BIM(eps=0.1, steps=5)
        BIM(eps=0.1, steps=5)
    """)


PGD = _attack_class("pgd", pgd, """PGD attack object (see `pgd`).

    Args:
        **params: Keyword arguments of `pgd` (`eps`, `steps`, `random_start`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import PGD
        >>> from keras_hopfield.attacks import PGD
        >>> PGD(eps=0.1, steps=5)
        PGD(eps=0.1, steps=5)
    """)


MIFGSM = _attack_class("mifgsm", mifgsm, """MI-FGSM attack object (see `mifgsm`).

    Args:
        **params: Keyword arguments of `mifgsm` (`eps`, `steps`, `decay`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import MIFGSM
        >>> from keras_hopfield.attacks import MIFGSM
        >>> MIFGSM(decay=1.0)
        MIFGSM(decay=1.0)
    """)


NIFGSM = _attack_class("nifgsm", nifgsm, """NI-FGSM attack object (see `nifgsm`).

    Args:
        **params: Keyword arguments of `nifgsm` (`eps`, `steps`, `decay`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import NIFGSM
        >>> from keras_hopfield.attacks import NIFGSM
        >>> NIFGSM(steps=5)
        NIFGSM(steps=5)
    """)


DIFGSM = _attack_class("difgsm", difgsm, """DI-FGSM attack object (see `difgsm`).

    Args:
        **params: Keyword arguments of `difgsm` (`eps`, `diversity_prob`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import DIFGSM
        >>> from keras_hopfield.attacks import DIFGSM
        >>> DIFGSM(diversity_prob=0.7)
        DIFGSM(diversity_prob=0.7)
    """)


EOTPGD = _attack_class("eotpgd", eotpgd, """EOT-PGD attack object (see `eotpgd`).

    Args:
        **params: Keyword arguments of `eotpgd` (`eps`, `eot_iter`, `transform`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import EOTPGD
        >>> from keras_hopfield.attacks import EOTPGD
        >>> EOTPGD(eot_iter=2)
        EOTPGD(eot_iter=2)
    """)
