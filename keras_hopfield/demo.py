"""Demo: store handwritten digits in a modern Hopfield network and retrieve them.

Run with `python -m keras_hopfield.demo` (or the console script
`keras-hopfield-demo`). It stores real handwritten digits — scikit-learn's
8×8 digits, which ship inside scikit-learn, or the first MNIST test digits
when `KERAS_HOPFIELD_DATA` points at a local data directory — corrupts them
(bottom half masked; Gaussian noise), retrieves them with the pure Hopfield
update `ξ ← Yᵀ softmax(β Y ξ)` (`HopfieldRetrieval.pure`) for several β, prints
the retrieval accuracy (the retrieved state's nearest stored pattern is the
original) and writes a PNG grid original / corrupted / retrieved.
"""

import argparse
import math
import os
import sys
import time


def load_patterns(n, data_dir=None):
    """Return `(images (n, H, W, 1) in [0, 1], source description)`."""
    data_dir = data_dir or os.environ.get("KERAS_HOPFIELD_DATA")
    if data_dir:
        from keras_hopfield import datasets

        x, _ = datasets.load("mnist", "test", data_dir=data_dir, limit=n)
        return x, f"MNIST test digits 0..{n - 1} from {data_dir}"
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - the demo extra installs it
        raise SystemExit(
            "The demo needs scikit-learn's digits (or KERAS_HOPFIELD_DATA with MNIST): "
            'pip install "keras-hopfield[demo]"'
        ) from e
    import numpy as np

    images = load_digits().images[:n].astype("float32") / 16.0
    return images[..., None].astype(np.float32), f"scikit-learn digits 0..{n - 1} (8x8)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="number of stored digits")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.05, 0.2, 1.0, 5.0, 20.0])
    parser.add_argument("--noise-variance", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=3, help="Hopfield updates (max_steps)")
    parser.add_argument("--data-dir", default=None, help="local data directory (else KERAS_HOPFIELD_DATA)")
    parser.add_argument("--out", default="hopfield_demo.png", help="PNG grid to write ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    from keras import ops

    from keras_hopfield import corruptions, functional, metrics
    from keras_hopfield.layers import HopfieldRetrieval

    t0 = time.time()
    print(f"$ python -m keras_hopfield.demo {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    images, source = load_patterns(args.n, args.data_dir)
    n, h, w, _ = images.shape
    print(f"[1/3] storing {n} patterns: {source}")
    # Pixels are stored as ±1 (2x − 1) so that agreeing background counts as much
    # as agreeing ink; an unknown pixel is 0, i.e. no evidence either way.
    stored = (2.0 * images.reshape(n, -1) - 1.0).astype("float32")
    print(f"      β < {functional.global_fixed_point_beta(stored):.4f}: one global fixed point (papers/004 Prop. 3.3)")
    beta_r = functional.retrieval_beta(stored)
    if not math.isnan(beta_r):
        print(f"      β > {beta_r:.3g}: every pattern provably retrievable (Prop. 3.4; sufficient, pessimistic)")
    else:
        print("      some stored patterns are not separated (Δ_i ≤ 0), so Prop. 3.4 guarantees nothing here")

    half, known = corruptions.keep_top_fraction(images, 0.5)
    half = ops.convert_to_numpy(half).reshape(n, -1) * 2.0 - 1.0
    half[~ops.convert_to_numpy(known).reshape(n, -1)] = 0.0
    noisy_img = ops.convert_to_numpy(corruptions.gaussian_noise(images, args.noise_variance, seed=args.seed))
    noisy = noisy_img.reshape(n, -1) * 2.0 - 1.0
    queries = {
        "bottom half masked": half.astype("float32"),
        f"Gaussian noise (variance {args.noise_variance:g})": noisy.astype("float32"),
    }

    print(f"[2/3] retrieving with HopfieldRetrieval.pure(beta, max_steps={args.steps})")
    results = {}
    for name, q in queries.items():
        for beta in args.betas:
            retrieved = ops.convert_to_numpy(HopfieldRetrieval.pure(beta=beta, max_steps=args.steps)(q, stored))
            acc = float(ops.convert_to_numpy(metrics.nearest_pattern_accuracy(stored, retrieved)))
            results[(name, beta)] = (acc, retrieved)
            print(f"      {name:32s} β={beta:<6g} retrieval accuracy {acc:6.1%}")

    print("\nRetrieval accuracy (nearest stored pattern = the original):")
    print(f"{'corruption':34s}" + "".join(f"β={b:<8g}" for b in args.betas))
    for name in queries:
        print(f"{name:34s}" + "".join(f"{results[(name, b)][0]:<10.1%}" for b in args.betas))

    if args.out:
        print(f"[3/3] writing {args.out}")
        try:
            from keras_hopfield import plotting

            best = max(args.betas, key=lambda b: results[("bottom half masked", b)][0])
            cols = min(8, n)
            noise_name = list(queries)[1]
            best_noise = max(args.betas, key=lambda b: results[(noise_name, b)][0])
            def to_img(v):
                return np.clip((v.reshape(-1, h, w, 1) + 1.0) / 2.0, 0, 1)

            fig = plotting.image_grid(
                [
                    images[:cols],
                    to_img(half[:cols]),
                    to_img(results[("bottom half masked", best)][1][:cols]),
                    noisy_img[:cols],
                    to_img(results[(noise_name, best_noise)][1][:cols]),
                ],
                row_labels=["original", "half masked", f"retrieved β={best:g}", "noisy", f"retrieved β={best_noise:g}"],
                masks=[None, ops.convert_to_numpy(known)[:cols], None, None, None],
                n=cols,
                title="HopfieldRetrieval.pure: ξ ← Yᵀ softmax(β Y ξ)",
            )
            plotting.save_figure(fig, args.out)
        except ImportError as e:
            print(f"      skipped the figure: {e}")
    print(f"done in {time.time() - t0:.1f} s")
    return results


if __name__ == "__main__":
    main()
