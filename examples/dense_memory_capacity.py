"""Capacity of dense associative memory (papers/002 App. B, Figs. 4 and 5).

Part 1 (Fig. 5): for n = 3, power and rectified interactions, and several N, K½ is the
number of random ±1 memories at which half of the random initial states converge
*perfectly* to one of the memories (max_μ ξ^μ·σ = N) under asynchronous dynamics.
K½ is found by bisection in log K (success fraction interpolated log-linearly between
the last bracketing points) and compared with papers/002 Eq. (6),
K = N^{n−1} / (2 (2n−3)!! ln N).

Part 2 (Fig. 4): histograms of the final overlap max_μ |ξ^μ·σ| for N = 100, K = 2000 and
n = 2, 3, 4 (power and rectified): n = 2, 3 are above capacity, n = 4 below. The absolute
value counts convergence to −ξ^μ, an equally deep minimum of the even power models
(the signed fraction is stored too).

Example:
    nice python examples/dense_memory_capacity.py --out docs/results/dense_memory_capacity.json \
        --plot-capacity docs/figures/dam_capacity.png --plot-hist docs/figures/dam_overlaps.png
"""

import argparse
import json
import math
import os
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 75, 100, 150, 200])
    p.add_argument("--kinds", nargs="+", default=["power", "rectified"])
    p.add_argument("--degree", type=int, default=3)
    p.add_argument("--starts", type=int, default=1000, help="random initial states per (N, K)")
    p.add_argument("--bisections", type=int, default=4)
    p.add_argument("--hist-units", type=int, default=100)
    p.add_argument("--hist-memories", type=int, default=2000)
    p.add_argument("--hist-degrees", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--hist-starts", type=int, default=2000)
    p.add_argument("--max-steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-capacity", action="store_true")
    p.add_argument("--skip-hist", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--plot-capacity", default=None)
    p.add_argument("--plot-hist", default=None)
    return p.parse_args(argv)


class Runner:
    """Runs `DenseAssociativeMemory` retrieval through a compiled `predict_on_batch`."""

    def __init__(self, max_steps, seed):
        self.max_steps, self.seed, self.models = max_steps, seed, {}

    def final_states(self, memories, starts, kind, degree):
        import keras

        from keras_hopfield.layers.dense_memory import DenseAssociativeMemory

        key = (memories.shape, kind, degree)
        if key not in self.models:
            layer = DenseAssociativeMemory(memories.shape[0], degree=degree, interaction=kind,
                                           max_steps=self.max_steps, seed=self.seed)
            model = keras.Sequential([keras.Input((memories.shape[1],)), layer])
            self.models = {key: (layer, model)}  # keep one compiled model at a time
        layer, model = self.models[key]
        layer.store(memories)
        return np.asarray(model.predict_on_batch(starts))


def success_fraction(runner, rng, n_units, k, starts, kind, degree):
    memories = rng.choice([-1.0, 1.0], size=(k, n_units)).astype("float32")
    init = rng.choice([-1.0, 1.0], size=(starts, n_units)).astype("float32")
    final = runner.final_states(memories, init, kind, degree)
    best = np.max(final @ memories.T, axis=1)
    return float(np.mean(best == n_units))


def find_k_half(runner, rng, n_units, kind, degree, starts, bisections, theory):
    """Bisection in log K for the K where the perfect-convergence fraction crosses 1/2."""
    evals = {}

    def f(k):
        k = int(round(k))
        if k not in evals:
            evals[k] = success_fraction(runner, rng, n_units, k, starts, kind, degree)
            print(f"  N={n_units} {kind} K={k} fraction={evals[k]:.3f}", flush=True)
        return evals[k]

    lo, hi = max(2.0, theory / 2), theory * 2
    while f(lo) < 0.5 and lo > 2:
        lo = max(2.0, lo / 2)
    while f(hi) > 0.5:
        hi *= 2
    for _ in range(bisections):
        mid = math.sqrt(lo * hi)
        if f(mid) >= 0.5:
            lo = mid
        else:
            hi = mid
    f_lo, f_hi = f(lo), f(hi)
    t = (f_lo - 0.5) / (f_lo - f_hi) if f_lo != f_hi else 0.5
    k_half = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
    return k_half, {str(k): v for k, v in sorted(evals.items())}


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.sizes, args.starts, args.bisections = [30], 100, 1
        args.hist_units, args.hist_memories, args.hist_starts, args.hist_degrees = 30, 100, 100, [2, 4]

    import keras

    from keras_hopfield.functional_classical import dam_capacity_estimate

    rng = np.random.default_rng(args.seed)
    runner = Runner(args.max_steps, args.seed)
    summary = {"backend": keras.backend.backend(), "degree": args.degree, "starts": args.starts,
               "hist_starts": args.hist_starts, "max_steps": args.max_steps}
    start = time.time()
    if not args.skip_capacity:
        capacity = []
        for kind in args.kinds:
            for n_units in args.sizes:
                theory = dam_capacity_estimate(n_units, args.degree)
                k_half, evals = find_k_half(runner, rng, n_units, kind, args.degree, args.starts,
                                            args.bisections, theory)
                capacity.append({"kind": kind, "N": n_units, "k_half": k_half, "theory": theory,
                                 "evaluations": evals})
                print(f"{kind:9s} N={n_units:4d} K_half={k_half:7.1f} theory={theory:7.1f} "
                      f"({time.time() - start:.0f}s)", flush=True)
        summary["capacity"] = capacity
    if not args.skip_hist:
        hist = []
        for kind in args.kinds:
            for degree in args.hist_degrees:
                rs = np.random.default_rng(args.seed + degree)  # same memories/starts for both kinds
                mem = rs.choice([-1.0, 1.0], size=(args.hist_memories, args.hist_units)).astype("float32")
                init = rs.choice([-1.0, 1.0], size=(args.hist_starts, args.hist_units)).astype("float32")
                final = runner.final_states(mem, init, kind, degree)
                overlaps = final @ mem.T
                # For an even power F(x) = x^n, -xi is as deep a minimum as xi: count |overlap|.
                best = np.max(np.abs(overlaps), axis=1).astype(int)
                signed = np.max(overlaps, axis=1).astype(int)
                hist.append({"kind": kind, "degree": degree, "overlaps": best.tolist(),
                             "perfect_fraction": float(np.mean(best == args.hist_units)),
                             "perfect_fraction_signed": float(np.mean(signed == args.hist_units))})
                print(f"hist {kind:9s} n={degree} perfect(|overlap|)={hist[-1]['perfect_fraction']:.3f} "
                      f"perfect(signed)={hist[-1]['perfect_fraction_signed']:.3f} "
                      f"median={np.median(best):.0f} ({time.time() - start:.0f}s)", flush=True)
        summary["histograms"] = {"N": args.hist_units, "K": args.hist_memories, "runs": hist}
    summary["seconds"] = time.time() - start
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f)
    if args.plot_capacity and "capacity" in summary:
        plot_capacity(summary, args.plot_capacity)
    if args.plot_hist and "histograms" in summary:
        plot_hist(summary, args.plot_hist)
    return summary


def plot_capacity(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_hopfield.functional_classical import dam_capacity_estimate

    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    rows = summary["capacity"]
    sizes = sorted({r["N"] for r in rows})
    grid = np.linspace(min(sizes) * 0.9, max(sizes) * 1.05, 100)
    ax.plot(grid, [dam_capacity_estimate(x, summary["degree"]) for x in grid], "k-", lw=1.2,
            label="Eq. (6): $N^{n-1}/(2(2n-3)!!\\,\\ln N)$")
    for kind, marker in (("power", "o"), ("rectified", "s")):
        sel = [r for r in rows if r["kind"] == kind]
        if sel:
            ax.plot([r["N"] for r in sel], [r["k_half"] for r in sel], marker, ms=5, label=f"{kind} (simulation)")
    ax.set_xlabel("N (neurons)")
    ax.set_ylabel("$K_{1/2}$")
    ax.set_title(f"n = {summary['degree']}: $K_{{1/2}}$ vs N ({summary['starts']} starts)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_hist(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = summary["histograms"]
    runs = h["runs"]
    kinds = sorted({r["kind"] for r in runs}, key=["power", "rectified"].index)
    degrees = sorted({r["degree"] for r in runs})
    fig, axes = plt.subplots(len(degrees), len(kinds), figsize=(3.6 * len(kinds), 1.9 * len(degrees)),
                             sharex=True, squeeze=False)
    bins = np.arange(-h["N"] - 1, h["N"] + 2, 2)
    for r in runs:
        ax = axes[degrees.index(r["degree"]), kinds.index(r["kind"])]
        ax.hist(r["overlaps"], bins=bins, color="C0" if r["kind"] == "power" else "C1")
        ax.set_title(f"{r['kind']}, n={r['degree']}: {100 * r['perfect_fraction']:.1f}% perfect", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("overlap $\\max_\\mu |\\xi^\\mu\\cdot\\sigma|$", fontsize=8)
        ax.set_xlim(0, h["N"] + 2)
    fig.suptitle(f"N={h['N']}, K={h['K']}, {len(runs[0]['overlaps'])} random starts", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
