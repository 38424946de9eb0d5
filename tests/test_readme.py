"""The README's code runs as written (fewer epochs) and learns."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_trains():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0].replace("epochs=10", "epochs=4").replace("verbose=2", "verbose=0")
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    history = namespace["model"].history.history
    assert np.isfinite(history["val_loss"]).all()
    # Retrieval beats the noise (MSE 1.0) and improves with training.
    assert history["val_loss"][-1] < 0.8
    assert history["val_loss"][-1] < history["val_loss"][0]
