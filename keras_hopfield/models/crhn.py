"""Convolutional restricted Hopfield network (CRHN) model (MATH.md §6, papers/003)."""

import keras
import numpy as np
from keras import ops

from keras_hopfield.backend.distribution import strategy_scope
from keras_hopfield.layers.crhn import CRHNEncoder, RestrictedHopfieldMemory

__all__ = ["CRHN"]


@keras.saving.register_keras_serializable(package="keras_hopfield")
class CRHN(keras.Model):
    """Convolutional restricted Hopfield network: encoder → RHN memory → tied decoder.

    Retrieval of an image `x` (papers/003 Fig. 2):

    $$z^{(0)} = \\operatorname{sgn}(E(x)),\\qquad z^{(t+1)} = \\operatorname{sgn}(T(z^{(t)})),
      \\qquad \\hat x = E^\\top\\!\\text{-decoder}(z^{(\\infty)}),$$

    with `E` the convolutional encoder, `T` one forward+backward sweep of the
    restricted Hopfield network and the decoder the transposed convolutions
    with the encoder's kernels (see
    [`CRHNEncoder`][keras_hopfield.layers.crhn.CRHNEncoder] and
    [`RestrictedHopfieldMemory`][keras_hopfield.layers.crhn.RestrictedHopfieldMemory]).

    Training has two stages:

    1. `fit_autoencoder(x)`: the tied encoder/decoder is trained as an
       autoencoder with `fit` (straight-through sign);
    2. `store(x)`: the binary latents of the memory set are stored in the RHN
       by the subspace rotation algorithm (no gradients). Equivalently, with
       `memory.store_on_fit=True` and a frozen encoder, `model.fit(x, x,
       batch_size=len(x))` performs one SRA sweep per epoch.

    Calling the model returns the retrieved image; `retrieve(x,
    return_trajectory=True)` also returns the latent trajectory, and
    `autoencode(x)` is the ablation without the RHN (encoder → sign → decoder).

    Args:
        encoder: A `CRHNEncoder` (default `CRHNEncoder()`).
        memory: A `RestrictedHopfieldMemory` (default
            `RestrictedHopfieldMemory()`); its `hidden_units[0]` must not exceed
            the encoder's latent size.
        **kwargs: Base `keras.Model` arguments (`name`, ...).

    Returns:
        Calling the model on images `(N, H, W, C)` returns the retrieved
        images `(N, H, W, C)`.

    Raises:
        TypeError: If `encoder` or `memory` has the wrong type.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.models import CRHN
        >>> from keras_hopfield.layers.crhn import CRHNEncoder, RestrictedHopfieldMemory
        >>> x = np.random.default_rng(0).uniform(size=(8, 16, 16, 3)).astype("float32")
        >>> crhn = CRHN(CRHNEncoder(filters=(8, 16), latent_dim=64),
        ...             RestrictedHopfieldMemory(hidden_units=32, seed=0))
        >>> history = crhn.fit_autoencoder(x, epochs=2, verbose=0)
        >>> info = crhn.store(x)
        >>> images, trajectory = crhn.retrieve(x, return_trajectory=True)
        >>> tuple(images.shape), tuple(trajectory.shape)[1:]
        ((8, 16, 16, 3), (8, 64))
    """

    def __init__(self, encoder=None, memory=None, **kwargs):
        super().__init__(**kwargs)
        encoder = CRHNEncoder() if encoder is None else encoder
        memory = RestrictedHopfieldMemory() if memory is None else memory
        if not isinstance(encoder, CRHNEncoder):
            raise TypeError(f"`encoder` must be a CRHNEncoder. Received: {type(encoder).__name__}")
        if not isinstance(memory, RestrictedHopfieldMemory):
            raise TypeError(f"`memory` must be a RestrictedHopfieldMemory. Received: {type(memory).__name__}")
        self.encoder = encoder
        self.memory = memory
        # Not tracked: the stage-1 model shares the encoder's variables, which
        # must be saved once, under `encoder`.
        object.__setattr__(self, "_autoencoder", None)

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        if not self.memory.built:
            self.memory.build((None, self.encoder.latent_size))
        elif self.memory.units != self.encoder.latent_size:
            raise ValueError(
                f"The memory was built for latents of size {self.memory.units}, the encoder's latent size "
                f"is {self.encoder.latent_size}."
            )
        self.built = True

    def call(self, inputs, training=None):
        z = self.encoder.encode(inputs)
        retrieved = self.memory(z, training=training)
        return self.encoder.decode(retrieved)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # ----------------------------------------------------------------- stages
    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))

    def fit_autoencoder(self, x, optimizer="adam", loss="mse", **fit_kwargs):
        """Stage 1: trains the tied encoder/decoder as an autoencoder with `fit`.

        Minimises `loss(x, D(sgn(E(x))))` (straight-through gradient through
        the sign) over the shared kernels and the biases.

        Args:
            x: Training images `(N, H, W, C)` (NumPy array or dataset, as `fit`).
            optimizer: Optimizer for `compile`.
            loss: Reconstruction loss for `compile`.
            **fit_kwargs: Passed to `keras.Model.fit` (`epochs`, `batch_size`, ...).

        Returns:
            The `History` of the autoencoder's `fit`.
        """
        x = np.asarray(x, dtype="float32") if not hasattr(x, "element_spec") else x
        # Under the CRHN's tf.distribute strategy, if it was made in one (a no-op elsewhere).
        with strategy_scope(self):
            if self._autoencoder is None:
                inputs = keras.Input(tuple(x.shape[1:]))
                model = keras.Model(inputs, self.encoder(inputs), name=f"{self.name}_autoencoder")
                object.__setattr__(self, "_autoencoder", model)
            self._ensure_built(x)
            self._autoencoder.compile(optimizer=optimizer, loss=loss)
        return self._autoencoder.fit(x, x, **fit_kwargs)

    def autoencoder(self):
        """The stage-1 `keras.Model` `x ↦ D(sgn(E(x)))` (shares the encoder; `None` before `fit_autoencoder`).

        A method, not an attribute, so that saving stores the shared encoder once.
        """
        return self._autoencoder

    def encode(self, x, batch_size=256):
        """Binary latents `sgn(E(x))` of images, `(N, latent_size)` (NumPy)."""
        x = np.asarray(x, dtype="float32")
        self._ensure_built(x)
        parts = [
            np.asarray(ops.convert_to_numpy(self.encoder.encode(x[i : i + batch_size])))
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def store(self, x, max_sweeps=None, warn=True):
        """Stage 2: stores the binary latents of the images `x` in the RHN by SRA.

        Args:
            x: Memory set `(P, H, W, C)`.
            max_sweeps: Overrides the memory's `max_sweeps`.
            warn: Warn when some latents are not fixed points (capacity).

        Returns:
            The dict of [`RestrictedHopfieldMemory.store`][keras_hopfield.layers.crhn.RestrictedHopfieldMemory.store].
        """
        return self.memory.store(self.encode(x), max_sweeps=max_sweeps, warn=warn)

    def retrieve(self, x, return_trajectory=False):
        """Retrieves images from (corrupted) images.

        Args:
            x: Query images `(N, H, W, C)`.
            return_trajectory: Also return the latent trajectory (binary, or continuous
                with `memory.dynamics == "continuous"`)
                `(memory.max_steps + 1, N, latent_size)` (converged latents repeat).

        Returns:
            Retrieved images `(N, H, W, C)` (and the trajectory).
        """
        x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
        self._ensure_built(x)
        z = self.encoder.encode(x)
        if return_trajectory:
            trajectory = self.memory.trajectory(z)
            return self.encoder.decode(trajectory[-1]), trajectory
        return self.encoder.decode(self.memory.retrieve(z))

    def autoencode(self, x):
        """The ablation without the RHN: `D(sgn(E(x)))` (papers/003 Table II)."""
        x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
        self._ensure_built(x)
        return self.encoder(x)

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "memory": keras.saving.serialize_keras_object(self.memory),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["memory"] = keras.saving.deserialize_keras_object(config["memory"])
        return cls(**config)
