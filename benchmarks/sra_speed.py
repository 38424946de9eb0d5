"""Storage speed of the RHN: gradient-free SRA against the same network trained by Adam.

P binary patterns `z ∈ {±1}^n` (random, seeded) are stored in a restricted
Hopfield network with one hidden layer of `h` tanh units, `T(z) = tanh(tanh(z W + b) Wᵀ + c)`,
two ways:

* **SRA**: `RestrictedHopfieldMemory(hidden_units=h).store(z)`: subspace
  rotation sweeps (one SVD per rotation, no gradients) until every pattern is
  a fixed point `sgn(T(z)) = z` (or `--max-sweeps`). Timed cold (the first
  call, including tracing) and warm (a fresh memory of the same shapes, median
  of `--repeats`).
* **Adam**: the same architecture (same initial semi-orthogonal `W`, zero
  biases, no orthogonality constraint) as a Keras layer trained with
  `model.fit` on the MSE between `T(z)` and `ρ z` (ρ = 0.9, the activation the
  SRA targets ask for), mini-batches of `--batch-size`, Adam at `--lr`. A
  callback measures the fixed-point fraction after every epoch and stops
  training as soon as it reaches the fraction SRA reached in the same run
  (capped at `--max-epochs` / `--max-seconds`). The reported time is the wall
  time of `fit` (compilation included, as in the cold SRA time).

The ratio Adam / SRA is from the same run. Usage:

    KERAS_BACKEND=tensorflow python benchmarks/sra_speed.py --lr 1e-3 --json docs/results/crhn_sra_speed_tensorflow_lr1e-3.json
    python benchmarks/sra_speed.py --quick --json /tmp/sra_speed.json   # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import keras  # noqa: E402
from keras import ops  # noqa: E402

from keras_hopfield.layers.crhn import RestrictedHopfieldMemory  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BACKEND, versions, write_json  # noqa: E402

RHO = 0.9


class GradientRHN(keras.layers.Layer):
    """One-hidden-layer RHN step `T(z)` with trainable `W, b, c` (the Adam contender)."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self._init = np.asarray(kernel, "float32")

    def build(self, input_shape):
        n, h = self._init.shape
        self.kernel = self.add_weight(name="kernel", shape=(n, h), initializer=keras.initializers.Constant(self._init))
        self.forward_bias = self.add_weight(name="forward_bias", shape=(h,), initializer="zeros")
        self.backward_bias = self.add_weight(name="backward_bias", shape=(n,), initializer="zeros")

    def call(self, z):
        hidden = ops.tanh(ops.matmul(z, self.kernel) + self.forward_bias)
        return ops.tanh(ops.matmul(hidden, ops.transpose(self.kernel)) + self.backward_bias)


def fixed_fraction_numpy(z, kernel, fb, bb):
    t = np.tanh(np.tanh(z @ kernel + fb) @ kernel.T + bb)
    new = np.where(t >= 0, 1.0, -1.0)
    return float(np.mean(np.all(new == z, axis=1))), float(np.mean(new == z))


class StopAtAccuracy(keras.callbacks.Callback):
    def __init__(self, z, layer, target, max_seconds):
        super().__init__()
        self.z, self.layer, self.target, self.max_seconds = z, layer, target, max_seconds
        self.start = None
        self.epochs = 0
        self.fraction = self.bits = 0.0
        self.reached_at = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        weights = [np.asarray(ops.convert_to_numpy(v)) for v in (self.layer.kernel, self.layer.forward_bias,
                                                                 self.layer.backward_bias)]
        self.fraction, self.bits = fixed_fraction_numpy(self.z, *weights)
        if self.fraction >= self.target:
            self.reached_at = time.perf_counter() - self.start
            self.model.stop_training = True
        elif time.perf_counter() - self.start > self.max_seconds:
            self.model.stop_training = True


def time_sra(z, hidden, seed, max_sweeps):
    memory = RestrictedHopfieldMemory(hidden_units=hidden, seed=seed, max_sweeps=max_sweeps)
    memory.build((None, z.shape[1]))
    kernel0 = np.asarray(ops.convert_to_numpy(memory.kernels[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t0 = time.perf_counter()
        info = memory.store(z)
        seconds = time.perf_counter() - t0
    fraction = float(np.mean(memory.fixed_points(z)))
    retrieved = np.asarray(ops.convert_to_numpy(memory.retrieve(z)))
    return seconds, info, fraction, float(np.mean(retrieved == z)), kernel0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patterns", type=int, default=500, help="number P of stored patterns")
    p.add_argument("--units", type=int, default=1024, help="pattern size n")
    p.add_argument("--hidden", type=int, default=512, help="hidden units h")
    p.add_argument("--max-sweeps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3, help="warm SRA repeats (median)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-2 is faster per epoch but stalls)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--max-epochs", type=int, default=2000)
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.patterns, args.units, args.hidden, args.repeats = 48, 64, 48, 1
        args.batch_size, args.max_epochs, args.max_seconds = 16, 300, 20.0
    argv_used = sys.argv[1:] if argv is None else list(argv)
    command = f"KERAS_BACKEND={BACKEND} python benchmarks/sra_speed.py " + " ".join(shlex.quote(a) for a in argv_used)
    print("command:", command.strip(), flush=True)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    t_start = time.perf_counter()

    rng = np.random.default_rng(args.seed)
    z = rng.choice([-1.0, 1.0], size=(args.patterns, args.units)).astype("float32")

    sra_cold, info, sra_fraction, sra_bits, kernel0 = time_sra(z, args.hidden, args.seed, args.max_sweeps)
    warm = [time_sra(z, args.hidden, args.seed, args.max_sweeps)[0] for _ in range(args.repeats)]
    sra_warm = statistics.median(warm)
    print(f"SRA: {info['fixed_points']}/{args.patterns} fixed points ({100 * sra_bits:.2f}% bits) after "
          f"{info['sweeps']} sweeps; cold {sra_cold:.2f}s, warm {sra_warm:.2f}s (median of {args.repeats})",
          flush=True)

    keras.utils.set_random_seed(args.seed)
    layer = GradientRHN(kernel0)
    inputs = keras.Input((args.units,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(keras.optimizers.Adam(args.lr), "mse")
    stop = StopAtAccuracy(z, layer, sra_fraction, args.max_seconds)
    t0 = time.perf_counter()
    model.fit(z, RHO * z, batch_size=args.batch_size, epochs=args.max_epochs, shuffle=True, verbose=0,
              callbacks=[stop])
    adam_seconds = time.perf_counter() - t0
    reached = stop.reached_at is not None
    w = np.asarray(ops.convert_to_numpy(layer.kernel), "float64")
    ortho = float(np.linalg.norm(w.T @ w - np.eye(w.shape[1])))
    print(f"Adam: {100 * stop.fraction:.1f}% fixed points ({100 * stop.bits:.2f}% bits) after {stop.epochs} epochs, "
          f"{adam_seconds:.2f}s; target {100 * sra_fraction:.1f}% {'reached' if reached else 'NOT reached'}; "
          f"‖WᵀW − I‖ = {ortho:.3g}", flush=True)
    ratio_cold = adam_seconds / sra_cold
    ratio_warm = adam_seconds / sra_warm
    print(f"Adam / SRA time: {ratio_cold:.1f}x (SRA cold), {ratio_warm:.1f}x (SRA warm)"
          + ("" if reached else " — a lower bound: Adam stopped before reaching SRA's accuracy"))
    elapsed = time.perf_counter() - t_start
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    info_out = {
        "command": command.strip(), "backend": BACKEND, "versions": versions(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load0,
                    "loadavg_end": load1},
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "sra": {"seconds_cold": sra_cold, "seconds_warm_median": sra_warm, "seconds_warm": warm,
                "sweeps": info["sweeps"], "fixed_fraction": sra_fraction, "bits_correct": sra_bits,
                "orthogonality_error": info["orthogonality_error"]},
        "adam": {"seconds": adam_seconds, "epochs": stop.epochs, "fixed_fraction": stop.fraction,
                 "bits_correct": stop.bits, "reached_sra_accuracy": reached, "orthogonality_error": ortho,
                 "lr": args.lr, "batch_size": args.batch_size},
        "ratio_adam_over_sra_cold": ratio_cold, "ratio_adam_over_sra_warm": ratio_warm,
        "seconds": round(elapsed, 1),
    }
    print(f"backend {BACKEND}; {os.cpu_count()} CPUs; load average {load0} -> {load1}; {elapsed:.0f}s")
    if args.json:
        write_json(args.json, info_out)
    return info_out


if __name__ == "__main__":
    main()
