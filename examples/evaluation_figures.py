"""Figures of the evaluation-kit documentation (docs/evaluation.md).

Writes into `--out` (default docs/figures):

* `corruptions.png`: every corruption on MNIST digits (and the patch mask on
  Omniglot characters), obscured pixels in red;
* `metrics.png`: MSE, 1 - SSIM and the retrieval rate of noisy MNIST digits
  against the noise variance;
* `attacks.png`: adversarial MNIST digits (eps = 0.15) made on a surrogate
  autoencoder, and the surrogate's reconstructions;
* `attack_strength.png`: the surrogate's MSE against eps for each attack
  (the layout of the CRHN robustness figure), with random sign noise of the
  same eps as a reference;
* `energy.png` and `convergence.png`: energy and state change per step of
  a modern Hopfield network retrieving noisy digits.

Needs the local data folder (`--data-dir` or KERAS_HOPFIELD_DATA).

Example:
    KERAS_BACKEND=tensorflow python examples/evaluation_figures.py --out docs/figures
"""

import argparse
import os
import sys

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("KERAS_HOPFIELD_DATA"))
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dpi", type=int, default=80)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.data_dir:
        sys.exit("pass --data-dir or set KERAS_HOPFIELD_DATA")
    import keras
    from keras import ops

    from keras_hopfield import attacks as A
    from keras_hopfield import corruptions as C
    from keras_hopfield import metrics as M
    from keras_hopfield import plotting as P

    keras.utils.set_random_seed(args.seed)
    seed = args.seed

    def np_(t):
        return np.asarray(ops.convert_to_numpy(t))

    with np.load(os.path.join(args.data_dir, "mnist", "mnist.npz")) as data:
        x = data["x_test"][:8, ..., None].astype("float32") / 255.0
        train = data["x_train"][:1024, ..., None].astype("float32") / 255.0
        many = data["x_test"][:200, ..., None].astype("float32") / 255.0
    with np.load(os.path.join(args.data_dir, "omniglot", "images_background.npz")) as data:
        omni = (~data["images"][:8, 0]).astype("float32")[..., None]  # strokes as foreground

    # ------------------------------------------------------------ corruptions
    rows, labels, masks = [x], ["original"], [None]

    def add(label, result, images_row=None):
        if isinstance(result, tuple):
            rows.append(result[0])
            masks.append(result[1])
        else:
            rows.append(result)
            masks.append(None)
        labels.append(label)

    add("noise σ²=0.2", C.gaussian_noise(x, 0.2, seed=seed))
    add("pixels 50%", C.random_pixel_mask(x, 0.5, seed=seed))
    add("Perlin f=7, 1/3", C.perlin_mask(x, 1 / 3, frequency=7, seed=seed))
    add("columns 10", C.occlude_columns(x, 10, seed=seed))
    add("keep top 1/2", C.keep_top_fraction(x, 0.5))
    add("brightness +0.3", C.adjust_brightness(x, 0.3))
    add("contrast ×0.4", C.adjust_contrast(x, 0.4))
    rows.append(omni)
    labels.append("Omniglot")
    masks.append(None)
    add("patches 3-6, 50%", C.random_patch_mask(omni, 0.5, min_size=3, max_size=6, seed=seed))
    fig = P.image_grid(rows, labels, masks=masks, n=8, scale=0.8)
    P.save_figure(fig, os.path.join(args.out, "corruptions.png"), dpi=args.dpi)

    # ------------------------------------------------------------ metrics
    variances = [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]
    mse_m, mse_s, ssim_m, ssim_s, rate = [], [], [], [], []
    for v in variances:
        noisy = C.gaussian_noise(many, v, seed=seed)
        e, s = np_(M.mse(many, noisy)), np_(M.ssim(many, noisy))
        mse_m.append(e.mean())
        mse_s.append(e.std())
        ssim_m.append(1 - s.mean())
        ssim_s.append(s.std())
        rate.append(float(np_(M.retrieval_rate(many, noisy, 0.005))))
    fig = P.plot_metric_vs_strength(
        {"MSE": (variances, mse_m, mse_s), "1 − SSIM": (variances, ssim_m, ssim_s),
         "retrieval rate (MSE < 0.005)": (variances, rate, None)},
        xlabel="noise variance σ²", ylabel="metric (no retrieval)", title="Noisy MNIST vs clean",
    )
    P.save_figure(fig, os.path.join(args.out, "metrics.png"), dpi=args.dpi)

    # ------------------------------------------------------------ attacks
    surrogate = A.train_surrogate_autoencoder(train, epochs=6, batch_size=32, filters=(32,), learning_rate=5e-3,
                                              seed=seed)
    eps = 0.15
    rows, labels = [x, np_(surrogate(x))], ["original", "surrogate f(x)"]
    for name in ("fgsm", "pgd", "mifgsm"):
        x_adv = np_(A.transfer_attack(surrogate, x, name, eps=eps, **({} if name == "fgsm" else {"steps": 10})))
        rows += [x_adv, np_(surrogate(x_adv))]
        labels += [f"{name.upper()} ε={eps}", "f(x')"]
    fig = P.image_grid(rows, labels, n=8, scale=0.8)
    P.save_figure(fig, os.path.join(args.out, "attacks.png"), dpi=args.dpi)

    xs = many[:64]
    sign = np.sign(np.random.default_rng(seed).standard_normal(xs.shape)).astype("float32")
    records = []
    params = {"fgsm": {}, "ffgsm": {"seed": seed}, "bim": {"steps": 10}, "pgd": {"steps": 10, "seed": seed},
              "mifgsm": {"steps": 10}, "nifgsm": {"steps": 10}, "difgsm": {"steps": 10, "seed": seed},
              "eotpgd": {"steps": 5, "eot_iter": 2, "seed": seed}}
    for name, kw in params.items():
        for e in (0.0, 0.05, 0.1, 0.2, 0.3):
            x_adv = A.transfer_attack(surrogate, xs, name, eps=e, **kw)
            for label, inputs in (("attack", x_adv), ("random sign", np.clip(xs + e * sign, 0, 1))):
                err = np_(M.mse(xs, surrogate(ops.convert_to_tensor(inputs))))
                records.append({"perturbation": name.upper(), "model": label, "strength": e,
                                "mse_mean": err.mean(), "mse_std": err.std()})
    fig = P.plot_robustness_grid(records, ncols=4, title="Surrogate autoencoder: MSE vs ε (white box)")
    P.save_figure(fig, os.path.join(args.out, "attack_strength.png"), dpi=args.dpi)

    # ------------------------------------------------------------ energy / convergence
    patterns = many[:50].reshape(50, -1).astype("float64")
    patterns = patterns - patterns.mean(axis=1, keepdims=True)
    patterns /= np.linalg.norm(patterns, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    state = patterns[:16] + rng.normal(0, 0.04, size=(16, patterns.shape[1]))
    beta = 8.0

    def energy(s):
        z = beta * s @ patterns.T
        lse = (np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)) / beta
        return -lse + 0.5 * (s * s).sum(axis=1)

    traj, energies = [state], [energy(state)]
    for _ in range(12):
        z = beta * state @ patterns.T
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        state = p @ patterns
        traj.append(state)
        energies.append(energy(state))
    fig = P.plot_energy(np.stack(energies), title="Hopfield energy per step")
    P.save_figure(fig, os.path.join(args.out, "energy.png"), dpi=args.dpi)
    fig = P.plot_convergence(P.convergence_distances(np.stack(traj)) + 1e-12, title="State change per step")
    P.save_figure(fig, os.path.join(args.out, "convergence.png"), dpi=args.dpi)

    for name in ("corruptions", "metrics", "attacks", "attack_strength", "energy", "convergence"):
        path = os.path.join(args.out, f"{name}.png")
        print(f"{path}: {os.path.getsize(path) / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
