"""keras-hopfield: associative-memory and attractor networks for Keras 3.

Export policy: every public layer (`keras_hopfield.layers.__all__`) and model
(`keras_hopfield.models.__all__`) is importable from the top level; the
submodules (`layers`, `models`, `initializers`, `functional`, ...) hold the
rest.
"""

from keras_hopfield import (
    attacks,
    callbacks,
    corruptions,
    datasets,
    functional,
    functional_classical,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    plotting,
)
from keras_hopfield.layers import (
    VHNN,
    CBANBlock,
    ConvexMerge,
    ConvHNN1D,
    ConvHNN2D,
    CRHNEncoder,
    DeepHNN,
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
    "initializers",
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
    "DeepHNN",
    "VHNN",
    "ConvexMerge",
    "ConvHNN1D",
    "ConvHNN2D",
    "CBANBlock",
    "CBAN",
    "CRHNEncoder",
    "RestrictedHopfieldMemory",
    "CRHN",
    "PredictiveCodingMemory",
]
