"""Losses of keras-hopfield.

Organisation: each loss is a `keras.losses.Loss` subclass registered under the
`keras_hopfield` package, with its equation in the docstring and its arguments validated
in `__init__`. Add new losses as new sections below and list them in `__all__`.
"""

import keras
from keras import ops

__all__ = ["PowerLoss"]

_TARGETS = ("one_hot", "sparse", "signed")


# ---------------------------------------------------------------------------
# Dense associative memory (papers/002, MATH.md §3)
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="keras_hopfield")
class PowerLoss(keras.losses.Loss):
    """Krotov & Hopfield's power loss for `±1` outputs (papers/002 Eq. 14).

    $$L = \\sum_{\\alpha} |c_\\alpha - t_\\alpha|^{2m}, \\qquad t_\\alpha \\in \\{-1, +1\\},$$

    summed over the output units and averaged over the batch (the default reduction).
    `m = 1` is the squared error; large `m` concentrates on the examples with the largest
    discrepancy (the paper uses `m = 2…4` for small `n` and `m ≈ 30` for `n = 20, 30`).

    Args:
        power: The integer `m ≥ 1` (the exponent is `2m`).
        targets: Format of `y_true`: `"one_hot"` (`{0, 1}`, mapped to `t = 2y − 1`),
            `"sparse"` (integer class ids) or `"signed"` (already `±1`).
        reduction: Keras loss reduction (default `"sum_over_batch_size"`).
        name: Loss name.
        dtype: Dtype of the loss computation.

    Returns:
        Calling the loss returns the reduced loss value.

    Example:
        >>> from keras_hopfield.losses import PowerLoss
        >>> loss = PowerLoss(power=3)
        >>> float(loss([[0.0, 1.0]], [[-1.0, 0.5]]))  # (0)^6 + (0.5)^6
        0.015625
    """

    def __init__(
        self,
        power=2,
        targets="one_hot",
        reduction="sum_over_batch_size",
        name="power_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(power, bool) or not isinstance(power, int) or power < 1:
            raise ValueError(f"`power` must be an int >= 1. Received: power={power!r}")
        if targets not in _TARGETS:
            raise ValueError(f"`targets` must be one of {_TARGETS}. Received: targets={targets!r}")
        self.power = power
        self.targets = targets

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        if self.targets == "sparse":
            y_true = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
            y_true = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        y_true = ops.cast(y_true, y_pred.dtype)
        target = 2.0 * y_true - 1.0 if self.targets != "signed" else y_true
        return ops.sum(ops.power(y_pred - target, 2 * self.power), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"power": self.power, "targets": self.targets})
        return config
