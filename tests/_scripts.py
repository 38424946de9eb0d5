"""Runs an example or benchmark script as a subprocess on the current Keras backend (smoke tests),
or imports an example's helpers into the test process."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BENCHMARKS = EXAMPLES.parent / "benchmarks"


def load_example(filename, folder=EXAMPLES):
    """Import `examples/<filename>` (or `<folder>/<filename>`) as a module (its `main` is not run)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # scripts import their siblings (`_common`, `_harness`)
    spec = importlib.util.spec_from_file_location(f"{folder.name}_{Path(filename).stem}", folder / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(args, tmp_path, timeout=170):
    """Run `python *args` in `tmp_path` with the current `KERAS_BACKEND`; assert it exits 0.

    A subprocess, so a broken script cannot leave global Keras state behind;
    one thread per BLAS so the run does not compete with pytest-xdist workers.
    """
    env = dict(os.environ)
    env["KERAS_BACKEND"] = keras.backend.backend()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run(
        [sys.executable] + args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc
