"""Argument checks of the certificate math (lambda = 1 functions of p, d and the shape parameters), in one place.

The generic validators live in :mod:`rsmooth_ext._checks`; these add the certificate-specific rules: a
probability lower bound p strictly inside (1/2, 1) (the formulas' domain: p <= 1/2 certifies nothing and p = 1
is only a limit), and an input size d with the minimum a method needs.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int, check_positive_real


def check_p(p, owner: str) -> np.ndarray:
    """``p`` as a float64 array with every entry in the open interval (1/2, 1)."""
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any() or (p <= 0.5).any() or (p >= 1.0).any():
        bad = p[np.isnan(p) | (p <= 0.5) | (p >= 1.0)].ravel()[0]
        raise ValueError(f"{owner}: every p must satisfy 1/2 < p < 1, got p={bad!r}")
    return p


def check_d(d, owner: str, minimum: int = 1) -> int:
    """The input size d (elements per input) as an int >= ``minimum``."""
    return check_int(f"{owner}: d", d, minimum)


def check_shape(name: str, value, owner: str) -> float:
    """A shape parameter of a noise family (k, a, j > 0, a generalized-normal exponent) as a finite float > 0."""
    return check_positive_real(name, value, owner)


def check_k_d(k, d, owner: str, minimum_d: int = 1) -> tuple[float, int]:
    """The radial exponent k (finite, > 0) and the input size d (an int >= ``minimum_d``)."""
    return check_shape("k", k, owner), check_d(d, owner, minimum_d)
