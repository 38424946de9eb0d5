"""Unsupervised image completion with a CBAN on Omniglot and CIFAR-10 (papers/001 §4.3–4.4, App. D.3–D.4).

Four models complete masked test images; all see the same training images,
the same fresh masks every epoch and the same number of epochs:

* **CBAN** — convolutional bipartite attractor net, tied (symmetric) kernels,
  `L_SE` with plain TD(1) transient training: the loss summed over every
  settling iteration until the example settles (max |Δx| < 0.01), up to
  `--max-train-steps` (100, the paper's cap). `--td-horizon` (off by default,
  not in the paper) lets the last unrolled iteration's loss stand in for
  iterations not run when the unroll is truncated;
* **CBAN-asym** — the same with an independent down kernel per block
  (`CBANBlock(..., tied=False)`; no energy function);
* **CBAN-noTD** — tied kernels, loss at the last unrolled iteration only
  (`training_mode="final"`);
* **CD-VAE** — the paper's baseline (§4.3): a convolutional denoising VAE
  that takes the masked image (only) and outputs the completion: conv
  encoder → Gaussian latent (reparameterised) → conv decoder, trained on the
  ELBO (summed squared error + KL); completions decode the latent mean;
* **AE** — a plain convolutional denoising autoencoder (Conv2D /
  Conv2DTranspose) of similar parameter count that takes the masked image and
  the mask as two channels and outputs the whole image (sigmoid, MSE): a
  deterministic baseline kept from earlier runs.

Not in the default list: **CBAN-implicit** (`--models cban_implicit`) — tied
kernels trained with the implicit (Almeida–Pineda) gradient of `L_SE` at the
fixed point (`training_mode="implicit"`: settle up to `--max-steps` without a
tape, then the adjoint sweeps); its per-epoch validation settles for
`--max-steps` iterations, the horizon it was trained for.

`--replicate-visible` gives every CBAN the paper's replicated visible units
(§3.2): a clamped input copy (known pixels clamped, as without replication)
and a free output copy that is read out and scored; the completion keeps the
known pixels.

`--activation leaky_sigmoid` gives every CBAN the paper's leaky sigmoid (§3.3,
slope `--alpha` outside [−1, 1], default 0.2) instead of tanh, the activation
of the paper's completion nets.

Completions keep the known pixels (the CBAN clamps them; the AE's and the
CD-VAE's outputs are pasted into the unknown pixels only), so all are scored on the same
footing: PSNR and SSIM of the whole completed image in [0, 1] against the
original, mean ± standard error over the masked test images.

Masks: Omniglot — square patches of side 3–6 centred on random uncovered
stroke pixels, added until ≥ 25 % of the stroke ("white", > 0.5) pixels are
hidden (App. D.4); CIFAR-10 — thresholded Perlin noise (frequency 7) hiding
40 % of the pixels, all channels (App. D.3).

Data: Omniglot images are box-filtered from 105×105 to 28×28 (strokes white
on black); training/validation images come from the *background* set, test
images from the *evaluation* set (unseen alphabets). CIFAR-10 is the local
lossless subset (2000 train / 1000 test): the last `--val` training images are
the validation split.

Scaling (vs App. D.3–D.4; see JSON `scaling`): hidden channels 16/32/32
instead of 128/256/512 (Omniglot) or 40/120/440 (CIFAR-10), 3×3 kernels with
2×2 pooling between hidden layers as in the paper; settling to convergence
(θ = 0.01, ≤ 100 iterations) at training and test time as in the paper, the
fraction of test images that converged reported per model; Adam 1e-3 for a
few epochs on a few thousand images instead of 5e-4 for > 100 epochs on the
full sets.
The epoch reported for every model is the one with the best validation PSNR
(validation masks fixed, test data never used for a choice).

Usage:

    python examples/cban_completion.py                      # both datasets → docs/results, docs/figures
    python examples/cban_completion.py --dataset cifar10
    python examples/cban_completion.py --quick --out /tmp/c
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _common import (
    add_lr_decay_argument,
    apply_lr_decay,
    command_line,
    lr_decay_note,
    open_unit_float,
    output_dirs,
    positive_float,
)

MODELS = ("cban", "cban_asym", "cban_notd", "cd_vae", "ae", "cban_implicit")
DEFAULT_MODELS = MODELS[:5]
DEFAULT_CHANNELS = (16, 32, 32)  # hidden channels (the paper: 40/120/440 and 128/256/512)
# Settling, as in App. D.3-D.4: until max |Δx| < 0.01 or 100 iterations, at training and test time;
# TD(1) sums the loss over every iteration until an example settles (frozen examples add nothing).
DEFAULT_MAX_TRAIN_STEPS = 100
DEFAULT_MAX_STEPS = 100
V2_MAX_TRAIN_STEPS = 12  # the truncated unroll of the v2 runs (docs/cban_experiments.md, benchmarks/cban_paper_scale.py)
LABELS = {
    "cban": "CBAN",
    "cban_asym": "CBAN-asym",
    "cban_notd": "CBAN-noTD",
    "cd_vae": "CD-VAE",
    "ae": "AE",
    "cban_implicit": "CBAN-implicit",
}
TRAINING_MODES = {"cban_notd": "final", "cban_implicit": "implicit"}


# -- data -----------------------------------------------------------------------
def _resize(images_uint8, size):
    from PIL import Image

    out = [np.asarray(Image.fromarray(a[..., 0]).resize((size, size), Image.BOX)) for a in images_uint8]
    return (np.stack(out).astype("float32") / 255.0)[..., None]


def load_data(name, args, rng):
    from keras_hopfield import datasets

    n_train, n_val, n_test = args.train, args.val, args.test
    if name == "omniglot":
        limit = 20 * (n_train + n_val) if args.quick else None  # quick: only the first characters
        x, _ = datasets.load("omniglot", "train", data_dir=args.data_dir, as_float=False, limit=limit)
        idx = rng.permutation(len(x))[: n_train + n_val]
        x = _resize(x[idx], 28)
        xt, _ = datasets.load("omniglot", "test", data_dir=args.data_dir, as_float=False,
                              limit=20 * n_test if args.quick else None)
        xt = _resize(xt[rng.permutation(len(xt))[:n_test]], 28)
        return x[:n_train], x[n_train:], xt
    x, _ = datasets.load("cifar10", "train", data_dir=args.data_dir)
    if n_train + n_val > len(x):
        raise SystemExit(f"cifar10 has {len(x)} training images; asked for {n_train} + {n_val}")
    xt, _ = datasets.load("cifar10", "test", data_dir=args.data_dir, limit=n_test)
    return x[:n_train], x[len(x) - n_val :], xt


def make_masks(name, images, seed):
    """Known-pixel mask (N, H, W, 1) as float32 (1 = observed)."""
    from keras import ops

    from keras_hopfield.corruptions import perlin_mask, random_patch_mask

    if name == "omniglot":
        _, known = random_patch_mask(images, 0.25, min_size=3, max_size=6, foreground_threshold=0.5, seed=seed)
    else:
        _, known = perlin_mask(images, fraction=0.4, frequency=7, seed=seed)
    known = np.asarray(ops.convert_to_numpy(known))
    return known[..., :1].astype("float32")


def to_state(x):
    return 2.0 * x - 1.0


def to_image(s):
    return np.clip(0.5 * (s + 1.0), 0.0, 1.0)


# -- models ---------------------------------------------------------------------
def build_cban(kind, shape, args):
    import keras

    from keras_hopfield.layers import CBANBlock
    from keras_hopfield.models import CBAN

    tied = kind != "cban_asym"
    # None keeps CBANBlock's default (Gaussian, std 0.01, App. D.4); the paper's CIFAR-10 uses 1e-4 (App. D.3).
    init = None if args.kernel_std is None else keras.initializers.RandomNormal(stddev=args.kernel_std)
    blocks = [
        CBANBlock(filters=c, kernel_size=3, pooling=i > 0, tied=tied, kernel_initializer=init)
        for i, c in enumerate(args.channels)
    ]
    model = CBAN(
        blocks,
        activation=args.activation,
        alpha=args.alpha,
        settle_loss="se",
        training_mode=TRAINING_MODES.get(kind, "td1"),
        max_steps=args.max_steps,
        max_train_steps=args.max_train_steps,
        td_horizon=args.td_horizon if TRAINING_MODES.get(kind, "td1") == "td1" else None,
        tolerance=0.01,
        replicate_visible=args.replicate_visible,
    )
    model.build(((None,) + shape, (None,) + shape[:2] + (1,)))
    return model


def build_ae(shape, args):
    import keras
    from keras import layers

    c1, c2, c3 = args.channels
    inp = keras.Input(shape[:2] + (shape[2] + 1,))
    h = layers.Conv2D(c1, 3, padding="same", activation="elu")(inp)
    h = layers.Conv2D(c2, 3, strides=2, padding="same", activation="elu")(h)
    h = layers.Conv2D(c3, 3, strides=2, padding="same", activation="elu")(h)
    h = layers.Conv2DTranspose(c2, 3, strides=2, padding="same", activation="elu")(h)
    h = layers.Conv2DTranspose(c1, 3, strides=2, padding="same", activation="elu")(h)
    out = layers.Conv2D(shape[2], 3, padding="same", activation="sigmoid")(h)
    return keras.Model(inp, out, name="conv_denoising_ae")


def build_cd_vae(shape, args):
    """Convolutional denoising VAE (papers/001 §4.3): masked image in, completion out.

    Encoder: three 3×3 convolutions (the AE's widths, two of stride 2) and 1×1
    convolutions to the mean and log-variance of a spatial Gaussian latent
    (H/4 × W/4 × `--vae-latent` channels, so the parameter count stays near
    the AE's); decoder: the mirror image to a sigmoid image. Loss: the negative
    ELBO per image, `Σ_pixels (x − x̂)² + KL(q(z|x̃) ‖ N(0, I))` (the KL is
    added with `add_loss` by the sampling layer).
    """
    import keras
    from keras import layers, ops

    c1, c2, c3 = args.channels

    class GaussianSample(layers.Layer):
        def __init__(self, seed=0, **kw):
            super().__init__(**kw)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, mean, log_var, training=None):
            kl = -0.5 * ops.sum(ops.reshape(1.0 + log_var - ops.square(mean) - ops.exp(log_var),
                                            (ops.shape(mean)[0], -1)), axis=-1)
            self.add_loss(ops.mean(kl))
            if not training:
                return mean  # completions use the posterior mean
            eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            return mean + ops.exp(0.5 * log_var) * eps

    inp = keras.Input(shape)
    h = layers.Conv2D(c1, 3, padding="same", activation="elu")(inp)
    h = layers.Conv2D(c2, 3, strides=2, padding="same", activation="elu")(h)
    h = layers.Conv2D(c3, 3, strides=2, padding="same", activation="elu")(h)
    mean, log_var = layers.Conv2D(args.vae_latent, 1)(h), layers.Conv2D(args.vae_latent, 1)(h)
    z = GaussianSample(seed=args.seed)(mean, log_var)
    h = layers.Conv2D(c3, 1, activation="elu")(z)
    h = layers.Conv2DTranspose(c2, 3, strides=2, padding="same", activation="elu")(h)
    h = layers.Conv2DTranspose(c1, 3, strides=2, padding="same", activation="elu")(h)
    out = layers.Conv2D(shape[2], 3, padding="same", activation="sigmoid")(h)
    return keras.Model(inp, out, name="conv_denoising_vae")


def summed_squared_error(y_true, y_pred):
    """Σ over the pixels of one image (the Gaussian log-likelihood up to constants), per image."""
    from keras import ops

    return ops.sum(ops.reshape(ops.square(y_true - y_pred), (ops.shape(y_true)[0], -1)), axis=-1)


def complete(kind, model, images, known, args, budget=None):
    """Completed images in [0, 1] (known pixels kept) and settle steps (CBANs), settling ≤ `budget` iterations."""
    from keras import ops

    outs, steps = [], []
    for i in range(0, len(images), args.eval_batch):
        x, k = images[i : i + args.eval_batch], known[i : i + args.eval_batch]
        if kind == "ae":
            pred = np.asarray(ops.convert_to_numpy(model(np.concatenate([x * k, k], -1), training=False)))
            paste = True
        elif kind == "cd_vae":
            pred = np.asarray(ops.convert_to_numpy(model(x * k, training=False)))
            paste = True
        else:
            res = model.settle((to_state(x) * k, k), max_steps=budget or args.max_steps)
            pred = to_image(np.asarray(ops.convert_to_numpy(res["completion"])))
            steps.append(np.asarray(ops.convert_to_numpy(res["steps"])))
            # A clamped visible layer already holds the known pixels; a replicated one's output copy is free.
            paste = args.replicate_visible
        outs.append(k * x + (1.0 - k) * pred if paste else pred)
    return np.concatenate(outs), (np.concatenate(steps) if steps else None)


def scores(target, completion):
    from keras import ops

    from keras_hopfield.metrics import psnr, ssim

    p = np.asarray(ops.convert_to_numpy(psnr(target, completion)), dtype="float64")
    s = np.asarray(ops.convert_to_numpy(ssim(target, completion)), dtype="float64")
    return p, s


def mean_sem(v):
    v = np.asarray(v, dtype="float64")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def cycle_stats(model, images, known, steps):
    """Share of examples still moving after `steps` iterations, and of those in a 2-cycle."""
    from keras import ops

    traj = model.trajectory((to_state(images) * known, known), steps=steps)
    vis = np.asarray(ops.convert_to_numpy(traj["visible"]))  # (T, N, H, W, C)
    delta = np.asarray(ops.convert_to_numpy(traj["delta"]))  # (T, N), all layers
    moving = delta[-1] >= 0.01
    d2 = np.abs(vis[-1] - vis[-3]).reshape(len(images), -1).max(-1)
    two_cycle = moving & (d2 < 0.01)
    return {
        "examples": len(images),
        "iterations": int(steps),
        "still_moving_fraction": float(moving.mean()),
        "visible_period2_fraction": float(two_cycle.mean()),
        "final_delta_mean": float(delta[-1].mean()),
    }


# -- one dataset ----------------------------------------------------------------
def run_dataset(name, args, command, out_dir, figures):
    import keras

    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    x_train, x_val, x_test = load_data(name, args, rng)
    shape = x_train.shape[1:]
    seed_base = 1000 * args.seed
    k_val = make_masks(name, x_val, seed_base + 777_001)
    k_test = make_masks(name, x_test, seed_base + 888_001)
    print(f"[{name}] train {x_train.shape} val {x_val.shape} test {x_test.shape}; "
          f"hidden fraction test {1 - k_test.mean():.3f} ({time.time() - t0:.1f}s data)", flush=True)

    results, completions = {}, {}
    for kind in args.models:
        keras.utils.set_random_seed(args.seed)
        if kind == "ae":
            model, loss = build_ae(shape, args), {"loss": "mse"}
        elif kind == "cd_vae":
            model, loss = build_cd_vae(shape, args), {"loss": summed_squared_error}
        else:
            model, loss = build_cban(kind, shape, args), {}
        model.compile(optimizer=keras.optimizers.Adam(args.lr), **loss)
        n_params = int(sum(np.prod(v.shape) for v in model.trainable_weights))
        history, best, best_weights = [], -np.inf, None
        start = time.time()
        for epoch in range(args.epochs):
            apply_lr_decay(model.optimizer, args.lr, epoch, args.lr_decay_every)  # the paper's step schedule
            k_train = make_masks(name, x_train, seed_base + epoch + 1)  # fresh masks every epoch
            if kind == "ae":
                h = model.fit(np.concatenate([x_train * k_train, k_train], -1), x_train,
                              batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
            elif kind == "cd_vae":
                h = model.fit(x_train * k_train, x_train, batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
            else:
                t = to_state(x_train)
                h = model.fit((t * k_train, k_train), t, batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
            logs = {k: round(float(v[-1]), 5) for k, v in h.history.items()}
            rec = {"epoch": epoch + 1, **logs}
            if args.epochs > 1:  # a single epoch leaves nothing to choose
                # Validation at the training horizon (the fixed point for the implicit gradient).
                horizon = args.max_steps if kind == "cban_implicit" else args.max_train_steps
                val_c, val_steps = complete(kind, model, x_val, k_val, args, budget=horizon)
                val_psnr = float(scores(x_val, val_c)[0].mean())
                rec["val_psnr"] = round(val_psnr, 3)
                if val_steps is not None:
                    rec["val_settle_steps"] = round(float(val_steps.mean()), 2)
            else:
                val_psnr = 0.0
            history.append(rec)
            print(f"[{name}] {LABELS[kind]:10s} epoch {epoch + 1}: {rec}", flush=True)
            if val_psnr > best:
                best, best_weights, best_epoch = val_psnr, model.get_weights(), epoch + 1
        train_seconds = time.time() - start
        model.set_weights(best_weights)
        budget, by_budget = None, {}
        if kind not in ("ae", "cd_vae"):
            # Test-time settling budget chosen on validation: the training horizon or longer.
            for b in args.budgets if len(args.budgets) > 1 else []:
                by_budget[b] = round(float(scores(x_val, complete(kind, model, x_val, k_val, args, b)[0])[0].mean()), 3)
            budget = max(by_budget, key=by_budget.get) if by_budget else args.budgets[0]
        comp, steps = complete(kind, model, x_test, k_test, args, budget)
        p, s = scores(x_test, comp)
        r = {
            "label": LABELS[kind],
            "params": n_params,
            "best_epoch": best_epoch,
            "val_psnr": round(best, 3) if args.epochs > 1 else None,
            "psnr_mean": mean_sem(p)[0],
            "psnr_sem": mean_sem(p)[1],
            "ssim_mean": mean_sem(s)[0],
            "ssim_sem": mean_sem(s)[1],
            "train_seconds": round(train_seconds, 1),
            "history": history,
        }
        if steps is not None:
            r["training_mode"] = model.training_mode
            r["settle_budget"] = budget
            r["val_psnr_by_budget"] = {str(b): v for b, v in by_budget.items()}
            r["settle_steps_mean"] = float(steps.mean())
            r["settle_steps_max"] = int(steps.max())
            r["converged_fraction"] = float((steps < budget).mean())
            # At the end of training, on training images with fresh masks: the settling it was trained on.
            n_tr = min(len(x_train), args.eval_batch)
            k_tr = make_masks(name, x_train[:n_tr], seed_base + 555_001)
            _, tr_steps = complete(kind, model, x_train[:n_tr], k_tr, args, args.max_train_steps)
            r["train_converged_fraction"] = float((tr_steps < args.max_train_steps).mean())
            r["train_settle_steps_mean"] = float(tr_steps.mean())
            n_cyc = min(len(x_test), args.cycle_examples)
            r["cycles"] = cycle_stats(model, x_test[:n_cyc], k_test[:n_cyc], args.max_steps)
        results[kind] = r
        completions[kind] = comp
        print(f"[{name}] {LABELS[kind]:10s} test PSNR {r['psnr_mean']:.2f}±{r['psnr_sem']:.2f}  "
              f"SSIM {r['ssim_mean']:.3f}±{r['ssim_sem']:.3f}"
              + (f"  settle steps {r['settle_steps_mean']:.1f} (budget {budget}), converged "
                 f"{100 * r['converged_fraction']:.1f} % (train {100 * r['train_converged_fraction']:.1f} %)"
                 if steps is not None else "")
              + f"  ({n_params} params, best epoch {best_epoch}, {train_seconds:.0f}s)", flush=True)

    # Masked input itself as a reference point (unknown pixels filled with 0).
    p, s = scores(x_test, x_test * k_test)
    baseline = {"psnr_mean": mean_sem(p)[0], "ssim_mean": mean_sem(s)[0]}

    from keras_hopfield import plotting
    from keras_hopfield.layers.cban import CONV_KERNEL_STD

    fig_files = {}
    show = min(10, len(x_test))
    known_rows = np.broadcast_to(k_test[:show] > 0, x_test[:show].shape)
    rows = [x_test[:show], x_test[:show]] + [completions[k][:show] for k in args.models]
    fig = plotting.image_grid(
        rows,
        row_labels=["target", "evidence"] + [LABELS[k] for k in args.models],
        masks=[None, known_rows] + [None] * len(args.models),
        n=show,
        title=f"{name}: completions (red = masked)",
    )
    fig_files["examples"] = plotting.save_figure(fig, figures / f"cban_completion_{name}_examples.png")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7, 3))
    labels = [LABELS[k] for k in args.models]
    for ax, metric in zip(axes, ("psnr", "ssim")):
        means = [results[k][f"{metric}_mean"] for k in args.models]
        sems = [results[k][f"{metric}_sem"] for k in args.models]
        ax.bar(labels, means, yerr=sems, capsize=3, color=["C0", "C1", "C2", "C7", "C3"][: len(labels)])
        lo = min(m - e for m, e in zip(means, sems))
        hi = max(m + e for m, e in zip(means, sems))
        ax.set_ylim(lo - 0.15 * (hi - lo + 1e-3) - (1.0 if metric == "psnr" else 0.02), hi + 0.1 * (hi - lo + 1e-3))
        ax.set_title(metric.upper())
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"{name}: test completion (mean ± s.e.m., n={len(x_test)})")
    fig.tight_layout()
    fig_files["bars"] = plotting.save_figure(fig, figures / f"cban_completion_{name}_bars.png")
    plt.close("all")

    result = {
        "command": command,
        "backend": keras.backend.backend(),
        "quick": args.quick,
        "dataset": name,
        "image_shape": list(shape),
        "n_train": len(x_train),
        "n_val": len(x_val),
        "n_test": len(x_test),
        "masking": (
            "square patches, side 3-6, until >= 25% of stroke pixels (>0.5) hidden (random_patch_mask)"
            if name == "omniglot" else "Perlin noise, frequency 7, 40% of pixels hidden (perlin_mask)"
        ),
        "test_hidden_fraction": float(1 - k_test.mean()),
        "scaling": {
            "hidden_channels": list(args.channels),
            "paper_hidden_channels": [128, 256, 512] if name == "omniglot" else [40, 120, 440],
            "kernel_size": 3,
            "kernel_init_std": CONV_KERNEL_STD if args.kernel_std is None else args.kernel_std,
            "paper_kernel_init_std": 0.01 if name == "omniglot" else 1e-4,
            "pooling": "2x2 between hidden layers (orthonormal pair, see CBANBlock)",
            "replicate_visible": args.replicate_visible,
            "activation": args.activation + (f" (alpha {args.alpha})" if args.activation == "leaky_sigmoid" else ""),
            "paper_activation": "tanh",
            "max_train_steps": args.max_train_steps,
            "td_horizon": args.td_horizon,
            "test_max_steps": args.max_steps,
            "test_settle_budget": (f"per model, the best on validation of {args.budgets}" if len(args.budgets) > 1
                                   else f"{args.budgets[0]} (settle to convergence, θ = 0.01)"),
            "vae_latent": args.vae_latent,
            "cycle_analysis": f"trajectory of {args.max_steps} iterations on the first {args.cycle_examples} test images",
            "paper_max_steps": 100,
            "epochs": args.epochs,
            "batch_size": args.batch,
            "optimizer": f"Adam({args.lr})" + lr_decay_note(args.lr_decay_every),
            "paper_optimizer": "Adam(5e-4), >100 epochs, /10 every 20 epochs",
            "paper_n_train": 15424 if name == "omniglot" else 50000,
            "model_selection": "epoch with best validation PSNR (fixed validation masks)",
        },
        "masked_input_reference": baseline,
        "models": results,
        "figures": fig_files,
        "seconds": round(time.time() - t0, 1),
    }
    path = out_dir / f"cban_completion_{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"[{name}] wrote {path}", flush=True)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["omniglot", "cifar10", "both"], default="both")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma list from " + ",".join(MODELS) + " (default: the first four)")
    p.add_argument("--train", type=int, default=None, help="training images (default omniglot 3000, cifar10 1800)")
    p.add_argument("--val", type=int, default=200)
    p.add_argument("--test", type=int, default=500)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--eval-batch", type=int, default=250)
    p.add_argument("--channels", default=",".join(map(str, DEFAULT_CHANNELS)))
    p.add_argument("--max-train-steps", type=int, default=DEFAULT_MAX_TRAIN_STEPS)
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="test-time settling cap")
    p.add_argument("--td-horizon", type=int, default=None,
                   help="TD(1) truncation correction for CBAN/CBAN-asym (CBAN.td_horizon, not in the paper): "
                        "off by default (plain TD(1))")
    p.add_argument("--vae-latent", type=int, default=8, help="latent channels of the CD-VAE (at H/4 × W/4)")
    p.add_argument("--kernel-std", type=positive_float, default=None,
                   help="std of the CBANs' Gaussian kernel init (default CBANBlock's 0.01; the paper's CIFAR-10: 1e-4)")
    p.add_argument("--replicate-visible", action="store_true",
                   help="CBANs get a clamped input copy and a free output copy of the visible units (§3.2)")
    p.add_argument("--activation", choices=["tanh", "leaky_sigmoid"], default="tanh",
                   help="CBAN unit activation (the paper's completion nets: tanh; leaky sigmoid: §3.3)")
    p.add_argument("--alpha", type=open_unit_float, default=0.2,
                   help="leaky sigmoid slope outside [-1, 1] (§3.3: 0.2); ignored for tanh")
    p.add_argument("--lr", type=float, default=1e-3)
    add_lr_decay_argument(p, note="the paper: 20; ")
    p.add_argument("--budgets", default=None,
                   help="test-time settle budgets to choose from on validation (default: --max-steps only, i.e. "
                        "settle to convergence)")
    p.add_argument("--cycle-examples", type=int, default=100)
    p.add_argument("--data-dir", default=os.environ.get("KERAS_HOPFIELD_DATA"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="JSON folder (default docs/results; required with --quick)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if any(m not in MODELS for m in args.models) or not args.models:
        p.error(f"--models must be a comma list from {MODELS}")
    args.channels = [int(c) for c in args.channels.split(",")]
    if len(args.channels) != 3:
        p.error("--channels needs three numbers")
    if args.quick:
        if args.out is None:
            p.error("--quick needs --out (quick runs never write into docs/)")
        # Every settle call sees the same batch size (fewer retraces on JAX).
        args.train, args.val, args.test, args.epochs = 48, 16, 16, 1
        args.channels, args.max_train_steps, args.max_steps = [4, 8, 8], 3, 8
        args.batch, args.cycle_examples, args.budgets = 16, 16, "3"

    args.td_horizon = args.td_horizon or None

    if args.budgets:
        args.budgets = sorted({int(b) for b in args.budgets.split(",")})
    else:
        args.budgets = [args.max_steps]

    out_dir, figures = output_dirs(args)
    command = command_line("cban_completion.py", argv)

    names = ["omniglot", "cifar10"] if args.dataset == "both" else [args.dataset]
    results = {}
    train_arg = args.train
    for name in names:
        args.train = train_arg or (3000 if name == "omniglot" else 1800)
        results[name] = run_dataset(name, args, command, out_dir, figures)
    return results


if __name__ == "__main__":
    main()
