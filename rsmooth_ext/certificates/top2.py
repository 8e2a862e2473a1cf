"""Top-2 certificates: a lower bound p_A on the top class's probability and an upper bound p_B on the largest
probability among ALL the other classes, both holding together with probability 1 - alpha, and the radius
the pair (p_A, p_B) certifies (docs/certificates.md, "Top-2 certificates").

Bounds (``top2_bounds``): p_A is the one-sided Clopper-Pearson lower bound at level alpha/2; each of the
K - 1 other classes gets a one-sided Clopper-Pearson upper bound at level alpha / (2 (K - 1)) (Bonferroni),
and p_B is their maximum (the bound of the largest count, as the bound is increasing in the count), capped
at 1 - p_A (on the event p_A <= P(A), every other class has probability <= 1 - P(A) <= 1 - p_A). By the
union bound the pair holds with probability >= 1 - alpha, whatever the class that carries the mass.

Radii (``certify_top2``): the smoothed classifier keeps predicting A at x + delta while the worst-case
probability of A there exceeds the best-case probability of every other class. Pairs with a pA/pB form:

* Gaussian / l2: sigma/2 (Phi^-1(p_A) - Phi^-1(p_B)) (Cohen et al. 2019, Theorem 1); Exp2(k = 2) / l2 is
  the Gaussian of standard deviation lambda / sqrt(2).
* Laplace / l1: max(lambda/2 log(p_A / p_B), -lambda log(1 - p_A + p_B)) (Teng et al. 2020, Theorem 1).
* Total-variation certificates: a shift delta moves at most TV(delta) of any class's mass, so A stays on top
  while TV(delta) < (p_A - p_B) / 2. The single-bound certificates of Uniform / l1 and l_inf, UniformBall /
  l2 and Masking / l0 are exactly "TV(delta) < p - 1/2", so their pA/pB form is the single-bound radius at
  p = 1/2 + (p_A - p_B) / 2 (>= p_A since p_B <= 1 - p_A).

The other pairs use the single-bound certificate at p_A (valid on the same event). Every pA/pB radius is
also converted to the other norms like the single-bound ones, and the best route is returned.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special, stats

from . import routes as radii
from .margins import ELEMENTARY_MARGIN, round_down


def top2_bounds(counts: np.ndarray, top: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(p_A lower, p_B upper) per row of the estimation ``counts`` (B, K) for the chosen classes ``top``
    (B,), holding simultaneously with probability >= 1 - alpha (see the module docstring)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a (B, K) array, got shape {counts.shape}")
    batch, classes = counts.shape
    n = counts.sum(axis=1)
    rows = np.arange(batch)
    n_a = counts[rows, top].astype(np.float64)
    others = counts.copy()
    others[rows, top] = -1
    if classes == 1:  # no other class to bound: the single-bound certificate, p_B = 1 - p_A
        p_a = _cp_lower(n_a, n, alpha)
        return p_a, 1.0 - p_a
    n_b = others.max(axis=1).astype(np.float64)
    p_a = _cp_lower(n_a, n, alpha / 2.0)
    p_b = _cp_upper(n_b, n, alpha / (2.0 * (classes - 1)))
    return p_a, np.minimum(p_b, 1.0 - p_a)


def _cp_lower(k, n, level):
    safe = np.maximum(k, 1.0)
    return np.where(k > 0, stats.beta.ppf(level, safe, n - safe + 1), 0.0)


def _cp_upper(k, n, level):
    safe = np.minimum(k, n - 1.0)
    return np.where(k < n, stats.beta.isf(level, safe + 1, n - safe), 1.0)


def _gaussian_l2(noise, p_a, p_b, d):
    return noise.lambd / 2.0 * (special.ndtri(p_a) - special.ndtri(p_b))


def _exp2_l2(noise, p_a, p_b, d):
    if noise.k != 2.0:
        return None
    return noise.lambd / (2.0 * np.sqrt(2.0)) * (special.ndtri(p_a) - special.ndtri(p_b))


def _laplace_l1(noise, p_a, p_b, d):
    with np.errstate(divide="ignore"):
        ratio = 0.5 * (np.log(p_a) - np.log(p_b))
    return noise.lambd * np.maximum(ratio, -np.log1p(-(p_a - p_b)))


def _total_variation(adversary: str) -> Callable:
    def radius(noise, p_a, p_b, d):
        # 1/2 + (p_A - p_B)/2, rounded down by two ulp (the subtraction and the sum each round once)
        p = np.nextafter(np.nextafter(0.5 + 0.5 * (p_a - p_b), 0.0), 0.0)
        return np.asarray(radii.certify(noise, p, adversary, d), dtype=np.float64)

    return radius


# family -> adversary -> pA/pB radius function(noise, p_a, p_b, d) (None: no such form for these parameters)
TOP2: dict[str, dict[str, Callable]] = {
    "gaussian": {"l2": _gaussian_l2},
    "exp2": {"l2": _exp2_l2},
    "laplace": {"l1": _laplace_l1},
    "uniform": {"l1": _total_variation("l1"), "linf": _total_variation("linf")},
    "uniformball": {"l2": _total_variation("l2")},
    "masking": {"l0": _total_variation("l0")},
}


def certify_top2(noise, p_a, p_b, adversary: str | None = None, dim: int | None = None) -> np.ndarray:
    """Certified radius of ``noise`` against ``adversary`` from a lower bound ``p_a`` on the top class's
    probability and an upper bound ``p_b`` on every other class's (float64 arrays of one shape, or floats):
    the best of the single-bound certificate at p_a and every pA/pB form reachable by a valid conversion.
    0 wherever p_a <= p_b. Argument checks as in :func:`rsmooth_ext.radii.certify`."""
    adversary = noise.natural_adversary if adversary is None else adversary
    p_a = np.asarray(p_a, dtype=np.float64)
    p_b = np.asarray(p_b, dtype=np.float64)
    if p_a.shape != p_b.shape:
        raise ValueError(f"p_a and p_b must have one shape, got {p_a.shape} and {p_b.shape}")
    if np.isnan(p_b).any() or (p_b < 0).any() or (p_b > 1).any():
        raise ValueError("p_b must lie in [0, 1]")
    best = np.asarray(radii.certify(noise, p_a, adversary, dim), dtype=np.float64)
    if noise.dim is not None:
        dim = noise.dim
    ahead = p_a > p_b
    if not ahead.any():
        return best
    forms = TOP2.get(noise.family, {})
    pa, pb = p_a[ahead], p_b[ahead]
    found = np.zeros_like(pa)
    for source, _, needs in radii.certificate_routes(noise.family, adversary):
        form = forms.get(source)
        if form is None or (needs and dim is None):
            continue
        with np.errstate(divide="ignore"):
            value = form(noise, pa, pb, dim)
        if value is None:
            continue
        ratio = radii.norm_ratio(source, adversary, dim or 1) if source != "l0" else 1.0
        found = np.maximum(found, np.asarray(value, dtype=np.float64) / ratio)
    if adversary != "l0":
        found = round_down(found, ELEMENTARY_MARGIN)
    best = np.array(best, dtype=np.float64, copy=True)
    best[ahead] = np.maximum(best[ahead], found)
    return best
