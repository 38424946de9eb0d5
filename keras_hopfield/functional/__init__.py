"""Pure tensor math shared by every model, one module per model family.

Everything here is written with `keras.ops` only, so it runs unchanged on the
TensorFlow, JAX and PyTorch backends and inside compiled (XLA / `jit`) code.
Layers in `keras_hopfield.layers` call these functions; nothing else
re-implements an update or an energy.

| module | what it holds |
|---|---|
| `functional.separation` | log-sum-exp, softmax / sparsemax / entmax15, their conjugates |
| `functional.modern` | modern Hopfield association, update, energy, iteration; β regimes |
| `functional.chunked` | retrieval from 10⁵–10⁶ stored patterns by streaming log-sum-exp |
| `functional.attractor` | CBAN activations, barriers and settling losses |
| `functional.classical` | classical binary Hopfield: storage rules, energy, dynamics |
| `functional.dense_memory` | dense associative memory (Krotov–Hopfield) and its capacity |

Every public name is also importable from `keras_hopfield.functional` itself
(`from keras_hopfield import functional as F; F.hopfield_update(...)`), and
the classical and dense-memory names from `keras_hopfield.functional_classical`
as before.

Conventions (modern networks): the *state* (query) patterns live on the
second-to-last axis of `state` (`(..., L, d)`), the *stored* patterns on the
second-to-last axis of `memory` (`(..., N, d)`). Leading axes broadcast, so a
memory of shape `(N, d)` is shared by a batch of states `(B, L, d)`. Masks are
boolean with Keras semantics: `True` marks a stored pattern that may be
attended to.
"""

from keras_hopfield.functional import attractor, chunked, classical, dense_memory, modern, separation
from keras_hopfield.functional.attractor import *  # noqa: F401,F403
from keras_hopfield.functional.chunked import *  # noqa: F401,F403
from keras_hopfield.functional.classical import *  # noqa: F401,F403
from keras_hopfield.functional.dense_memory import *  # noqa: F401,F403
from keras_hopfield.functional.modern import *  # noqa: F401,F403
from keras_hopfield.functional.separation import *  # noqa: F401,F403

__all__ = (
    separation.__all__
    + modern.__all__
    + chunked.__all__
    + attractor.__all__
    + classical.__all__
    + dense_memory.__all__
)
