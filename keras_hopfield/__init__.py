"""keras-hopfield: associative-memory and attractor networks for Keras 3."""

from keras_hopfield import (
    attacks,
    callbacks,
    corruptions,
    datasets,
    functional,
    functional_classical,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    plotting,
)
from keras_hopfield.layers import (
    CBANBlock,
    CRHNEncoder,
    DenseAssociativeMemory,
    HebbianHopfield,
    HopfieldLookup,
    HopfieldPooling,
    HopfieldRetrieval,
    RestrictedHopfieldMemory,
)
from keras_hopfield.models import CBAN, CRHN, PredictiveCodingMemory

__version__ = "0.1.0.dev0"

__all__ = [
    "attacks",
    "callbacks",
    "corruptions",
    "datasets",
    "functional",
    "functional_classical",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "plotting",
    "HopfieldRetrieval",
    "HopfieldPooling",
    "HopfieldLookup",
    "HebbianHopfield",
    "DenseAssociativeMemory",
    "CBANBlock",
    "CBAN",
    "CRHNEncoder",
    "RestrictedHopfieldMemory",
    "CRHN",
    "PredictiveCodingMemory",
]
