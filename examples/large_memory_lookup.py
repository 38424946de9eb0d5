"""A Hopfield lookup over 10⁶ stored random patterns, in bounded memory.

`HopfieldLookup.pure(memory_size=N, beta=β)` holds N = 10⁶ random unit
patterns of dimension 64 (244 MB of float32) as its weights. Queries are
stored patterns with Gaussian noise (noise norm `--noise`, relative to the
unit pattern); one softmax read-out `Yᵀ softmax(β Y ξ)` should return the
clean pattern. With `retrieval="auto"` (the default) the layer takes the
chunked path (more than `functional.AUTO_CHUNKED_MIN_PATTERNS` patterns): a
streaming log-sum-exp over blocks of stored patterns that never forms the
`(batch × N)` association matrix (512 MB for one batch of 128 queries, plus
the softmax's temporaries). The same lookup with `top_k=` keeps only the k
best patterns per query (exact).

The lookup runs as Keras users run inference, `model.predict_on_batch`
(`jax.jit`, `tf.function` or eager torch). Reported: the fraction of queries
whose read-out is closest to (cosine) the pattern they came from, the mean
cosine to it, the time per batch, the RSS before the lookups and its peak
during them (Linux), the largest difference to an exact NumPy read-out of a
few queries and the size of the dense association matrix one batch would
need.

Usage:

    KERAS_BACKEND=jax python examples/large_memory_lookup.py                # 10⁶ patterns
    python examples/large_memory_lookup.py --quick --out /tmp/lookup         # 20 000 patterns, seconds
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import command_line, positive_float  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--patterns", type=int, default=1_000_000, help="number of stored patterns N")
    p.add_argument("--dim", type=int, default=64, help="pattern dimension")
    p.add_argument("--queries", type=int, default=1024, help="number of noisy queries")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--beta", type=positive_float, default=64.0, help="inverse temperature β")
    p.add_argument("--noise", type=float, default=0.5, help="norm of the query noise (patterns have norm 1)")
    p.add_argument("--top-k", type=int, default=16, help="also run the lookup keeping the k best patterns (0: skip)")
    p.add_argument("--retrieval", choices=["auto", "dense", "chunked"], default="auto",
                   help="the layers' retrieval path (auto: chunked from functional.AUTO_CHUNKED_MIN_PATTERNS on)")
    p.add_argument("--check-queries", type=int, default=8,
                   help="queries also read out by NumPy (exact softmax / top-k), to check the layer against (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="20 000 patterns, 256 queries (smoke test)")
    p.add_argument("--out", default=None, help="folder of the result JSON (default: print only)")
    return p.parse_args(argv)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _status_mb(key):
    """`VmRSS` / `VmHWM` of this process in MB (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter (`VmHWM`) to the current RSS (Linux ≥ 4.0); False elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _exact_readout(queries, patterns, beta, top_k):
    """NumPy reference `Yᵀ softmax(β Y ξ)` (over the k best patterns with `top_k`), for a few queries."""
    scores = beta * (queries @ patterns.T)
    if top_k:
        keep = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
        top = np.take_along_axis(scores, keep, axis=1)
        w = np.exp(top - top.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        return np.einsum("qk,qkd->qd", w, patterns[keep])
    w = np.exp(scores - scores.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    return w @ patterns


def _lookup(model, queries, batch_size):
    outs, times = [], []
    for start in range(0, len(queries), batch_size):
        t0 = time.perf_counter()
        out = np.asarray(model.predict_on_batch(queries[start : start + batch_size]))
        times.append(time.perf_counter() - t0)
        outs.append(out)
    # The first batch traces and compiles the predict step; later batches are the steady state.
    steady = times[1:] or times
    return np.concatenate(outs), float(np.median(steady))


def _scores(out, patterns, targets):
    out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    cos_target = np.einsum("qd,qd->q", out, patterns[targets])
    # Closest stored pattern of each read-out, found block by block (no Q × N matrix here either).
    best = np.full(len(out), -np.inf, dtype=np.float32)
    arg = np.zeros(len(out), dtype=np.int64)
    for start in range(0, len(patterns), 65536):
        block = out @ patterns[start : start + 65536].T
        j = block.argmax(1)
        v = block[np.arange(len(out)), j]
        better = v > best
        best[better], arg[better] = v[better], j[better] + start
    return float(np.mean(arg == targets)), float(np.mean(cos_target))


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        args.patterns, args.queries = 20_000, 256
    from keras_hopfield import functional as F
    from keras_hopfield.layers import HopfieldLookup

    import keras

    command = command_line("large_memory_lookup.py", argv)
    rng = np.random.default_rng(args.seed)
    patterns = rng.standard_normal((args.patterns, args.dim), dtype=np.float32)
    patterns /= np.linalg.norm(patterns, axis=1, keepdims=True)
    targets = rng.integers(0, args.patterns, args.queries)
    noise = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    noise *= args.noise / np.linalg.norm(noise, axis=1, keepdims=True)
    queries = patterns[targets] + noise

    results = {}
    for name, top_k in [("softmax", None)] + ([(f"top_k={args.top_k}", args.top_k)] if args.top_k else []):
        # Zeros, not a random initialiser: the patterns are assigned right after (no 244 MB of random init).
        layer = HopfieldLookup.pure(
            beta=args.beta, memory_size=args.patterns, top_k=top_k, retrieval=args.retrieval, memory_initializer="zeros"
        )
        model = keras.Sequential([keras.Input((args.dim,)), layer])  # predict_on_batch: jit / tf.function / eager
        layer.stored_patterns.assign(patterns)
        path = layer.retrieval_path(args.patterns)
        before = _status_mb("VmRSS")
        reset = _reset_peak_rss()
        out, sec = _lookup(model, queries, args.batch_size)
        lookup_peak = _status_mb("VmHWM") if reset else None
        accuracy, cosine = _scores(out, patterns, targets)
        check = None
        if args.check_queries:
            # An independent NumPy read-out of a few queries (a small score matrix).
            few = queries[: args.check_queries]
            check = float(np.abs(_exact_readout(few, patterns, args.beta, top_k) - out[: args.check_queries]).max())
        results[name] = {
            "path": path,
            "max_abs_diff_to_numpy": check,
            "retrieved": accuracy,
            "mean_cosine_to_target": cosine,
            "ms_per_batch": 1e3 * sec,
            "peak_rss_mb_so_far": _peak_rss_mb(),
            "rss_mb_before_lookups": before,
            "peak_rss_mb_during_lookups": lookup_peak,
        }
        print(f"{name:10s} path={path:8s} retrieved {100 * accuracy:5.1f} %  mean cosine {cosine:.4f}  "
              f"{1e3 * sec:7.1f} ms per batch of {args.batch_size}"
              + ("" if lookup_peak is None else f"  RSS {before:.0f} MB before the lookups, peak {lookup_peak:.0f} MB during them")
              + ("" if check is None else f"  max |this − NumPy| {check:.1e} ({args.check_queries} queries)"), flush=True)
        del model, layer
    dense_mb = args.batch_size * args.patterns * 4 / 2**20
    info = {
        "command": command,
        "backend": keras.backend.backend(),
        "patterns": args.patterns,
        "dim": args.dim,
        "queries": args.queries,
        "batch_size": args.batch_size,
        "beta": args.beta,
        "noise": args.noise,
        "stored_patterns_mb": patterns.nbytes / 2**20,
        "dense_association_matrix_mb_per_batch": dense_mb,
        "auto_threshold": F.AUTO_CHUNKED_MIN_PATTERNS,
        "peak_rss_mb": _peak_rss_mb(),
        "results": results,
        "quick": bool(args.quick),
    }
    print(f"stored patterns {patterns.nbytes / 2**20:.0f} MB (NumPy copy + layer weights); peak RSS {_peak_rss_mb():.0f} MB; "
          f"the dense association matrix of one batch alone would be {dense_mb:.0f} MB")
    if args.out:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "large_memory_lookup.json"
        path.write_text(json.dumps(info, indent=2))
        print(f"wrote {path}")
    return info


if __name__ == "__main__":
    main()
