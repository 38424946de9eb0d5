"""Which fused kernels pay off on the active backend.

`keras.ops.dot_product_attention` maps to PyTorch's fused
`scaled_dot_product_attention` kernel on the torch backend, which is 2–4×
faster on CPU than the same math as separate `matmul`/`softmax` ops
(benchmarks/retrieval_speed.py). On TensorFlow and JAX it lowers to the same
XLA ops as the explicit path and measured slightly slower, so layers keep the
explicit path there. This is the one place that knows.
"""

import keras

__all__ = ["prefers_fused_attention"]


def prefers_fused_attention():
    """Whether `HopfieldRetrieval` should use `ops.dot_product_attention` for one-step softmax retrieval.

    Returns:
        `True` on the PyTorch backend, `False` otherwise.
    """
    return keras.backend.backend() == "torch"
