"""Replica-aware helpers for training under Keras's distribution engines.

The JAX backend's `keras.distribution` (`DataParallel`, `ModelParallel`) runs
one SPMD program over global arrays: a batch sharded over devices is still one
tensor, so a gradient-free update inside `call` (Hebbian storage, an SRA sweep,
inference learning) sees the whole batch and needs nothing from us.

TensorFlow's `tf.distribute.MirroredStrategy` instead runs `call` once per
replica on that replica's slice of the batch. Keras all-reduces the gradients,
but two things are left to the layer:

* a variable update computed from the batch inside `call` would use only the
  local slice and leave each replica's copy different (replica-local drift);
  `global_batch` gathers the slices so every replica computes the same update
  from the same global batch;
* a loss that a model computes itself (not through a `keras.losses.Loss`) must
  be divided by the number of replicas, as Keras's own losses are, or the
  summed gradients count the batch once per replica (`scale_loss`).

This module is the only place that branches on the backend for this; on JAX
and PyTorch every helper is the identity.
"""

import contextlib

import keras
from keras import ops

__all__ = [
    "num_replicas",
    "scale_loss",
    "global_batch",
    "draw_for_global_batch",
    "require_single_replica",
    "strategy_scope",
]


def _replica_context():
    """The TF replica context when running inside a multi-replica `strategy.run`, else `None`."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def num_replicas():
    """Number of replicas that run the current step in lock-step (1 outside `tf.distribute`).

    Returns:
        `num_replicas_in_sync` of the current TensorFlow replica context, or 1
        (JAX's SPMD distribution and PyTorch run one program over the whole batch).

    Example:
        >>> from keras_hopfield.backend.distribution import num_replicas
        >>> num_replicas()
        1
    """
    context = _replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def scale_loss(loss):
    """`loss / num_replicas()`: the scaling Keras applies to its own losses.

    A model that returns its own loss from `compute_loss` (CBAN's settling
    losses) calls this so that the gradients all-reduced (summed) over the
    replicas of a `MirroredStrategy` equal the gradient of the global batch.

    Args:
        loss: Scalar loss tensor of the local batch (a mean over it).

    Returns:
        The scaled loss (unchanged with one replica).

    Example:
        >>> from keras_hopfield.backend.distribution import scale_loss
        >>> float(scale_loss(2.0))
        2.0
    """
    n = num_replicas()
    if n == 1:
        return loss
    return loss * ops.cast(1.0 / n, loss.dtype)


def global_batch(x):
    """The whole batch of the step, on every replica.

    Under a multi-replica `MirroredStrategy` the replicas' slices are gathered
    in replica order (replica 0's examples first, as the batch was split), so
    an update computed from the result is identical on every replica and equal
    to the single-device update. Elsewhere `x` is already the whole batch.

    Args:
        x: Tensor whose first axis is the (local) batch.

    Returns:
        Tensor with the global batch on the first axis.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.backend.distribution import global_batch
        >>> tuple(global_batch(np.zeros((4, 3), "float32")).shape)
        (4, 3)
    """
    context = _replica_context()
    if context is None:
        return x
    return context.all_gather(x, axis=0)


def _local_span(context, local_size):
    """`(start, global_size)` of this replica's rows (the last batch may split unevenly)."""
    import tensorflow as tf

    sizes = context.all_gather(tf.reshape(tf.cast(local_size, "int32"), (1,)), axis=0)
    return tf.reduce_sum(sizes[: context.replica_id_in_sync_group]), tf.reduce_sum(sizes)


def draw_for_global_batch(draw, shape, batch_axis=0):
    """Random draws for this replica's examples that equal a single-device draw.

    `draw(shape)` draws for the whole batch on one device. Under a
    multi-replica `MirroredStrategy` every replica would otherwise draw with the
    same seed state, giving its examples the same noise as the other replicas'
    examples (and not the single-device noise); here each replica draws for the
    global batch and keeps its own rows.

    Args:
        draw: Callable `shape -> tensor` (e.g. a `keras.random.normal` with a
            `SeedGenerator`).
        shape: The local shape (a tuple; its `batch_axis` entry is the local batch).
        batch_axis: Which axis of `shape` is the batch.

    Returns:
        A tensor of `shape`.
    """
    context = _replica_context()
    if context is None:
        return draw(shape)
    import tensorflow as tf

    start, total = _local_span(context, shape[batch_axis])
    full = list(shape)
    full[batch_axis] = total
    values = draw(tuple(full))
    size = shape[batch_axis]
    return tf.gather(values, tf.range(start, start + size), axis=batch_axis)


def require_single_replica(model_name, reason, remedy):
    """Raise a clear error when called inside a multi-replica `tf.distribute` step.

    Args:
        model_name: The class that cannot be distributed.
        reason: Why its training cannot be split over replicas.
        remedy: What the user can do instead.

    Raises:
        ValueError: Inside a `MirroredStrategy` (or another multi-replica
            `tf.distribute` strategy) step with more than one replica.
    """
    context = _replica_context()
    if context is None:
        return
    import tensorflow as tf

    strategy = type(tf.distribute.get_strategy()).__name__
    raise ValueError(
        f"{model_name} cannot be trained under tf.distribute.{strategy} with "
        f"{context.num_replicas_in_sync} replicas: {reason} {remedy}"
    )


def strategy_scope(model):
    """The scope of the `tf.distribute` strategy `model` was created under (a null context elsewhere).

    A model that builds and compiles a helper model of its own (CRHN's stage-1
    autoencoder) enters this so the helper trains under the same strategy, even
    when `fit_autoencoder` is called outside `strategy.scope()`.

    Args:
        model: A `keras.Model`.

    Returns:
        A context manager.
    """
    strategy = getattr(model, "_distribute_strategy", None) if keras.backend.backend() == "tensorflow" else None
    return contextlib.nullcontext() if strategy is None else strategy.scope()
