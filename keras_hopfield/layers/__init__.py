"""Keras layers of keras-hopfield."""

from keras_hopfield.layers.retrieval import HopfieldLookup, HopfieldPooling, HopfieldRetrieval

__all__ = ["HopfieldRetrieval", "HopfieldPooling", "HopfieldLookup"]
