"""Sharding the stored patterns of the memory layers with `keras.distribution`.

`keras.distribution.ModelParallel` (JAX backend) places each variable by the
first `LayoutMap` key that matches its path. `memory_layout_map` returns the
keys for the variables that grow with the number of stored patterns:

| layer (default name) | variable | shape | sharded axis |
|---|---|---|---|
| `HopfieldLookup` | `stored_patterns`, `stored_values` | `(N, d)` | N |
| `DenseAssociativeMemory` | `memories` | `(K, N + N_c)` | K |
| `RestrictedHopfieldMemory` | `kernel_k` | `(n_k, n_{k+1})` | hidden units |

The matching is by path (`<layer name>/<variable>`), so a renamed layer needs
its own key: `layout_map[".*my_memory/stored_patterns"] = ("model", None)`.
The sharded axis must be divisible by the mesh's model axis. `HopfieldRetrieval`
and `HopfieldPooling` have no stored-pattern variable: their stored patterns are
inputs, sharded with the batch.
"""

import keras

__all__ = ["MEMORY_VARIABLES", "memory_layout_map"]

# (path regex, which axis of the variable holds the stored patterns / memories)
MEMORY_VARIABLES = (
    (r".*hopfield_lookup[^/]*/stored_patterns", 0),
    (r".*hopfield_lookup[^/]*/stored_values", 0),
    (r".*dense_associative_memory[^/]*/memories", 0),
    (r".*restricted_hopfield_memory[^/]*/kernel_\d+", 1),
)


def memory_layout_map(device_mesh, model_axis="model", layout_map=None):
    """A `keras.distribution.LayoutMap` that shards every memory variable over `model_axis`.

    Every other variable stays replicated (unless `layout_map` already has a
    key for it); the batch is sharded over the mesh's other axis by
    `keras.distribution.ModelParallel(layout_map=..., batch_dim_name=...)`.

    Args:
        device_mesh: A `keras.distribution.DeviceMesh` with an axis named `model_axis`.
        model_axis: The mesh axis that the stored patterns are split over.
        layout_map: An existing `LayoutMap` on the same mesh to add the keys to
            (for the rest of a model); a new one by default.

    Returns:
        The `LayoutMap`.

    Raises:
        ValueError: If the mesh has no axis `model_axis`, or `layout_map` is on
            another mesh.

    Example:
        >>> import keras
        >>> from keras_hopfield.distribution import memory_layout_map
        >>> mesh = keras.distribution.DeviceMesh((1,), ["model"], ["cpu:0"])  # or list_devices() on JAX
        >>> layout_map = memory_layout_map(mesh)
        >>> layout_map["model/hopfield_lookup/stored_patterns"].axes
        ('model', None)
    """
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"The device mesh has axes {list(device_mesh.axis_names)}; it has no axis "
            f"model_axis={model_axis!r} to shard the stored patterns over."
        )
    if layout_map is None:
        layout_map = keras.distribution.LayoutMap(device_mesh)
    elif layout_map.device_mesh is not device_mesh:
        raise ValueError("`layout_map` must be on the same `device_mesh`.")
    for pattern, axis in MEMORY_VARIABLES:
        layout_map[pattern] = (None, model_axis) if axis == 1 else (model_axis, None)
    return layout_map
