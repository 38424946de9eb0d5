"""Robustness of the CRHN vs a modern Hopfield memory, a PCN and the ablation without RHN (papers/003 §V).

Memory sets of 50, 100, 250 and 500 images are stored by

* **CRHN** (`keras_hopfield.models.crhn.CRHN`): a tied convolutional
  autoencoder with a binary latent, trained **once** (`fit_autoencoder`) on
  training images disjoint from every memory set, then one restricted Hopfield
  network per memory set stored by SRA (`store`, gradient-free);
* **CRHN w/o RHN** (`CRHN.autoencode`): the same encoder → sign → decoder
  without the memory (papers/003 Table II);
* **MHN**: one step of the modern Hopfield update in pixel space over the same
  memory set (`keras_hopfield.functional.hopfield_retrieve`). Queries and
  stored images are compared as unit vectors around mid-grey,
  `k = (x − ½)/‖x − ½‖`, so the scores are cosine similarities in [−1, 1];
  the read-out is the stored images themselves (`value=`). β is chosen per
  memory size from {1, 2, 3, 5, 10, 100, 1000} on a *validation* corruption
  (Gaussian noise σ² = 0.2 and a 50/96-width column occlusion, drawn with a
  seed that no test condition uses) — never on the test conditions;
* **PCN** (`keras_hopfield.models.predictive_coding.PredictiveCodingMemory`,
  opt-in with `--models ... pcn`): one hidden layer, inference learning on the
  memory set, retrieval by `retrieve_noisy`. It is not in the default run:
  inference learning on 64×64×3 = 12 288 pixels costs a full-batch pass per
  inference step (see docs/crhn.md for the measured time).

Each model retrieves corrupted versions of its own stored images and the MSE
against the clean image is reported (mean ± std over images, pooled over the
seeds; the spread of the per-seed means is in the JSON too):

* occluded columns: the paper's 10, 50, 80 of 96 columns scaled to the width
  (7, 33, 53 of 64 on Tiny ImageNet; 3, 17, 27 of 32 on CIFAR-10), zero fill,
  random position;
* Gaussian noise of variance σ² ∈ {0.05, 0.2, 1.0} (clipped to [0, 1]);
* brightness δ ∈ {−0.3, −0.15, +0.3} and contrast c ∈ {0.5, 1.5}
  (`keras_hopfield.corruptions.adjust_brightness / adjust_contrast`);
* the 8 L∞ attacks of `keras_hopfield.attacks` (FGSM, FFGSM, BIM, PGD,
  MI-FGSM, NI-FGSM, DI-FGSM, EOT-PGD) crafted on a surrogate convolutional
  autoencoder trained on the training images (`train_surrogate_autoencoder`,
  transfer setting of the paper), ε ∈ {0.05, 0.1, 0.3, 0.5};
* "clean": the stored images themselves (the reconstruction floor).

Welch's t-test (unequal variances, two-sided, on the per-image MSEs pooled
over seeds) compares CRHN with each baseline per condition and memory size.

Scaled to a shared 2-core CPU (the paper: STL-10 96×96, 5 seeds): the 64×64
Tiny ImageNet subset shipped with the project (1000 "train" images — 5 per
class — train the autoencoder and the surrogate; memory sets are random
subsets of the 1000 "test" images, nested within a seed); 5 seeds for sizes
≤ 100 and 3 seeds for 250 and 500 (`--seeds`, `--big-seeds`); the corruptions
are scored on the first `--queries` (100) stored images of each set and the
attacks on the first `--attack-images` (20) — these query images are the same
for every memory size of a seed, so the sizes differ only in what else is
stored; iterative attacks use `--steps` (5) steps. Everything else (the
conditions, the four sizes, the 8 attacks, ε up to 0.5) is as in the paper.

Outputs: `crhn_robustness.json` (in `--out`, default docs/results) and the
figures `crhn_size_<family>.png` (MSE vs memory size per corruption family),
`crhn_attacks.png` (MSE vs ε per attack, paper Fig. 6) and
`crhn_examples.png` (in `--figures`, default docs/figures); with
`--dataset cifar10` every name ends in `_cifar10` (`crhn_robustness_cifar10.json`, ...).

Usage (repository root; KERAS_HOPFIELD_DATA or --data-dir must point at the data):

    KERAS_BACKEND=tensorflow python examples/crhn_robustness.py                  # full run → docs/
    KERAS_BACKEND=tensorflow python examples/crhn_robustness.py --quick --out /tmp/crhn
    KERAS_BACKEND=tensorflow python examples/crhn_robustness.py --dataset cifar10 --out /tmp/crhn_cifar
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _common import command_line, output_dirs

MODELS = ("crhn", "crhn_continuous", "mhn", "mhn_latent", "mhn_latent_plain", "ablation", "pcn")
LABELS = {"crhn": "CRHN", "crhn_continuous": "CRHN (continuous RHN)", "mhn": "MHN",
          "mhn_latent": "MHN (latent, Adam)", "mhn_latent_plain": "MHN (latent, Adam, no LayerNorms)",
          "ablation": "CRHN w/o RHN", "pcn": "PCN", "input": "input"}
BETAS = (1.0, 2.0, 3.0, 5.0, 10.0, 100.0, 1000.0)
ATTACKS = ("fgsm", "ffgsm", "bim", "pgd", "mifgsm", "nifgsm", "difgsm", "eotpgd")
VALIDATION_SEED = 9_999  # the β-validation corruptions only


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="tiny_imagenet", choices=["tiny_imagenet", "cifar10"])
    p.add_argument("--data-dir", default=os.environ.get("KERAS_HOPFIELD_DATA"),
                   help="data directory (default: $KERAS_HOPFIELD_DATA)")
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 250, 500], help="memory-set sizes")
    p.add_argument("--seeds", type=int, default=5, help="seeds (memory subsets + RHN inits) for sizes <= 100")
    p.add_argument("--big-seeds", type=int, default=5, help="seeds for sizes > 100")
    p.add_argument("--models", nargs="+", default=["crhn", "mhn", "ablation"], choices=MODELS)
    p.add_argument("--ae-data", default="train", choices=["train", "memory"],
                   help="what the CRHN's tied encoder-decoder is fitted to: the training split (once) or each "
                        "memory set itself (papers/003 §V-A: 'trained to memorize the selected samples')")
    p.add_argument("--memory-steps", type=int, default=1500,
                   help="Adam steps (batch 32) of each per-memory-set fit: the CRHN autoencoder with "
                        "--ae-data memory, and the latent MHN")
    p.add_argument("--mhn-lr", type=float, default=1e-3, help="Adam learning rate of the latent MHN")
    p.add_argument("--queries", type=int, default=100, help="stored images scored per corruption and set")
    p.add_argument("--attack-images", type=int, default=20, help="stored images attacked per set")
    p.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1, 0.3, 0.5], help="attack ε grid (L∞)")
    p.add_argument("--attacks", nargs="+", default=list(ATTACKS), choices=ATTACKS)
    p.add_argument("--steps", type=int, default=5, help="steps of the iterative attacks")
    p.add_argument("--filters", type=int, nargs="+", default=[16, 32], help="encoder channels (kernel 4, stride 2)")
    p.add_argument("--latent", type=int, default=512, help="binary latent size")
    p.add_argument("--hidden", type=int, default=256, help="RHN hidden units (one hidden layer)")
    p.add_argument("--target-activation", type=float, default=0.6,
                   help="ρ of the SRA targets (0.9, the layer default, stores few correlated image latents)")
    p.add_argument("--max-sweeps", type=int, default=20, help="SRA sweeps per memory set")
    p.add_argument("--max-steps", type=int, default=20, help="RHN retrieval steps")
    p.add_argument("--ae-images", type=int, default=1000, help="training images of the autoencoder / surrogate")
    p.add_argument("--ae-epochs", type=int, default=15)
    p.add_argument("--surrogate-epochs", type=int, default=3)
    p.add_argument("--pcn-width", type=int, default=256)
    p.add_argument("--pcn-epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run (tiny grid)")
    p.add_argument("--out", default=None, help="JSON folder (default docs/results; required with --quick)")
    p.add_argument("--figures", default=None, help="figure folder (default docs/figures; --out with --quick)")
    args = p.parse_args(argv)
    if args.quick:
        if args.out is None:
            p.error("--quick needs --out (quick runs never write into docs/)")
        args.sizes = [s for s in args.sizes if s <= 20] or [8, 16]
        args.seeds, args.big_seeds = 2, 1
        args.queries, args.attack_images = 8, 4
        args.eps, args.attacks, args.steps = [0.1, 0.5], ["fgsm", "pgd"], 2
        args.filters, args.latent, args.hidden = [4, 8], 64, 32
        args.max_sweeps, args.max_steps = 5, 5
        args.ae_images, args.ae_epochs, args.surrogate_epochs = 64, 1, 1
        args.memory_steps = 4
        args.pcn_width, args.pcn_epochs = 16, 3
    return args


# ---------------------------------------------------------------- conditions
def corruption_conditions(width):
    """(family, condition, strength, function(x, seed) -> corrupted) of the test corruptions."""
    from keras_hopfield import corruptions as C

    def occlusion(k):
        return lambda x, seed: C.occlude_columns(x, k, seed=seed)[0]

    out = [("clean", "clean", 0.0, lambda x, seed: x)]
    for paper_cols in (10, 50, 80):
        k = int(round(width * paper_cols / 96))
        out.append(("occlusion", f"occlusion {paper_cols}/96 ({k}/{width} cols)", k / width, occlusion(k)))
    for var in (0.05, 0.2, 1.0):
        out.append(("noise", f"noise var {var:g}", var, lambda x, seed, v=var: C.gaussian_noise(x, v, seed=seed)))
    for delta in (-0.3, -0.15, 0.3):
        out.append(("brightness", f"brightness {delta:+g}", delta, lambda x, seed, d=delta: C.adjust_brightness(x, d)))
    for factor in (0.5, 1.5):
        out.append(("contrast", f"contrast {factor:g}", factor, lambda x, seed, c=factor: C.adjust_contrast(x, c)))
    return out


def attack_params(name, steps, seed):
    return {
        "fgsm": {}, "ffgsm": {"seed": seed}, "bim": {"steps": steps}, "pgd": {"steps": steps, "seed": seed},
        "mifgsm": {"steps": steps}, "nifgsm": {"steps": steps}, "difgsm": {"steps": steps, "seed": seed},
        "eotpgd": {"steps": steps, "eot_iter": 2, "seed": seed},
    }[name]


# ---------------------------------------------------------------- statistics
def welch(a, b):
    """Welch's unequal-variance t-test, two-sided: (t, p). scipy when installed, else Welch–Satterthwaite + t CDF."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    try:
        from scipy import stats

        res = stats.ttest_ind(a, b, equal_var=False)
        return float(res.statistic), float(res.pvalue)
    except ImportError:  # pragma: no cover - scipy is installed in CI
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = math.sqrt(va + vb)
        if se == 0:
            return 0.0, 1.0
        t = (a.mean() - b.mean()) / se
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        # two-sided p from the regularised incomplete beta function, by a continued fraction
        return float(t), float(_betainc(df / 2, 0.5, df / (df + t * t)))


def _betainc(a, b, x, iters=200):  # pragma: no cover - fallback only
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x, iters)
    c, d, f = 1.0, 1.0 - (a + b) * x / (a + 1), 0.0
    d = 1.0 / (d if abs(d) > 1e-30 else 1e-30)
    f = d
    for m in range(1, iters):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > 1e-30 else 1e-30)
            c = 1.0 + num / c
            c = c if abs(c) > 1e-30 else 1e-30
            f *= d * c
    return math.exp(lbeta) * f / a


# ---------------------------------------------------------------- models
def mhn_keys(x):
    flat = x.reshape(len(x), -1).astype("float32") - 0.5
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)


def mhn_retrieve(queries, memory_images, beta):
    """One modern-Hopfield step over the stored images (cosine scores around mid-grey, stored images as values)."""
    from keras import ops

    from keras_hopfield.functional import hopfield_retrieve

    out, _, _, _ = hopfield_retrieve(
        mhn_keys(queries), mhn_keys(memory_images), beta,
        value=memory_images.reshape(len(memory_images), -1), max_steps=1,
    )
    return np.asarray(ops.convert_to_numpy(out), "float32").reshape(queries.shape)


def mse_per_image(x, y):
    return np.mean((np.asarray(x, "float64") - np.asarray(y, "float64")) ** 2, axis=(1, 2, 3))


def to_np(t):
    from keras import ops

    return np.asarray(ops.convert_to_numpy(t), "float32")


def batched(fn, x, batch=256):
    return np.concatenate([to_np(fn(x[i : i + batch])) for i in range(0, len(x), batch)], axis=0)


def epochs_for(steps, n_images, batch=32):
    """Epochs that give about `steps` optimiser steps on `n_images` images (at least one epoch)."""
    return max(1, int(round(steps / math.ceil(n_images / batch))))


def fit_crhn_autoencoder(images, args, seed, epochs):
    """A tied CRHN encoder/decoder fitted to `images` (stage 1), returned with its loss history."""
    import keras

    from keras_hopfield.layers.crhn import CRHNEncoder, RestrictedHopfieldMemory
    from keras_hopfield.models.crhn import CRHN

    encoder = CRHNEncoder(filters=tuple(args.filters), kernel_size=4, strides=2, latent_dim=args.latent,
                          kernel_initializer=keras.initializers.GlorotUniform(seed))
    crhn = CRHN(encoder, RestrictedHopfieldMemory(hidden_units=args.hidden, seed=seed))
    history = crhn.fit_autoencoder(images, optimizer=keras.optimizers.Adam(2e-3), epochs=epochs, batch_size=32,
                                   verbose=0)
    return encoder, [float(v) for v in history.history["loss"]]


def latent_mhn(images, args, seed, layer_norms=True):
    """The MHN baseline of papers/003 §III: a conv encoder, a Hopfield layer over the memory in latent
    space and a conv decoder, trained end to end with Adam to reconstruct the memory set.

    The Hopfield layer is `HopfieldLookup` (stored patterns and values are weights, one per stored
    image, as in `hflayers.HopfieldLayer`) with the defaults of `hflayers.Hopfield`: LayerNorms on the
    state, stored and value patterns, learned W_Q, W_K, W_V, W_O, one head, β = 1/√d
    (`layer_norms=False`: the same without the three LayerNorms).
    """
    import keras

    from keras_hopfield.layers import HopfieldLookup

    h, w, c = images.shape[1:]

    def init(k):
        return keras.initializers.GlorotUniform(1000 * seed + k)

    inputs = keras.Input((h, w, c))
    t = inputs
    for i, f in enumerate(args.filters):
        t = keras.layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", kernel_initializer=init(i))(t)
    shape = tuple(int(d) for d in t.shape[1:])
    t = keras.layers.Dense(args.latent, kernel_initializer=init(10))(keras.layers.Flatten()(t))
    norms = {} if layer_norms else {f"normalize_{k}{a}": False for k in ("query", "memory", "value") for a in ("", "_affine")}
    t = HopfieldLookup(memory_size=len(images), memory_initializer=init(11), kernel_initializer=init(12),
                       name="hopfield", **norms)(t)
    t = keras.layers.Dense(int(np.prod(shape)), activation="relu", kernel_initializer=init(13))(t)
    t = keras.layers.Reshape(shape)(t)
    channels = list(reversed(args.filters[:-1])) + [c]
    for i, f in enumerate(channels):
        last = i == len(channels) - 1
        t = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="sigmoid" if last else "relu",
                                         kernel_initializer=init(20 + i))(t)
    model = keras.Model(inputs, t, name="latent_mhn")
    model.compile(optimizer=keras.optimizers.Adam(args.mhn_lr), loss="mse")
    history = model.fit(images, images, batch_size=32, epochs=epochs_for(args.memory_steps, len(images)),
                        shuffle=True, verbose=0)
    return model, [float(v) for v in history.history["loss"]]


# ---------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_hopfield import attacks as A
    from keras_hopfield import datasets
    from keras_hopfield import plotting as P
    from keras_hopfield.layers.crhn import RestrictedHopfieldMemory

    out_dir, fig_dir = output_dirs(args)
    suffix = "" if args.dataset == "tiny_imagenet" else f"_{args.dataset}"  # file names: crhn_robustness<suffix>.json
    command = command_line("crhn_robustness.py", argv)
    start = time.time()
    timings = {}

    def log(msg):
        print(f"[{time.time() - start:6.0f}s] {msg}", flush=True)

    keras.utils.set_random_seed(args.seed)
    train, _ = datasets.load(args.dataset, "train", data_dir=args.data_dir, limit=args.ae_images)
    pool, _ = datasets.load(args.dataset, "test", data_dir=args.data_dir, limit=64 if args.quick else None)
    train, pool = train.astype("float32"), pool.astype("float32")
    sizes = sorted(set(args.sizes))
    if sizes[-1] > len(pool):
        sys.exit(f"memory size {sizes[-1]} > {len(pool)} test images of {args.dataset}")
    h, w, c = pool.shape[1:]
    log(f"{args.dataset}: {len(train)} training images, {len(pool)} candidate memory images {pool.shape[1:]}")

    # ------------------------------------------------ stage 1 (once): autoencoder and surrogate
    t = time.time()
    encoder, ae_loss = None, []
    if args.ae_data == "train":
        encoder, ae_loss = fit_crhn_autoencoder(train, args, args.seed, args.ae_epochs)
        log(f"CRHN autoencoder (training split): loss {ae_loss[0]:.4f} -> {ae_loss[-1]:.4f}")
    timings["autoencoder_fit"] = time.time() - t
    t = time.time()
    surrogate = A.train_surrogate_autoencoder(train, epochs=args.surrogate_epochs, batch_size=32,
                                              filters=(16, 32) if not args.quick else (4,), learning_rate=3e-3,
                                              seed=args.seed)
    timings["surrogate_fit"] = time.time() - t
    log(f"surrogate autoencoder trained ({timings['surrogate_fit']:.0f}s)")

    def encode(x, enc):
        return batched(enc.encode, x)

    def decode(z, enc):
        return batched(enc.decode, z)

    # ------------------------------------------------ memory sets: nested random subsets of the test split
    n_seeds = max(args.seeds, args.big_seeds)
    perms = [np.random.default_rng(args.seed + 1000 * s).permutation(len(pool)) for s in range(n_seeds)]

    def seeds_for(size):
        return args.seeds if size <= 100 else args.big_seeds

    conditions = corruption_conditions(w)
    n_query = min(args.queries, sizes[0])
    n_attack = min(args.attack_images, sizes[0])

    # Inputs per seed (shared by all sizes of that seed): corrupted queries and adversarial queries.
    t = time.time()
    inputs = {}  # (seed, condition) -> corrupted images
    meta = {}  # condition -> (kind, family, strength, attack)
    for s in range(n_seeds):
        q = pool[perms[s][:n_query]]
        for k, (family, name, strength, fn) in enumerate(conditions):
            inputs[(s, name)] = np.clip(to_np(fn(q, 100 * s + k)), 0.0, 1.0)
            meta[name] = ("corruption", family, strength, None)
    log("corrupted queries ready")
    # Adversarial queries of all seeds in one batch per attack and ε (the surrogate is shared).
    qa = np.concatenate([pool[perms[s][:n_attack]] for s in range(n_seeds)])
    for attack in args.attacks:
        for eps in args.eps:
            name = f"{attack} eps {eps:g}"
            adv = np.clip(to_np(A.transfer_attack(surrogate, qa, attack, eps=eps,
                                                  **attack_params(attack, args.steps, args.seed))), 0.0, 1.0)
            for s in range(n_seeds):
                inputs[(s, name)] = adv[s * n_attack : (s + 1) * n_attack]
            meta[name] = ("attack", "attack", eps, attack)
        log(f"{attack}: adversarial queries ready")
    timings["inputs"] = time.time() - t

    # With one autoencoder for every memory set, the latents of every input (and the ablation's
    # outputs) are shared by all sizes; with --ae-data memory they are computed per memory set below.
    t = time.time()
    outputs = {}  # (model, size, seed, condition) -> retrieved images
    shared_latents = {}
    if encoder is not None:
        shared_latents = {key: encode(x, encoder) for key, x in inputs.items()}
        if "ablation" in args.models:
            for key, z in shared_latents.items():
                ablation = decode(z, encoder)
                for size in sizes:
                    if key[0] < seeds_for(size):
                        outputs[("ablation", size) + key] = ablation
    timings["encode_and_ablation"] = time.time() - t

    # β of the MHN, per size, on validation corruptions of the seed-0 set (seed never used by the tests).
    betas, beta_table = {}, {}
    if "mhn" in args.models:
        from keras_hopfield import corruptions as C

        for size in sizes:
            memory = pool[perms[0][:size]]
            q = memory[:n_query]
            val = [np.clip(to_np(C.gaussian_noise(q, 0.2, seed=VALIDATION_SEED)), 0, 1),
                   np.clip(to_np(C.occlude_columns(q, int(round(w * 50 / 96)), seed=VALIDATION_SEED)[0]), 0, 1)]
            scores = {b: float(np.mean([mse_per_image(q, mhn_retrieve(v, memory, b)).mean() for v in val]))
                      for b in BETAS}
            betas[size] = min(scores, key=scores.get)
            beta_table[size] = scores
        log("MHN β (validation): " + ", ".join(f"{s}: {b:g}" for s, b in betas.items()))

    # ------------------------------------------------ stage 2 per memory set
    store_info, memory_fits = [], []
    t_store = t_retrieve = t_mhn = t_pcn = t_latent_mhn = t_memory_ae = 0.0
    for size in sizes:
        for s in range(seeds_for(size)):
            memory_images = pool[perms[s][:size]]
            keys = [k for k in inputs if k[0] == s]
            fit_record = {"size": size, "seed": s}
            if encoder is not None:
                enc, latents = encoder, shared_latents
            else:  # the tied encoder-decoder fitted to this memory set itself
                t = time.time()
                enc, loss = fit_crhn_autoencoder(memory_images, args, args.seed + 100 * s + size,
                                                 epochs_for(args.memory_steps, size))
                latents = {key: encode(inputs[key], enc) for key in keys}
                if "ablation" in args.models:
                    for key in keys:
                        outputs[("ablation", size) + key] = decode(latents[key], enc)
                fit_record.update(crhn_autoencoder_loss=loss[-1], crhn_autoencoder_epochs=len(loss),
                                  crhn_autoencoder_seconds=time.time() - t)
                t_memory_ae += time.time() - t
                log(f"size {size} seed {s}: CRHN autoencoder fitted to the memory set, loss {loss[-1]:.4f} "
                    f"({len(loss)} epochs, {time.time() - t:.0f}s)")
            if "crhn" in args.models:
                t = time.time()
                memory = RestrictedHopfieldMemory(hidden_units=args.hidden, max_steps=args.max_steps,
                                                  max_sweeps=args.max_sweeps, seed=args.seed + s,
                                                  target_activation=args.target_activation)
                z_mem = encode(memory_images, enc)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    info = memory.store(z_mem)
                retrieved_stored = np.sign(to_np(memory.retrieve(z_mem)))  # continuous dynamics: read the signs
                info.update(size=size, seed=s, bits_correct=float((retrieved_stored == z_mem).mean()),
                            fixed_fraction=info["fixed_points"] / size, seconds=time.time() - t)
                store_info.append(info)
                t_store += time.time() - t
                t = time.time()
                # One retrieval of all queries of the seed (one compiled loop on JAX), split afterwards.
                retrieved = decode(to_np(memory.retrieve(np.concatenate([latents[key] for key in keys]))), enc)
                offsets = np.cumsum([0] + [len(latents[key]) for key in keys])
                for key, a, b in zip(keys, offsets[:-1], offsets[1:]):
                    outputs[("crhn", size) + key] = retrieved[a:b]
                if "crhn_continuous" in args.models:  # the same stored RHN, continuous dynamics (v <- T(v))
                    other = RestrictedHopfieldMemory.from_config({**memory.get_config(), "dynamics": "continuous"})
                    other.build((None, z_mem.shape[1]))
                    other.set_weights(memory.get_weights())
                    retrieved = decode(to_np(other.retrieve(np.concatenate([latents[key] for key in keys]))), enc)
                    for key, a, b in zip(keys, offsets[:-1], offsets[1:]):
                        outputs[("crhn_continuous", size) + key] = retrieved[a:b]
                t_retrieve += time.time() - t
                log(f"size {size} seed {s}: CRHN stored {info['fixed_points']}/{size} exactly "
                    f"({100 * info['bits_correct']:.2f}% of bits), {info['sweeps']} sweeps, {info['seconds']:.1f}s")
            if "mhn" in args.models:
                t = time.time()
                for key in keys:
                    outputs[("mhn", size) + key] = mhn_retrieve(inputs[key], memory_images, betas[size])
                t_mhn += time.time() - t
            for key_model, norms in (("mhn_latent", True), ("mhn_latent_plain", False)):
                if key_model not in args.models:
                    continue
                t = time.time()
                model, loss = latent_mhn(memory_images, args, args.seed + 100 * s + size, layer_norms=norms)
                for key in keys:
                    outputs[(key_model, size) + key] = np.asarray(
                        model.predict(inputs[key], batch_size=256, verbose=0), "float32")
                fit_record.update({f"{key_model}_loss": loss[-1], f"{key_model}_epochs": len(loss),
                                   f"{key_model}_seconds": time.time() - t})
                t_latent_mhn += time.time() - t
                log(f"size {size} seed {s}: {LABELS[key_model]} trained, loss {loss[-1]:.4f} ({len(loss)} epochs, "
                    f"{time.time() - t:.0f}s)")
            memory_fits.append(fit_record)
            if "pcn" in args.models:
                from keras_hopfield.models.predictive_coding import (
                    PredictiveCodingMemory,
                )

                t = time.time()
                pcn = PredictiveCodingMemory(
                    widths=(args.pcn_width,), inference_steps=20, inference_rate=0.1, learning_rate=0.025 / size,
                    kernel_initializer=keras.initializers.RandomNormal(stddev=0.001, seed=args.seed + s),
                    value_init_stddev=0.5, seed=args.seed + s,
                )
                pcn.fit_memory(memory_images, epochs=args.pcn_epochs, verbose=0)
                for key in keys:
                    outputs[("pcn", size) + key] = np.asarray(pcn.retrieve_noisy(inputs[key], iterations=5), "float32")
                t_pcn += time.time() - t
                log(f"size {size} seed {s}: PCN trained and queried ({time.time() - t:.0f}s)")
    timings.update(crhn_store=t_store, crhn_retrieve=t_retrieve, mhn=t_mhn, pcn=t_pcn, latent_mhn=t_latent_mhn,
                   memory_autoencoders=t_memory_ae)

    # ------------------------------------------------ scores
    models = [m for m in MODELS if m in args.models]
    records, tests = [], []
    cond_names = list(meta)
    for size in sizes:
        n_s = seeds_for(size)
        for name in cond_names:
            kind, family, strength, attack = meta[name]
            n_img = n_query if kind == "corruption" else n_attack
            errors = {}
            for model in models + ["input"]:
                per_seed = []
                for s in range(n_s):
                    clean = pool[perms[s][:n_img]]
                    out = inputs[(s, name)] if model == "input" else outputs[(model, size, s, name)]
                    per_seed.append(mse_per_image(clean, out))
                errors[model] = np.concatenate(per_seed)
                seed_means = [float(e.mean()) for e in per_seed]
                records.append({
                    "kind": kind, "family": family, "condition": name, "attack": attack, "strength": strength,
                    "size": size, "model": LABELS[model], "model_key": model, "n_images": int(len(errors[model])),
                    "n_seeds": n_s, "mse_mean": float(errors[model].mean()), "mse_std": float(errors[model].std()),
                    "mse_seed_std": float(np.std(seed_means)), "mse_seed_means": seed_means,
                })
            if "crhn" in models:
                for model in models:
                    if model == "crhn":
                        continue
                    tstat, pval = welch(errors["crhn"], errors[model])
                    tests.append({
                        "condition": name, "family": family, "size": size, "baseline": LABELS[model],
                        "crhn_mse": float(errors["crhn"].mean()), "baseline_mse": float(errors[model].mean()),
                        "t": tstat, "p": pval, "crhn_lower": bool(errors["crhn"].mean() < errors[model].mean()),
                        "significant": bool(pval < 0.05),
                    })

    summary = {}
    for test in tests:
        key = f"{test['baseline']} @ {test['size']}"
        row = summary.setdefault(key, {"conditions": 0, "crhn_significantly_lower": 0,
                                       "crhn_significantly_higher": 0, "not_significant": 0})
        row["conditions"] += 1
        if not test["significant"]:
            row["not_significant"] += 1
        elif test["crhn_lower"]:
            row["crhn_significantly_lower"] += 1
        else:
            row["crhn_significantly_higher"] += 1

    # ------------------------------------------------ figures
    figures = {}
    series_models = [LABELS[m] for m in models]
    for family in ("clean", "occlusion", "noise", "brightness", "contrast", "attack"):
        rows = [r for r in records if r["family"] == family and r["model"] in series_models]
        if family == "attack":
            eps_show = min(args.eps, key=lambda e: abs(e - 0.1))
            rows = [dict(r, condition=r["attack"]) for r in rows if r["strength"] == eps_show]
            title = f"MSE vs memory size: transferred attacks at ε = {eps_show:g}"
        else:
            title = f"MSE vs memory size: {family}"
        if not rows:
            continue
        fig = P.plot_robustness_grid(rows, metric="mse", group_key="condition", strength_key="size",
                                     ncols=4, logy=True, title=title)
        for ax in fig.axes:
            ax.set_xlabel("memory size", fontsize=8)
        figures[f"size_{family}"] = P.save_figure(fig, fig_dir / f"crhn_size_{family}{suffix}.png", dpi=80)
    grid_size = 100 if 100 in sizes else sizes[-1]
    rows = [dict(r, condition=r["attack"]) for r in records
            if r["kind"] == "attack" and r["size"] == grid_size and r["model"] in series_models + ["input"]]
    if rows:
        fig = P.plot_robustness_grid(rows, metric="mse", group_key="condition", ncols=4, logy=True,
                                     title=f"MSE vs ε of transferred attacks (memory size {grid_size})")
        for ax in fig.axes:
            ax.set_xlabel("ε", fontsize=8)
        figures["attacks"] = P.save_figure(fig, fig_dir / f"crhn_attacks{suffix}.png", dpi=80)
    show_size = sizes[-1]
    occl = [n for n in cond_names if meta[n][1] == "occlusion"][1]
    noise = [n for n in cond_names if meta[n][1] == "noise"][1]
    bright = [n for n in cond_names if meta[n][1] == "brightness"][0]
    attack_names = [n for n in cond_names if meta[n][0] == "attack"]
    pgd = [n for n in attack_names if meta[n][3] == "pgd"] or attack_names
    adv = min(pgd, key=lambda n: abs(meta[n][2] - 0.3)) if pgd else None
    n_show = min(6, n_attack)
    rows_img, labels = [pool[perms[0][:n_show]]], ["original"]
    for name in [occl, noise, bright] + ([adv] if adv else []):
        rows_img.append(inputs[(0, name)][:n_show])
        labels.append(name.split(" (")[0])
        for model in models:
            rows_img.append(np.clip(outputs[(model, show_size, 0, name)][:n_show], 0, 1))
            labels.append(f"→ {LABELS[model]}")
    fig = P.image_grid(rows_img, labels, n=n_show, scale=0.9,
                       title=f"Retrievals from a memory of {show_size} images (seed 0)")
    figures["examples"] = P.save_figure(fig, fig_dir / f"crhn_examples{suffix}.png", dpi=80)

    # ------------------------------------------------ report
    result = {
        "command": command, "backend": keras.backend.backend(), "quick": args.quick,
        "dataset": args.dataset, "image_shape": [h, w, c],
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "figures", "data_dir", "quick")},
        "seeds_per_size": {str(s): seeds_for(s) for s in sizes},
        "queries_per_set": {"corruptions": n_query, "attacks": n_attack},
        "autoencoder_loss": ae_loss, "mhn_beta": {str(k): v for k, v in betas.items()},
        "mhn_beta_validation_mse": {str(k): {str(b): v for b, v in t.items()} for k, t in beta_table.items()},
        "crhn_store": store_info, "memory_fits": memory_fits, "records": records, "welch": tests, "summary": summary,
        "figures": figures, "timings": timings, "seconds": time.time() - start,
    }
    path = out_dir / f"crhn_robustness{suffix}.json"
    path.write_text(json.dumps(result, indent=1))

    print(f"\nMSE mean over images (± std), memory size {sizes[-1]} — * p<0.05 Welch vs CRHN")
    header = f"{'condition':34s}" + "".join(f"{LABELS[m]:>22s}" for m in models)
    print(header)
    by = {(r["condition"], r["size"], r["model_key"]): r for r in records}
    sig = {(t["condition"], t["size"], t["baseline"]): t for t in tests}
    for name in cond_names:
        cells = []
        for m in models:
            r = by[(name, sizes[-1], m)]
            mark = ""
            if m != "crhn" and (name, sizes[-1], LABELS[m]) in sig:
                mark = "*" if sig[(name, sizes[-1], LABELS[m])]["significant"] else " "
            cells.append(f"{r['mse_mean']:.4f}±{r['mse_std']:.4f}{mark:1s}".rjust(22))
        print(f"{name[:34]:34s}" + "".join(cells))
    for key, row in summary.items():
        print(f"CRHN vs {key}: lower in {row['crhn_significantly_lower']}, higher in "
              f"{row['crhn_significantly_higher']}, n.s. in {row['not_significant']} of {row['conditions']} conditions")
    print(f"wrote {path} and {len(figures)} figures in {result['seconds']:.0f}s")
    return result


if __name__ == "__main__":
    main()
