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

Softmax-then-mix (`softmax(l) @ A` over the last axis, the Hopfield update in
logit space): on torch a `channels_last` convolution output is often a
permuted view of an NCHW buffer (Keras runs torch convolutions as NCHW; with
one input channel the result stays NCHW in memory). There, softmax over
axis 1 of that buffer and one batched `A @ S` per image avoid both the short
last-axis softmax and a matmul on a strided operand (2–3× faster for a 9×9
`A`, benchmarks/convhnn_speed.py).
"""

import keras
from keras import ops

__all__ = ["prefers_fused_attention", "softmax", "softmax_mix"]


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


def softmax_mix(logits, mix):
    """`softmax(logits, axis=-1) @ mix` with the fastest layout on the active backend.

    Args:
        logits: `(..., K)` tensor.
        mix: `(K, K)` **symmetric** matrix, or any matrix broadcastable
            against `logits` for `matmul` (then the generic path is taken).

    Returns:
        `(..., K)` tensor, the same values on every backend.
    """
    if (
        keras.backend.backend() == "torch"
        and len(logits.shape) >= 3
        and len(mix.shape) == 2
        and logits.stride(-1) != 1
        and logits.movedim(-1, 1).is_contiguous()
    ):
        # Channels-first in memory: mix per image as `A @ S` on the (K, positions) block.
        first = ops.moveaxis(logits, -1, 1)
        shape = ops.shape(first)
        blocks = ops.reshape(ops.softmax(first, axis=1), (shape[0], shape[1], -1))
        return ops.moveaxis(ops.reshape(ops.matmul(mix, blocks), shape), 1, -1)
    return ops.matmul(softmax(logits, axis=-1), mix)
