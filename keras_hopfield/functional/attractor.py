"""Bipartite attractor nets (CBAN; papers/001 §3, MATH.md §5): activations, barriers and
the settling losses.
"""

import math

from keras import ops

__all__ = [
    "ATTRACTOR_ACTIVATIONS",
    "SETTLE_LOSSES",
    "attractor_activation",
    "attractor_activation_derivative",
    "barrier",
    "barrier_of_preactivation",
    "settle_loss",
]


# ---------------------------------------------------------------------------
# Bipartite attractor nets (papers/001 §3, MATH.md §5): activations, barriers,
# and the settling losses.

ATTRACTOR_ACTIVATIONS = ("tanh", "leaky_sigmoid")
SETTLE_LOSSES = ("se", "delta_e", "delta_e_plus")


def _validate_attractor_activation(activation, alpha):
    if activation not in ATTRACTOR_ACTIVATIONS:
        raise ValueError(
            f"Unknown `activation`={activation!r}; expected one of {ATTRACTOR_ACTIVATIONS}."
        )
    if activation == "leaky_sigmoid" and not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"The leaky sigmoid needs a slope 0 < alpha < 1. Received: alpha={alpha!r}")


def attractor_activation(a, activation="tanh", alpha=0.2):
    """The unit activation `f(a)` of an attractor net (papers/001 §3, §3.3).

    `tanh`, or the *leaky sigmoid*: `a` on `[−1, 1]` and slope `alpha`
    outside, `f(a) = α(a ∓ 1) ± 1` for `|a| > 1`.

    Args:
        a: Net input (pre-activation) tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]` (`0 < alpha < 1`).

    Returns:
        `f(a)`, same shape as `a`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import attractor_activation
        >>> y = attractor_activation(ops.convert_to_tensor([-3.0, 0.5, 2.0]), "leaky_sigmoid", 0.2)
        >>> round(float(y[0]), 4), round(float(y[2]), 4)
        (-1.4, 1.2)
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        return ops.tanh(a)
    return ops.clip(a, -1.0, 1.0) + alpha * (a - ops.clip(a, -1.0, 1.0))


def attractor_activation_derivative(a, activation="tanh", alpha=0.2):
    """`f′(a)` of `attractor_activation` (1 − tanh², or 1 inside / `alpha` outside `[−1, 1]`).

    Args:
        a: Net input (pre-activation) tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `f′(a)`, same shape as `a`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import attractor_activation_derivative
        >>> float(attractor_activation_derivative(ops.convert_to_tensor(0.0)))
        1.0
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        t = ops.tanh(a)
        return 1.0 - t * t
    inside = ops.cast(ops.abs(a) <= 1.0, a.dtype)
    return inside + alpha * (1.0 - inside)


def _xlogx(t):
    safe = ops.maximum(t, 1e-30)
    return ops.where(t > 0, t * ops.log(safe), ops.zeros_like(t))


def barrier(x, activation="tanh", alpha=0.2):
    """The barrier `ρ(x) = ∫₀ˣ f⁻¹(ξ) dξ` of an attractor activation (papers/001 Eq. 3, §3.3).

    tanh: `ρ(x) = ½[(1+x) ln(1+x) + (1−x) ln(1−x)]` (the exact integral of
    `atanh`; the paper's Eq. 3 drops the ½, its App. B.1 has it — the ½ is what
    makes `ρ′ = f⁻¹`, so that the layer update minimises the energy). Finite at
    `x = ±1` (`0 ln 0 = 0`). Leaky sigmoid: `½x²` on `[−1, 1]`, else
    `[x² + (1−α)(1 ∓ 2x)] / (2α)`.

    Args:
        x: Activation tensor (for tanh, in `[−1, 1]`).
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `ρ(x)` elementwise.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import barrier
        >>> round(float(barrier(ops.convert_to_tensor(1.0))), 6)  # ln 2
        0.693147
    """
    _validate_attractor_activation(activation, alpha)
    x = ops.convert_to_tensor(x)
    if activation == "tanh":
        return 0.5 * (_xlogx(1.0 + x) + _xlogx(1.0 - x))
    quadratic = 0.5 * x * x
    above = (x * x + (1.0 - alpha) * (1.0 - 2.0 * x)) / (2.0 * alpha)
    below = (x * x + (1.0 - alpha) * (1.0 + 2.0 * x)) / (2.0 * alpha)
    return ops.where(x > 1.0, above, ops.where(x < -1.0, below, quadratic))


def barrier_of_preactivation(a, activation="tanh", alpha=0.2):
    """`ρ(f(a))` computed from the net input, stable where `f(a)` saturates.

    For tanh, `ρ(tanh a) = a tanh a − log cosh a`, with `log cosh a = |a| +
    log(1 + e^{−2|a|}) − log 2` (no `log(1 − x)` at `x → ±1`).

    Args:
        a: Net input tensor.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.

    Returns:
        `ρ(f(a))` elementwise.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import barrier_of_preactivation
        >>> round(float(barrier_of_preactivation(ops.convert_to_tensor(30.0))), 5)  # → ln 2
        0.69315
    """
    _validate_attractor_activation(activation, alpha)
    a = ops.convert_to_tensor(a)
    if activation == "tanh":
        abs_a = ops.abs(a)
        log_cosh = abs_a + ops.log1p(ops.exp(-2.0 * abs_a)) - math.log(2.0)
        return a * ops.tanh(a) - log_cosh
    return barrier(attractor_activation(a, activation, alpha), activation, alpha)


def settle_loss(a, target, loss="se", activation="tanh", alpha=0.2, temperature=1.0, axis=None):
    """Per-example settling loss on the unclamped visible state `ṽ = f(a)` (papers/001 §3.2, App. B).

    - `"se"`: `L_SE = Σᵢ (ṽᵢ − yᵢ)²`.
    - `"delta_e"`: `L_ΔE = E(x) − E(x̃) = Σᵢ f⁻¹(ṽᵢ)(ṽᵢ − yᵢ) + ρ(yᵢ) − ρ(ṽᵢ)`,
      with `f⁻¹(ṽ) = a` (no inverse needed). `L_ΔE ≥ 0`, zero iff `ṽ = y`.
    - `"delta_e_plus"`: `L_ΔE+ = log(1 + exp(L_ΔE / T))` (softplus, stable).

    Args:
        a: Net input of the visible units, `ṽ = f(a)`; shape `(batch, ...)`.
        target: Target visible state `y`, same shape.
        loss: `"se"`, `"delta_e"` or `"delta_e_plus"`.
        activation: `"tanh"` or `"leaky_sigmoid"`.
        alpha: Slope of the leaky sigmoid outside `[−1, 1]`.
        temperature: `T` of `L_ΔE+` (App. B.2).
        axis: Axes summed over; default all but the first (batch) axis.

    Returns:
        Loss per example, shape `(batch,)`.

    Example:
        >>> from keras import ops
        >>> from keras_hopfield.functional import settle_loss
        >>> a = ops.convert_to_tensor([[0.0, 0.0]])
        >>> float(settle_loss(a, ops.convert_to_tensor([[0.5, -0.5]]), "se")[0])
        0.5
    """
    if loss not in SETTLE_LOSSES:
        raise ValueError(f"Unknown settling `loss`={loss!r}; expected one of {SETTLE_LOSSES}.")
    a = ops.convert_to_tensor(a)
    target = ops.cast(target, a.dtype)
    if axis is None:
        axis = tuple(range(1, len(a.shape)))
    v = attractor_activation(a, activation, alpha)
    if loss == "se":
        return ops.sum(ops.square(v - target), axis=axis)
    delta = ops.sum(
        a * (v - target)
        + barrier(target, activation, alpha)
        - barrier_of_preactivation(a, activation, alpha),
        axis=axis,
    )
    if loss == "delta_e":
        return delta
    return ops.softplus(delta / temperature)
