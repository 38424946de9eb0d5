import os

import numpy as np
import pytest


def pytest_report_header(config):
    import keras

    return f"keras {keras.__version__}, backend {keras.backend.backend()}, KERAS_HOPFIELD_DATA={os.environ.get('KERAS_HOPFIELD_DATA')}"


@pytest.fixture
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
