"""Keras `Model` subclasses that own a training recipe (TD(1) settling, SRA storage, inference learning)."""

from keras_hopfield.models.cban import CBAN
from keras_hopfield.models.crhn import CRHN

__all__ = ["CBAN", "CRHN"]
