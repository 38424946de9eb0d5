"""Initialisers of keras-hopfield.

`BipartiteNormal` is the Gaussian of papers/001 App. D.1–D.2 that the
bipartite attractor nets (`keras_hopfield.layers.CBANBlock`,
`keras_hopfield.models.CBAN`) start from. (It used to live in
`keras_hopfield.layers.cban`; that name is kept as an alias of this class, and
its registered name `keras_hopfield>BipartiteNormal` is unchanged, so saved
`.keras` files still load.)
"""

import math
import random

import keras

from keras_hopfield import _validation as V

__all__ = ["BipartiteNormal"]


@keras.saving.register_keras_serializable(package="keras_hopfield")
class BipartiteNormal(keras.initializers.Initializer):
    """Gaussian initialiser of papers/001 App. D.1–D.2.

    `std = scale · (½ n_l + ½ n_{l+1} + 1)^{−½}` with `n_l`, `n_{l+1}` the
    numbers of units of the two layers a weight joins (fan-in and fan-out of
    the kernel; for a convolution, per receptive field).

    Args:
        scale: The factor in front (0.1 in the paper).
        fan_in: Override of `n_l` (used for biases, whose shape does not say it).
        fan_out: Override of `n_{l+1}`.
        seed: Random seed.

    Example:
        >>> from keras_hopfield.initializers import BipartiteNormal
        >>> w = BipartiteNormal(seed=0)((25, 50))
        >>> tuple(w.shape)
        (25, 50)
    """

    def __init__(self, scale=0.1, fan_in=None, fan_out=None, seed=None):
        owner = type(self).__name__
        self.scale = V.positive_float(owner, "scale", scale)
        self.fan_in = V.positive_int(owner, "fan_in", fan_in, allow_none=True)
        self.fan_out = V.positive_int(owner, "fan_out", fan_out, allow_none=True)
        self.seed = V.seed(owner, "seed", seed)
        # An integer seed drawn now (as Keras's own random initialisers do), so the
        # initialiser also works while a JAX function is being traced.
        # (`keras.utils.set_random_seed` seeds Python's `random`).
        self._seed = seed if seed is not None else random.randint(1, 10**9)

    def stddev(self, shape):
        shape = tuple(int(s) for s in shape)
        if self.fan_in is not None and self.fan_out is not None:
            n_in, n_out = self.fan_in, self.fan_out
        elif len(shape) == 1:
            n_in = n_out = shape[0]
        else:
            receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
            n_in, n_out = shape[-2] * receptive, shape[-1] * receptive
        return self.scale / math.sqrt(0.5 * n_in + 0.5 * n_out + 1.0)

    def __call__(self, shape, dtype=None):
        return keras.initializers.RandomNormal(stddev=self.stddev(shape), seed=self._seed)(shape, dtype=dtype)

    def get_config(self):
        return {"scale": self.scale, "fan_in": self.fan_in, "fan_out": self.fan_out, "seed": self.seed}
