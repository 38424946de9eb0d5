"""Optimizers of keras-hopfield."""

import keras
from keras import ops

__all__ = ["KrotovOptimizer", "RenormalizedSGD"]


@keras.saving.register_keras_serializable(package="keras_hopfield")
class KrotovOptimizer(keras.optimizers.Optimizer):
    """Krotov & Hopfield's training recipe for dense associative memory (papers/002 App. A).

    For every variable `ξ` with gradient `g`, momentum `p` and per-memory normalisation:

    $$\\Delta\\xi(t) = p\\,\\Delta\\xi(t-1) - g(t), \\qquad
      \\xi^\\mu_I \\leftarrow \\operatorname{clip}\\Big(\\xi^\\mu_I + \\varepsilon(t)
      \\frac{\\Delta\\xi^\\mu_I(t)}{\\max_J |\\Delta\\xi^\\mu_J(t)|},\\ -c,\\ c\\Big),
      \\qquad \\varepsilon(t) = \\varepsilon_0 f^{\\,e(t)} .$$

    The largest component of every memory's update equals the learning rate `ε` (which
    acts as a separate learning rate per memory and keeps the memories off plateaus),
    the weights stay in `[−c, c]` (`c = 1` in the paper) and `ε` decays by the factor
    `f` every epoch: `e(t) = ⌊t / steps_per_epoch⌋` with `t` the optimizer step
    (`steps_per_epoch=None` decays every step).

    "Per memory" means along `memory_axis` of the variable: the `(K, N + N_c)` memories
    of `DenseAssociativeMemory` use `memory_axis=0` (one row per memory, normalised over
    its `N + N_c` components); a `Dense` kernel `(inputs, units)` uses `memory_axis=-1`
    (one column per hidden unit). Variables of rank 0 or 1 (e.g. biases) are normalised
    as a whole.

    Args:
        learning_rate: `ε₀` (typical 0.01–0.04), or a
            `keras.optimizers.schedules.LearningRateSchedule` (then `decay` still
            multiplies it).
        decay: Per-epoch factor `f` in `(0, 1]` (0.998 in the paper).
        steps_per_epoch: Optimizer steps per epoch (minibatches per epoch), or `None`.
        momentum: `p` in `[0, 1)` (0.6–0.95 in the paper).
        weight_clip: `c > 0`, weights are clipped to `[−c, c]`; `None` disables.
        memory_axis: The axis indexing memories (see above).
        name: Optimizer name.
        **kwargs: Base `keras.optimizers.Optimizer` arguments.

    Example:
        >>> import keras
        >>> from keras_hopfield.layers import DenseAssociativeMemory
        >>> from keras_hopfield.losses import PowerLoss
        >>> from keras_hopfield.optimizers import KrotovOptimizer
        >>> steps = 60000 // 1000
        >>> opt = KrotovOptimizer(0.02, decay=0.998, steps_per_epoch=steps, momentum=0.9)
        >>> dam = DenseAssociativeMemory(100, degree=3, num_labels=10, mode="classifier")
        >>> model = keras.Sequential([keras.Input((784,)), dam])
        >>> model.compile(optimizer=opt, loss=PowerLoss(power=3))
    """

    def __init__(
        self,
        learning_rate=0.02,
        decay=0.998,
        steps_per_epoch=None,
        momentum=0.9,
        weight_clip=1.0,
        memory_axis=0,
        name="krotov",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise ValueError(f"`decay` must be in (0, 1]. Received: decay={decay!r}")
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1
        ):
            raise ValueError(
                f"`steps_per_epoch` must be None or an int >= 1. Received: steps_per_epoch={steps_per_epoch!r}"
            )
        if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        if weight_clip is not None and (not isinstance(weight_clip, (int, float)) or not weight_clip > 0):
            raise ValueError(f"`weight_clip` must be None or > 0. Received: weight_clip={weight_clip!r}")
        if not isinstance(memory_axis, int):
            raise ValueError(f"`memory_axis` must be an int. Received: memory_axis={memory_axis!r}")
        self.decay = float(decay)
        self.steps_per_epoch = steps_per_epoch
        self.momentum = float(momentum)
        self.weight_clip = None if weight_clip is None else float(weight_clip)
        self.memory_axis = memory_axis

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    def current_epoch(self):
        """`⌊iterations / steps_per_epoch⌋` (the exponent of the decay)."""
        steps = ops.cast(self.iterations, "float32")
        if self.steps_per_epoch:
            return ops.floor(steps / float(self.steps_per_epoch))
        return steps

    def _reduce_axes(self, rank):
        if rank < 2:
            return tuple(range(rank))
        axis = self.memory_axis % rank
        return tuple(a for a in range(rank) if a != axis)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        rate = ops.cast(learning_rate, dtype) * ops.cast(
            ops.power(self.decay, self.current_epoch()), dtype
        )
        velocity = self.velocities[self._get_variable_index(variable)]
        new_velocity = ops.cast(self.momentum, dtype) * velocity - gradient
        self.assign(velocity, new_velocity)
        axes = self._reduce_axes(len(variable.shape))
        if axes:
            scale = ops.max(ops.abs(new_velocity), axis=axes, keepdims=True)
        else:
            scale = ops.abs(new_velocity)
        # A memory whose update is all zeros stays put (no 0/0).
        safe = ops.where(ops.greater(scale, 0), scale, ops.ones_like(scale))
        step = rate * new_velocity / safe
        new_value = variable + step
        if self.weight_clip is not None:
            new_value = ops.clip(new_value, -self.weight_clip, self.weight_clip)
        self.assign(variable, new_value)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "decay": self.decay,
                "steps_per_epoch": self.steps_per_epoch,
                "momentum": self.momentum,
                "weight_clip": self.weight_clip,
                "memory_axis": self.memory_axis,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hopfield")
class RenormalizedSGD(keras.optimizers.Optimizer):
    """SGD with per-variable gradient renormalisation: the paper's *SGD-L2* / *SGD-Linf* (papers/001 App. D.1–D.2).

    Each variable's gradient is rescaled to a fixed norm before the step,
    `ξ ← ξ − η · target_norm · g / ‖g‖` with `‖·‖` the L2 norm (`norm="l2"`)
    or the largest absolute entry (`norm="linf"`), so every layer of weights
    moves by the same amount per batch whatever the size of its gradient —
    a guard against the vanishing/exploding gradients of long settling
    transients. Zero gradients stay zero.

    Args:
        learning_rate: `η` (0.01 in the paper), or a schedule.
        norm: `"l2"` or `"linf"`.
        target_norm: The norm every gradient is rescaled to (1.0 in the paper).
        momentum: Optional heavy-ball momentum in `[0, 1)` applied to the renormalised gradient.
        name: Optimizer name.
        **kwargs: Base `keras.optimizers.Optimizer` arguments.

    Example:
        >>> from keras_hopfield.optimizers import RenormalizedSGD
        >>> opt = RenormalizedSGD(0.01, norm="linf")
        >>> opt.norm
        'linf'
    """

    def __init__(self, learning_rate=0.01, norm="l2", target_norm=1.0, momentum=0.0, name="renormalized_sgd", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if norm not in ("l2", "linf"):
            raise ValueError(f"`norm` must be 'l2' or 'linf'. Received: norm={norm!r}")
        if not isinstance(target_norm, (int, float)) or not target_norm > 0:
            raise ValueError(f"`target_norm` must be > 0. Received: target_norm={target_norm!r}")
        if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        self.norm = norm
        self.target_norm = float(target_norm)
        self.momentum = float(momentum)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        if self.momentum > 0:
            self.velocities = self.add_optimizer_variables(variables, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        if self.norm == "l2":
            size = ops.sqrt(ops.sum(ops.square(gradient)))
        else:
            size = ops.max(ops.abs(gradient))
        safe = ops.where(ops.greater(size, 0), size, ops.ones_like(size))
        step = gradient * (self.target_norm / safe)
        if self.momentum > 0:
            velocity = self.velocities[self._get_variable_index(variable)]
            step = ops.cast(self.momentum, dtype) * velocity + step
            self.assign(velocity, step)
        self.assign_sub(variable, ops.cast(learning_rate, dtype) * step)

    def get_config(self):
        config = super().get_config()
        config.update({"norm": self.norm, "target_norm": self.target_norm, "momentum": self.momentum})
        return config
