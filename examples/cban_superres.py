"""×2 super-resolution with a CBAN with replicated visible units (papers/001 §4.5, App. D.5).

The visible layer holds two copies of a patch: the **input copy**, clamped to
the bicubic-upsampled low-resolution patch, and the free **output copy**, the
read-out (`CBAN(..., replicate_visible=True)`). Convolutional blocks without
pooling (`same` padding), tanh units, `L_SE` with TD(1) transient training.

Target (`--target`):

* `residual` (default): the output copy predicts the detail bicubic misses,
  `clip(s · (HR − bicubic), ±0.999)` with `s = --residual-scale` (4); the
  super-resolved image is `bicubic + output / s`. A net that has learnt
  nothing (output 0) returns bicubic exactly.
* `image`: the output copy predicts the high-resolution patch itself,
  `2 · HR − 1`, as in the paper.

Channel: the net works on the luminance Y only (ITU-R BT.601 as MATLAB's
`rgb2ycbcr`, Y ∈ [16, 235]/255), the usual SR protocol; the colour figure
uses the bicubic Cb/Cr. The paper's net processed RGB.

Pipeline (identical for CBAN and bicubic): a high-resolution RGB image
(uint8) is cropped to even height and width; the low-resolution image is
its PIL bicubic downscale ×2 (`Image.resize(..., Image.BICUBIC)`, antialiased
like MATLAB `imresize`, stored as uint8); the bicubic baseline is the PIL
bicubic upscale ×2 of that (uint8). Metrics: PSNR and SSIM (Gaussian window
11, σ 1.5) on Y in [0, 1] of the **full** Set5 / Set14 images, with a
2-pixel border cropped, averaged over the images of a set.

Training data: random `--patch`×`--patch` (20) crops of T91 images (random
flips / 90° rotations), `--patches` (3000) of them from the training images;
`--val-images` (10) T91 images are held out as the validation set that picks
the epoch (full-image validation PSNR).

Scaling (vs App. D.5; see JSON `scaling`): hidden channels `--channels`
(32,32) instead of 300/300/300, 3×3 kernels instead of 5×5, 20×20 instead of
40×40 patches, Y instead of RGB, TD(1) unrolled `--max-train-steps` (8)
iterations, Adam 1e-3 for a few epochs instead of 5e-5 with decay.

Usage:

    python examples/cban_superres.py                 # → docs/results/cban_superres.json, docs/figures/cban_superres.png
    python examples/cban_superres.py --target image  # → cban_superres_image.json
    python examples/cban_superres.py --quick --out /tmp/sr
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _common import command_line, output_dirs

BORDER = 2


def rgb_to_y(rgb):
    """RGB in [0, 1] → Y in [16, 235]/255 (BT.601, MATLAB rgb2ycbcr)."""
    return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def rgb_to_ycbcr(rgb):
    y = rgb_to_y(rgb)
    cb = (128.0 - 37.797 * rgb[..., 0] - 74.203 * rgb[..., 1] + 112.0 * rgb[..., 2]) / 255.0
    cr = (128.0 + 112.0 * rgb[..., 0] - 93.786 * rgb[..., 1] - 18.214 * rgb[..., 2]) / 255.0
    return y, cb, cr


def ycbcr_to_rgb(y, cb, cr):
    y, cb, cr = 255.0 * y - 16.0, 255.0 * cb - 128.0, 255.0 * cr - 128.0
    r = 0.00456621 * y + 0.00625893 * cr
    g = 0.00456621 * y - 0.00153632 * cb - 0.00318811 * cr
    b = 0.00456621 * y + 0.00791071 * cb
    return np.clip(np.stack([r, g, b], -1), 0.0, 1.0)


def sr_pair(hr_float):
    """HR RGB float image → (hr, bicubic) RGB float images, uint8-quantised, even size."""
    from PIL import Image

    hr = np.round(np.asarray(hr_float) * 255.0).astype("uint8")
    h, w = hr.shape[0] - hr.shape[0] % 2, hr.shape[1] - hr.shape[1] % 2
    hr = hr[:h, :w]
    lr = Image.fromarray(hr).resize((w // 2, h // 2), Image.BICUBIC)
    bic = np.asarray(lr.resize((w, h), Image.BICUBIC))
    return hr.astype("float32") / 255.0, bic.astype("float32") / 255.0


def sample_patches(pairs, n, size, rng):
    """`n` aligned (bicubic Y, HR Y) patches with random flips / rotations."""
    bic_p, hr_p = [], []
    weights = np.array([max(1, (y.shape[0] - size) * (y.shape[1] - size)) for y, _ in pairs], "float64")
    choice = rng.choice(len(pairs), size=n, p=weights / weights.sum())
    for i in choice:
        hr_y, bic_y = pairs[i]
        top = rng.integers(0, hr_y.shape[0] - size + 1)
        left = rng.integers(0, hr_y.shape[1] - size + 1)
        a, b = hr_y[top : top + size, left : left + size], bic_y[top : top + size, left : left + size]
        k = rng.integers(0, 4)
        a, b = np.rot90(a, k), np.rot90(b, k)
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        hr_p.append(a)
        bic_p.append(b)
    return np.stack(bic_p)[..., None].astype("float32"), np.stack(hr_p)[..., None].astype("float32")


class Codec:
    """Maps (bicubic, HR) in [0, 1] to CBAN (evidence, target) states and back."""

    def __init__(self, target, scale):
        self.target, self.scale = target, scale

    def evidence(self, bic):
        return 2.0 * bic - 1.0

    def encode(self, bic, hr):
        if self.target == "residual":
            return np.clip(self.scale * (hr - bic), -0.999, 0.999).astype("float32")
        return (0.999 * (2.0 * hr - 1.0)).astype("float32")

    def decode(self, bic, out):
        if self.target == "residual":
            return np.clip(bic + out / self.scale, 0.0, 1.0)
        return np.clip(0.5 * (out / 0.999 + 1.0), 0.0, 1.0)


def sized_copy(model, shape):
    """A CBAN with `model`'s weights for evidence of spatial size `shape`.

    Workaround: a CBAN built with unknown spatial dims cannot be called
    (`CBAN._prepare` makes its zero hidden states from the static build
    shapes), so the trained net is rebuilt per image size."""
    from keras_hopfield.models import CBAN

    cache = model.__dict__.setdefault("_sized_copies", {})
    if shape not in cache:
        copy = CBAN.from_config(model.get_config())
        copy.build((1,) + tuple(shape) + (1,))
        cache[shape] = copy
    cache[shape].set_weights(model.get_weights())
    return cache[shape]


def super_resolve(model, codec, bic_y, max_steps):
    """Full-image CBAN super-resolution of a bicubic Y image (H, W) → (SR Y, settle steps)."""
    from keras import ops

    model = sized_copy(model, bic_y.shape)
    res = model.settle(codec.evidence(bic_y)[None, ..., None].astype("float32"), max_steps=max_steps)
    out = np.asarray(ops.convert_to_numpy(res["completion"]))[0, ..., 0]
    return codec.decode(bic_y, out), float(np.asarray(ops.convert_to_numpy(res["steps"]))[0])


def y_scores(hr_y, pred_y):
    from keras import ops

    from keras_hopfield.metrics import psnr, ssim

    a = hr_y[BORDER:-BORDER, BORDER:-BORDER][None, ..., None].astype("float32")
    b = pred_y[BORDER:-BORDER, BORDER:-BORDER][None, ..., None].astype("float32")
    return float(ops.convert_to_numpy(psnr(a, b))[0]), float(ops.convert_to_numpy(ssim(a, b))[0])


def evaluate(model, codec, images, max_steps):
    rows = []
    for hr, bic in images:
        hr_y, bic_y = rgb_to_y(hr), rgb_to_y(bic)
        sr_y, steps = super_resolve(model, codec, bic_y, max_steps)
        p_c, s_c = y_scores(hr_y, sr_y)
        p_b, s_b = y_scores(hr_y, bic_y)
        rows.append({"size": list(hr_y.shape), "psnr": p_c, "ssim": s_c, "bicubic_psnr": p_b,
                     "bicubic_ssim": s_b, "settle_steps": steps})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "settle_steps")}
    return mean, rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=["residual", "image"], default="residual")
    p.add_argument("--residual-scale", type=float, default=4.0)
    p.add_argument("--patches", type=int, default=3000)
    p.add_argument("--patch", type=int, default=20)
    p.add_argument("--val-images", type=int, default=10)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--channels", default="32,32")
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--max-train-steps", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--data-dir", default=os.environ.get("KERAS_HOPFIELD_DATA"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="JSON folder (default docs/results; required with --quick)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    args = p.parse_args(argv)
    args.channels = [int(c) for c in args.channels.split(",")]
    limit = None
    if args.quick:
        if args.out is None:
            p.error("--quick needs --out (quick runs never write into docs/)")
        args.patches, args.patch, args.epochs, args.val_images = 64, 16, 1, 2
        args.channels, args.max_train_steps, args.max_steps = [4], 3, 5
        limit = 3

    import keras

    from keras_hopfield import datasets, plotting
    from keras_hopfield.layers import CBANBlock
    from keras_hopfield.models import CBAN

    out_dir, figures = output_dirs(args)
    command = command_line("cban_superres.py", argv)
    t0 = time.time()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t91, _ = datasets.load("t91", data_dir=args.data_dir)
    order = rng.permutation(len(t91))
    val_ids, train_ids = order[: args.val_images], order[args.val_images :]
    if limit:
        train_ids = train_ids[:limit]
    val_pairs = [sr_pair(t91[i]) for i in val_ids]
    train_pairs = [(rgb_to_y(hr), rgb_to_y(bic)) for hr, bic in (sr_pair(t91[i]) for i in train_ids)]
    bic_p, hr_p = sample_patches(train_pairs, args.patches, args.patch, rng)
    codec = Codec(args.target, args.residual_scale)
    evidence, target = codec.evidence(bic_p), codec.encode(bic_p, hr_p)
    print(f"{len(train_ids)} T91 training images → {args.patches} patches {args.patch}x{args.patch}; "
          f"{len(val_ids)} validation images; target {args.target}", flush=True)

    model = CBAN(
        [CBANBlock(filters=c, kernel_size=args.kernel) for c in args.channels],
        activation="tanh",
        settle_loss="se",
        training_mode="td1",
        max_steps=args.max_steps,
        max_train_steps=args.max_train_steps,
        tolerance=0.01,
        replicate_visible=True,
    )
    model.build((None, args.patch, args.patch, 1))
    model.compile(optimizer=keras.optimizers.Adam(args.lr))
    n_params = int(sum(np.prod(v.shape) for v in model.trainable_weights))

    history, best, best_weights, best_epoch = [], -np.inf, None, 0
    start = time.time()
    for epoch in range(args.epochs):
        h = model.fit(evidence, target, batch_size=args.batch, epochs=1, verbose=0, shuffle=True)
        val, _ = evaluate(model, codec, val_pairs, args.max_train_steps)
        rec = {"epoch": epoch + 1, **{k: round(float(v[-1]), 4) for k, v in h.history.items()},
               "val_psnr": round(val["psnr"], 3), "val_bicubic_psnr": round(val["bicubic_psnr"], 3),
               "val_settle_steps": round(val["settle_steps"], 1), "seconds": round(time.time() - start, 1)}
        history.append(rec)
        print(rec, flush=True)
        if val["psnr"] > best:
            best, best_weights, best_epoch = val["psnr"], model.get_weights(), epoch + 1
    train_seconds = time.time() - start
    model.set_weights(best_weights)
    # Test-time settling budget chosen on validation: the training horizon or longer.
    by_budget = {}
    for b in sorted({args.max_train_steps, 2 * args.max_train_steps, args.max_steps}):
        by_budget[b] = round(evaluate(model, codec, val_pairs, b)[0]["psnr"], 3)
    budget = max(by_budget, key=by_budget.get)
    print(f"validation PSNR by settle budget {by_budget} -> {budget}", flush=True)

    sets = {}
    examples = {}
    for name in ("set5", "set14"):
        imgs, _ = datasets.load(name, data_dir=args.data_dir, limit=2 if args.quick else None)
        pairs = [sr_pair(im) for im in imgs]
        mean, rows = evaluate(model, codec, pairs, budget)
        sets[name] = {**mean, "images": rows}
        examples[name] = pairs[0]
        print(f"{name}: CBAN PSNR {mean['psnr']:.2f} dB / SSIM {mean['ssim']:.4f}   "
              f"bicubic {mean['bicubic_psnr']:.2f} / {mean['bicubic_ssim']:.4f}   "
              f"settle steps {mean['settle_steps']:.1f}", flush=True)

    # Figure: HR / CBAN / bicubic crops (colour: SR luminance + bicubic chroma).
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(7.5, 5.2))
    for r, name in enumerate(("set5", "set14")):
        hr, bic = examples[name]
        y, cb, cr = rgb_to_ycbcr(bic)
        sr_y, _ = super_resolve(model, codec, y, budget)
        sr = ycbcr_to_rgb(sr_y, cb, cr)
        c = min(96, hr.shape[0], hr.shape[1])
        top, left = (hr.shape[0] - c) // 2, (hr.shape[1] - c) // 2

        def crop(a, top=top, left=left, c=c):
            return a[top : top + c, left : left + c]

        p_c, _ = y_scores(rgb_to_y(hr), sr_y)
        p_b, _ = y_scores(rgb_to_y(hr), y)
        for ax, img, title in zip(axes[r], (hr, sr, bic), ("HR", f"CBAN ({p_c:.2f} dB)", f"bicubic ({p_b:.2f} dB)")):
            ax.imshow(crop(img), interpolation="nearest")
            ax.set_title(f"{name} {title}", fontsize=9)
            ax.axis("off")
    fig.suptitle("×2 super-resolution: centre crops (PSNR of the full image, Y)")
    fig.tight_layout()
    figure = plotting.save_figure(fig, figures / ("cban_superres.png" if args.target == "residual" else f"cban_superres_{args.target}.png"))
    plt.close("all")

    result = {
        "command": command,
        "backend": keras.backend.backend(),
        "quick": args.quick,
        "target": args.target,
        "residual_scale": args.residual_scale if args.target == "residual" else None,
        "channel": "Y (BT.601, [16,235]/255), CBAN on luminance only",
        "protocol": "HR cropped to even size; LR = PIL bicubic /2 (uint8); bicubic = PIL bicubic x2 of LR (uint8); "
                    f"PSNR/SSIM (Gaussian 11, sigma 1.5) on Y in [0,1], {BORDER}-pixel border cropped, full images, mean over set",
        "architecture": f"CBAN visible 2 channels (clamped bicubic Y, free output) -> hidden {args.channels}, "
                        f"{args.kernel}x{args.kernel} same conv, no pooling, tanh, L_SE, TD(1)",
        "params": n_params,
        "scaling": {
            "patches": args.patches, "patch_size": args.patch, "paper_patch_size": 40,
            "train_images": len(train_ids), "val_images": len(val_ids),
            "hidden_channels": args.channels, "paper_hidden_channels": [300, 300, 300],
            "kernel": args.kernel, "paper_kernel": 5,
            "epochs": args.epochs, "batch_size": args.batch, "optimizer": f"Adam({args.lr})",
            "max_train_steps": args.max_train_steps, "test_max_steps": args.max_steps,
            "test_settle_budget": "best on validation of {max_train_steps, 2*max_train_steps, max_steps}",
            "model_selection": "epoch with best validation PSNR on held-out T91 images",
        },
        "best_epoch": best_epoch,
        "val_psnr": best,
        "settle_budget": budget,
        "val_psnr_by_budget": {str(b): v for b, v in by_budget.items()},
        "set5": sets["set5"],
        "set14": sets["set14"],
        "paper": {"set5": {"cban": [34.18, 0.947], "bicubic": [32.21, 0.921]},
                  "set14": {"cban": [30.79, 0.953], "bicubic": [29.21, 0.911]}},
        "train_seconds": round(train_seconds, 1),
        "seconds": round(time.time() - t0, 1),
        "history": history,
        "figure": figure,
    }
    name = "cban_superres.json" if args.target == "residual" else f"cban_superres_{args.target}.json"
    (out_dir / name).write_text(json.dumps(result, indent=2))
    print("wrote", out_dir / name)
    return result


if __name__ == "__main__":
    main()
