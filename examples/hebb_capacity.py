"""Capacity of the Hebb rule: fixed points and retrieval vs load P/n (papers/004 ch. 2).

For each network size n and load α = P/n, random ±1 patterns are stored with the Hebb
rule (zero diagonal) in `HebbianHopfield`; we measure

* the fraction of stored patterns that are exact fixed points,
* retrieval from a copy with 10% flipped bits under sequential dynamics (random order
  per sweep, until no unit changes, at most `--max-steps` sweeps): the mean final
  overlap m = x·ξ/n and the fraction of retrievals with m ≥ 0.9.

The retrieval curves drop sharply near α ≈ 0.138 (Amit–Gutfreund–Sompolinsky), more
sharply for larger n. The fixed-point fraction is compared with the signal-to-noise
estimate (1 − Φ(−1/√α))ⁿ.

Example:
    nice python examples/hebb_capacity.py --out docs/results/hebb_capacity.json \
        --plot docs/figures/hebb_capacity.png
"""

import argparse
import json
import math
import os
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    p.add_argument("--alphas", type=float, nargs="+",
                   default=[round(a, 3) for a in np.arange(0.02, 0.301, 0.01)])
    p.add_argument("--min-patterns", type=int, default=400,
                   help="independent pattern sets per point until this many patterns were tested")
    p.add_argument("--noise", type=float, default=0.1, help="fraction of flipped bits")
    p.add_argument("--max-steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--plot", default=None)
    return p.parse_args(argv)


def normal_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.sizes, args.alphas, args.min_patterns = [50], [0.05, 0.15, 0.3], 30

    import keras

    from keras_hopfield.layers.classical import HebbianHopfield

    rng = np.random.default_rng(args.seed)
    results = []
    start = time.time()
    for n in args.sizes:
        layer = HebbianHopfield(rule="hebb", dynamics="sequential", max_steps=args.max_steps, seed=args.seed)
        model = keras.Sequential([keras.Input((n,)), layer])
        parallel = HebbianHopfield(rule="hebb", dynamics="parallel", max_steps=1)
        check = keras.Sequential([keras.Input((n,)), parallel])
        for alpha in args.alphas:
            p = max(1, int(round(alpha * n)))
            trials = max(1, math.ceil(args.min_patterns / p))
            fixed, overlaps = [], []
            for _ in range(trials):
                x = rng.choice([-1.0, 1.0], size=(p, n)).astype("float32")
                layer.store(x)
                parallel.store(x)
                # A pattern is a fixed point iff one synchronous update leaves it unchanged.
                fixed.append(np.all(check.predict_on_batch(x) == x, axis=1))
                flips = rng.random(x.shape) < args.noise
                out = np.asarray(model.predict_on_batch(np.where(flips, -x, x)))
                overlaps.append(np.sum(out * x, axis=1) / n)
            fixed = np.concatenate(fixed)
            overlaps = np.concatenate(overlaps)
            row = {
                "n": n, "alpha": alpha, "patterns": p, "trials": trials,
                "fixed_fraction": float(fixed.mean()),
                "mean_overlap": float(overlaps.mean()),
                "retrieved_fraction": float(np.mean(overlaps >= 0.9)),
                "perfect_fraction": float(np.mean(overlaps == 1.0)),
                "theory_fixed_fraction": (1.0 - normal_cdf(-1.0 / math.sqrt(p / n))) ** n,
            }
            results.append(row)
            print(f"n={n:4d} alpha={alpha:.3f} P={p:4d} trials={trials:3d} fixed={row['fixed_fraction']:.3f} "
                  f"m={row['mean_overlap']:.3f} retrieved={row['retrieved_fraction']:.3f} "
                  f"({time.time() - start:.0f}s)", flush=True)
    summary = {"backend": keras.backend.backend(), "noise": args.noise, "max_steps": args.max_steps,
               "seconds": time.time() - start, "results": results}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    if args.plot:
        plot(results, args.plot, args.noise)
    return summary


def plot(results, path, noise):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    sizes = sorted({r["n"] for r in results})
    for n in sizes:
        rows = [r for r in results if r["n"] == n]
        a = [r["alpha"] for r in rows]
        (line,) = axes[0].plot(a, [r["fixed_fraction"] for r in rows], "o-", ms=3, label=f"n={n}")
        axes[0].plot(a, [r["theory_fixed_fraction"] for r in rows], "--", color=line.get_color(), lw=1)
        axes[1].plot(a, [r["mean_overlap"] for r in rows], "o-", ms=3, label=f"n={n}")
        axes[2].plot(a, [r["retrieved_fraction"] for r in rows], "o-", ms=3, label=f"n={n}")
    titles = ["stored patterns that are fixed points\n(dashed: $(1-\\Phi(-1/\\sqrt{\\alpha}))^n$)",
              f"mean final overlap from {int(noise * 100)}% flipped bits",
              f"retrieved (overlap $\\geq$ 0.9) from {int(noise * 100)}% flipped"]
    for ax, title in zip(axes, titles):
        ax.axvline(0.138, color="k", ls=":", lw=1)
        ax.set_xlabel("load $\\alpha = P/n$")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[2].text(0.14, 0.9, "0.138", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
