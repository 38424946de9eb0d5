"""The package builds as a wheel and an sdist, and the wheel alone works in a fresh virtual environment."""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import keras
import pytest

import keras_hopfield

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, pkgutil, sys
import numpy as np
import keras_hopfield as kh
assert kh.__file__.startswith(sys.prefix), kh.__file__          # the wheel, not the checkout
for module in pkgutil.walk_packages(kh.__path__, "keras_hopfield."):
    importlib.import_module(module.name)                           # every module imports
missing = [name for name in kh.__all__ if getattr(kh, name, None) is None]
assert not missing, missing
stored = np.random.default_rng(0).normal(size=(50, 32)).astype("float32")
out = kh.HopfieldRetrieval.pure(beta=8.0, max_steps=3)(stored[:4] + 0.3, stored)
print("retrieval error", float(np.abs(np.asarray(out) - stored[:4]).max()), kh.__version__)
"""


def _run(args, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_version_is_the_packages():
    assert keras_hopfield.__version__ == "0.1.0.dev0"
    assert f'version = "{keras_hopfield.__version__}"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="packaging does not depend on the backend: once, in the TensorFlow run")
def test_wheel_installs_into_a_fresh_venv_and_retrieves(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)])
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "keras_hopfield/layers/retrieval.py" in names and any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "examples/", "docs/")) for n in names)  # the library only
    with tarfile.open(sdist) as t:
        assert any(n.endswith("/README.md") for n in t.getnames())
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])  # no system site-packages: only what the wheel asks for
    python = venv / "bin" / "python"
    # The wheel's own dependencies (keras, numpy), plus one backend for Keras to run on.
    _run([str(python), "-m", "pip", "install", "-q", str(wheel), "torch==2.13.0"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    proc = _run([str(python), "-c", CHECK], cwd=tmp_path, env={**env, "KERAS_BACKEND": "torch"})
    error = float(proc.stdout.split("retrieval error ")[1].split()[0])
    assert error < 1e-3, proc.stdout  # the noisy queries come back as the stored patterns
