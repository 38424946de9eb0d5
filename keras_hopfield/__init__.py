"""keras-hopfield: associative-memory and attractor networks for Keras 3."""

from keras_hopfield import attacks, corruptions, datasets, functional, layers, metrics, plotting
from keras_hopfield.layers import HopfieldLookup, HopfieldPooling, HopfieldRetrieval

__version__ = "0.1.0.dev0"

__all__ = [
    "attacks",
    "corruptions",
    "datasets",
    "functional",
    "layers",
    "metrics",
    "plotting",
    "HopfieldRetrieval",
    "HopfieldPooling",
    "HopfieldLookup",
]
