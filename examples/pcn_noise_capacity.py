"""Memory capacity of a predictive-coding memory under Gaussian noise (papers/000 Figs. 4, 12 and 14).

A 2-layer generative PCN (`PredictiveCodingMemory(widths=(n,))`: the image
layer and one hidden layer of n value nodes) stores N Tiny ImageNet images by
inference learning (full batch, `fit_memory`). Each stored image is corrupted
with Gaussian noise of variance η (`keras_hopfield.corruptions.gaussian_noise`
with `clip=False`: the paper adds the noise to images in [0, 1] and does not
mention clipping; `--clip` clips) and retrieved by iterating the function F (`retrieve_noisy`,
`--iterations` times, `--retrieve-steps` inference steps each). An image
counts as retrieved when MSE(retrieved, original) < 0.005.

Baselines on the same images and noise draws:

* a 3-layer autoencoder of the same width (d → n → d, ReLU then sigmoid),
  trained with `model.fit` (Adam, full batch) on the clean stored images and
  applied `--iterations` times to the noisy image;
* modern Hopfield retrieval, `keras_hopfield.functional.hopfield_retrieve`
  with the stored images as memory, β chosen from {1, 2, 3, 5, 10, 100, 1000}
  by the retrieved fraction on a *validation* noise draw (a different seed),
  then evaluated once on the test draw.

Scaled down from the paper (which used 64×64×3 images, d = 12288,
n ∈ {512, 1024, 2048}, N ∈ {100, 250, 500}): images are 2×2-average-pooled to
32×32×3 (d = 3072, ¼ of the paper's), and the widths and memory sizes are
divided by 4 as well (n ∈ {128, 256, 512}, N ∈ {25, 62, 125}), so n/d and
N/n match the paper's grid. The images are the first N of the local Tiny
ImageNet subset's `"train"` split. One seed. The PCN settings (see `--help`)
were fixed before the documented run; they were chosen in development runs on
the same images with other noise draws, never the test draws used here.

The figure of the iterations of F (paper Fig. 14) uses the widest network
trained on the smallest N (paper: n = 2048, N = 100) and shows F¹, F⁶, F¹¹.

Usage (from the repository root; KERAS_HOPFIELD_DATA or --data-dir must point at the data):

    python examples/pcn_noise_capacity.py                          # full run → docs/results, docs/figures
    python examples/pcn_noise_capacity.py --quick --out /tmp/pcn   # smoke run, writes only into /tmp/pcn
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import keras  # noqa: E402
from _common import command_line
from keras import ops  # noqa: E402

from keras_hopfield import corruptions, datasets, functional, plotting  # noqa: E402
from keras_hopfield.models.predictive_coding import PredictiveCodingMemory  # noqa: E402

BETAS = (1.0, 2.0, 3.0, 5.0, 10.0, 100.0, 1000.0)
THRESHOLD = 0.005


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run (tiny grid)")
    p.add_argument("--out", default=None, help="output folder (default: docs/results + docs/figures)")
    p.add_argument("--data-dir", default=None, help="data directory (default: $KERAS_HOPFIELD_DATA)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--memories", type=int, nargs="+", default=[25, 62, 125])
    p.add_argument("--variances", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    p.add_argument("--clip", action="store_true", help="clip the noisy images to [0, 1] (the paper does not mention clipping)")
    p.add_argument("--pool", type=int, default=2, help="average-pooling factor of the 64×64 images")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"])
    p.add_argument("--epochs", type=int, default=200, help="IL iterations (full batch)")
    p.add_argument("--train-steps", type=int, default=10, help="inference steps T per IL iteration")
    p.add_argument("--gamma", type=float, default=0.1, help="inference rate γ (training)")
    p.add_argument("--alpha", type=float, default=None,
                   help="IL learning rate α (default 0.025 / N: the IL update is summed over the N stored images)")
    p.add_argument("--init-std", type=float, default=0.001, help="stddev of the normal weight initialisation (0: the model's default, PyTorch's U(±1/√fan_in))")
    p.add_argument("--value-std", type=float, default=0.5, help="stddev of the initial value nodes")
    p.add_argument("--retrieve-steps", type=int, default=300, help="inference steps T per application of F")
    p.add_argument("--retrieve-gamma", type=float, default=0.1, help="inference rate γ of retrieval")
    p.add_argument("--iterations", type=int, default=2, help="applications of F")
    p.add_argument("--ae-epochs", type=int, default=1000, help="full-batch Adam steps of the autoencoder")
    p.add_argument("--hopfield-steps", type=int, default=1, help="max_steps of hopfield_retrieve")
    args = p.parse_args(argv)
    if args.quick:
        args.widths, args.memories, args.variances = [16], [4], [0.2, 1.0]
        args.pool, args.epochs, args.retrieve_steps, args.iterations, args.ae_epochs = 8, 5, 5, 2, 5
    return args


def load_images(args, n):
    x, _ = datasets.load("tiny_imagenet", "train", data_dir=args.data_dir, limit=n)
    k = args.pool
    side = x.shape[1] // k
    return x.reshape(len(x), side, k, side, k, x.shape[-1]).mean(axis=(2, 4)).astype("float32")


CLIP = False


def noisy(x, variance, seed):
    return np.asarray(ops.convert_to_numpy(corruptions.gaussian_noise(x, variance, clip=CLIP, seed=seed)), "float32")


def per_image_mse(a, b):
    return np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=tuple(range(1, np.ndim(a))))


def summary(retrieved, original):
    err = per_image_mse(retrieved, original)
    return {"retrieved": float(np.mean(err < THRESHOLD)), "mse": float(np.mean(err))}


def train_pcn(x, width, args):
    model = PredictiveCodingMemory(
        widths=(width,),
        activation=args.activation,
        inference_steps=args.train_steps,
        inference_rate=args.gamma,
        learning_rate=args.alpha if args.alpha else 0.025 / len(x),
        kernel_initializer=(keras.initializers.RandomNormal(stddev=args.init_std, seed=args.seed)
                            if args.init_std > 0 else None),
        value_init_stddev=args.value_std,
        seed=args.seed,
    )
    history = model.fit_memory(x, epochs=args.epochs, verbose=0)
    return model, history.history["loss"]


def train_autoencoder(x, width, args):
    keras.utils.set_random_seed(args.seed)
    d = int(np.prod(x.shape[1:]))
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(d, activation="sigmoid"),
            keras.layers.Reshape(x.shape[1:]),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    # Full-batch Adam steps; the stored set is repeated so that one Keras epoch runs
    # many steps (each batch is exactly the stored set), which saves per-epoch overhead.
    repeats = max(1, min(50, args.ae_epochs))
    tiled = np.tile(x, (repeats,) + (1,) * (x.ndim - 1))
    history = model.fit(tiled, tiled, batch_size=len(x), epochs=max(1, args.ae_epochs // repeats),
                        shuffle=False, verbose=0)
    return model, history.history["loss"][-1]


def autoencoder_retrieve(model, x, iterations):
    for _ in range(iterations):
        x = np.asarray(model.predict_on_batch(x))
    return x


def hopfield(x_noisy, memory, beta, steps):
    flat = ops.convert_to_tensor(x_noisy.reshape(1, len(x_noisy), -1))
    mem = ops.convert_to_tensor(memory.reshape(1, len(memory), -1))
    out, _, _, _ = functional.hopfield_retrieve(flat, mem, beta, max_steps=steps)
    return np.asarray(ops.convert_to_numpy(out)).reshape(x_noisy.shape)


def tune_beta(x, variance, args, seed):
    """β with the most retrievals (then the lowest MSE) on a validation noise draw."""
    val = noisy(x, variance, seed)
    scores = {b: summary(hopfield(val, x, b, args.hopfield_steps), x) for b in BETAS}
    best = max(BETAS, key=lambda b: (scores[b]["retrieved"], -scores[b]["mse"]))
    return best, scores


def plot_capacity(rows, args, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6 * len(args.variances), 3.2), layout="constrained")
    axes = fig.subplots(1, len(args.variances), squeeze=False)[0]
    for ax, var in zip(axes, args.variances):
        for width in args.widths:
            sel = [r for r in rows if r["width"] == width and r["variance"] == var]
            ns = [r["memories"] for r in sel]
            (line,) = ax.plot(ns, [100 * r["pcn"]["retrieved"] for r in sel], "o-", label=f"PC n={width}")
            ax.plot(ns, [100 * r["autoencoder"]["retrieved"] for r in sel], "s--", color=line.get_color(),
                    label=f"AE n={width}")
        sel = [r for r in rows if r["width"] == args.widths[0] and r["variance"] == var]
        ax.plot([r["memories"] for r in sel], [100 * r["hopfield"]["retrieved"] for r in sel], "k^:",
                label="modern Hopfield")
        ax.set_title(f"noise variance {var}", fontsize=9)
        ax.set_xlabel("stored images N")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% retrieved (MSE < 0.005)")
    axes[-1].legend(fontsize=6)
    return plotting.save_figure(fig, path, dpi=80)


def plot_iterations(model, x, args, path):
    rows, labels = [], []
    shown = [i for i in (1, 6, 11) if i <= max(args.iterations, 11)]
    n_show = min(6, len(x))
    for k, var in enumerate(args.variances):
        x_noisy = noisy(x[:n_show], var, 10_000 + args.seed * 100 + k)
        _, trajectory = model.retrieve_noisy(
            x_noisy, iterations=max(shown), inference_steps=args.retrieve_steps,
            inference_rate=args.retrieve_gamma, return_trajectory=True,
        )
        rows.append(np.clip(x_noisy, 0, 1))  # shown clipped; F sees the unclipped image
        labels.append(f"η={var}")
        for i in shown:
            rows.append(np.clip(trajectory[i - 1], 0, 1))
            labels.append(f"F^{i}")
    rows.insert(0, x[:n_show])
    labels.insert(0, "original")
    fig = plotting.image_grid(rows, labels, n=n_show, scale=0.9)
    return plotting.save_figure(fig, path, dpi=70)


def main(argv=None):
    global CLIP
    args = parse_args(argv)
    CLIP = args.clip
    if args.out:
        results_dir = figures_dir = Path(args.out)
    elif args.quick:
        results_dir = figures_dir = REPO / "outputs" / "pcn_noise_capacity_quick"
    else:
        results_dir, figures_dir = REPO / "docs" / "results", REPO / "docs" / "figures"
    command = command_line("pcn_noise_capacity.py", argv)
    start = time.time()
    x_all = load_images(args, max(args.memories))
    print(f"images {x_all.shape} (Tiny ImageNet train subset, {args.pool}×{args.pool} average-pooled)", flush=True)
    rows, models = [], {}
    for n_mem in args.memories:
        x = x_all[:n_mem]
        betas = {}
        for k, var in enumerate(args.variances):
            betas[var] = tune_beta(x, var, args, seed=20_000 + 100 * args.seed + k)
        for width in args.widths:
            t0 = time.time()
            model, losses = train_pcn(x, width, args)
            t_train = time.time() - t0
            ae, ae_loss = train_autoencoder(x, width, args)
            clean = summary(model.retrieve_noisy(x, iterations=1, inference_steps=args.retrieve_steps,
                                                 inference_rate=args.retrieve_gamma), x)
            for k, var in enumerate(args.variances):
                x_noisy = noisy(x, var, 1_000 + 100 * args.seed + k)  # the test draw
                t1 = time.time()
                _, trajectory = model.retrieve_noisy(
                    x_noisy, iterations=args.iterations, inference_steps=args.retrieve_steps,
                    inference_rate=args.retrieve_gamma, return_trajectory=True,
                )
                t_retrieve = time.time() - t1
                beta, val_scores = betas[var]
                row = {
                    "width": width, "memories": n_mem, "variance": var,
                    "noisy_mse": float(np.mean(per_image_mse(x_noisy, x))),
                    "pcn": summary(trajectory[-1], x),
                    "pcn_per_iteration_retrieved": [summary(t, x)["retrieved"] for t in trajectory],
                    "pcn_clean_retrieved": clean["retrieved"],
                    "pcn_final_train_loss": float(losses[-1]),
                    "autoencoder": summary(autoencoder_retrieve(ae, x_noisy, args.iterations), x),
                    "autoencoder_final_train_loss": float(ae_loss),
                    "hopfield": summary(hopfield(x_noisy, x, beta, args.hopfield_steps), x),
                    "hopfield_beta": beta,
                    "hopfield_validation": {str(b): s for b, s in val_scores.items()},
                    "seconds_train": t_train, "seconds_retrieve": t_retrieve,
                }
                rows.append(row)
                print(f"n={width:4d} N={n_mem:4d} η={var:.1f}: PC {100 * row['pcn']['retrieved']:5.1f}% "
                      f"(mse {row['pcn']['mse']:.4f}, clean {100 * clean['retrieved']:.0f}%)  "
                      f"AE {100 * row['autoencoder']['retrieved']:5.1f}% (mse {row['autoencoder']['mse']:.4f})  "
                      f"MHN β={beta:g} {100 * row['hopfield']['retrieved']:5.1f}%  "
                      f"[train {t_train:.1f}s, F {t_retrieve:.1f}s, total {time.time() - start:.0f}s]", flush=True)
            if n_mem == min(args.memories) and width == max(args.widths):
                models["iterations"] = (model, x)
    figures = {
        "capacity": plot_capacity(rows, args, figures_dir / "pcn_noise_capacity.png"),
        "iterations": plot_iterations(*models["iterations"], args, figures_dir / "pcn_iterations.png"),
    }
    result = {
        "command": command, "backend": keras.backend.backend(), "quick": args.quick,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir", "quick")},
        "threshold": THRESHOLD, "betas": list(BETAS),
        "hopfield_beta": rows[0]["hopfield_beta"],
        "image_shape": list(x_all.shape[1:]), "rows": rows, "figures": figures,
        "seconds": time.time() - start,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "pcn_noise_capacity.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path} and {', '.join(figures.values())} in {result['seconds']:.0f}s")
    return result


if __name__ == "__main__":
    main()
