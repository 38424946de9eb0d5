"""Helpers shared by the example scripts.

The examples run as `python examples/<name>.py`, so this folder is on
`sys.path` and they import it as `_common`.
"""

import argparse
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command_line(script, argv=None):
    """Prints and returns the command that reproduces this run (it goes into the result JSON).

    Args:
        script: File name of the example, e.g. `"cban_mnist.py"`.
        argv: The arguments `main` was called with; `None` means `sys.argv[1:]`.
    """
    import keras  # after the script has set up its backend

    args = sys.argv[1:] if argv is None else list(argv)
    command = f"KERAS_BACKEND={keras.backend.backend()} python examples/{script} " + " ".join(
        shlex.quote(a) for a in args
    )
    command = command.strip()
    print("command:", command, flush=True)
    return command


def output_dirs(args):
    """The JSON and figure folders of a run, created: `--out` / `--figures`, else docs/results and docs/figures.

    A `--quick` run without `--figures` puts its figures next to its JSON.
    """
    out_dir = Path(args.out or REPO / "docs" / "results")
    figures = Path(args.figures or (out_dir if args.quick else REPO / "docs" / "figures"))
    out_dir.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    return out_dir, figures


def _nonnegative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text):
    """An argparse `type`: a float > 0 (otherwise an argument error naming the option)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def open_unit_float(text):
    """An argparse `type`: a float in the open interval (0, 1), e.g. a leaky-sigmoid slope."""
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def add_lr_decay_argument(parser, note=""):
    """Adds `--lr-decay-every N` (default 0 = constant rate); negative values are an argument error."""
    parser.add_argument("--lr-decay-every", type=_nonnegative_int, default=0,
                        help=f"divide the learning rate by 10 every this many epochs ({note}0 = constant)")


def apply_lr_decay(optimizer, lr, epoch, every):
    """Sets the step schedule's rate for `epoch` (0-based): `lr / 10**(epoch // every)`; no-op when `every` is 0."""
    if every:
        optimizer.learning_rate.assign(lr * 0.1 ** (epoch // every))


def lr_decay_note(every):
    """The schedule as it is written into a result JSON's `optimizer` field ("" for a constant rate)."""
    return f", /10 every {every} epochs" if every else ""
