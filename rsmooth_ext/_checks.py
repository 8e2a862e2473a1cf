"""Argument checks shared by every module: each error names the argument, the value and what is allowed."""

from __future__ import annotations

import math
import numbers


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_probability(value, name: str = "alpha") -> float:
    """``value`` as a float strictly inside (0, 1): a significance level or a rate."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def check_positive_real(name: str, value, owner: str) -> float:
    """``value`` as a finite float > 0; ``owner`` (a class or function name) starts the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return value


def check_dimension(value, owner: str) -> int:
    """The number of elements per input: an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: dim must be an integer >= 1 (the number of elements per input), got {value!r}")
    return int(value)
