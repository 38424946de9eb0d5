"""Transfer workflow (CRHN paper): memories without useful gradients are
attacked through a differentiable surrogate. `make_surrogate_autoencoder` /
`train_surrogate_autoencoder` build one, `transfer_attack` crafts the
adversarial inputs on it and `evaluate_transfer` feeds them to every model
under test.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_hopfield.attacks._common import _forward
from keras_hopfield.attacks.registry import get
from keras_hopfield.corruptions import check_value_range

__all__ = [
    "make_surrogate_autoencoder",
    "train_surrogate_autoencoder",
    "transfer_attack",
    "evaluate_transfer",
]


def make_surrogate_autoencoder(input_shape, filters=(16, 32), seed=None, compile=True, learning_rate=3e-3):
    """A small convolutional autoencoder to craft transferable attacks on.

    Encoder: `len(filters)` 3x3 convolutions with ReLU, each halving the
    resolution while the size stays even; decoder: the mirrored transposed
    convolutions and a 3x3 sigmoid output convolution, so that

        f: [0, 1]^(H x W x C) -> [0, 1]^(H x W x C).

    Args:
        input_shape: `(H, W, C)`.
        filters: Channels of the encoder convolutions.
        seed: Optional int seed for the kernel initialisers.
        compile: Compile with Adam and the pixel-wise binary cross-entropy
            loss (which, unlike MSE, does not get stuck at the all-black
            output on sparse images such as MNIST digits).
        learning_rate: Adam learning rate.

    Returns:
        A `keras.Model` mapping images to reconstructions.

    Raises:
        ValueError: For an input shape that is not `(H, W, C)`.

    Example:
        >>> from keras_hopfield.attacks import make_surrogate_autoencoder
        >>> from keras_hopfield.attacks import make_surrogate_autoencoder
        >>> model = make_surrogate_autoencoder((28, 28, 1))
        >>> model.output_shape
        (None, 28, 28, 1)
    """
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C); received {input_shape}.")
    h, w, c = (int(v) for v in input_shape)
    counter = iter(range(1000))

    def init():
        if seed is None:
            return "glorot_uniform"
        return keras.initializers.GlorotUniform(seed=int(seed) + next(counter))

    inputs = keras.Input((h, w, c))
    t = inputs
    strides = []
    for f in filters:
        stride = 2 if h % 2 == 0 and w % 2 == 0 else 1
        h, w = h // stride, w // stride
        strides.append(stride)
        t = keras.layers.Conv2D(f, 3, strides=stride, padding="same", activation="relu", kernel_initializer=init())(t)
    for f, stride in zip(reversed(filters), reversed(strides)):
        t = keras.layers.Conv2DTranspose(
            f, 3, strides=stride, padding="same", activation="relu", kernel_initializer=init()
        )(t)
    outputs = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", kernel_initializer=init())(t)
    model = keras.Model(inputs, outputs, name="surrogate_autoencoder")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def train_surrogate_autoencoder(x, epochs=10, batch_size=32, filters=(16, 32), noise_variance=0.0, seed=None,
                                learning_rate=3e-3, verbose=0):
    """Build and fit a surrogate autoencoder on images `x`.

    Minimises the pixel-wise binary cross-entropy

        L = -mean[ x log f(x~) + (1 - x) log(1 - f(x~)) ]

    where `x~ = x` or, with
    `noise_variance > 0`, `x~` is `x` with Gaussian noise (a denoising
    autoencoder, which behaves more like a memory).

    Args:
        x: Training images `(N, H, W, C)` in [0, 1] (NumPy array).
        epochs: Training epochs.
        batch_size: Batch size.
        filters: Encoder channels (see `make_surrogate_autoencoder`).
        noise_variance: Variance of the training noise (0 disables it).
        seed: Optional int seed (initialisers and training noise).
        learning_rate: Adam learning rate.
        verbose: Keras `fit` verbosity.

    Returns:
        The trained `keras.Model`.

    Raises:
        ValueError: For images of the wrong rank or outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.attacks import train_surrogate_autoencoder
        >>> from keras_hopfield.attacks import train_surrogate_autoencoder
        >>> x = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
        >>> model = train_surrogate_autoencoder(x, epochs=1)
        >>> model.output_shape
        (None, 8, 8, 1)
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 4:
        raise ValueError(f"`x` must be (N, H, W, C); received shape {x.shape}.")
    check_value_range(x, "x")
    model = make_surrogate_autoencoder(x.shape[1:], filters=filters, seed=seed, learning_rate=learning_rate)
    inputs = x
    if noise_variance:
        rng = np.random.default_rng(seed)
        inputs = np.clip(x + rng.normal(0.0, math.sqrt(noise_variance), x.shape), 0.0, 1.0).astype("float32")
    model.fit(inputs, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return model


def transfer_attack(surrogate, x, attack="pgd", y=None, **params):
    """Craft adversarial inputs on a surrogate model (for a black-box memory).

        x' = attack(surrogate, x, y)

    The result is then given to every model under test (see
    `evaluate_transfer`), as in the CRHN robustness study where memories
    are attacked through an autoencoder surrogate.

    Args:
        surrogate: Differentiable Keras model (e.g. from
            `train_surrogate_autoencoder`).
        x: Clean inputs in [0, 1].
        attack: Attack name, `Attack` instance or attack function.
        y: Target for the surrogate's loss; defaults to `x`.
        **params: Attack parameters (`eps`, `steps`, ...).

    Returns:
        Adversarial inputs (backend tensor) with the shape of `x`.

    Raises:
        ValueError: For an unknown attack or invalid parameters.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.attacks import make_surrogate_autoencoder, transfer_attack
        >>> from keras_hopfield.attacks import make_surrogate_autoencoder, transfer_attack
        >>> surrogate = make_surrogate_autoencoder((8, 8, 1))
        >>> x = np.full((2, 8, 8, 1), 0.5, "float32")
        >>> tuple(transfer_attack(surrogate, x, "fgsm", eps=0.1).shape)
        (2, 8, 8, 1)
    """
    return get(attack, **params)(surrogate, x, y)


def evaluate_transfer(models, x, x_adv, metric=None, batch_size=None):
    """Score every model on transferred adversarial inputs.

    For each model f the per-image error against the clean images is

        e_n = metric(x_n, f(x'_n))    (default: mean squared error)

    Args:
        models: Dict `name -> model` (Keras models or callables on batches).
        x: Clean images (the retrieval targets).
        x_adv: Adversarial inputs, e.g. from `transfer_attack`.
        metric: Callable `(original, retrieved) -> (N,)`; defaults to
            `keras_hopfield.metrics.mse`.
        batch_size: Passed to `model.predict` for Keras models; `None` calls
            the model directly on the whole batch.

    Returns:
        Dict `name -> NumPy array (N,)` of per-image errors.

    Example:
        >>> import numpy as np
        >>> from keras_hopfield.attacks import evaluate_transfer
        >>> x = np.full((2, 8, 8, 1), 0.5, "float32")
        >>> errors = evaluate_transfer({"identity": lambda t: t}, x, x)
        >>> errors["identity"].tolist()
        [0.0, 0.0]
    """
    from keras_hopfield.metrics import mse

    metric = metric or mse
    results = {}
    for name, model in models.items():
        if isinstance(model, keras.Model) and batch_size is not None:
            retrieved = model.predict(ops.convert_to_numpy(x_adv), batch_size=batch_size, verbose=0)
        else:
            retrieved = _forward(model)(x_adv)
        results[name] = np.asarray(ops.convert_to_numpy(metric(x, retrieved)))
    return results
