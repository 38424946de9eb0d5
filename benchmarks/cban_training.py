"""CBAN training cost: unrolled TD(1) vs implicit (Almeida–Pineda) gradients at 10/50/100 settling steps.

Every configuration trains a convolutional CBAN (28×28×1 visible, hidden
16 channels then 32 channels with 2×2 pooling, 3×3 kernels, tanh, `L_SE`) on
random 40 %-masked evidence with `model.train_on_batch`, with `tolerance`
set so small (1e-12) that every example runs (up to) the stated number of settling
iterations (unrolled for `td1`; forward `while_loop` plus as many
adjoint sweeps for `implicit`). Reported per configuration:

- `median_step_seconds`: median wall time of one training step;
- `settle_steps_per_second`: the mean settling iterations per example that
  the step logged (`settle_steps`; examples stop at an exact float fixed
  point, possibly before the limit) × batch size / median step time (higher
  is better). `td1` computes all `steps` unrolled iterations regardless,
  `implicit` stops its `while_loop` when every example has converged;
- `peak_rss_increase_mb`: growth of the process's peak resident memory
  (`ru_maxrss`) over the training steps, relative to the peak after building
  and one warm-up evaluation. Each configuration runs in its own subprocess,
  so peaks do not carry over. This is the whole process's memory (the
  backends expose no common per-step allocator statistic on CPU), so it is a
  coarse but backend-neutral measure.

The baseline for the ratio columns is `td1` at the same number of steps, in the same run.

Usage:

    KERAS_BACKEND=jax python benchmarks/cban_training.py --json docs/results/cban_training_jax.json
    python benchmarks/cban_training.py --quick --json /tmp/cban_training.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path


def _child(mode, steps, batch, repeats):
    import resource

    import keras
    import numpy as np

    from keras_hopfield.layers import CBANBlock
    from keras_hopfield.models import CBAN

    from _harness import time_train_on_batch

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = np.tanh(rng.normal(size=(batch, 28, 28, 1))).astype("float32")
    mask = (rng.random(y.shape) < 0.6).astype("float32")
    model = CBAN(
        [CBANBlock(filters=16, kernel_size=3), CBANBlock(filters=32, kernel_size=3, pooling=True)],
        training_mode=mode,
        max_steps=steps,
        max_train_steps=steps,
        adjoint_steps=steps,
        tolerance=1e-12,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.evaluate((y * mask, mask), y, verbose=0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    median, logs = time_train_on_batch(model, (y * mask, mask), y, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "mode": mode,
        "steps": steps,
        "batch": batch,
        "median_step_seconds": median,
        # Useful work: the settling iterations the examples actually needed (they stop
        # contributing once max|Δx| < tolerance, which can happen before `steps` when the
        # state reaches an exact float fixed point), times the batch, per second.
        "settle_steps_per_second": float(logs["settle_steps"]) * batch / median,
        "peak_rss_increase_mb": (peak - base) / 1024.0,
        "settle_steps_logged": float(logs["settle_steps"]),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 50, 100])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        mode, steps, batch, repeats = args.child
        print(json.dumps(_child(mode, int(steps), int(batch), int(repeats))))
        return None
    if args.quick:
        args.steps, args.batch, args.repeats = [3], 2, 1

    import keras

    backend = keras.backend.backend()
    command = f"KERAS_BACKEND={backend} python benchmarks/cban_training.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print("command:", command.strip(), flush=True)
    rows = []
    for steps in args.steps:
        for mode in ("td1", "implicit"):
            env = dict(os.environ, KERAS_BACKEND=backend)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(steps), str(args.batch), str(args.repeats)],
                env=env, capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{mode}/{steps} failed:\n{proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{mode:9s} steps={steps:4d}  {row['median_step_seconds']:8.3f} s/step  "
                f"{row['settle_steps_logged']:6.1f} iterations  {row['settle_steps_per_second']:10.1f} settle steps/s  "
                f"peak RSS +{row['peak_rss_increase_mb']:8.1f} MB",
                flush=True,
            )
    for row in rows:
        base = next(r for r in rows if r["mode"] == "td1" and r["steps"] == row["steps"])
        row["speed_vs_td1"] = row["settle_steps_per_second"] / base["settle_steps_per_second"]
        row["memory_vs_td1"] = (
            row["peak_rss_increase_mb"] / base["peak_rss_increase_mb"] if base["peak_rss_increase_mb"] > 0 else None
        )
    import platform

    result = {
        "command": command.strip(),
        "backend": backend,
        "quick": args.quick,
        "keras": keras.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
