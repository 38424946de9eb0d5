"""Speed of `ConvHNN2D` against `keras.layers.Conv2D` with the same filters, on the current backend.

`ConvHNN2D(filters, kernel, iterations=t)` computes `conv(x, βP)` (the same
convolution as `Conv2D`), then `t` times a softmax over the channels and a
`filters × filters` product with `βG` per position, plus the bias. Each
contender is timed against `keras.layers.Conv2D(filters, kernel)` (with bias,
no activation) on the same input, with interleaved repeats (every repeat times
each contender once, in turn) so that load from other processes hits all sides
alike. `t = 0` is the same function as `Conv2D` (checked: with Conv2D's kernel
and bias copied in and β = 1 the outputs agree).

"forward" is one call; "fwd+bwd" is the value and gradient of `sum(output)`
with respect to the input and all trainable weights. Compilation is the same
for both sides: `jax.jit` on JAX, `tf.function` (`--tf-mode`: graph, XLA or
both) on TensorFlow, eager on PyTorch. Times are medians over `--repeats`
after `--warmup` calls; ratios are ConvHNN2D / Conv2D medians from the same run.

Usage:

    KERAS_BACKEND=jax python benchmarks/convhnn_speed.py --json outputs/convhnn_speed_jax.json
    python benchmarks/convhnn_speed.py --quick --json /tmp/convhnn.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
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

import keras  # noqa: E402

from keras_hopfield.layers.conv import ConvHNN2D  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BACKEND, build, modes_for_backend, time_interleaved, versions, write_json  # noqa: E402


DEFAULT_SIZES = [
    # (batch, height, width, channels_in, filters, kernel)
    (64, 28, 28, 1, 9, 5),  # the paper's denoiser layer on MNIST
    (32, 32, 32, 16, 32, 3),  # a typical hidden conv layer
]
QUICK_SIZES = [(2, 8, 8, 2, 4, 3)]
DEFAULT_ITERATIONS = (0, 1, 2)


def make_layers(size, iterations):
    b, h, w, c, f, k = size
    x = np.random.default_rng(0).normal(size=(b, h, w, c)).astype("float32")
    conv = keras.layers.Conv2D(f, k, bias_initializer="random_normal", name="conv2d")
    conv(x)
    layers = [("Conv2D", conv)]
    for t in iterations:
        hop = ConvHNN2D(f, k, iterations=t, beta=1.0, name=f"convhnn_{t}")
        hop(x)
        hop.patterns.assign(conv.kernel)
        hop.bias.assign(conv.bias)
        layers.append((f"ConvHNN2D(iterations={t})", hop))
    return x, layers


def _call_one(layer, xs):
    return layer(xs[0])


def run(args):
    sizes = QUICK_SIZES if args.quick else (args.size or DEFAULT_SIZES)
    modes = modes_for_backend(args.tf_mode)
    rows, checks = [], {}
    for size in sizes:
        size = tuple(size)
        x, layers = make_layers(size, args.iterations)
        key = "B={},H={},W={},C={},F={},k={}".format(*size)
        for mode in modes:
            built = [build(layer, _call_one, [x], mode) for _, layer in layers]
            if mode == modes[0]:
                ref = built[0][2]()
                for (name, _), fns in zip(layers[1:], built[1:]):
                    if name.endswith("(iterations=0)"):
                        checks[f"{key} {name} vs Conv2D"] = float(np.max(np.abs(fns[2]() - ref)))
            for phase, idx in (("forward", 0), ("fwd+bwd", 1)):
                med, _ = time_interleaved([fns[idx] for fns in built], args.warmup, args.repeats)
                for (name, _), m in zip(layers, med):
                    rows.append(
                        {"size": list(size), "mode": mode, "phase": phase, "name": name, "baseline": "Conv2D",
                         "ms": m * 1e3, "ratio": m / med[0]}
                    )
                line = "  ".join(f"{n}: {m * 1e3:.2f} ms ({m / med[0]:.2f}x)" for (n, _), m in zip(layers, med))
                print(f"[{key} {mode} {phase}] {line}", flush=True)
    return rows, checks


def table(rows):
    lines = [
        "| size (B, H, W, C, F, k) | mode | phase | contender | ms | ratio vs Conv2D |",
        "|---|---|---|---|---:|---:|",
    ]
    for r in rows:
        ratio = "1 (baseline)" if r["name"] == r["baseline"] else f"{r['ratio']:.2f}x"
        if "ratio_min" in r and r["name"] != r["baseline"]:
            ratio += f" ({r['ratio_min']:.2f}–{r['ratio_max']:.2f})"
        lines.append(f"| {tuple(r['size'])} | {r['mode']} | {r['phase']} | {r['name']} | {r['ms']:.2f} | {ratio} |")
    return "\n".join(lines)


def set_threads(n):
    if BACKEND == "torch":
        import torch

        torch.set_num_threads(n)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)


def _env_prefix():
    """Allocator settings in the environment, which change PyTorch's eager timings (part of the command)."""
    keys = sorted(k for k in os.environ if k.startswith("MALLOC_") or k == "LD_PRELOAD")
    return "".join(f"{k}={shlex.quote(os.environ[k])} " for k in keys)


def _without(argv, option, takes_value):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == option:
            skip = takes_value
        elif not a.startswith(option + "="):
            out.append(a)
    return out


def run_processes(args, argv):
    """Runs the benchmark in `args.processes` fresh interpreters and aggregates their rows."""
    import subprocess
    import tempfile

    child_argv = _without(_without(argv, "--processes", True), "--json", True)
    command = f"{_env_prefix()}KERAS_BACKEND={BACKEND} python benchmarks/convhnn_speed.py " + " ".join(shlex.quote(a) for a in argv)
    print("command:", command.strip(), flush=True)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.processes):
            out = Path(tmp) / f"run{i}.json"
            subprocess.run([sys.executable, __file__, *child_argv, "--json", str(out)], check=True,
                           stdout=subprocess.DEVNULL)
            runs.append(json.loads(out.read_text()))
            print(f"process {i + 1}/{args.processes} done", flush=True)
    rows = []
    for k, row in enumerate(runs[0]["rows"]):
        ratios = [r["rows"][k]["ratio"] for r in runs]
        rows.append({**row, "ms": float(np.median([r["rows"][k]["ms"] for r in runs])),
                     "ratio": float(np.median(ratios)), "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "ratio_per_process": ratios})
    elapsed = time.perf_counter() - t0
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    print(table(rows))
    info = {**runs[0], "command": command.strip(), "processes": args.processes, "rows": rows,
            "seconds": round(elapsed, 1),
            "machine": {**runs[0]["machine"], "loadavg_start": load0, "loadavg_end": load1}}
    if args.json:
        write_json(args.json, info)
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny size and few repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per function (default 25; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; quick 1)")
    p.add_argument("--size", type=int, nargs=6, action="append", metavar=("B", "H", "W", "C", "F", "K"))
    p.add_argument("--iterations", type=int, nargs="+", default=list(DEFAULT_ITERATIONS), help="ConvHNN2D iterations")
    p.add_argument("--tf-mode", choices=("graph", "xla", "both"), default="both", help="TensorFlow compilation")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (PyTorch and TensorFlow; on a loaded machine 1 avoids waiting on the "
                        "scheduler for every op)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--processes", type=int, default=1,
                   help="repeat the whole measurement in this many fresh processes and report, per row, the "
                        "median over processes (and the range of the ratio): on PyTorch the ratio moves by "
                        "up to ±0.15 between processes (allocator state), far more than within one")
    args = p.parse_args(argv)
    if args.processes > 1:
        return run_processes(args, sys.argv[1:] if argv is None else list(argv))
    if args.threads:
        set_threads(args.threads)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 25
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.quick and args.tf_mode == "both":
        args.tf_mode = "graph"
    argv_used = sys.argv[1:] if argv is None else list(argv)
    command = f"{_env_prefix()}KERAS_BACKEND={BACKEND} python benchmarks/convhnn_speed.py " + " ".join(shlex.quote(a) for a in argv_used)
    print("command:", command.strip(), flush=True)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    rows, checks = run(args)
    elapsed = time.perf_counter() - t0
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    print(table(rows))
    print()
    for k, v in checks.items():
        print(f"max |difference| {k}: {v:.2e}")
    info = {
        "command": command.strip(),
        "backend": BACKEND,
        "versions": versions(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load0,
                    "loadavg_end": load1},
        "repeats": args.repeats,
        "warmup": args.warmup,
        "threads": args.threads,
        "seconds": round(elapsed, 1),
        "rows": rows,
        "equivalence_max_abs_diff": checks,
    }
    print(f"backend {BACKEND}; {os.cpu_count()} CPUs; load average {load0} -> {load1}; {elapsed:.0f}s")
    if args.json:
        write_json(args.json, info)
    return info


if __name__ == "__main__":
    main()
