"""DeepHNN on MNIST: hand-made patterns (papers/004 §4.2, Fig. 4.5) and the conv → DeepHNN → ConvexMerge model.

Experiment 1 — *hand-made patterns, no training.* Three patterns per digit
are drawn in code: the digit rendered in three bold fonts (DejaVu Sans,
DejaVu Serif, DejaVu Sans Mono), fitted into a 20×20 box and centred by its
centre of mass in 28×28 like MNIST, padded to 32×32, mapped to [−1, 1]. A
one-channel `DeepHNN(1, features=10, depth=3, iterations=2, beta=0.07)` with
these patterns, frozen and without bias, classifies the test images (padded
to 32×32 and mapped to [−1, 1] the same way): the paper's "simple experiment".
β is the paper's; a β sweep on a validation split of the *train* images is
reported as context (never on test). Then the same single net is trained
(patterns, β, bias; initialised from the hand-made patterns) — the paper's
"after training" number (32 %).

Experiment 2 — *DeepHNN as MLP.* `ZeroPadding2D(2)` (28→32) → linear
`Conv2D(5, 4, strides=2)` → `Reshape((225, 5))` → `DeepHNN(5, features=10,
depth=5, iterations=2)` → `ConvexMerge(5)` → 10 logits, 56 440 trainable
parameters (the paper's count). Adam, learning rate 0.01 (the paper's),
cross-entropy; the epoch with the best validation accuracy (6 000 train
images held out) is kept and evaluated once on the test set.

Usage (from the repository root; KERAS_HOPFIELD_DATA must point at the data):

    python examples/deephnn_mnist.py                      # full run, figures in docs/figures/
    python examples/deephnn_mnist.py --quick --out /tmp/d # CI smoke run (< 30 s)

Outputs in `--out` (default `outputs/deephnn_mnist/`): `deephnn_mnist.json`
(metrics, settings, timings, command line); figures in `--figures` (default
`docs/figures/` for full runs, `--out` for `--quick`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _common import command_line

if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

from keras_hopfield import datasets, plotting  # noqa: E402
from keras_hopfield.layers.deep import ConvexMerge, DeepHNN  # noqa: E402

FONTS = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono")


# --------------------------------------------------------------------------- #
# Hand-made patterns
# --------------------------------------------------------------------------- #


def _render(char, family, res=96):
    """Rasterise one bold character on a white canvas; returns ink in [0, 1], (res, res)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=res)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, char, ha="center", va="center", fontsize=0.8 * res * 72 / res, family=family, weight="bold")
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float32)
    return 1.0 - rgba[..., :3].mean(-1) / 255.0


def _mnist_like(ink, box=20, size=28):
    """Fit the ink's bounding box into `box`×`box` (area resampling), centre by mass in `size`×`size`."""
    from PIL import Image

    rows, cols = np.nonzero(ink > 0.05)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.BOX), dtype=np.float32)
    small = np.clip(small / max(small.max(), 1e-6), 0.0, 1.0)
    out = np.zeros((size, size), np.float32)
    cy, cx = np.array(np.nonzero(small > -1)).reshape(2, -1) @ small.ravel() / small.sum()
    top = int(round(size / 2 - cy))
    left = int(round(size / 2 - cx))
    top, left = np.clip(top, 0, size - nh), np.clip(left, 0, size - nw)
    out[top : top + nh, left : left + nw] = small
    return out


def digit_patterns(size=32):
    """The 30 hand-made patterns `(10, 3, size·size)` in [−1, 1]: digit d in font j is `[d, j]`."""
    pad = (size - 28) // 2
    pats = np.zeros((10, len(FONTS), size * size), np.float32)
    for d in range(10):
        for j, family in enumerate(FONTS):
            img = np.pad(_mnist_like(_render(str(d), family)), pad)
            pats[d, j] = 2.0 * img.ravel() - 1.0
    return pats


def to_pm1_32(x):
    """MNIST (N, 28, 28, 1) in [0, 1] → (N, 1024) in [−1, 1], padded to 32×32 like the patterns."""
    x = np.pad(x[..., 0], ((0, 0), (2, 2), (2, 2)))
    return (2.0 * x - 1.0).reshape(len(x), -1).astype(np.float32)


# --------------------------------------------------------------------------- #
# Experiment 1
# --------------------------------------------------------------------------- #


def handmade_layer(patterns, beta, iterations=2, trainable=False):
    layer = DeepHNN(
        1,
        10,
        depth=patterns.shape[1],
        iterations=iterations,
        beta=beta,
        use_bias=trainable,
        trainable_beta=trainable,
        trainable_patterns=trainable,
        name="deephnn_handmade",
    )
    layer.build((None, patterns.shape[-1]))
    # DeepHNN pattern f·depth + d is the d-th pattern of feature f.
    layer.patterns.assign(patterns.reshape(1, -1, patterns.shape[-1]))
    return layer


def accuracy_of(layer, x, y, batch=1000):
    preds = [np.argmax(ops.convert_to_numpy(layer(x[i : i + batch])), axis=-1) for i in range(0, len(x), batch)]
    return float(np.mean(np.concatenate(preds) == y))


def experiment_handmade(args, data, patterns, log):
    (xtr, ytr), (xva, yva), (xte, yte) = data
    xtr32, xva32, xte32 = to_pm1_32(xtr), to_pm1_32(xva), to_pm1_32(xte)
    flat = patterns.reshape(-1, patterns.shape[-1])
    m = float(np.sqrt((flat**2).sum(1)).max())
    out = {"M": m, "patterns_shape": list(patterns.shape)}

    sweep = {}
    for beta in args.beta_sweep:
        sweep[str(beta)] = accuracy_of(handmade_layer(patterns, beta, args.hnn_iterations), xva32, yva)
    out["validation_accuracy_by_beta"] = sweep
    log(f"[exp1] hand-made patterns, validation accuracy by beta: {sweep}")

    layer = handmade_layer(patterns, args.beta, args.hnn_iterations)
    t0 = time.time()
    out["test_accuracy_untrained"] = accuracy_of(layer, xte32, yte)
    out["beta"] = args.beta
    out["iterations"] = args.hnn_iterations
    log(f"[exp1] untrained, beta={args.beta}, {args.hnn_iterations} iterations: test accuracy "
        f"{out['test_accuracy_untrained']:.4f} ({time.time() - t0:.1f}s)")

    # The single net, trained (patterns, β, bias), initialised from the hand-made patterns.
    keras.utils.set_random_seed(args.seed)
    trained = handmade_layer(patterns, args.beta, args.hnn_iterations, trainable=True)
    inp = keras.Input((flat.shape[-1],))
    model = keras.Model(inp, trained(inp))
    model.compile(keras.optimizers.Adam(args.single_lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    best = BestWeights()
    t0 = time.time()
    hist = model.fit(xtr32, ytr, validation_data=(xva32, yva), epochs=args.single_epochs, batch_size=args.batch_size,
                     callbacks=[best], verbose=2 if not args.quick else 0)
    best.restore(model)
    test_loss, test_acc = model.evaluate(xte32, yte, verbose=0)
    out["trained"] = {
        "epochs": args.single_epochs,
        "best_epoch": best.best_epoch,
        "learning_rate": args.single_lr,
        "train_seconds": round(time.time() - t0, 1),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "val_accuracy_best": best.best,
        "test_accuracy": float(test_acc),
        "test_loss": float(test_loss),
        "beta_after": float(ops.convert_to_numpy(trained.beta)[0]),
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    }
    log(f"[exp1] single net trained {args.single_epochs} epochs: test accuracy {test_acc:.4f}, loss {test_loss:.3f}")

    # Figure: the patterns, and test digits with what the Hopfield core recalls.
    shown = xte32[:8]
    recalled = ops.convert_to_numpy(layer.reconstruct(shown))
    logits = ops.convert_to_numpy(layer(shown))
    rows = [
        to_img(patterns[:, 0]),
        to_img(patterns[:, 1]),
        to_img(patterns[:, 2]),
    ]
    fig = plotting.image_grid(rows, ["font 1", "font 2", "font 3"], n=10, scale=0.7,
                              title="Hand-made patterns (3 per digit, 32×32)")
    out["figure_patterns"] = plotting.save_figure(fig, Path(args.figures) / "deephnn_patterns.png", dpi=60)
    labels = ", ".join(str(int(v)) for v in np.argmax(logits, -1))
    fig = plotting.image_grid([to_img(shown), to_img(recalled)], ["test digit", "recalled"], n=8, scale=0.8,
                              title=f"beta={args.beta}, 2 iterations; predicted: {labels}")
    out["figure_recall"] = plotting.save_figure(fig, Path(args.figures) / "deephnn_recall.png", dpi=60)
    return out


def to_img(v):
    side = int(round(np.sqrt(v.shape[-1])))
    return np.clip((np.asarray(v).reshape(-1, side, side, 1) + 1.0) / 2.0, 0.0, 1.0)


# --------------------------------------------------------------------------- #
# Experiment 2
# --------------------------------------------------------------------------- #


def build_conv_model(iterations=2, seed=0, pattern_std=1.0):
    """The paper's MNIST model: 56 440 trainable parameters."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="image")
    h = layers.ZeroPadding2D(2, name="pad_to_32")(inp)
    h = layers.Conv2D(5, 4, strides=2, name="linear_conv")(h)
    h = layers.Reshape((15 * 15, 5), name="to_neurons")(h)
    # Unit-scale random patterns and β = 1/√N (the layer's default): the softmax
    # is neither flat nor saturated at the start.
    h = DeepHNN(5, 10, depth=5, iterations=iterations,
                patterns_initializer=keras.initializers.RandomNormal(0.0, pattern_std), name="deephnn")(h)
    out = ConvexMerge(5, name="convex_merge")(h)
    return keras.Model(inp, out, name="conv_deephnn")


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best validation accuracy (train split only)."""

    def __init__(self, monitor="val_accuracy"):
        super().__init__()
        self.monitor, self.best, self.best_epoch, self.weights = monitor, -1.0, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best:
            self.best, self.best_epoch = float(value), epoch + 1
            self.weights = self.model.get_weights()

    def restore(self, model):
        if self.weights is not None:
            model.set_weights(self.weights)


def experiment_conv(args, data, log):
    (xtr, ytr), (xva, yva), (xte, yte) = data
    model = build_conv_model(args.hnn_iterations, args.seed, args.pattern_std)
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    log(f"[exp2] conv -> DeepHNN -> ConvexMerge: {params} trainable parameters")
    model.compile(keras.optimizers.Adam(args.lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    best = BestWeights()
    t0 = time.time()
    hist = model.fit(xtr, ytr, validation_data=(xva, yva), epochs=args.epochs, batch_size=args.batch_size,
                     callbacks=[best], verbose=2 if not args.quick else 0)
    seconds = time.time() - t0
    best.restore(model)
    test_loss, test_acc = model.evaluate(xte, yte, verbose=0)
    log(f"[exp2] {args.epochs} epochs in {seconds:.0f}s; best val accuracy {best.best:.4f} (epoch {best.best_epoch}); "
        f"test accuracy {test_acc:.4f}, loss {test_loss:.3f}")
    out = {
        "trainable_params": params,
        "epochs": args.epochs,
        "best_epoch": best.best_epoch,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "iterations": args.hnn_iterations,
        "pattern_std": args.pattern_std,
        "train_seconds": round(seconds, 1),
        "val_accuracy_best": best.best,
        "test_accuracy": float(test_acc),
        "test_loss": float(test_loss),
        "beta_after": [float(b) for b in ops.convert_to_numpy(model.get_layer("deephnn").beta)],
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
    }
    out["figure_training"] = plot_history(hist.history, Path(args.figures) / "deephnn_training.png")
    return out


def plot_history(history, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax1.plot(epochs, history["loss"], label="train")
    ax1.plot(epochs, history["val_loss"], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax2.plot(epochs, history["accuracy"], label="train")
    ax2.plot(epochs, history["val_accuracy"], label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.suptitle("conv → DeepHNN(5, 10, depth 5) → ConvexMerge on MNIST")
    return plotting.save_figure(fig, path, dpi=70)


# --------------------------------------------------------------------------- #
# Main
# --------------------------------------------------------------------------- #


def load_data(args):
    x, y = datasets.load("mnist", "train", limit=args.train_limit)
    xte, yte = datasets.load("mnist", "test", limit=args.test_limit)
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(x))
    n_val = min(args.val, len(x) // 5)
    va, tr = perm[:n_val], perm[n_val:]
    return (x[tr], y[tr]), (x[va], y[va]), (xte, yte)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke run: a few hundred images, one epoch")
    p.add_argument("--out", default=None, help="output folder (default outputs/deephnn_mnist)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    p.add_argument("--experiment", choices=("handmade", "conv", "all"), default="all")
    p.add_argument("--beta", type=float, default=0.07, help="β of the hand-made net (paper: 0.07)")
    p.add_argument("--beta-sweep", type=float, nargs="+", default=[0.01, 0.03, 0.07, 0.2])
    p.add_argument("--hnn-iterations", type=int, default=2)
    p.add_argument("--epochs", type=int, default=15, help="epochs of the conv model")
    p.add_argument("--single-epochs", type=int, default=5, help="epochs of the trained single net")
    p.add_argument("--single-lr", type=float, default=0.01)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--pattern-std", type=float, default=1.0, help="std of the conv model's initial DeepHNN patterns")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--val", type=int, default=6000, help="train images held out for validation")
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.train_limit, args.test_limit = args.train_limit or 600, args.test_limit or 300
        args.epochs, args.single_epochs, args.batch_size = 1, 1, 64
    out_dir = Path(args.out or REPO / "outputs" / "deephnn_mnist")
    out_dir.mkdir(parents=True, exist_ok=True)
    args.figures = args.figures or str(out_dir if args.quick else REPO / "docs" / "figures")
    command = command_line("deephnn_mnist.py", argv)

    def log(msg):
        print(msg, flush=True)

    t0 = time.time()
    data = load_data(args)
    result = {"command": command, "backend": keras.backend.backend(), "quick": args.quick,
              "n_train": len(data[0][0]), "n_val": len(data[1][0]), "n_test": len(data[2][0])}
    if args.experiment in ("handmade", "all"):
        result["handmade"] = experiment_handmade(args, data, digit_patterns(), log)
    if args.experiment in ("conv", "all"):
        result["conv_model"] = experiment_conv(args, data, log)
    result["seconds"] = round(time.time() - t0, 1)
    path = out_dir / "deephnn_mnist.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path} ({result['seconds']:.0f}s)")
    return result


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
