"""Peak memory and time of retrieval from 10³–10⁶ stored patterns: dense vs chunked vs `dot_product_attention`.

One modern-Hopfield read-out `softmax(β Q Yᵀ) Y` of `--queries` state patterns
(default 128) from `N` stored patterns of dimension `--dim` (default 64), on
the current Keras backend, three ways:

* **dense**: `keras_hopfield.functional.hopfield_update(..., retrieval="dense")`,
  which forms the `(queries × N)` association matrix;
* **chunked**: the same call with `retrieval="chunked"` (streaming log-sum-exp
  over blocks of stored patterns; the backward pass recomputes each block);
* **dpa**: `keras.ops.dot_product_attention(q, Y, Y, scale=β)` on the same
  tensors (PyTorch's fused SDPA kernel on torch, plain XLA ops elsewhere).

Phases: "forward" (one call) and "fwd+bwd" (value and gradient of
`sum(output)` with respect to the queries *and* the stored patterns, as when
a `HopfieldLookup` learns its memory). Compiled as in the other benchmarks:
`jax.jit`, `tf.function` (`--tf-mode xla` adds `jit_compile=True`), eager
PyTorch.

**Memory.** Every (path, N, phase) runs in its own subprocess: it imports the
backend, records its resident set (RSS), creates the data, compiles and warms
up the function, then resets the kernel's peak-RSS counter
(`/proc/self/clear_refs`) and calls it `--repeats` times. "peak MB" is the
peak RSS during those calls minus the RSS before the data existed, so it
includes the stored patterns themselves (`N·d·4` bytes) and everything the
call allocates. The slope of peak vs N (least squares over the N measured)
is reported in bytes per stored pattern next to the patterns' own size
(`d·4` bytes). A path whose peak exceeds `--budget-mb` is "out of budget";
larger N are then not run for it (the score matrix only grows).

**Time.** For each N one more subprocess times every path that fits,
interleaved (each repeat calls every contender once, in rotating order), so
machine load hits all alike, and repeats until each contender has run for
`--min-seconds` (at least `--repeats`, at most `--max-repeats` calls); ratios
are chunked / dense and chunked / dpa of the medians from that run.
`--chunk-sizes` adds chunked runs with other block sizes at the largest N.
`--threads 1` pins every backend to one intra-op thread (on a shared machine
a second thread mostly waits for its core).

Usage:

    KERAS_BACKEND=jax python benchmarks/large_memory.py --json large_memory_jax.json
    python benchmarks/large_memory.py --quick --json /tmp/large_memory.json   # smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PATHS = ("dense", "chunked", "dpa")
PHASES = ("forward", "fwd+bwd")
DEFAULT_SIZES = [1_000, 10_000, 100_000, 300_000, 1_000_000]
QUICK_SIZES = [1_000, 4_000]


def _status_kb(key):
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, flags=re.M).group(1))


def _reset_peak():
    """Reset VmHWM (peak RSS) to the current RSS; Linux ≥ 4.0."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _set_threads(n):
    """Intra-op threads of the backend (on a loaded machine 1 avoids waiting on descheduled threads)."""
    if not n:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(n)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def _thread_env(n):
    """Environment of the subprocesses: JAX's XLA CPU threads are fixed when it is imported."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if n:
        env["OMP_NUM_THREADS"] = str(n)
        if n == 1:
            env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1").strip()
    return env


def _contender(path, beta, chunk_size):
    import keras
    from keras import ops

    from keras_hopfield import functional as F

    if path == "dense":
        return lambda _, xs: F.hopfield_update(xs[0], xs[1], beta, retrieval="dense")
    if path == "chunked":
        return lambda _, xs: F.hopfield_update(xs[0], xs[1], beta, retrieval="chunked", chunk_size=chunk_size)
    if path == "dpa":

        def dpa(_, xs):
            q, y = xs[0][None, :, None, :], xs[1][None, :, None, :]
            return ops.dot_product_attention(q, y, y, scale=beta)[0, :, 0, :]

        return dpa
    raise ValueError(path)


def _data(n, args):
    rng = np.random.default_rng(args.seed)
    memory = rng.standard_normal((n, args.dim), dtype=np.float32)
    queries = memory[rng.integers(0, n, args.queries)] + 0.5 * rng.standard_normal(
        (args.queries, args.dim), dtype=np.float32
    )
    return [np.ascontiguousarray(queries), memory]


def _thunk(path, phase, xs, args, mode):
    from _harness import build

    fwd, fwd_bwd, _ = build(None, _contender(path, args.beta, args.chunk_size), xs, mode)
    return fwd if phase == "forward" else fwd_bwd


def worker(args):
    """One (path, N, phase): peak RSS and median time; prints one JSON line."""
    import statistics
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import modes_for_backend

    import keras  # noqa: F401 - the backend import is part of the baseline

    _set_threads(args.threads)
    mode = modes_for_backend(args.tf_mode)[0]
    base_kb = _status_kb("VmRSS")
    xs = _data(args.n, args)
    thunk = _thunk(args.path, args.phase, xs, args, mode)
    del xs  # the backend holds its own copy (JAX, TF) or shares the buffer (torch)
    gc.collect()
    for _ in range(1 + args.warmup):  # compile + warm up
        thunk()
    gc.collect()
    resident_kb = _status_kb("VmRSS")
    reset = _reset_peak()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        thunk()
        times.append(time.perf_counter() - t0)
    peak_kb = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "path": args.path,
                "n": args.n,
                "phase": args.phase,
                "mode": mode,
                "peak_mb": (peak_kb - base_kb) / 1024,
                "resident_mb": (resident_kb - base_kb) / 1024,
                "call_extra_mb": (peak_kb - resident_kb) / 1024,
                "peak_reset": reset,
                "ms": 1e3 * statistics.median(times),
            }
        )
    )


def timer(args):
    """Interleaved median times of the given paths at one N and phase; prints one JSON line."""
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import modes_for_backend, time_interleaved

    _set_threads(args.threads)
    mode = modes_for_backend(args.tf_mode)[0]
    xs = _data(args.n, args)
    names, thunks = [], []
    for path in args.time_paths:
        names.append(path)
        thunks.append(_thunk(path, args.phase, xs, args, mode))
    for size in args.chunk_sizes or ():
        names.append(f"chunked/{size}")
        args_c = argparse.Namespace(**{**vars(args), "chunk_size": size})
        thunks.append(_thunk("chunked", args.phase, xs, args_c, mode))
    del xs
    gc.collect()
    # Repeat until each contender has run for about `--min-seconds` (at least `--repeats` times):
    # millisecond calls need many samples for a stable median on a loaded machine.
    for t in thunks:
        for _ in range(args.warmup + 1):
            t()
    t0 = time.perf_counter()
    thunks[0]()
    once = max(time.perf_counter() - t0, 1e-6)
    repeats = int(min(max(args.repeats, math.ceil(args.min_seconds / once)), args.max_repeats))
    medians, _ = time_interleaved(thunks, 0, repeats)
    print(json.dumps({"n": args.n, "phase": args.phase, "mode": mode, "repeats": repeats,
                      "ms": dict(zip(names, [1e3 * m for m in medians]))}))


def _run(cmd, threads):
    env = dict(os.environ)
    env.update(_thread_env(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-600:]
        return None, f"exit {proc.returncode}: {tail.strip().splitlines()[-1] if tail.strip() else ''}"
    return json.loads(lines[-1]), None


def _common_flags(args):
    flags = ["--dim", str(args.dim), "--queries", str(args.queries), "--beta", str(args.beta)]
    flags += ["--seed", str(args.seed), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    flags += ["--min-seconds", str(args.min_seconds), "--max-repeats", str(args.max_repeats)]
    flags += ["--tf-mode", args.tf_mode]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    if args.chunk_size:
        flags += ["--chunk-size", str(args.chunk_size)]
    return flags


def _slope(points):
    """Least-squares slope (MB per pattern) and intercept of peak MB vs N."""
    if len(points) < 2:
        return None, None
    n = np.array([p[0] for p in points], dtype=float)
    mb = np.array([p[1] for p in points], dtype=float)
    slope, intercept = np.polyfit(n, mb, 1)
    return float(slope), float(intercept)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="numbers of stored patterns N")
    p.add_argument("--dim", type=int, default=64, help="pattern dimension d")
    p.add_argument("--queries", type=int, default=128, help="number of state patterns")
    p.add_argument("--beta", type=float, default=1.0 / 8.0, help="inverse temperature (default 1/sqrt(d))")
    p.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    p.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    p.add_argument("--budget-mb", type=float, default=2048.0, help="memory budget of one call (peak MB)")
    p.add_argument("--chunk-size", type=int, default=None, help="block size of the chunked path (default: automatic)")
    p.add_argument("--chunk-sizes", type=int, nargs="+", default=None, help="also time these block sizes")
    p.add_argument("--repeats", type=int, default=5, help="calls per memory run; the minimum of the timing runs")
    p.add_argument("--min-seconds", type=float, default=2.0, help="timing runs repeat until each contender ran this long")
    p.add_argument("--max-repeats", type=int, default=200)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tf-mode", choices=["graph", "xla"], default="graph")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads of every run (1 on a loaded machine: no waiting on descheduled threads)")
    p.add_argument("--skip-timing", action="store_true", help="memory runs only")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    p.add_argument("--json", type=str, default=None, help="write the results here")
    # internal: one measurement per subprocess
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--timer", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--path", choices=PATHS, help=argparse.SUPPRESS)
    p.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--time-paths", nargs="+", default=[], help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        return worker(args)
    if args.timer:
        return timer(args)

    import keras

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _harness import BACKEND, modes_for_backend, versions, write_json

    if args.quick:
        args.sizes = args.sizes or QUICK_SIZES
        args.repeats, args.warmup, args.min_seconds = 1, 0, 0.0
    sizes = sorted(args.sizes or DEFAULT_SIZES)
    command = f"KERAS_BACKEND={BACKEND} python " + " ".join(shlex.quote(a) for a in [sys.argv[0]] + (argv or sys.argv[1:]))
    print(f"command: {command}")
    print(f"backend {BACKEND} ({modes_for_backend(args.tf_mode)[0]}), keras {keras.__version__}, d={args.dim}, "
          f"queries={args.queries}, β={args.beta}, budget {args.budget_mb:.0f} MB, "
          f"pattern size {4 * args.dim} B, threads {args.threads or 'default'}, load average {os.getloadavg()[0]:.1f}")
    me = [sys.executable, str(Path(__file__).resolve())]
    flags = _common_flags(args)
    rows, timings, over_budget, failures = [], [], {}, []
    for phase in args.phases:
        for n in sizes:
            fitting = []
            for path in args.paths:
                if (path, phase) in over_budget:
                    continue
                result, error = _run(me + ["--worker", "--path", path, "--phase", phase, "--n", str(n)] + flags, args.threads)
                if result is None:
                    # A crash (e.g. an allocation failure) counts as out of budget.
                    failures.append({"path": path, "n": n, "phase": phase, "error": error})
                    over_budget[(path, phase)] = {"n": n, "peak_mb": None, "error": error}
                    print(f"{phase:8s} N={n:>9,d} {path:8s} FAILED ({error})")
                    continue
                rows.append(result)
                status = ""
                if result["peak_mb"] > args.budget_mb:
                    over_budget[(path, phase)] = {"n": n, "peak_mb": result["peak_mb"]}
                    status = "  OUT OF BUDGET"
                else:
                    fitting.append(path)
                print(f"{phase:8s} N={n:>9,d} {path:8s} peak {result['peak_mb']:9.1f} MB  "
                      f"(stored patterns {n * args.dim * 4 / 2**20:7.1f} MB, call extra {result['call_extra_mb']:8.1f} MB)  "
                      f"{result['ms']:9.1f} ms{status}", flush=True)
            if not args.skip_timing and len(fitting) >= 1:
                extra = ["--chunk-sizes"] + [str(c) for c in args.chunk_sizes] if args.chunk_sizes and n == sizes[-1] else []
                result, error = _run(me + ["--timer", "--phase", phase, "--n", str(n), "--time-paths"] + fitting + flags + extra, args.threads)
                if result is None:
                    failures.append({"timer": True, "n": n, "phase": phase, "error": error})
                    print(f"{phase:8s} N={n:>9,d} timing FAILED ({error})")
                    continue
                ms = result["ms"]
                ratios = {}
                if "chunked" in ms and "dense" in ms:
                    ratios["chunked/dense"] = ms["chunked"] / ms["dense"]
                if "chunked" in ms and "dpa" in ms:
                    ratios["chunked/dpa"] = ms["chunked"] / ms["dpa"]
                result["ratios"] = ratios
                timings.append(result)
                print(f"{phase:8s} N={n:>9,d} interleaved ms ({result['repeats']} repeats): "
                      + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
                      + ("  ratio " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()) if ratios else ""), flush=True)

    print(f"\ncommand: {command}")
    summary = {}
    for phase in args.phases:
        for path in args.paths:
            points = [(r["n"], r["peak_mb"]) for r in rows if r["path"] == path and r["phase"] == phase
                      and r["peak_mb"] <= args.budget_mb]
            slope, intercept = _slope(points)
            ob = over_budget.get((path, phase))
            summary[f"{path}/{phase}"] = {
                "slope_bytes_per_pattern": None if slope is None else slope * 2**20,
                "intercept_mb": intercept,
                "out_of_budget_at_n": None if ob is None else ob["n"],
            }
            slope_txt = "n/a" if slope is None else f"{slope * 2**20:8.1f} B/pattern (patterns' own size {4 * args.dim} B)"
            ob_txt = "fits at every N" if ob is None else f"out of the {args.budget_mb:.0f} MB budget at N = {ob['n']:,d}"
            print(f"{phase:8s} {path:8s} peak-memory slope {slope_txt}; {ob_txt}")
        for t in timings:
            if t["phase"] == phase and t["ratios"]:
                print(f"{phase:8s} N={t['n']:>9,d} time ratio " + ", ".join(f"{k} {v:.2f}" for k, v in t["ratios"].items()))
    info = {
        "command": command,
        "backend": BACKEND,
        "mode": modes_for_backend(args.tf_mode)[0],
        "versions": versions(),
        "load_average": os.getloadavg(),
        "dim": args.dim,
        "queries": args.queries,
        "beta": args.beta,
        "budget_mb": args.budget_mb,
        "threads": args.threads,
        "pattern_bytes": 4 * args.dim,
        "sizes": sizes,
        "rows": rows,
        "timings": timings,
        "summary": summary,
        "failures": failures,
        "quick": bool(args.quick),
    }
    if args.json:
        write_json(args.json, info)
    return info


if __name__ == "__main__":
    main()
