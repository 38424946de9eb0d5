"""Tests for keras_hopfield.plotting (skipped without matplotlib)."""

import sys

import numpy as np
import pytest
from keras import ops

pytest.importorskip("matplotlib")

from keras_hopfield import plotting as P  # noqa: E402


@pytest.fixture
def batch(rng):
    return rng.uniform(size=(5, 8, 8, 1)).astype("float32")


def test_image_grid_layout_and_red_masked_pixels(batch):
    known = np.ones_like(batch, dtype=bool)
    known[:, :4] = False  # top half obscured
    fig = P.retrieval_grid(batch, np.where(known, batch, 0.0), batch, known=known, n=4)
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    corrupted_img = fig.axes[4].images[0].get_array()  # row 2, column 1
    assert corrupted_img.shape == (8, 8, 3)
    np.testing.assert_allclose(corrupted_img[:4].reshape(-1, 3), [[1.0, 0.0, 0.0]] * 32)  # red
    np.testing.assert_allclose(corrupted_img[4:, :, 0], batch[0, 4:, :, 0], rtol=1e-6)  # gray kept
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[8].get_ylabel() == "retrieved"


def test_image_grid_accepts_dicts_tensors_and_rgb(rng):
    rgb = ops.convert_to_tensor(rng.uniform(size=(3, 6, 6, 3)).astype("float32"))
    fig = P.image_grid({"a": rgb, "b": rgb}, n=10)  # n is capped at the batch size
    assert len(fig.axes) == 6
    with pytest.raises(ValueError):
        P.image_grid([rgb], masks=[None, None])
    with pytest.raises(ValueError):
        P.image_grid([np.zeros((2, 4, 4, 2))])


def test_energy_and_convergence_curves():
    steps = np.arange(10.0)
    energies = -np.log1p(steps)[:, None] + np.linspace(0, 0.1, 4)[None]  # (T, N)
    fig = P.plot_energy(energies)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 1  # mean curve + std band
    np.testing.assert_allclose(ax.lines[0].get_ydata(), energies.mean(axis=1))
    fig = P.plot_energy({"a": energies, "b": energies[:, 0]})
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_legend() is not None
    traj = np.cumsum(0.5 ** np.arange(6))[:, None, None] * np.ones((6, 3, 4))
    dist = P.convergence_distances(traj)
    assert dist.shape == (5, 3)
    np.testing.assert_allclose(dist[:, 0], 2.0 * 0.5 ** np.arange(1, 6))
    fig = P.plot_convergence(dist)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError):
        P.convergence_distances(traj[:1])


def test_metric_vs_strength_has_error_bars():
    fig = P.plot_metric_vs_strength(
        {"m1": ([0.1, 0.2, 0.3], [0.01, 0.02, 0.04], [0.001, 0.002, 0.004]),
         "m2": {"strength": [0.1, 0.2], "mean": [0.02, 0.03]}},
        ylabel="MSE",
    )
    ax = fig.axes[0]
    assert len(ax.containers) == 2  # two errorbar containers
    assert ax.containers[0].has_yerr and not ax.containers[1].has_yerr
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.01, 0.02, 0.04])


def test_robustness_grid_one_panel_per_perturbation(tmp_path):
    records = [
        {"perturbation": p, "model": m, "strength": s, "mse_mean": s * k, "mse_std": 0.01}
        for p in ("fgsm", "pgd", "bim", "noise", "contrast")
        for k, m in enumerate(("memory", "surrogate"), start=1)
        for s in (0.0, 0.1, 0.2)
    ]
    fig = P.plot_robustness_grid(records, ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["fgsm", "pgd", "bim", "noise", "contrast"]
    assert all(len(ax.containers) == 2 for ax in visible)
    path = P.save_figure(fig, tmp_path / "sub" / "grid.png", dpi=60)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        P.plot_robustness_grid(records, metric="ssim")
    with pytest.raises(ValueError):
        P.plot_robustness_grid([])


def test_missing_matplotlib_gives_install_hint(monkeypatch, batch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r'pip install "keras-hopfield\[plots\]"'):
        P.image_grid([batch])


def test_plotting_does_not_touch_pyplot_state(batch):
    import matplotlib

    before = matplotlib.get_backend() if "matplotlib.pyplot" in sys.modules else None
    P.image_grid([batch])
    if before is not None:
        assert matplotlib.get_backend() == before
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # figures are not registered with pyplot
