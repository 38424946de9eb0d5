"""Keras layers of keras-hopfield."""

from keras_hopfield.layers.cban import BipartiteNormal, CBANBlock
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
    "BipartiteNormal",
    "CRHNEncoder",
    "RestrictedHopfieldMemory",
]
