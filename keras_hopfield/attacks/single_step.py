"""Single-step attacks: `fgsm` (Goodfellow et al., 2015) and `ffgsm` (fast FGSM
with a random start, Wong et al., 2020), and their classes `FGSM`, `FFGSM`."""

from keras_hopfield.attacks._common import _attack_class, _sign_gradient_attack

__all__ = [
    "fgsm",
    "ffgsm",
    "FGSM",
    "FFGSM",
]


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
        >>> from keras_hopfield.attacks import fgsm
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
        >>> from keras_hopfield.attacks import ffgsm
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> tuple(ffgsm(model, np.full((2, 4), 0.5, "float32"), seed=0).shape)
        (2, 4)
    """
    return _sign_gradient_attack(
        model, x, y, loss, eps, alpha, 1, random_start=True, targeted=targeted,
        clip_min=clip_min, clip_max=clip_max, seed=seed,
    )


# --------------------------------------------------------------------------
# Attack classes
# --------------------------------------------------------------------------


FGSM = _attack_class("fgsm", fgsm, """FGSM attack object (see `fgsm`).

    Args:
        **params: Keyword arguments of `fgsm` (`eps`, `loss`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import FGSM
        >>> from keras_hopfield.attacks import FGSM
        >>> FGSM(eps=0.1)
        FGSM(eps=0.1)
    """)


FFGSM = _attack_class("ffgsm", ffgsm, """Fast-FGSM attack object (see `ffgsm`).

    Args:
        **params: Keyword arguments of `ffgsm` (`eps`, `alpha`, `seed`, ...).

    Returns:
        A callable `attack(model, x, y=None)`.

    Example:
        >>> from keras_hopfield.attacks import FFGSM
        >>> from keras_hopfield.attacks import FFGSM
        >>> FFGSM(eps=0.1, alpha=0.125)
        FFGSM(eps=0.1, alpha=0.125)
    """)
