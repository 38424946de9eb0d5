"""dtype helpers shared by the modules of `keras_hopfield.functional`."""

import keras
import numpy as np
from keras import ops

def _floatx_min(dtype):
    return float(np.finfo(np.dtype(keras.backend.standardize_dtype(dtype))).min)


def _beta_tensor(beta, dtype):
    if isinstance(beta, (int, float)):
        return ops.convert_to_tensor(beta, dtype=dtype)
    return ops.cast(beta, dtype)


def _core_dtype(dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype
