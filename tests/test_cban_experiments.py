"""Smoke tests of the CBAN experiment scripts (papers/001 §4.2–4.5): one `--quick` run each."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_hopfield.layers.cban import CONV_KERNEL_STD
from tests._scripts import load_example, run_script

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.real_data




def _script(name, tmp_path, data_dir, *extra):
    out = tmp_path / "out"
    proc = run_script(
        [str(REPO / "examples" / name), "--quick", "--out", str(out), "--data-dir", data_dir, *extra],
        tmp_path,
        timeout=300,  # generous: ~25 s each on an idle machine, much more on a busy shared one
    )
    assert "command:" in proc.stdout
    return out


def _finite(x, lo=-math.inf, hi=math.inf):
    return isinstance(x, (int, float)) and math.isfinite(x) and lo <= x <= hi


def test_mnist_example_quick(tmp_path, data_dir):
    out = _script("cban_mnist.py", tmp_path, data_dir)
    result = json.loads((out / "cban_mnist_sgd-linf.json").read_text())
    assert result["backend"] == keras.backend.backend() and result["quick"]
    assert "python examples/cban_mnist.py" in result["command"]
    for key in ("test_acc_perlin", "test_acc_unmasked", "val_acc_perlin"):
        assert _finite(result[key], 0.0, 1.0)
    assert _finite(result["test_mse_hidden_pixels"], 0.0, 1.0)
    assert _finite(result["settle_steps_perlin"], 1, 100)
    assert result["scaling"]["n_train"] == 300
    assert Path(result["figure"]).is_file()


def test_mnist_example_learning_rate_steps_down(tmp_path, data_dir):
    out = _script("cban_mnist.py", tmp_path, data_dir, "--epochs", "2", "--lr-decay-every", "1")
    result = json.loads((out / "cban_mnist_sgd-linf.json").read_text())
    assert [h["lr"] for h in result["history"]] == pytest.approx([0.01, 0.001])
    assert "/10 every 1 epochs" in result["optimizer"]


def test_completion_example_options(tmp_path, data_dir):
    out = _script("cban_completion.py", tmp_path, data_dir, "--dataset", "omniglot", "--models", "cban",
                  "--kernel-std", "1e-4", "--replicate-visible", "--activation", "leaky_sigmoid", "--alpha", "0.3")
    result = json.loads((out / "cban_completion_omniglot.json").read_text())
    assert result["scaling"]["kernel_init_std"] == pytest.approx(1e-4)
    assert result["scaling"]["replicate_visible"] is True
    assert result["scaling"]["activation"] == "leaky_sigmoid (alpha 0.3)"
    assert "--kernel-std 1e-4 --replicate-visible --activation leaky_sigmoid --alpha 0.3" in result["command"]
    assert _finite(result["models"]["cban"]["psnr_mean"], 0.0, 100.0)


def _cban_args(**overrides):
    """The options `build_cban` and `complete` of examples/cban_completion.py read, with small defaults."""
    import argparse

    defaults = dict(channels=[8, 16, 16], kernel_std=None, max_steps=5, max_train_steps=3, td_horizon=None,
                    replicate_visible=False, activation="tanh", alpha=0.2)
    return argparse.Namespace(**{**defaults, **overrides})


def test_completion_replicated_visible_keeps_known_pixels():
    import numpy as np

    example = load_example("cban_completion.py")
    args = _cban_args(channels=[4, 8, 8], max_steps=4, max_train_steps=2, replicate_visible=True, eval_batch=3)
    model = example.build_cban("cban", (8, 8, 3), args)
    assert model.layer_shapes[0] == (None, 8, 8, 6)  # clamped input copy + free output copy
    assert tuple(model.blocks[0].kernel.shape) == (3, 3, 6, 4)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, 8, 8, 3)).astype("float32")
    known = (rng.uniform(size=(5, 8, 8, 1)) < 0.6).astype("float32")
    completion, steps = example.complete("cban", model, images, known, args)
    assert completion.shape == images.shape and steps.shape == (5,)
    kept = np.broadcast_to(known > 0, images.shape)
    np.testing.assert_allclose(completion[kept], images[kept], atol=1e-6)
    # The hidden pixels come from the settled output copy (the model's read-out).
    readout = model.settle((example.to_state(images) * known, known), max_steps=args.max_steps)["completion"]
    readout = example.to_image(keras.ops.convert_to_numpy(readout))
    np.testing.assert_allclose(completion[~kept], readout[~kept], atol=1e-6)


@pytest.mark.parametrize("kind", ["cban", "cban_asym"])
@pytest.mark.parametrize("std", [None, 1e-4])
def test_completion_kernel_std_sets_every_kernel(kind, std):
    import numpy as np

    args = _cban_args(kernel_std=std)
    model = load_example("cban_completion.py").build_cban(kind, (32, 32, 3), args)
    kernels = [w for w in model.weights if w.path.endswith("kernel")]
    assert len(kernels) == (6 if kind == "cban_asym" else 3)  # up (and down) kernel of each block
    expected = CONV_KERNEL_STD if std is None else std  # None: CBANBlock's default
    for w in kernels:
        assert np.std(keras.ops.convert_to_numpy(w)) == pytest.approx(expected, rel=0.25), w.path


@pytest.mark.parametrize(
    "script, option, value, message",
    [
        ("cban_mnist.py", "--lr-decay-every", "-1", "argument --lr-decay-every: must be >= 0, got -1"),
        ("cban_completion.py", "--lr-decay-every", "-1", "argument --lr-decay-every: must be >= 0, got -1"),
        ("cban_completion.py", "--kernel-std", "0", "argument --kernel-std: must be > 0, got 0.0"),
        ("cban_completion.py", "--alpha", "1", "argument --alpha: must be in (0, 1), got 1.0"),
        ("cban_completion.py", "--alpha", "0", "argument --alpha: must be in (0, 1), got 0.0"),
        ("cban_completion.py", "--activation", "relu", "argument --activation: invalid choice: 'relu'"),
    ],
)
def test_bad_example_options_are_argument_errors(tmp_path, script, option, value, message):
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / script), "--quick", "--out", str(tmp_path), option, value],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_completion_defaults_follow_the_paper():
    example = load_example("cban_completion.py")
    # Settle to convergence (θ = 0.01, at most 100 iterations) in training and at test time, plain TD(1).
    assert example.DEFAULT_MAX_TRAIN_STEPS == example.DEFAULT_MAX_STEPS == 100
    model = example.build_cban("cban", (8, 8, 1), _cban_args(max_steps=100, max_train_steps=100))
    assert model.td_horizon is None and model.tolerance == 0.01 and model.training_mode == "td1"


def test_cd_vae_takes_the_masked_image_and_adds_the_kl_term():
    import argparse

    import numpy as np

    example = load_example("cban_completion.py")
    model = example.build_cd_vae((8, 8, 1), argparse.Namespace(channels=[4, 8, 8], vae_latent=2, seed=0))
    assert model.input_shape == (None, 8, 8, 1)  # the masked image only, no mask channel
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype("float32")
    model(x, training=True)
    assert len(model.losses) == 1 and float(keras.ops.convert_to_numpy(model.losses[0])) >= 0.0  # the KL term
    # Completions decode the posterior mean: deterministic outside training.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(model(x)))
    err = example.summed_squared_error(x, np.zeros_like(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(err), (x**2).reshape(3, -1).sum(1), rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "leaky_sigmoid"])
def test_completion_activation_reaches_the_model(activation):
    args = _cban_args(activation=activation, alpha=0.3)
    model = load_example("cban_completion.py").build_cban("cban", (8, 8, 1), args)
    assert model.activation == activation and model.alpha == pytest.approx(0.3)
    config = model.get_config()
    assert config["activation"] == activation and config["alpha"] == pytest.approx(0.3)


def test_completion_example_quick(tmp_path, data_dir):
    # One dataset keeps the run short; the CIFAR-10 path differs only in loading and Perlin masks.
    models = "cban,cban_asym,cban_notd,cd_vae,ae,cban_implicit"  # the default five plus the implicit-gradient CBAN
    out = _script("cban_completion.py", tmp_path, data_dir, "--dataset", "omniglot", "--models", models)
    for name in ("omniglot",):
        result = json.loads((out / f"cban_completion_{name}.json").read_text())
        assert result["backend"] == keras.backend.backend() and result["dataset"] == name
        assert "python examples/cban_completion.py" in result["command"]
        assert set(result["models"]) == set(models.split(","))
        assert result["models"]["cban_implicit"]["label"] == "CBAN-implicit"
        assert result["models"]["cd_vae"]["label"] == "CD-VAE"
        assert result["scaling"]["td_horizon"] is None  # plain TD(1) by default
        for kind, r in result["models"].items():
            assert _finite(r["psnr_mean"], 0.0, 100.0) and _finite(r["psnr_sem"], 0.0)
            assert _finite(r["ssim_mean"], -1.0, 1.0) and _finite(r["ssim_sem"], 0.0)
            assert r["params"] > 0
            if kind not in ("ae", "cd_vae"):
                assert _finite(r["settle_steps_mean"], 1, result["scaling"]["test_max_steps"])
                assert _finite(r["cycles"]["still_moving_fraction"], 0.0, 1.0)
                assert _finite(r["converged_fraction"], 0.0, 1.0) and _finite(r["train_converged_fraction"], 0.0, 1.0)
        assert 0.0 < result["test_hidden_fraction"] < 1.0
        for path in result["figures"].values():
            assert Path(path).is_file()


def test_superres_example_quick(tmp_path, data_dir):
    out = _script("cban_superres.py", tmp_path, data_dir)
    result = json.loads((out / "cban_superres.json").read_text())
    assert result["backend"] == keras.backend.backend() and result["target"] == "residual"
    assert "python examples/cban_superres.py" in result["command"]
    for name in ("set5", "set14"):
        s = result[name]
        assert _finite(s["psnr"], 10.0, 60.0) and _finite(s["bicubic_psnr"], 10.0, 60.0)
        assert _finite(s["ssim"], 0.0, 1.0) and _finite(s["bicubic_ssim"], 0.0, 1.0)
        assert len(s["images"]) == 2
    assert Path(result["figure"]).is_file()
