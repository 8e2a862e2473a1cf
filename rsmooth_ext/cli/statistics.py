"""The statistics of a certification run, one implementation each: certified accuracy at r, the average
certified radius (ACR), clean (smoothed) accuracy, the abstention rate, and the default radius grid.

Conventions, stated because papers differ on them: an example counts as certified at radius r when it is
classified correctly and its certified radius is >= r; abstentions (prediction -1) and misclassifications
count as certified at no radius and contribute 0 to the ACR, which averages over all examples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def certified_accuracy(correct: np.ndarray, radius: np.ndarray, radii: Sequence[float]) -> np.ndarray:
    """Fraction of examples classified correctly with certified radius >= r, for each r (NaN without examples)."""
    if len(correct) == 0:
        return np.full(len(radii), math.nan)
    return np.array([float(np.mean(correct & (radius >= r))) for r in radii])


def average_certified_radius(correct: np.ndarray, radius: np.ndarray) -> float:
    """Mean over all examples of the radius of correct predictions, 0 for the others (NaN without examples)."""
    return float(np.mean(np.where(correct, radius, 0.0))) if len(correct) else math.nan


def accuracy(correct: np.ndarray) -> float:
    """Fraction of examples whose smoothed prediction is their label (NaN without examples)."""
    return float(np.mean(correct)) if len(correct) else math.nan


def abstention_rate(prediction: np.ndarray) -> float:
    """Fraction of examples the smoothed classifier abstained on (prediction -1; NaN without examples)."""
    return float(np.mean(prediction == -1)) if len(prediction) else math.nan


def default_radius_grid(radii: np.ndarray, steps: int = 6) -> list[float]:
    """``steps`` + 1 round radii from 0 up to at least the largest of ``radii`` (up to 1 when there are none)."""
    top = float(radii.max()) if radii.size else 1.0
    if top <= 0:
        top = 1.0
    step = _nice_step(top / steps)
    return [round(i * step, 10) for i in range(steps + 1)]


def _nice_step(x: float) -> float:
    exponent = math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**exponent >= x:
            return m * 10**exponent
    return 10 ** (exponent + 1)
