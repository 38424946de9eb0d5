"""Reading and setting the Keras mask carried by a tensor.

Keras keeps this bookkeeping private (`keras.src.backend.get_keras_mask` /
`set_keras_mask`, the helpers `keras.layers.MultiHeadAttention` uses); this
module is the one place that imports them, with a fallback to the
`_keras_mask` attribute they read and write should a Keras release move them.
"""

try:
    from keras.src.backend import get_keras_mask as _get
    from keras.src.backend import set_keras_mask as _set
except ImportError:  # pragma: no cover - other Keras layouts
    _get = _set = None

__all__ = ["get_keras_mask", "set_keras_mask"]


def get_keras_mask(x):
    """The Keras mask attached to tensor `x`, or `None`."""
    if _get is not None:
        return _get(x)
    return getattr(x, "_keras_mask", None)  # pragma: no cover


def set_keras_mask(x, mask):
    """Attaches `mask` to tensor `x` (`None` removes it); a no-op for tensors that take no attributes."""
    if _set is not None:
        return _set(x, mask)
    try:  # pragma: no cover
        x._keras_mask = mask
    except AttributeError:  # pragma: no cover
        pass
