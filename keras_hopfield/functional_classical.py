"""The classical Hopfield network and dense associative memory (import path kept).

The functions live in `keras_hopfield.functional.classical` and
`keras_hopfield.functional.dense_memory`; this module re-exports them under
their old path, so `from keras_hopfield.functional_classical import hebb_weights`
and `from keras_hopfield import functional_classical as fc` keep working.
"""

from keras_hopfield.functional import classical as _classical
from keras_hopfield.functional import dense_memory as _dense_memory
from keras_hopfield.functional.classical import *  # noqa: F401,F403
from keras_hopfield.functional.dense_memory import *  # noqa: F401,F403

__all__ = _classical.__all__ + _dense_memory.__all__
