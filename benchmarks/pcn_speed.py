"""Speed of the predictive-coding memory against modern Hopfield retrieval, on the current backend.

For N stored images of d pixels, the contenders are

* **PCN IL epoch**: one full-batch inference-learning iteration of
  `PredictiveCodingMemory(widths=(n,), inference_steps=T)` — T inference
  steps on all N stored images plus the weight update (the model called with
  `training=True`);
* **PCN retrieval F**: one application of the retrieval function F to N
  queries — T inference steps with the image clamped, then the prediction
  (the model called with `training=False`);
* the baseline **HopfieldRetrieval.pure**: one-step modern Hopfield retrieval
  `Yᵀ softmax(β Y ξ)` of the same N queries from the same N stored images
  (storing images in a modern Hopfield memory is free: they are the memory).

Only the forward computation is timed (the PCN needs no gradients). Each
contender is compiled like the other benchmarks (`benchmarks/_harness.py`:
`jax.jit` on JAX, `tf.function` on TensorFlow, eager on PyTorch) and timed
with interleaved repeats, so load from other processes hits every side alike;
ratios are medians against the Hopfield baseline from the same run.

Usage:

    KERAS_BACKEND=jax python benchmarks/pcn_speed.py --json docs/results/pcn_speed_jax.json
    python benchmarks/pcn_speed.py --quick --json /tmp/pcn_speed.json   # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from keras_hopfield.layers.retrieval import HopfieldRetrieval  # noqa: E402
from keras_hopfield.models.predictive_coding import PredictiveCodingMemory  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BACKEND, build, modes_for_backend, time_interleaved, versions, write_json  # noqa: E402

# (stored images N, pixels d, hidden width n, inference steps T): the smallest and the
# largest network of examples/pcn_noise_capacity.py, with its training T.
DEFAULT_SIZES = [(25, 3072, 128, 10), (125, 3072, 512, 10)]
QUICK_SIZES = [(8, 48, 16, 3)]


def make_contenders(size):
    n_mem, d, width, steps = size
    x = np.random.default_rng(0).uniform(size=(n_mem, d)).astype("float32")
    pcn = PredictiveCodingMemory(widths=(width,), inference_steps=steps, num_memories=n_mem, seed=0)
    pcn.build((None, d))
    hop = HopfieldRetrieval.pure(beta=1.0, max_steps=1, name="pure")
    hop(x[None], x[None])
    contenders = [
        ("HopfieldRetrieval.pure", hop, lambda call, xs: call(xs[0][None], xs[0][None])),
        (f"PCN IL epoch (T={steps})", pcn, lambda call, xs: call(xs[0], training=True)),
        (f"PCN retrieval F (T={steps})", pcn, lambda call, xs: call(xs[0], training=False)),
    ]
    return x, contenders


def run(args):
    sizes = QUICK_SIZES if args.quick else (args.size or DEFAULT_SIZES)
    modes = modes_for_backend(args.tf_mode)
    rows = []
    for size in sizes:
        size = tuple(size)
        x, contenders = make_contenders(size)
        key = "N={},d={},n={},T={}".format(*size)
        for mode in modes:
            built = [build(layer, apply, [x], mode) for _, layer, apply in contenders]
            med, _ = time_interleaved([fns[0] for fns in built], args.warmup, args.repeats)
            for (name, _, _), m in zip(contenders, med):
                rows.append({"size": list(size), "mode": mode, "phase": "forward", "name": name,
                             "baseline": contenders[0][0], "ms": m * 1e3, "ratio": m / med[0]})
            line = "  ".join(f"{n}: {m * 1e3:.2f} ms (ratio {m / med[0]:.1f}x)" for (n, _, _), m in zip(contenders, med))
            print(f"[{key} {mode}] {line}", flush=True)
    return rows


def table(rows):
    lines = ["| N, d, n, T | mode | contender | ms | ratio vs Hopfield |", "|---|---|---|---:|---:|"]
    for r in rows:
        ratio = "1 (baseline)" if r["name"] == r["baseline"] else f"{r['ratio']:.1f}x"
        lines.append(f"| {tuple(r['size'])} | {r['mode']} | {r['name']} | {r['ms']:.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny size and few repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per contender (default 10; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 2; quick 1)")
    p.add_argument("--size", type=int, nargs=4, action="append", metavar=("N", "D", "WIDTH", "T"))
    p.add_argument("--tf-mode", choices=("graph", "xla", "both"), default="graph", help="TensorFlow compilation")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 10
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    argv_used = sys.argv[1:] if argv is None else list(argv)
    command = f"KERAS_BACKEND={BACKEND} python benchmarks/pcn_speed.py " + " ".join(shlex.quote(a) for a in argv_used)
    print("command:", command.strip(), flush=True)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    rows = run(args)
    elapsed = time.perf_counter() - t0
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    print(table(rows))
    info = {
        "command": command.strip(), "backend": BACKEND, "versions": versions(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load0,
                    "loadavg_end": load1},
        "repeats": args.repeats, "warmup": args.warmup, "seconds": round(elapsed, 1), "rows": rows,
    }
    print(f"backend {BACKEND}; {os.cpu_count()} CPUs; load average {load0} -> {load1}; {elapsed:.0f}s")
    if args.json:
        write_json(args.json, info)
    return info


if __name__ == "__main__":
    main()
