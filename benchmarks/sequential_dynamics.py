"""Benchmark: sequential (asynchronous) Hopfield dynamics on n = 1024 units.

Measures single-unit updates per second of
`keras_hopfield.functional_classical.run_classical_dynamics(dynamics="sequential")`
(a compiled `fori_loop` over sweeps with an inner `fori_loop` over a random permutation,
run through `Model.predict_on_batch`, i.e. `jit`/`tf.function` on JAX/TensorFlow and
eager on PyTorch) against a plain NumPy loop doing the same updates
(`s[i] = sgn(J[i] @ s)` for i in a random permutation, batched over states).
Compilation is excluded (one warm-up call); the best of `--repeats` timings is kept.

Run once per backend:
    for b in jax tensorflow torch; do
        KERAS_BACKEND=$b nice python benchmarks/sequential_dynamics.py --out docs/results/bench_seq_$b.json
    done
"""

import argparse
import json
import os
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=1024)
    p.add_argument("--patterns", type=int, default=100)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--sweeps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def numpy_sequential(state, weights, sweeps, rng):
    """Reference NumPy loop: one unit at a time, random order per sweep, ties keep."""
    s = state.copy()
    n = weights.shape[0]
    for _ in range(sweeps):
        for i in rng.permutation(n):
            field = s @ weights[i]
            s[:, i] = np.where(field > 0, 1.0, np.where(field < 0, -1.0, s[:, i]))
    return s


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_hopfield import functional_classical as fc

    class FixedSweeps(keras.layers.Layer):
        def __init__(self, weights, sweeps, **kwargs):
            super().__init__(**kwargs)
            self.sweeps = sweeps
            self.seed_generator = keras.random.SeedGenerator(args.seed)
            self.kernel = self.add_weight(shape=weights.shape, initializer="zeros", trainable=False)
            self.kernel.assign(weights)

        def call(self, x):
            return fc.run_classical_dynamics(x, self.kernel, dynamics="sequential", max_steps=self.sweeps,
                                             seed=self.seed_generator, early_stop=False)

    rng = np.random.default_rng(args.seed)
    n = args.units
    patterns = rng.choice([-1.0, 1.0], size=(args.patterns, n)).astype("float32")
    weights = np.asarray(keras.ops.convert_to_numpy(fc.hebb_weights(patterns)))
    results = []
    for batch in args.batches:
        state = rng.choice([-1.0, 1.0], size=(batch, n)).astype("float32")
        model = keras.Sequential([keras.Input((n,)), FixedSweeps(weights, args.sweeps)])
        model.predict_on_batch(state)  # compile / warm up
        t_keras = best_time(lambda: np.asarray(model.predict_on_batch(state)), args.repeats)
        t_numpy = best_time(lambda: numpy_sequential(state, weights, args.sweeps, rng), args.repeats)
        updates = batch * n * args.sweeps
        row = {"batch": batch, "units": n, "sweeps": args.sweeps, "updates": updates,
               "keras_updates_per_s": updates / t_keras, "numpy_updates_per_s": updates / t_numpy,
               "ratio_keras_over_numpy": t_numpy / t_keras}
        results.append(row)
        print(f"{keras.backend.backend():10s} batch={batch:4d} keras {row['keras_updates_per_s']:12.0f} upd/s  "
              f"numpy {row['numpy_updates_per_s']:12.0f} upd/s  ratio {row['ratio_keras_over_numpy']:.2f}",
              flush=True)
    summary = {"backend": keras.backend.backend(), "results": results}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
