import os

import keras
import numpy as np
import pytest


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}, KERAS_HOPFIELD_DATA={os.environ.get('KERAS_HOPFIELD_DATA')}"


def pytest_collection_modifyitems(config, items):
    # Every test that reads the local data directory is a real-data test, so that
    # `-m real_data` (CI's run with the data) selects all of them and
    # `-m "not real_data"` none.
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)


@pytest.fixture(autouse=True)
def _seeded_global_rngs():
    """Every test starts from the same global RNG state (Python, NumPy, the backend,
    Keras's unseeded initialisers), so no outcome depends on which tests ran before
    it in the same worker (`-n 2` splits the suite differently from run to run)."""
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def data_dir():
    """The local data directory; tests that need real data skip only when it is unset."""
    path = os.environ.get("KERAS_HOPFIELD_DATA")
    if not path:
        pytest.skip("KERAS_HOPFIELD_DATA is unset (fresh machine without local data)")
    if not os.path.isdir(path):
        pytest.fail(
            f"KERAS_HOPFIELD_DATA={path!r} is not a directory; point it at the local data "
            "directory (e.g. ../shared/datasets) or unset it to skip the real-data tests"
        )
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
