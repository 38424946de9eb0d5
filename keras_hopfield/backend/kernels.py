"""Which fused kernels pay off on the active backend.

`keras.ops.dot_product_attention` maps to PyTorch's fused
`scaled_dot_product_attention` kernel on the torch backend, which is 2–4×
faster on CPU than the same math as separate `matmul`/`softmax` ops
(benchmarks/retrieval_speed.py). On TensorFlow and JAX it lowers to the same
XLA ops as the explicit path and measured slightly slower, so layers keep the
explicit path there. This is the one place that knows.

Softmax: PyTorch's CPU softmax over a *last* axis shorter than 16 takes a
scalar path, 10–15× slower than over any other axis of the same tensor
(measured with torch 2.x for lengths 4–15 vs ≥ 16; the Hopfield convolution's
`filters` logits, e.g. 9, hit it). On torch such a softmax is computed over
the same axis moved to the front (a view, no copy).

"""

import keras
from keras import ops

__all__ = ["prefers_fused_attention", "softmax"]


def prefers_fused_attention():
    """Whether `HopfieldRetrieval` should use `ops.dot_product_attention` for one-step softmax retrieval.

    Returns:
        `True` on the PyTorch backend, `False` otherwise.
    """
    return keras.backend.backend() == "torch"


# PyTorch's vectorised last-axis softmax needs at least this many entries.
_TORCH_SHORT_SOFTMAX = 16


def softmax(z, axis=-1):
    """`keras.ops.softmax(z, axis)`, avoiding PyTorch's slow path for short last axes.

    Args:
        z: Tensor of logits.
        axis: Axis to normalise over.

    Returns:
        The softmax of `z` along `axis` (same values on every backend).
    """
    rank = len(z.shape)
    last = axis in (-1, rank - 1)
    size = z.shape[-1] if rank else None
    if keras.backend.backend() == "torch" and last and rank > 1 and size is not None and size < _TORCH_SHORT_SOFTMAX:
        return ops.moveaxis(ops.softmax(ops.moveaxis(z, -1, 0), axis=0), 0, -1)
    return ops.softmax(z, axis=axis)

