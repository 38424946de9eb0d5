"""Robustness report of a saved retrieval model: corruptions and transferred attacks.

Loads a Keras model that maps corrupted images to retrieved images (an
auto-associative memory whose stored set is the evaluated images), perturbs
the first `--n` images of a data set with every corruption and attack of
`keras_hopfield` over a grid of strengths, lets the model retrieve, and
scores the retrieval against the clean images (MSE, PSNR — capped at 100 dB
for perfect retrievals —, SSIM, retrieval rate at MSE < 0.005 and < 0.001,
nearest-pattern accuracy).

Attacks are transfer attacks, as in the CRHN robustness study: FGSM, FFGSM,
BIM, PGD, MI-FGSM, NI-FGSM, DI-FGSM and EOT-PGD are computed on a small
convolutional autoencoder trained here (on other images of the data set's
training split), then fed to the model. The surrogate's own (white-box)
error and the error of the perturbed input itself ("input") are reported as
reference curves.

Outputs in `--out`: `robustness.csv` (one row per perturbation, strength and
series), `robustness_attacks.png` (MSE vs eps, one panel per attack: the
layout of CRHN Fig. 6), `robustness_corruptions.png` (one panel per
corruption) and `examples.png` (original / corrupted / retrieved rows).

The model may take images `(N, H, W, C)` or flat vectors `(N, D)`; data are
resized / converted to gray or RGB to fit. Custom layers are registered by
importing `keras_hopfield`.

A model from the foundation layer: store the first `n` test images as the
memory of a pure modern-Hopfield lookup (no projections or normalisation)
and save it; `--make-demo-model` does exactly this:

    patterns = x_test[:n].reshape(n, -1)                # the stored set
    inputs = keras.Input((28, 28, 1))
    layer = HopfieldLookup(memory_size=n, beta=..., max_steps=3, num_heads=1,
                           project_query=False, project_memory=False, project_value=False,
                           normalize_query=False, normalize_memory=False, normalize_value=False,
                           use_output_projection=False, use_bias=False, ...)
    outputs = keras.layers.Reshape((28, 28, 1))(layer(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs); layer.stored_patterns.assign(patterns)
    model.save("hopfield.keras")

(`HopfieldRetrieval.pure(beta)(query, memory)` is the same computation with
the memory passed as a second input.) Later models (CBAN, CRHN, PCN...)
work the same way once saved as an image -> image `.keras` model.

Examples:
    python examples/robustness_report.py --make-demo-model /tmp/hopfield.keras --n 100
    python examples/robustness_report.py /tmp/hopfield.keras --data mnist --n 100 --out outputs/robustness
    python examples/robustness_report.py /tmp/hopfield.keras --quick --out /tmp/report
"""

import argparse
import csv
import math
import os
import sys
import time

import numpy as np

DATA_FILES = {
    "mnist": ("mnist", "mnist.npz"),
    "fashion_mnist": ("fashion_mnist", "fashion_mnist.npz"),
    "cifar10": ("cifar10", "cifar10_subset_lossless.npz"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path", nargs="?", help="saved .keras retrieval model")
    p.add_argument("--data", default="mnist", help="mnist, fashion_mnist, cifar10 or a .npz path (key x_test or x)")
    p.add_argument("--data-dir", default=os.environ.get("KERAS_HOPFIELD_DATA"),
                   help="folder with mnist/, cifar10/, ... (default: $KERAS_HOPFIELD_DATA)")
    p.add_argument("--split", default="test", choices=["train", "test"], help="split holding the stored images")
    p.add_argument("--n", type=int, default=100, help="number of (stored) images evaluated")
    p.add_argument("--out", default="outputs/robustness", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="iterations of the iterative attacks")
    p.add_argument("--surrogate", default=None, help="use this saved surrogate instead of training one")
    p.add_argument("--surrogate-images", type=int, default=2000)
    p.add_argument("--surrogate-epochs", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="small grid, few steps (smoke test)")
    p.add_argument("--make-demo-model", metavar="PATH", default=None,
                   help="build a HopfieldLookup memory of the first --n images, save it to PATH and exit")
    p.add_argument("--beta", type=float, default=50.0, help="inverse temperature of --make-demo-model")
    args = p.parse_args(argv)
    if args.model_path is None and args.make_demo_model is None:
        p.error("MODEL_PATH is required (or --make-demo-model PATH)")
    if args.quick:
        args.n = min(args.n, 32)
        args.steps = min(args.steps, 3)
        args.surrogate_images = min(args.surrogate_images, 256)
        args.surrogate_epochs = min(args.surrogate_epochs, 4)
    return args


# ---------------------------------------------------------------- data


def load_images(name, data_dir, split):
    """Return (stored split, other split) as float32 (N, H, W, C) in [0, 1]."""
    if name.endswith(".npz"):
        path = name
    else:
        if name not in DATA_FILES:
            sys.exit(f"unknown data set {name!r}; choose from {sorted(DATA_FILES)} or pass a .npz file")
        if not data_dir:
            sys.exit("no data folder: pass --data-dir or set KERAS_HOPFIELD_DATA")
        path = os.path.join(data_dir, *DATA_FILES[name])
    with np.load(path) as data:
        keys = data.files
        if "x_test" in keys and "x_train" in keys:
            other = "x_train" if split == "test" else "x_test"
            stored, rest = data[f"x_{split}"], data[other]
        else:
            key = "x" if "x" in keys else keys[0]
            stored = rest = data[key]

    def to_float(x):
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        x = x.astype("float32")
        return x / 255.0 if x.max() > 1.0 else x

    return to_float(stored), to_float(rest)


def fit_images(x, shape):
    """Resize / convert (N, H, W, C) images to `shape` = (H', W', C')."""
    from keras import ops

    h, w, c = shape
    if x.shape[-1] != c:
        x = x.mean(axis=-1, keepdims=True) if c == 1 else np.repeat(x[..., :1], c, axis=-1)
    if x.shape[1:3] != (h, w):
        x = np.asarray(ops.convert_to_numpy(ops.image.resize(x, (h, w), interpolation="bilinear")))
    return np.clip(x, 0.0, 1.0).astype("float32")


def image_shape_for(model, data_shape):
    """Image shape the model works on, and (to_model, from_model) reshapers."""
    in_shape = tuple(model.input_shape[1:])
    h, w, c = data_shape
    if len(in_shape) == 3:
        return in_shape, (lambda x: x), (lambda y, n: np.asarray(y).reshape((n,) + in_shape))
    if len(in_shape) == 1:
        d = in_shape[0]
        for cand in ((h, w, c), (h, w, 1), (h, w, 3)):
            if cand[0] * cand[1] * cand[2] == d:
                shape = cand
                break
        else:
            side = int(round(math.sqrt(d / c)))
            if side * side * c != d:
                sys.exit(f"cannot map flat model input of size {d} to images of shape {data_shape}")
            shape = (side, side, c)
        return shape, (lambda x: x.reshape(len(x), -1)), (lambda y, n: np.asarray(y).reshape((n,) + shape))
    sys.exit(f"unsupported model input shape {model.input_shape}: expected (None, H, W, C) or (None, D)")


# ---------------------------------------------------------------- demo model


def make_demo_model(patterns_img, beta):
    import keras

    from keras_hopfield.layers import HopfieldLookup

    n = len(patterns_img)
    shape = patterns_img.shape[1:]
    inputs = keras.Input(shape)
    layer = HopfieldLookup(
        memory_size=n, memory_initializer="zeros", beta=beta, max_steps=3, num_heads=1,
        normalize_query=False, normalize_query_affine=False, normalize_memory=False,
        normalize_memory_affine=False, normalize_value=False, normalize_value_affine=False,
        project_query=False, project_memory=False, project_value=False, use_output_projection=False,
        use_bias=False, name="memory",
    )
    outputs = keras.layers.Reshape(shape)(layer(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs, name="hopfield_lookup_memory")
    layer.stored_patterns.assign(patterns_img.reshape(n, -1))
    return model


# ---------------------------------------------------------------- grid


def perturbation_grid(quick):
    from keras_hopfield import corruptions as C

    if quick:
        g = {
            "gaussian_noise": [0.0, 0.2, 1.0],
            "pixel_mask": [0.0, 0.25, 0.5],
            "column_occlusion": [0.0, 0.25, 0.5],
            "perlin_mask": [0.0, 1 / 3],
            "keep_top": [1.0, 0.5, 0.25],
            "brightness": [-0.3, 0.0, 0.3],
            "contrast": [0.5, 1.0, 1.5],
        }
    else:
        g = {
            "gaussian_noise": [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
            "pixel_mask": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9],
            "column_occlusion": [0.0, 0.1, 0.25, 0.5, 0.75],
            "perlin_mask": [0.0, 0.1, 1 / 3, 0.5],
            "keep_top": [1.0, 0.75, 0.5, 0.25],
            "brightness": [-0.5, -0.25, 0.0, 0.25, 0.5],
            "contrast": [0.25, 0.5, 1.0, 1.5, 2.0],
        }
    fns = {
        "gaussian_noise": lambda x, s, seed: (C.gaussian_noise(x, s, seed=seed), None),
        "pixel_mask": lambda x, s, seed: C.random_pixel_mask(x, s, seed=seed),
        "column_occlusion": lambda x, s, seed: C.occlude_columns(x, float(s), seed=seed),
        "perlin_mask": lambda x, s, seed: C.perlin_mask(x, s, seed=seed),
        "keep_top": lambda x, s, seed: C.keep_top_fraction(x, s),
        "brightness": lambda x, s, seed: (C.adjust_brightness(x, s), None),
        "contrast": lambda x, s, seed: (C.adjust_contrast(x, s), None),
    }
    return [(name, g[name], fns[name]) for name in g]


def attack_grid(quick, steps, seed):
    eps = [0.0, 0.1, 0.3, 0.5] if quick else [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    names = ["fgsm", "pgd", "mifgsm"] if quick else ["fgsm", "ffgsm", "bim", "pgd", "mifgsm", "nifgsm", "difgsm", "eotpgd"]
    params = {
        "fgsm": {},
        "ffgsm": {"seed": seed},
        "bim": {"steps": steps},
        "pgd": {"steps": steps, "seed": seed},
        "mifgsm": {"steps": steps},
        "nifgsm": {"steps": steps},
        "difgsm": {"steps": steps, "seed": seed},
        "eotpgd": {"steps": steps, "eot_iter": 2, "seed": seed},
    }
    return eps, [(name, params[name]) for name in names]


# ---------------------------------------------------------------- scoring


def score(x, retrieved, stored):
    """Per-perturbation summary of one series."""
    from keras import ops

    from keras_hopfield import metrics as M

    err = np.asarray(ops.convert_to_numpy(M.mse(x, retrieved)), dtype="float64")
    row = {
        "mse_mean": err.mean(),
        "mse_std": err.std(),
        "psnr_mean": float(np.mean(10 * np.log10(1.0 / np.maximum(err, 1e-10)))),
        "rr_0.005": float((err < 0.005).mean()),
        "rr_0.001": float((err < 0.001).mean()),
        "npa": float(ops.convert_to_numpy(M.nearest_pattern_accuracy(x, retrieved, stored))),
    }
    if min(x.shape[1:3]) >= 11:
        row["ssim_mean"] = float(np.mean(ops.convert_to_numpy(M.ssim(x, np.clip(retrieved, -1e6, 1e6)))))
    else:
        row["ssim_mean"] = float("nan")
    return row


# ---------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    print("command:", " ".join([os.path.basename(sys.argv[0])] + (sys.argv[1:] if argv is None else list(argv))))
    import keras
    from keras import ops

    import keras_hopfield  # noqa: F401  (registers the custom layers for load_model)
    from keras_hopfield import attacks as A
    from keras_hopfield import corruptions, metrics  # noqa: F401  (register corruption layers / metrics)
    from keras_hopfield import plotting as P

    keras.utils.set_random_seed(args.seed)
    stored_all, rest = load_images(args.data, args.data_dir, args.split)
    if args.make_demo_model:
        x = stored_all[: args.n]
        model = make_demo_model(x, args.beta)
        os.makedirs(os.path.dirname(os.path.abspath(args.make_demo_model)), exist_ok=True)
        model.save(args.make_demo_model)
        print(f"saved a HopfieldLookup memory of {len(x)} images {x.shape[1:]} to {args.make_demo_model}")
        return 0

    t0 = time.time()
    model = keras.saving.load_model(args.model_path, compile=False)
    shape, to_model, from_model = image_shape_for(model, stored_all.shape[1:])
    x = fit_images(stored_all[: args.n], shape)
    name = os.path.splitext(os.path.basename(args.model_path))[0]
    print(f"model {name}: input {model.input_shape}, images {shape}, n={len(x)}, backend {keras.backend.backend()}")

    def retrieve(inputs):
        inputs = np.asarray(ops.convert_to_numpy(inputs), dtype="float32")
        out = model.predict(to_model(inputs), batch_size=args.batch_size, verbose=0)
        return from_model(out, len(inputs)).astype("float32")

    if args.surrogate:
        surrogate = keras.saving.load_model(args.surrogate)
    else:
        train = fit_images(rest[: args.surrogate_images], shape)
        surrogate = A.train_surrogate_autoencoder(
            train, epochs=args.surrogate_epochs, batch_size=32, filters=(32,), learning_rate=5e-3,
            seed=args.seed, noise_variance=0.05,
        )
    print(f"surrogate ready ({time.time() - t0:.1f} s)")

    def sur(inputs):
        return np.asarray(surrogate.predict(np.asarray(ops.convert_to_numpy(inputs)), batch_size=args.batch_size, verbose=0))

    records = []
    examples = {}

    def add(kind, perturbation, strength, x_in):
        x_in = np.asarray(ops.convert_to_numpy(x_in), dtype="float32")
        series = {name: retrieve(x_in), "surrogate": sur(x_in), "input": x_in}
        for label, out in series.items():
            row = {"kind": kind, "perturbation": perturbation, "strength": float(strength), "model": label,
                   "n": len(x)}
            row.update(score(x, out, x))
            records.append(row)
        return series[name]

    for pert, strengths, fn in perturbation_grid(args.quick):
        for s in strengths:
            x_in, known = fn(x, s, args.seed)
            out = add("corruption", pert, s, x_in)
            if pert in ("perlin_mask", "gaussian_noise") and s == strengths[min(2, len(strengths) - 1)]:
                examples[pert] = (x_in, known, out)
        print(f"  {pert:17s} done ({time.time() - t0:.1f} s)")
    eps_grid, attacks = attack_grid(args.quick, args.steps, args.seed)
    for attack_name, params in attacks:
        for eps in eps_grid:
            x_adv = A.transfer_attack(surrogate, x, attack_name, eps=eps, **params)
            out = add("attack", attack_name, eps, x_adv)
            if attack_name == "pgd" and eps == eps_grid[2]:
                examples["pgd"] = (x_adv, None, out)
        print(f"  {attack_name:17s} done ({time.time() - t0:.1f} s)")

    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "robustness.csv")
    fields = ["kind", "perturbation", "strength", "model", "n", "mse_mean", "mse_std", "psnr_mean", "ssim_mean",
              "rr_0.005", "rr_0.001", "npa"]
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in records:
            writer.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in fields})

    attack_rows = [r for r in records if r["kind"] == "attack"]
    corruption_rows = [r for r in records if r["kind"] == "corruption"]
    fig = P.plot_robustness_grid(attack_rows, metric="mse", ncols=4,
                                 title=f"{name}: MSE vs eps of transferred attacks (surrogate autoencoder)")
    P.save_figure(fig, os.path.join(args.out, "robustness_attacks.png"), dpi=80)
    fig = P.plot_robustness_grid(corruption_rows, metric="mse", ncols=4, title=f"{name}: MSE vs corruption strength")
    P.save_figure(fig, os.path.join(args.out, "robustness_corruptions.png"), dpi=80)
    rows, labels, masks = [x], ["original"], [None]
    for pert, (x_in, known, out) in examples.items():
        rows += [x_in, out]
        labels += [pert, "retrieved"]
        masks += [known, None]
    fig = P.image_grid(rows, labels, masks=masks, n=8)
    P.save_figure(fig, os.path.join(args.out, "examples.png"), dpi=80)

    print(f"\n{'perturbation':17s} {'strength':>8s} " + " ".join(f"{s[:12]:>12s}" for s in (name, "surrogate", "input")))
    keys = list(dict.fromkeys((r["perturbation"], r["strength"]) for r in records))
    by = {(r["perturbation"], r["strength"], r["model"]): r for r in records}
    for pert, s in keys:
        vals = " ".join(f"{by[(pert, s, m)]['mse_mean']:12.5f}" for m in (name, "surrogate", "input"))
        print(f"{pert:17s} {s:8.3f} {vals}")
    print(f"\nMSE per image (mean); full metrics in {csv_path}")
    print(f"figures: {os.path.join(args.out, 'robustness_attacks.png')}, "
          f"{os.path.join(args.out, 'robustness_corruptions.png')}, {os.path.join(args.out, 'examples.png')}")
    print(f"total {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
