"""What the paper's CBAN completion training would cost on this machine.

papers/001 App. D.3–D.4 train the completion CBANs at a scale far beyond the
runs in `examples/cban_completion.py`: hidden channels 40/120/440 (CIFAR-10,
32×32×3) and 128/256/512 (Omniglot, 28×28×1), TD(1) until the state is stable
("on average 50 stabilization steps"), on 50 000 CIFAR-10 images for more than
150 epochs and on 15 424 Omniglot images for more than 100 epochs.

This script times one TD(1) training step (`model.train_on_batch`, tanh,
`L_SE`, 40 %-masked random evidence, `tolerance` so small that every example
runs the stated number of unrolled iterations) of

- the paper's net at its mean settling horizon (`--paper-steps`, 50), and
- the scaled-down net of `examples/cban_completion.py` (hidden 16/32/32,
  12 unrolled iterations) — the baseline, measured in the same run,

at the same batch size, and extrapolates the paper's training budget
(images × epochs, the paper's lower bounds) from the measured seconds per
training image. Timing is single-process wall time on whatever cores the
process may use (`taskset` to pin it); the paper's budget is a lower bound
because both epoch counts are minima and the learning-rate decay continues
past them.

Usage:

    KERAS_BACKEND=tensorflow python benchmarks/cban_paper_scale.py --json docs/results/cban_paper_scale.json
    python benchmarks/cban_paper_scale.py --quick --json /tmp/cban_paper_scale.json
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys

# The paper's settings (App. D.3, D.4), and the defaults of examples/cban_completion.py
# (DEFAULT_CHANNELS, V2_MAX_TRAIN_STEPS: the net and unroll of the v2 runs; a test keeps them equal).
DATASETS = {
    "cifar10": {"shape": (32, 32, 3), "paper_channels": (40, 120, 440), "paper_images": 50_000, "paper_epochs": 150},
    "omniglot": {"shape": (28, 28, 1), "paper_channels": (128, 256, 512), "paper_images": 15_424, "paper_epochs": 100},
}
OURS = {"channels": (16, 32, 32), "steps": 12}


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def time_training_step(shape, channels, steps, batch, repeats, seed=0):
    """Median seconds of one TD(1) `train_on_batch` of a tied conv CBAN unrolled `steps` iterations."""
    import keras
    import numpy as np

    from keras_hopfield.layers import CBANBlock
    from keras_hopfield.models import CBAN

    from _harness import time_train_on_batch

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    target = np.tanh(rng.normal(size=(batch,) + shape)).astype("float32")
    mask = (rng.random((batch,) + shape[:2] + (1,)) < 0.6).astype("float32")
    model = CBAN(
        [CBANBlock(filters=c, kernel_size=3, pooling=i > 0) for i, c in enumerate(channels)],
        settle_loss="se",
        training_mode="td1",
        max_steps=steps,
        max_train_steps=steps,
        tolerance=1e-12,
    )
    model.compile(optimizer=keras.optimizers.Adam(5e-4))
    median, logs = time_train_on_batch(model, (target * mask, mask), target, repeats)
    return {
        "channels": list(channels),
        "steps": steps,
        "batch": batch,
        "parameters": int(model.count_params()),
        "median_step_seconds": median,
        "seconds_per_image": median / batch,
        "settle_steps_logged": float(logs["settle_steps"]),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    p.add_argument("--paper-steps", type=_positive_int, default=50,
                   help="unrolled TD(1) iterations of the paper's net (its mean settling time: 50)")
    p.add_argument("--batch", type=_positive_int, default=8)
    p.add_argument("--repeats", type=_positive_int, default=7)
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 2 steps, batch 1, 1 repeat")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.paper_steps, args.batch, args.repeats = 2, 1, 1

    import keras

    backend = keras.backend.backend()
    command = f"KERAS_BACKEND={backend} python benchmarks/cban_paper_scale.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print("command:", command.strip(), flush=True)
    ours_steps = 2 if args.quick else OURS["steps"]
    rows = []
    for name in args.datasets:
        cfg = DATASETS[name]
        ours = time_training_step(cfg["shape"], OURS["channels"], ours_steps, args.batch, args.repeats)
        paper = time_training_step(cfg["shape"], cfg["paper_channels"], args.paper_steps, args.batch, args.repeats)
        images_x_epochs = cfg["paper_images"] * cfg["paper_epochs"]
        row = {
            "dataset": name,
            "ours": ours,
            "paper": paper,
            "paper_vs_ours_per_image": paper["seconds_per_image"] / ours["seconds_per_image"],
            "paper_training_images": cfg["paper_images"],
            "paper_min_epochs": cfg["paper_epochs"],
            "paper_epoch_hours": paper["seconds_per_image"] * cfg["paper_images"] / 3600.0,
            "paper_training_days_lower_bound": paper["seconds_per_image"] * images_x_epochs / 86400.0,
        }
        rows.append(row)
        print(
            f"{name:9s} ours {ours['channels']} x{ours['steps']:3d} steps: {1e3 * ours['seconds_per_image']:9.1f} ms/image | "
            f"paper {paper['channels']} x{paper['steps']:3d} steps: {1e3 * paper['seconds_per_image']:9.1f} ms/image "
            f"({row['paper_vs_ours_per_image']:.0f}x) | one paper epoch {row['paper_epoch_hours']:.1f} h, "
            f">= {cfg['paper_epochs']} epochs: >= {row['paper_training_days_lower_bound']:.0f} days",
            flush=True,
        )
    from _harness import versions, write_json

    result = {
        "command": command.strip(),
        "quick": args.quick,
        "versions": versions(),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "rows": rows,
    }
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
