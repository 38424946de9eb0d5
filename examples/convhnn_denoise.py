"""MNIST denoising with a Hopfield convolution and its transposed read-out (papers/004 §4.3, Fig. 4.8).

The paper's architecture, ≈742 parameters (ours: 733):

    noisy image (28×28) → ConvHNN2D(9 patterns, 5×5, SiLU)          # 24×24×9 logits
        → Conv2D(3, 3×3, SiLU)   (encoder: "3 patterns from the logits")
        → Conv2DTranspose(9, 3×3) (decoder: back to 9 logits)
        → the ConvHNN2D read-out: conv_transpose(softmax(logits), P)  # 28×28, same patterns

against a plain convolutional denoiser with the same shape and about the same
parameter count (746): Conv2D(7, 5×5, SiLU) → Conv2D(3, 3×3, SiLU) →
Conv2DTranspose(7, 3×3) → Conv2DTranspose(1, 5×5). Both are trained on the
MSE to the clean image with fresh Gaussian noise of variance 1.0 every epoch
(`keras_hopfield.corruptions.gaussian_noise(x, 1.0, clip=False)`: additive,
not clipped, as in the paper; `--clip` clips the noisy image to [0, 1]).
Adam (learning rate `--lr`), batch 128. 6 000 train images are held out as a
validation set (fixed noise); the epoch with the lowest validation MSE is kept
and evaluated once on the test set (fixed noise, seed 1).

Usage (from the repository root; KERAS_HOPFIELD_DATA must point at the data):

    python examples/convhnn_denoise.py                       # full run, figures in docs/figures/
    python examples/convhnn_denoise.py --quick --out /tmp/c  # CI smoke run (< 30 s)

Outputs in `--out` (default `outputs/convhnn_denoise/`): `convhnn_denoise.json`
and the trained models (`hopfield_denoiser.keras`, `plain_denoiser.keras`;
`--from-saved` reloads them and only re-evaluates and redraws); figures in
`--figures` (default `docs/figures/`, `--out` with `--quick`).
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import keras  # noqa: E402
from _common import command_line
from keras import layers, ops  # noqa: E402

from keras_hopfield import corruptions, datasets, metrics, plotting  # noqa: E402
from keras_hopfield.layers.conv import ConvHNN2D  # noqa: E402


def build_hopfield_denoiser(seed=0, iterations=1):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="noisy")
    hop = ConvHNN2D(9, 5, iterations=iterations, activation="silu", name="hopfield_conv")
    h = hop(inp)
    z = layers.Conv2D(3, 3, activation="silu", name="encoder")(h)
    logits = layers.Conv2DTranspose(9, 3, name="decoder")(z)
    out = hop(logits, reverse=True)
    return keras.Model(inp, out, name="hopfield_denoiser")


def build_plain_denoiser(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="noisy")
    h = layers.Conv2D(7, 5, activation="silu", name="conv")(inp)
    z = layers.Conv2D(3, 3, activation="silu", name="encoder")(h)
    h = layers.Conv2DTranspose(7, 3, name="decoder")(z)
    out = layers.Conv2DTranspose(1, 5, name="read_out")(h)
    return keras.Model(inp, out, name="plain_denoiser")


def noisy(x, seed, args):
    return np.asarray(ops.convert_to_numpy(corruptions.gaussian_noise(x, args.variance, clip=args.clip, seed=seed)))


def mean_mse(model, x_noisy, x_clean, batch=1000):
    pred = model.predict(x_noisy, batch_size=batch, verbose=0)
    return float(np.mean(ops.convert_to_numpy(metrics.mse(x_clean, pred)))), pred


def train(model, data, args, log):
    (xtr, _), (xva, _), _ = data
    xva_noisy = noisy(xva, 10_000, args)
    model.compile(keras.optimizers.Adam(args.lr), "mse")
    best, best_epoch, best_weights, history = np.inf, None, None, []
    t0 = time.time()
    for epoch in range(args.epochs):
        h = model.fit(noisy(xtr, epoch, args), xtr, batch_size=args.batch_size, epochs=1, verbose=0)
        val, _ = mean_mse(model, xva_noisy, xva)
        history.append({"epoch": epoch + 1, "train_mse": float(h.history["loss"][0]), "val_mse": val})
        if val < best:
            best, best_epoch, best_weights = val, epoch + 1, model.get_weights()
        log(f"  [{model.name}] epoch {epoch + 1}: train {h.history['loss'][0]:.4f}, val {val:.4f} "
            f"({time.time() - t0:.0f}s)")
    model.set_weights(best_weights)
    return {"best_epoch": best_epoch, "val_mse_best": best, "train_seconds": round(time.time() - t0, 1),
            "history": history}


def n_params(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def stage_figure(model, x_clean, x_noisy, plain_pred, path, n=6):
    """Fig. 4.8: an image through each stage of the Hopfield denoiser."""
    hop = model.get_layer("hopfield_conv")
    enc, dec = model.get_layer("encoder"), model.get_layer("decoder")
    xs = x_noisy[:n]
    h = hop(xs)
    z = enc(h)
    logits = dec(z)
    out = hop(logits, reverse=True)

    def conf(l):  # the recall confidence max_c softmax(l)_c per position
        return np.max(ops.convert_to_numpy(ops.softmax(l, axis=-1)), axis=-1, keepdims=True)

    def scaled(a):
        a = np.asarray(ops.convert_to_numpy(a), dtype=np.float32)
        lo = a.min(axis=(1, 2, 3), keepdims=True)
        hi = a.max(axis=(1, 2, 3), keepdims=True)
        return (a - lo) / np.maximum(hi - lo, 1e-6)

    rows = {
        "clean": x_clean[:n],
        "noisy": np.clip(xs, 0.0, 1.0),
        "ConvHNN2D: confidence (scaled)": scaled(conf(h)),
        "encoder (3 ch. as RGB)": scaled(z),
        "decoded logits: confidence (scaled)": scaled(conf(logits)),
        "Hopfield read-out": np.clip(ops.convert_to_numpy(out), 0.0, 1.0),
        "plain conv (746 params)": np.clip(plain_pred[:n], 0.0, 1.0),
    }
    fig = plotting.image_grid(rows, n=n, scale=0.75, title="Denoising MNIST (noise variance 1.0) stage by stage")
    return plotting.save_figure(fig, path, dpi=60)


def pattern_figure(model, path):
    """The 9 learned 5×5 patterns with their biases (Fig. 4.7)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hop = model.get_layer("hopfield_conv")
    pats = ops.convert_to_numpy(hop.patterns)[:, :, 0, :]  # (5, 5, 9)
    bias = ops.convert_to_numpy(hop.bias)
    fig = Figure(figsize=(7.5, 1.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, pats.shape[-1])
    lim = np.abs(pats).max()
    for i, ax in enumerate(axes):
        ax.imshow(pats[..., i], cmap="gray", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"b={bias[i]:.2f}", fontsize=7, color="red" if bias[i] < np.median(bias) else "black")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"ConvHNN2D patterns (β = {float(ops.convert_to_numpy(hop.beta)):.3g}); low bias in red", fontsize=8)
    return plotting.save_figure(fig, path, dpi=80)


def load_data(args):
    x, y = datasets.load("mnist", "train", limit=args.train_limit)
    xte, yte = datasets.load("mnist", "test", limit=args.test_limit)
    perm = np.random.default_rng(args.seed).permutation(len(x))
    n_val = min(args.val, len(x) // 5)
    return (x[perm[n_val:]], y[perm[n_val:]]), (x[perm[:n_val]], y[perm[:n_val]]), (xte, yte)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke run: a few hundred images, one epoch")
    p.add_argument("--out", default=None, help="output folder (default outputs/convhnn_denoise)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--variance", type=float, default=1.0)
    p.add_argument("--clip", action="store_true", help="clip the noisy images to [0, 1]")
    p.add_argument("--iterations", type=int, default=1, help="Hopfield iterations of the ConvHNN2D")
    p.add_argument("--val", type=int, default=6000)
    p.add_argument("--train-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--models", nargs="+", choices=("hopfield", "plain"), default=["hopfield", "plain"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-saved", action="store_true",
                   help="load the models a previous run saved in --out; re-evaluate and redraw the figures only")
    args = p.parse_args(argv)
    if args.quick:
        args.train_limit, args.test_limit = args.train_limit or 600, args.test_limit or 200
        args.epochs, args.batch_size = 1, 64
    out_dir = Path(args.out or REPO / "outputs" / "convhnn_denoise")
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = Path(args.figures or (out_dir if args.quick else REPO / "docs" / "figures"))
    command = command_line("convhnn_denoise.py", argv)
    t0 = time.time()
    data = load_data(args)
    xte = data[2][0]
    xte_noisy = noisy(xte, 1, args)
    result = {"command": command, "backend": keras.backend.backend(), "quick": args.quick,
              "variance": args.variance, "clip": args.clip, "epochs": args.epochs, "lr": args.lr,
              "batch_size": args.batch_size, "n_train": len(data[0][0]), "n_val": len(data[1][0]),
              "n_test": len(xte)}
    result["noisy_input_test_mse"] = float(np.mean(ops.convert_to_numpy(metrics.mse(xte, xte_noisy))))
    result["zero_image_test_mse"] = float(np.mean(xte**2))
    models, preds = {}, {}
    previous = {}
    if args.from_saved:
        previous = json.loads((out_dir / "convhnn_denoise.json").read_text())
        result.update({k: previous[k] for k in ("command", "epochs", "lr", "batch_size") if k in previous})
        result["figures_regenerated_by"] = command
    for name in args.models:
        saved = out_dir / f"{name}_denoiser.keras"
        if args.from_saved:
            model = keras.saving.load_model(saved)
            info = {k: v for k, v in previous[name].items() if k in ("best_epoch", "val_mse_best", "train_seconds",
                                                                        "history")}
            info["trainable_params"] = n_params(model)
        else:
            model = build_hopfield_denoiser(args.seed, args.iterations) if name == "hopfield" else build_plain_denoiser(
                args.seed)
            print(f"[{name}] {model.name}: {n_params(model)} trainable parameters", flush=True)
            info = {"trainable_params": n_params(model)}
            info.update(train(model, data, args, lambda m: print(m, flush=True)))
            model.save(saved)
        test_mse, pred = mean_mse(model, xte_noisy, xte)
        info["test_mse"] = test_mse
        info["test_psnr_db"] = float(np.mean(ops.convert_to_numpy(metrics.psnr(xte, np.clip(pred, 0.0, 1.0)))))
        if name == "hopfield":
            info["beta_after"] = float(ops.convert_to_numpy(model.get_layer("hopfield_conv").beta))
        print(f"[{name}] test MSE {test_mse:.4f} (best epoch {info['best_epoch']}, {info['train_seconds']:.0f}s)",
              flush=True)
        result[name] = info
        models[name], preds[name] = model, pred
    if "hopfield" in models:
        plain_pred = preds.get("plain", preds["hopfield"])
        result["figure_stages"] = stage_figure(models["hopfield"], xte, xte_noisy, plain_pred,
                                               figures / "convhnn_denoise_stages.png")
        result["figure_patterns"] = pattern_figure(models["hopfield"], figures / "convhnn_patterns.png")
    result["seconds"] = round(time.time() - t0, 1)
    path = out_dir / "convhnn_denoise.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path} ({result['seconds']:.0f}s)")
    return result


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
