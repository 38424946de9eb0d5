"""The attack registry: `ATTACKS` (classes by lower-case name) and `get(name)`."""

from keras_hopfield.attacks._common import Attack
from keras_hopfield.attacks.iterative import BIM, DIFGSM, EOTPGD, MIFGSM, NIFGSM, PGD
from keras_hopfield.attacks.single_step import FFGSM, FGSM

__all__ = [
    "ATTACKS",
    "get",
]


ATTACKS = {cls.name: cls for cls in (FGSM, FFGSM, BIM, PGD, MIFGSM, NIFGSM, DIFGSM, EOTPGD)}
"""Registry of attack classes by lower-case name (`"fgsm"`, `"pgd"`, ...)."""


def get(identifier, **params):
    """Look up an attack by name (or pass an attack through).

    Names are case-insensitive and ignore `-` and `_` (`"MI-FGSM"`,
    `"mi_fgsm"` and `"mifgsm"` are the same).

    Args:
        identifier: Attack name, `Attack` instance or callable
            `attack(model, x, y, **params)`.
        **params: Parameters for a newly built attack (or overrides for an
            `Attack` instance).

    Returns:
        An `Attack` instance (or the callable, with `params` bound).

    Raises:
        ValueError: For an unknown name.

    Example:
        >>> from keras_hopfield.attacks import get
        >>> from keras_hopfield.attacks import get
        >>> get("PGD", eps=0.05)
        PGD(eps=0.05)
    """
    if isinstance(identifier, Attack):
        return identifier.with_params(**params) if params else identifier
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "").replace("_", "")
        if key not in ATTACKS:
            raise ValueError(f"Unknown attack {identifier!r}; available: {sorted(ATTACKS)}.")
        return ATTACKS[key](**params)
    if callable(identifier):
        if not params:
            return identifier
        return lambda model, x, y=None, **kw: identifier(model, x, y, **{**params, **kw})
    raise ValueError(f"Cannot interpret {identifier!r} as an attack.")
