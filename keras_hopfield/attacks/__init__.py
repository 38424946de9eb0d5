"""L-infinity adversarial attacks on any Keras model, on every backend.

All attacks maximise a loss `L(y, f(x'))` over inputs `x'` in the L-infinity
ball of radius `eps` around `x` that stay in the valid pixel range
`[clip_min, clip_max]`:

    x' = argmax_{||x' - x||_inf <= eps, clip_min <= x' <= clip_max}  L(y, f(x'))

For an auto-associative memory the target defaults to the clean input
(`y = x`), so an attack pushes the retrieval away from the stored pattern.
Gradients are taken with respect to the input only (model weights are never
changed) through `keras_hopfield.backend.value_and_grad`, the one place
with per-backend code.

Implemented: `fgsm` (Goodfellow et al., 2015), `ffgsm` (fast FGSM with
random init, Wong et al., 2020), `bim` (Kurakin et al., 2017), `pgd` (Madry
et al., 2018), `mifgsm` (momentum, Dong et al., 2018), `nifgsm` (Nesterov,
Lin et al., 2020), `difgsm` (input diversity, Xie et al., 2019) and
`eotpgd` (expectation over transformation, Athalye et al., 2018). Each also
has a class (`FGSM`, `PGD`, ...) registered in `ATTACKS` and returned by
`get(name)`.

Transfer workflow (CRHN paper): memories without useful gradients are
attacked through a differentiable surrogate; `make_surrogate_autoencoder` /
`train_surrogate_autoencoder` build one, `transfer_attack` crafts the
adversarial inputs on it and `evaluate_transfer` feeds them to every model
under test.

Layout (everything is importable from `keras_hopfield.attacks`):
`single_step` (FGSM, FFGSM), `iterative` (BIM, PGD, MI-, NI-, DI-FGSM,
EOT-PGD and `input_diversity`), `registry` (`ATTACKS`, `get`), `transfer`
(the surrogate workflow); `_common` holds `per_sample_loss`, the `Attack`
base class and the projected sign-gradient loop every attack runs.
"""

from keras_hopfield.attacks._common import Attack, per_sample_loss
from keras_hopfield.attacks.iterative import (
    BIM,
    DIFGSM,
    EOTPGD,
    MIFGSM,
    NIFGSM,
    PGD,
    bim,
    difgsm,
    eotpgd,
    input_diversity,
    mifgsm,
    nifgsm,
    pgd,
)
from keras_hopfield.attacks.registry import ATTACKS, get
from keras_hopfield.attacks.single_step import FFGSM, FGSM, ffgsm, fgsm
from keras_hopfield.attacks.transfer import (
    evaluate_transfer,
    make_surrogate_autoencoder,
    train_surrogate_autoencoder,
    transfer_attack,
)

__all__ = [
    "fgsm",
    "ffgsm",
    "bim",
    "pgd",
    "mifgsm",
    "nifgsm",
    "difgsm",
    "eotpgd",
    "input_diversity",
    "per_sample_loss",
    "Attack",
    "FGSM",
    "FFGSM",
    "BIM",
    "PGD",
    "MIFGSM",
    "NIFGSM",
    "DIFGSM",
    "EOTPGD",
    "ATTACKS",
    "get",
    "make_surrogate_autoencoder",
    "train_surrogate_autoencoder",
    "transfer_attack",
    "evaluate_transfer",
]
