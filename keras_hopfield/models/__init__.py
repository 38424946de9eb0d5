"""Keras `Model` subclasses that own a training recipe (TD(1) settling, SRA storage, inference learning)."""

from keras_hopfield.models.cban import CBAN
from keras_hopfield.models.crhn import CRHN
from keras_hopfield.models.predictive_coding import PredictiveCodingMemory

__all__ = ["CBAN", "CRHN", "PredictiveCodingMemory"]
