"""Constructor-argument checks shared by every layer of keras-hopfield.

Each check returns the normalised value or raises a `ValueError` whose message
names the layer and the argument and shows the value received, e.g.
``HebbianHopfield: `units` must be an integer >= 1 or None. Received: units=True``.

The rules are the same everywhere:

* an integer is a Python or NumPy integer and never a `bool` (`True` is an
  `int` to Python, but `units=True` is a mistake, not `units=1`);
* a float is a finite real number (an int is accepted), never a `bool`;
* a flag is a real `bool` (Python or NumPy), not `0`/`1` or a string;
* a choice is one of a fixed tuple of strings.

`owner` is the layer's class name (pass `type(self).__name__`, so subclasses
are named correctly) or any short context string.
"""

import math
import numbers

import numpy as np

__all__ = [
    "check_int",
    "positive_int",
    "non_negative_int",
    "check_float",
    "positive_float",
    "non_negative_float",
    "boolean",
    "optional_boolean",
    "choice",
    "seed",
]


def _fail(owner, name, requirement, value):
    prefix = f"{owner}: " if owner else ""
    raise ValueError(f"{prefix}`{name}` must be {requirement}. Received: {name}={value!r}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def check_int(owner, name, value, minimum=None, maximum=None, allow_none=False):
    """An integer (not a bool) in `[minimum, maximum]`, or `None` when `allow_none`."""
    if value is None and allow_none:
        return None
    ok = _is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        requirement = "an integer" + (" " + " and ".join(bounds) if bounds else "")
        _fail(owner, name, requirement + (" or None" if allow_none else ""), value)
    return int(value)


def positive_int(owner, name, value, allow_none=False):
    """An integer >= 1 (not a bool), or `None` when `allow_none`."""
    return check_int(owner, name, value, minimum=1, allow_none=allow_none)


def non_negative_int(owner, name, value, allow_none=False):
    """An integer >= 0 (not a bool), or `None` when `allow_none`."""
    return check_int(owner, name, value, minimum=0, allow_none=allow_none)


def check_float(
    owner,
    name,
    value,
    minimum=None,
    maximum=None,
    min_inclusive=True,
    max_inclusive=True,
    allow_none=False,
):
    """A finite real number (not a bool) within the given bounds, as a Python float."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not _is_bool(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>=' if min_inclusive else '>'} {minimum}")
        if maximum is not None:
            bounds.append(f"{'<=' if max_inclusive else '<'} {maximum}")
        requirement = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
        _fail(owner, name, requirement + (" or None" if allow_none else ""), value)
    return float(value)


def positive_float(owner, name, value, allow_none=False):
    """A finite number > 0 (not a bool), as a float; `None` when `allow_none`."""
    return check_float(owner, name, value, minimum=0, min_inclusive=False, allow_none=allow_none)


def non_negative_float(owner, name, value, allow_none=False):
    """A finite number >= 0 (not a bool), as a float; `None` when `allow_none`."""
    return check_float(owner, name, value, minimum=0, allow_none=allow_none)


def boolean(owner, name, value):
    """A real `bool` (Python or NumPy), returned as a Python bool."""
    if not _is_bool(value):
        _fail(owner, name, "True or False", value)
    return bool(value)


def optional_boolean(owner, name, value):
    """`None` or a real `bool`."""
    if value is None:
        return None
    if not _is_bool(value):
        _fail(owner, name, "True, False or None", value)
    return bool(value)


def choice(owner, name, value, choices):
    """One of `choices` (compared with `==`; strings are not lower-cased here)."""
    if not isinstance(value, str) or value not in choices:
        _fail(owner, name, f"one of {tuple(choices)}", value)
    return value


def seed(owner, name, value):
    """`None` or an integer seed (not a bool)."""
    return check_int(owner, name, value, allow_none=True)
