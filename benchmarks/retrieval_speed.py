"""Speed of `HopfieldRetrieval` against Keras' own attention, on the current backend.

Two comparisons, each measured in the same run with interleaved repeats (every
repeat times each contender once, in turn), so that load from other processes
hits both sides alike:

(a) one-step **pure retrieval**, `HopfieldRetrieval.pure(beta=s, num_heads=h)`
    (`max_steps=1`, no weights; the `(B, L, h·d)` inputs are split into `h`
    static heads), against `keras.ops.dot_product_attention(q, k, v, scale=s)`
    on the very same `(B, L, h, d)` tensors (reshaped, which is free);
(b) the **full layer** `HopfieldRetrieval(num_heads=h, key_dim=d)` against
    `keras.layers.MultiHeadAttention(num_heads=h, key_dim=d)` on the same
    `(B, L, h·d)` query and `(B, N, h·d)` memory (= keys = values). The
    Hopfield layer is timed twice: with its defaults (LayerNorm on query,
    memory and value, affine) and with every normalisation off
    (`normalize_{query,memory,value}=False` and their `_affine=False`), which
    is the same computation as MHA (checked: with MHA's weights copied in, the
    outputs agree).

"forward" is one call; "fwd+bwd" is the value and gradient of `sum(output)`
with respect to the inputs and all trainable weights. Functions are compiled
the same way for both sides: `jax.jit` on JAX; `tf.function` on TensorFlow
(with `jit_compile=False` and/or `True`, see `--tf-mode`); eager on PyTorch
(forward under `torch.no_grad()`). Times are medians over `--repeats` after
`--warmup` calls; ratios are Hopfield / Keras medians from the same run.

Usage:

    KERAS_BACKEND=jax python benchmarks/retrieval_speed.py --json results/bench_jax.json
    python benchmarks/retrieval_speed.py --quick --json /tmp/bench.json   # smoke run
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

import keras  # noqa: E402
from keras import ops  # noqa: E402

from keras_hopfield import functional as F  # noqa: E402
from keras_hopfield.layers import HopfieldRetrieval  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BACKEND, build, modes_for_backend, time_interleaved, versions, write_json  # noqa: E402


DEFAULT_SIZES = [
    # (batch, length L, memory N, heads h, dim d)
    (32, 128, 128, 4, 64),
    (16, 256, 256, 8, 64),
]
QUICK_SIZES = [(2, 16, 16, 2, 8)]


# --------------------------------------------------------------------------- #
# The contenders. Each case: a (possibly None) Keras layer and a function
# `apply(call_layer, xs)` where `call_layer(*args)` runs the layer.
# --------------------------------------------------------------------------- #


def _nonorm_kwargs():
    return dict(
        normalize_query=False,
        normalize_query_affine=False,
        normalize_memory=False,
        normalize_memory_affine=False,
        normalize_value=False,
        normalize_value_affine=False,
    )


def make_cases(size, diagnostics=False):
    b, l, n, h, d = size
    e = h * d
    scale = 1.0 / float(np.sqrt(d))

    def dpa(_, xs):
        q, k, v = xs
        return ops.dot_product_attention(q, k, v, scale=scale)

    def pure(call, xs):
        q, k, v = xs
        out = call(ops.reshape(q, (b, l, e)), ops.reshape(k, (b, n, e)), ops.reshape(v, (b, n, e)))
        return ops.reshape(out, (b, l, h, d))

    def core(_, xs):
        # Diagnostic: the layer's math (functional.association + matmul) on
        # (B, h, L, d) tensors, i.e. without the layer's layout transposes.
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in xs)
        p = F.association(q, k, scale, "softmax", None)
        return ops.transpose(ops.matmul(p, v), (0, 2, 1, 3))

    def manual(_, xs):
        # Diagnostic: einsum attention, as Keras' TF/JAX dot_product_attention does it.
        q, k, v = xs
        s = ops.einsum("btnh,bsnh->bnts", q, k) * scale
        return ops.einsum("bnts,bsnh->btnh", ops.softmax(s, axis=-1), v)

    def full(call, xs):
        query, memory = xs
        return call(query, memory)

    rng = np.random.default_rng(0)
    qkv = [rng.normal(size=(b, m, h, d)).astype("float32") for m in (l, n, n)]
    qm = [rng.normal(size=(b, l, e)).astype("float32"), rng.normal(size=(b, n, e)).astype("float32")]

    pure_layer = HopfieldRetrieval.pure(beta=scale, num_heads=h, max_steps=1, name="pure")
    mha = keras.layers.MultiHeadAttention(num_heads=h, key_dim=d, name="mha")
    hop = HopfieldRetrieval(num_heads=h, key_dim=d, name="hopfield")
    hop_nonorm = HopfieldRetrieval(num_heads=h, key_dim=d, name="hopfield_nonorm", **_nonorm_kwargs())
    mha(qm[0], qm[1])
    hop(qm[0], qm[1])
    hop_nonorm(qm[0], qm[1])
    pure_layer(*(np.reshape(t, (b, -1, e)) for t in qkv))
    # Same weights as MHA: the no-norm Hopfield layer must compute the same thing.
    for src, dst in (
        (mha._query_dense, hop_nonorm.query_projection),
        (mha._key_dense, hop_nonorm.memory_projection),
        (mha._value_dense, hop_nonorm.value_projection),
        (mha._output_dense, hop_nonorm.output_projection),
    ):
        dst.set_weights(src.get_weights())

    groups = {
        "pure_vs_dpa": {
            "inputs": qkv,
            "baseline": ("dot_product_attention", None, dpa),
            "candidates": [("HopfieldRetrieval.pure", pure_layer, pure)],
        },
        "layer_vs_mha": {
            "inputs": qm,
            "baseline": ("MultiHeadAttention", mha, full),
            "candidates": [
                ("HopfieldRetrieval (default LayerNorms)", hop, full),
                ("HopfieldRetrieval (no norms)", hop_nonorm, full),
            ],
        },
    }
    if diagnostics:
        groups["pure_vs_dpa"]["candidates"] += [
            ("diag: functional core (B,h,L,d)", None, core),
            ("diag: einsum-softmax-einsum", None, manual),
        ]
    return groups


# --------------------------------------------------------------------------- #
# Per-backend compilation: returns (forward(), fwd_bwd()) zero-argument thunks
# that block until the result is ready, plus a function giving the output.
# --------------------------------------------------------------------------- #


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #


def run(args):
    sizes = QUICK_SIZES if args.quick else (args.size or DEFAULT_SIZES)
    modes = modes_for_backend(args.tf_mode)
    rows = []
    checks = {}
    for size in sizes:
        groups = make_cases(tuple(size), diagnostics=args.diagnostics)
        size_key = "B={},L={},N={},h={},d={}".format(*size)
        for mode in modes:
            for gname, g in groups.items():
                contenders = [g["baseline"]] + g["candidates"]
                built = [build(layer, apply, g["inputs"], mode) for _, layer, apply in contenders]
                if mode == modes[0]:
                    ref = built[0][2]()
                    for (name, _, _), fns in zip(contenders[1:], built[1:]):
                        if "default LayerNorms" in name:
                            continue  # different function (extra LayerNorms): no equality expected
                        checks[f"{size_key} {name} vs {contenders[0][0]}"] = float(np.max(np.abs(fns[2]() - ref)))
                for phase, idx in (("forward", 0), ("fwd+bwd", 1)):
                    med, _ = time_interleaved([fns[idx] for fns in built], args.warmup, args.repeats)
                    base = med[0]
                    for (name, _, _), m in zip(contenders, med):
                        rows.append(
                            {
                                "size": list(size),
                                "mode": mode,
                                "group": gname,
                                "phase": phase,
                                "name": name,
                                "baseline": contenders[0][0],
                                "ms": m * 1e3,
                                "ratio": m / base,
                            }
                        )
                    line = "  ".join(f"{n}: {m * 1e3:.2f} ms" for (n, _, _), m in zip(contenders, med))
                    print(f"[{size_key} {mode} {gname} {phase}] {line}", flush=True)
    return rows, checks


def table(rows):
    lines = [
        "| size (B, L, N, h, d) | mode | phase | contender | ms | ratio vs baseline |",
        "|---|---|---|---|---:|---:|",
    ]
    for r in rows:
        ratio = "1 (baseline)" if r["name"] == r["baseline"] else f"{r['ratio']:.2f}x"
        lines.append(
            f"| {tuple(r['size'])} | {r['mode']} | {r['phase']} | {r['name']} | {r['ms']:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per function (default 25; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; quick 1)")
    p.add_argument(
        "--size", type=int, nargs=5, action="append", metavar=("B", "L", "N", "H", "D"), help="size(s) to run"
    )
    p.add_argument("--tf-mode", choices=("graph", "xla", "both"), default="both", help="TensorFlow compilation")
    p.add_argument("--diagnostics", action="store_true", help="also time the functional core and a plain einsum attention")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 25
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.quick and args.tf_mode == "both":
        args.tf_mode = "graph"
    argv_used = sys.argv[1:] if argv is None else list(argv)
    command = f"KERAS_BACKEND={BACKEND} python benchmarks/retrieval_speed.py " + " ".join(shlex.quote(a) for a in argv_used)
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
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load0, "loadavg_end": load1},
        "repeats": args.repeats,
        "warmup": args.warmup,
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
