"""Keras layers of keras-hopfield.

Every public layer is listed in `__all__` and re-exported by the top-level
`keras_hopfield` package. (`BipartiteNormal` is an initialiser: it lives in
`keras_hopfield.initializers`; the name here is a kept alias of that class.)
"""

from keras_hopfield.initializers import BipartiteNormal  # noqa: F401 - alias, see the docstring
from keras_hopfield.layers.cban import CBANBlock
from keras_hopfield.layers.classical import HebbianHopfield
from keras_hopfield.layers.conv import ConvHNN1D, ConvHNN2D
from keras_hopfield.layers.crhn import CRHNEncoder, RestrictedHopfieldMemory
from keras_hopfield.layers.deep import VHNN, ConvexMerge, DeepHNN
from keras_hopfield.layers.dense_memory import DenseAssociativeMemory
from keras_hopfield.layers.retrieval import HopfieldLookup, HopfieldPooling, HopfieldRetrieval

__all__ = [
    "HopfieldRetrieval",
    "HopfieldPooling",
    "HopfieldLookup",
    "HebbianHopfield",
    "DenseAssociativeMemory",
    "DeepHNN",
    "VHNN",
    "ConvexMerge",
    "ConvHNN1D",
    "ConvHNN2D",
    "CBANBlock",
    "CRHNEncoder",
    "RestrictedHopfieldMemory",
]
