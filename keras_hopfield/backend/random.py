"""Random numbers drawn inside compiled loops, per backend.

A `keras.random.SeedGenerator` updates a variable each time it is used. That
is fine inside the loops of the TensorFlow (graph `while_loop`) and PyTorch
(Python loop) backends, but a JAX loop body cannot update a variable: on JAX
one seed is drawn *before* the loop and a distinct key is derived for every
sweep from it (JAX random functions accept a key tensor as `seed`). Used by
the sequential and stochastic dynamics of `keras_hopfield.functional.classical`.
"""

import keras
from keras import ops

__all__ = ["SweepRandom", "resolve_seed"]

# Golden-ratio increment used to derive per-sweep JAX keys from one drawn seed.
_KEY_STRIDE = 0x9E3779B9


def resolve_seed(seed):
    """A `SeedGenerator` from `None`, an int or a `SeedGenerator` (returned as it is)."""
    if isinstance(seed, keras.random.SeedGenerator):
        return seed
    if seed is None or isinstance(seed, int):
        return keras.random.SeedGenerator(seed)
    raise ValueError(
        "`seed` must be None, an int or a keras.random.SeedGenerator. "
        f"Received: seed={seed!r}"
    )


class SweepRandom:
    """Per-sweep random numbers inside a compiled loop.

    A `SeedGenerator` updates a variable each time it is used. That is fine inside the
    loops of the TensorFlow (graph `while_loop`) and PyTorch (Python loop) backends, but a
    JAX loop body cannot update a variable, so on JAX one seed is drawn *before* the loop
    and a distinct key is derived for every sweep from it (JAX random functions accept a
    key tensor as `seed`). Either way the stream is fully determined by the generator.
    """

    def __init__(self, seed):
        self._generator = resolve_seed(seed)
        self._jax = keras.backend.backend() == "jax"
        self._base = self._generator.next() if self._jax else None

    def uniform(self, shape, step, salt, dtype):
        if self._jax:
            step = ops.cast(ops.add(ops.multiply(step, 2), salt + 1), "uint32")
            offset = ops.multiply(step, ops.convert_to_tensor(_KEY_STRIDE, dtype="uint32"))
            zero = ops.zeros((), "uint32")
            seed = ops.add(self._base, ops.stack([offset, zero]))
        else:
            seed = self._generator
        return keras.random.uniform(shape, dtype=dtype, seed=seed)
