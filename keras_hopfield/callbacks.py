"""Callbacks of keras-hopfield."""

import keras

__all__ = ["TemperatureAnnealing"]


class TemperatureAnnealing(keras.callbacks.Callback):
    """Linear temperature annealing over the first epochs (papers/002 App. A).

    $$T(e) = T_i + (T_f - T_i) \\min(e / E, 1),$$

    set at the beginning of epoch `e` (0-based), so training starts at `T_i`, reaches
    `T_f` at epoch `E` and stays there. The temperature of every target layer is set
    with its `set_temperature(value)` method (`DenseAssociativeMemory`,
    `HebbianHopfield`), which assigns a non-trainable variable: compiled train functions
    are not retraced, and it works with `fit` on every backend. The current value is
    added to the epoch logs as `"temperature"`.

    Args:
        initial_temperature: `T_i > 0`.
        final_temperature: `T_f > 0`.
        epochs: `E ≥ 1`, the number of epochs of the ramp.
        layers: A layer, a list of layers, or `None` for every layer of the model that
            has a `set_temperature` method.

    Example:
        >>> import keras
        >>> import numpy as np
        >>> from keras_hopfield.callbacks import TemperatureAnnealing
        >>> from keras_hopfield.layers import DenseAssociativeMemory
        >>> dam = DenseAssociativeMemory(8, num_labels=2, mode="classifier", temperature=400.0)
        >>> model = keras.Sequential([keras.Input((6,)), dam])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> anneal = TemperatureAnnealing(400.0, 60.0, epochs=2)
        >>> x, y = np.zeros((4, 6), "float32"), -np.ones((4, 2), "float32")
        >>> history = model.fit(x, y, epochs=3, callbacks=[anneal], verbose=0)
        >>> temperatures = [round(float(t), 1) for t in history.history["temperature"]]
        >>> temperatures  # one per epoch: the ramp over 2 epochs, then T_f
        [400.0, 230.0, 60.0]
    """

    def __init__(self, initial_temperature, final_temperature, epochs, layers=None):
        super().__init__()
        for name, value in (
            ("initial_temperature", initial_temperature),
            ("final_temperature", final_temperature),
        ):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"`epochs` must be an int >= 1. Received: epochs={epochs!r}")
        self.initial_temperature = float(initial_temperature)
        self.final_temperature = float(final_temperature)
        self.epochs = epochs
        if layers is not None and not isinstance(layers, (list, tuple)):
            layers = [layers]
        self.layers = layers
        self.current_temperature = self.initial_temperature

    def temperature_at(self, epoch):
        """The temperature used during (0-based) `epoch`."""
        fraction = min(max(epoch, 0) / self.epochs, 1.0)
        return self.initial_temperature + (self.final_temperature - self.initial_temperature) * fraction

    def _targets(self):
        if self.layers is not None:
            return list(self.layers)
        targets = [
            layer for layer in self.model._flatten_layers(include_self=False)
            if hasattr(layer, "set_temperature")
        ]
        if not targets:
            raise ValueError(
                "TemperatureAnnealing found no layer with a `set_temperature` method in the model."
            )
        return targets

    def on_epoch_begin(self, epoch, logs=None):
        self.current_temperature = self.temperature_at(epoch)
        for layer in self._targets():
            layer.set_temperature(self.current_temperature)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["temperature"] = self.current_temperature

    def get_config(self):
        return {
            "initial_temperature": self.initial_temperature,
            "final_temperature": self.final_temperature,
            "epochs": self.epochs,
        }
