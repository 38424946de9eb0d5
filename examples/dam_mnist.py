"""Dense associative memory MNIST classifier (Krotov & Hopfield 2016, papers/002 App. A).

K memories with visible (784) and label (10) components, trained in the dual
feed-forward form with `KrotovOptimizer` (per-memory normalised updates, momentum,
ε₀ fᵉ decay, clipping to [−1, 1]), `PowerLoss` (Σ|c − t|^{2m}) and the temperature
annealed with `TemperatureAnnealing`.

Model selection uses a validation split carved from the training set (the last
`--val` training images); the test split is only evaluated at the end, once.

Examples:
    # CI-size smoke run (a few seconds)
    python examples/dam_mnist.py --quick
    # the documented runs (see docs/classical.md for the measured numbers)
    nice python examples/dam_mnist.py --degree 3 --epochs 60 --out docs/results/dam_mnist_n3.json
"""

import argparse
import json
import os
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(
        os.environ.get("KERAS_HOPFIELD_DATA", "/work/shared/datasets"), "mnist", "mnist.npz"))
    p.add_argument("--degree", type=int, default=3, help="n of the rectified polynomial F_n")
    p.add_argument("--memories", type=int, default=2000, help="K")
    p.add_argument("--power", type=int, default=None, help="m of the power loss (default: 3 for n<10, 30 otherwise)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.02, help="epsilon_0")
    p.add_argument("--decay", type=float, default=0.95, help="f, per epoch")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--t-initial", type=float, default=None, help="T_i (default: 400 for n<10, 540 otherwise)")
    p.add_argument("--t-final", type=float, default=None, help="T_f (default: 70 for n<10, 540 otherwise)")
    p.add_argument("--anneal-epochs", type=int, default=None, help="ramp length (default: epochs // 3)")
    p.add_argument("--form", default="linear", choices=["linear", "exact"])
    p.add_argument("--val", type=int, default=10000, help="validation images taken from the training split")
    p.add_argument("--train-limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--test", action="store_true", help="evaluate on the test split at the end")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny CI-size run")
    p.add_argument("--out", default=None, help="write a JSON summary here")
    p.add_argument("--save-memories", default=None, help="write the learned memories (.npy) here")
    p.add_argument("--plot-memories", nargs="+", default=None, metavar="LABEL=PATH.npy",
                   help="only plot a sample of saved memories (no training), e.g. n=3=/tmp/mem_n3.npy")
    p.add_argument("--plot-out", default="docs/figures/dam_mnist_memories.png")
    p.add_argument("--plot-history", nargs="+", default=None, metavar="SUMMARY.json",
                   help="only plot validation error vs epoch of saved --out summaries (no training)")
    return p.parse_args(argv)


def load_mnist(path):
    with np.load(path) as d:
        return d["x_train"], d["y_train"], d["x_test"], d["y_test"]


def to_visible(x):
    """uint8 images -> visible units in [-1, 1]."""
    return (x.reshape(len(x), -1).astype("float32") / 127.5 - 1.0)


def plot_memories(items, path, per_row=10, rows=2, seed=0):
    """Grid of the visible part (28x28) of randomly chosen memories, one block per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows * len(items), per_row, figsize=(per_row * 0.75, rows * len(items) * 0.8))
    axes = np.atleast_2d(axes)
    for block, item in enumerate(items):
        label, path_npy = item.split("=", 1) if "=" in item else (item, item)
        if "=" in path_npy:  # "n=3=/path" -> label "n=3"
            extra, path_npy = path_npy.split("=", 1)
            label = f"{label}={extra}"
        memories = np.load(path_npy)
        pick = np.random.default_rng(seed).choice(len(memories), size=per_row * rows, replace=False)
        for j, idx in enumerate(pick):
            ax = axes[block * rows + j // per_row, j % per_row]
            ax.imshow(memories[idx, :784].reshape(28, 28), cmap="bwr", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[block * rows, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("random sample of learned memories (visible part; red +1, blue -1)", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)


def plot_history(paths, path):
    """Validation error vs epoch of several runs (from their JSON summaries)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for p in paths:
        with open(p) as f:
            s = json.load(f)
        epochs = [h["epoch"] for h in s["history"]]
        ax.plot(epochs, [100 * h["val_error"] for h in s["history"]], label=f"n={s['degree']}, m={s['power_m']}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation error (%)")
    ax.set_title("DAM on MNIST, K=2000 (validation = 10k of train)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.plot_history:
        plot_history(args.plot_history, args.plot_out)
        return None
    if args.plot_memories:
        plot_memories(args.plot_memories, args.plot_out)
        return None
    if args.quick:
        args.memories, args.epochs, args.val, args.batch_size = 100, 3, 500, 50
        args.t_initial, args.t_final = args.t_initial or 150.0, args.t_final or 100.0
        args.anneal_epochs = args.anneal_epochs or 10
        args.train_limit = args.train_limit or 5000
        args.test = True
    n = args.degree
    power = args.power or (3 if n < 10 else 30)
    t_i = args.t_initial or (400.0 if n < 10 else 540.0)
    t_f = args.t_final or (70.0 if n < 10 else 540.0)
    ramp = args.anneal_epochs or max(1, args.epochs // 3)

    import keras

    from keras_hopfield.callbacks import TemperatureAnnealing
    from keras_hopfield.layers.dense_memory import DenseAssociativeMemory
    from keras_hopfield.losses import PowerLoss
    from keras_hopfield.optimizers import KrotovOptimizer

    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = load_mnist(args.data)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x_train))
    val_idx, train_idx = order[: args.val], order[args.val:]
    if args.train_limit:
        train_idx = train_idx[: args.train_limit]
    x_tr, y_tr = to_visible(x_train[train_idx]), y_train[train_idx]
    x_val, y_val = to_visible(x_train[val_idx]), y_train[val_idx]
    y_tr_onehot = np.eye(10, dtype="float32")[y_tr]

    steps = int(np.ceil(len(x_tr) / args.batch_size))
    layer = DenseAssociativeMemory(
        args.memories, degree=n, interaction="rectified", temperature=t_i,
        num_labels=10, mode="classifier", classifier_form=args.form, seed=args.seed,
    )
    model = keras.Sequential([keras.Input((784,)), layer])
    model.compile(
        optimizer=KrotovOptimizer(args.lr, decay=args.decay, steps_per_epoch=steps, momentum=args.momentum),
        loss=PowerLoss(power),
    )

    def error(x, y):
        pred = model.predict(x, batch_size=1000, verbose=0)
        return float(np.mean(np.argmax(pred, axis=-1) != y))

    anneal = TemperatureAnnealing(t_i, t_f, epochs=ramp, layers=[layer])
    history = []
    start = time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        h = model.fit(x_tr, y_tr_onehot, batch_size=args.batch_size, initial_epoch=epoch,
                      epochs=epoch + 1, verbose=0, callbacks=[anneal], shuffle=True)
        val_err = error(x_val, y_val) if len(x_val) else float("nan")
        history.append({"epoch": epoch + 1, "loss": float(h.history["loss"][-1]),
                        "temperature": anneal.current_temperature, "val_error": val_err,
                        "seconds": time.time() - t0})
        print(f"epoch {epoch + 1:4d} loss {history[-1]['loss']:.4f} T {anneal.current_temperature:6.1f} "
              f"val_err {val_err:.4f} ({time.time() - t0:.1f}s)", flush=True)
    train_seconds = time.time() - start
    summary = {
        "backend": keras.backend.backend(), "degree": n, "memories": args.memories, "power_m": power,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "decay": args.decay,
        "momentum": args.momentum, "t_initial": t_i, "t_final": t_f, "anneal_epochs": ramp,
        "form": args.form, "train_size": len(x_tr), "val_size": len(x_val),
        "train_seconds": train_seconds, "final_val_error": history[-1]["val_error"],
        "history": history,
    }
    if args.test:
        summary["test_error"] = error(to_visible(x_test), y_test)
        print(f"test error {summary['test_error']:.4f}")
    print(f"trained {args.epochs} epochs in {train_seconds:.0f}s; final val error {summary['final_val_error']:.4f}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    if args.save_memories:
        os.makedirs(os.path.dirname(os.path.abspath(args.save_memories)), exist_ok=True)
        np.save(args.save_memories, keras.ops.convert_to_numpy(layer.memories))
    return summary


if __name__ == "__main__":
    main()
