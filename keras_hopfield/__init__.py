"""keras-hopfield: associative-memory and attractor networks for Keras 3."""

from keras_hopfield import functional, layers
from keras_hopfield.layers import HopfieldLookup, HopfieldPooling, HopfieldRetrieval

__version__ = "0.1.0.dev0"

__all__ = ["functional", "layers", "HopfieldRetrieval", "HopfieldPooling", "HopfieldLookup"]
