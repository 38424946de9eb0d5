"""VHNN state switching between stored digit patterns (papers/004 §4.4, Table 4.1).

The 30 hand-made digit patterns of `examples/deephnn_mnist.py` (3 fonts × 10
digits, 32×32, values in [−1, 1]) are the stored patterns of a one-channel
`VHNN(1, features=30, iterations=1)` with frozen patterns. First the β bounds
of papers/004 are computed in code on these patterns:

* `M = maxᵢ ‖xᵢ‖`, the separations `Δᵢ = xᵢᵀxᵢ − max_{j≠i} xᵢᵀxⱼ` (Table 4.1),
* Prop. 3.4 / §4.3.3: the smallest β that guarantees every pattern is a fixed
  point's basin (`keras_hopfield.functional.retrieval_beta`, fixed-point
  iteration `u ← a + log u`), and the radius `1/(βNM)` of the spheres `S_i`,
* Prop. 3.3: below `1/m_max²` there is one global fixed point
  (`functional.global_fixed_point_beta`).

Then `--starts` random states (uniform in [−1, 1]) are iterated `--steps`
times with the noise on (`stochastic=True`, η = 0.3 as in the paper) for
each β of `--betas` (the paper's 0.063 among them, and our Prop. 3.4 bound).
At every step the retrieved-pattern index `argmax softmax(β P x)` is
recorded; a switch is a change of that index after the first `--burn-in`
steps (the descent from the random start). The noise-free dynamics from the
same starts are the control.

Note: with the paper's own numbers (N = 30, M = 31.3933, Δ_min = 37.5255)
the formula of §4.3.3 gives β ≈ 0.357, not the 0.0727 printed in the paper;
this script prints both.

Usage:

    python examples/vhnn_switching.py                       # full run, figure in docs/figures/
    python examples/vhnn_switching.py --quick --out /tmp/v  # CI smoke run (< 30 s)

Outputs in `--out` (default `outputs/vhnn_switching/`): `vhnn_switching.json`;
the figure in `--figures` (default `docs/figures/`, `--out` with `--quick`).
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

for p in (REPO, REPO / "examples"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import keras  # noqa: E402
from deephnn_mnist import FONTS, digit_patterns  # noqa: E402
from keras import ops  # noqa: E402

from keras_hopfield import functional as F  # noqa: E402
from keras_hopfield import plotting  # noqa: E402
from keras_hopfield.layers.deep import VHNN  # noqa: E402

PAPER_BETA, PAPER_BOUND, PAPER_NOISE = 0.063, 0.0727, 0.3


def bounds(patterns):
    """M, Δ table, Prop. 3.4 β and radius, Prop. 3.3 β for `(N, d)` patterns."""
    delta = F.pattern_separation(patterns)
    beta_retrieval = F.retrieval_beta(patterns)
    m = float(np.sqrt((patterns.astype(np.float64) ** 2).sum(1)).max())
    n = len(patterns)
    return {
        "M": m,
        "delta": delta.reshape(10, len(FONTS)).tolist(),
        "delta_min": float(delta.min()),
        "beta_prop_3_4": beta_retrieval,
        "radius_S_i": 1.0 / (beta_retrieval * n * m),
        "beta_prop_3_3_global": F.global_fixed_point_beta(patterns),
    }


def trajectory(layer, x0, steps, stochastic):
    """Iterate one (noisy) update at a time; returns index, top probability and energy per step."""
    x = ops.convert_to_tensor(x0)
    index, top, energy = [], [], []
    for _ in range(steps):
        x, p = layer(x, stochastic=stochastic, return_probabilities=True)
        p = ops.convert_to_numpy(p)
        index.append(p.argmax(-1))
        top.append(p.max(-1))
        energy.append(ops.convert_to_numpy(layer.energy(x)))
    return np.stack(index, 1), np.stack(top, 1), np.stack(energy, 1)


def summarise(index, burn_in):
    settled = index[:, burn_in:]
    switches = (np.diff(settled, axis=1) != 0).sum(1)
    visited = [sorted({int(v) for v in row}) for row in settled]
    # Attractors the state settles in: indices held for >= 10 consecutive steps.
    held = set()
    for row in settled:
        start = 0
        for t in range(1, len(row) + 1):
            if t == len(row) or row[t] != row[start]:
                if t - start >= 10:
                    held.add(int(row[start]))
                start = t
    return {
        "switches_per_start": switches.tolist(),
        "switches_per_100_steps": float(switches.mean() * 100.0 / max(settled.shape[1] - 1, 1)),
        "visited_per_start": visited,
        "attractors_held_10_steps": sorted(held),
    }


def name_of(i):
    return f"{i // len(FONTS)}/{'abc'[i % len(FONTS)]}"


def plot(runs, path, steps):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.8 * len(runs)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, (title, index) in zip(axes, runs):
        used = sorted({int(v) for v in index.ravel()})
        level = {v: i for i, v in enumerate(used)}  # categorical axis: one row per visited pattern
        for k, row in enumerate(index):
            ax.step(np.arange(1, steps + 1), [level[int(v)] + 0.12 * k for v in row], where="post", lw=0.9,
                    label=f"start {k + 1}")
        every = 1 if len(used) <= 12 else 2  # keep crowded axes readable
        ax.set_yticks(range(0, len(used), every))
        ax.set_yticklabels([name_of(i) for i in used[::every]], fontsize=7)
        ax.set_ylabel("retrieved\n(digit/font)", fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[-1].set_xlabel("iteration")
    axes[0].legend(fontsize=7, ncol=len(runs[0][1]), loc="upper right")
    return plotting.save_figure(fig, path, dpi=70)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke run: few steps")
    p.add_argument("--out", default=None, help="output folder (default outputs/vhnn_switching)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--starts", type=int, default=4)
    p.add_argument("--figure-betas", type=float, nargs="+", default=[0.03, 0.045, PAPER_BETA],
                   help="the β of the figure's panels")
    p.add_argument("--betas", type=float, nargs="+", default=[0.03, 0.045, PAPER_BETA, 0.1, 0.2])
    p.add_argument("--burn-in", type=int, default=10)
    p.add_argument("--noise", type=float, default=PAPER_NOISE)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.steps = 20
    out_dir = Path(args.out or REPO / "outputs" / "vhnn_switching")
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = Path(args.figures or (out_dir if args.quick else REPO / "docs" / "figures"))
    command = command_line("vhnn_switching.py", argv)
    t0 = time.time()
    patterns = digit_patterns().reshape(30, -1)
    b = bounds(patterns)
    print(f"M = {b['M']:.4f} (paper 31.3933); Δ_min = {b['delta_min']:.4f} (paper 37.5255)")
    print("Δ_i (rows: digits 0-9, columns: fonts):")
    for d, row in enumerate(b["delta"]):
        print(f"  {d}: " + "  ".join(f"{v:8.3f}" for v in row))
    print(f"Prop. 3.4 bound: β ≥ {b['beta_prop_3_4']:.4f} (paper's patterns: {PAPER_BOUND}); radius of S_i "
          f"{b['radius_S_i']:.3e}; Prop. 3.3 single fixed point below β = {b['beta_prop_3_3_global']:.3e}")
    a = 2.0 / 30 + np.log(2 * 29 * 30 * 31.3933**2 / 37.5255)
    u = 2 * a
    for _ in range(50):
        u = a + np.log(u)
    b["beta_prop_3_4_from_paper_numbers"] = float(u / 37.5255)
    print(f"the same formula on the paper's numbers (N=30, M=31.3933, Δ_min=37.5255): β ≥ "
          f"{b['beta_prop_3_4_from_paper_numbers']:.4f} (the paper prints {PAPER_BOUND})")
    rng = np.random.default_rng(args.seed)
    x0 = rng.uniform(-1.0, 1.0, size=(args.starts, patterns.shape[1])).astype("float32")
    result = {"command": command, "backend": keras.backend.backend(), "quick": args.quick,
              "steps": args.steps, "burn_in": args.burn_in, "starts": args.starts, "noise": args.noise,
              "bounds": b, "runs": {}}
    betas = sorted(set(args.betas) | {round(b["beta_prop_3_4"], 4)})
    plots = []
    for beta in betas:
        layer = VHNN(1, 30, iterations=1, beta=beta, noise=args.noise, trainable_beta=False,
                     trainable_patterns=False, trainable_noise=False, seed=args.seed)
        layer.build(x0.shape)
        layer.patterns.assign(patterns[None])
        noisy_idx, noisy_top, noisy_e = trajectory(layer, x0, args.steps, stochastic=True)
        clean_idx, _, clean_e = trajectory(layer, x0, args.steps, stochastic=False)
        run = {"beta": beta, "noisy": summarise(noisy_idx, args.burn_in),
               "noise_free": summarise(clean_idx, args.burn_in),
               "noisy_mean_top_probability": float(noisy_top[:, args.burn_in:].mean()),
               "noise_free_final_energy": clean_e[:, -1].tolist(),
               "noisy_energy_mean_after_burn_in": noisy_e[:, args.burn_in:].mean(1).tolist(),
               "noisy_index": noisy_idx.tolist()}
        result["runs"][f"{beta:g}"] = run
        print(f"[β = {beta:g}] noisy: switches per start {run['noisy']['switches_per_start']} "
              f"({run['noisy']['switches_per_100_steps']:.1f} per 100 steps), attractors held >=10 steps: "
              f"{[name_of(i) for i in run['noisy']['attractors_held_10_steps']]}, mean top probability "
              f"{run['noisy_mean_top_probability']:.3f}; noise-free switches {run['noise_free']['switches_per_start']}",
              flush=True)
        if beta in args.figure_betas:
            plots.append((f"VHNN, β = {beta:g}, η = {args.noise}: retrieved pattern per iteration", noisy_idx))
    result["figure"] = plot(plots, figures / "vhnn_switching.png", args.steps)
    result["seconds"] = round(time.time() - t0, 1)
    path = out_dir / "vhnn_switching.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path} ({result['seconds']:.0f}s)")
    return result


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
