"""Radius functions (noise, p, d) -> radius of the rs4a families and of the j exponent, registered in
:data:`rsmooth_ext.radii.DIRECT` (same contract: p an array with 1/2 < p <= 1, lambda applied here). The math is
in :mod:`rsmooth_ext.certificate_math_rs4a`.

* ExpInf(k, j > 0): l1 closed form; l_inf by the differential method (k <= 1: a table of the closed-form
  growth function; k > 1: the two-sided top set, walked along its level), at least the l1 radius / d.
* PowInf(a): l1 closed form 2d (p - 1/2)/(a - d); l_inf by the differential method (table).
* Expp(p): l1 exact closed form for p >= 1, closed form for p = 1/2, the differential method (table) otherwise.
* Pow2(k, a), l2: the level-set (Neyman-Pearson) method, per distinct p (a few tenths of a second each, cached).
* Exp2(k, j > 0), l2: the level-set method likewise (about a second per distinct p at d = 3072, cached).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import rs4a_tmp as rm
from .margins import TABLE_MARGIN, round_down


def _below_table_max(p: np.ndarray) -> np.ndarray:
    """p capped at the closed forms' domain (p < 1): p = 1 is only a limit, the radius there is the one at the
    largest float below 1 (still a lower bound, as radii are non-decreasing in p)."""
    return np.minimum(p, np.nextafter(1.0, 0.0))


def j_or(j_free: Callable, with_j: Callable) -> Callable:
    """The j-free family's radius function for j = 0 (unchanged), ``with_j`` for j > 0."""

    def radius(noise, p, d):
        return with_j(noise, p, d) if getattr(noise, "j", 0.0) else j_free(noise, p, d)

    return radius


def expinf_j_l1(noise, p, d):
    return noise.lambd * rm.expinf_j_l1_radius(noise.k, noise.j, d, _below_table_max(p))


def expinf_j_linf(noise, p, d):
    if noise.k <= 1.0:
        radius = rm.differential_table_radius("expinf_j_linf", (noise.k, noise.j, d), p)
        return round_down(noise.lambd * radius, TABLE_MARGIN)
    # g(r) = j/r + k r^(k-1) is U-shaped: the two-sided top set; never below the l1 conversion R_l1 / d
    two_sided = noise.lambd * rm.expinf_two_sided_linf_radius(noise.k, noise.j, d, p)
    return np.maximum(two_sided, expinf_j_l1(noise, p, d) / d)


def powinf_l1(noise, p, d):
    return noise.lambd * rm.powinf_l1_radius(noise.a, d, _below_table_max(p))


def powinf_linf(noise, p, d):
    return round_down(noise.lambd * rm.differential_table_radius("powinf_linf", (noise.a, d), p), TABLE_MARGIN)


def expp_l1(noise, p, d):
    if noise.p >= 1.0:
        return noise.lambd * rm.expp_l1_radius_p_ge_1(noise.p, _below_table_max(p))
    if noise.p == 0.5:
        return noise.lambd * rm.expp_l1_radius_p_half(_below_table_max(p))
    return round_down(noise.lambd * rm.differential_table_radius("expp_l1", (noise.p,), p), TABLE_MARGIN)


def exp2_j_l2(noise, p, d):
    return noise.lambd * rm.exp2_j_l2_levelset_radius(noise.k, noise.j, d, _below_table_max(p))


def pow2_l2(noise, p, d):
    return noise.lambd * rm.pow2_l2_levelset_radius(noise.k, noise.a, d, _below_table_max(p))


# family -> adversary -> (radius function, needs d), like radii.DIRECT
DIRECT: dict[str, dict[str, tuple[Callable, bool]]] = {
    "powinf": {"l1": (powinf_l1, True), "linf": (powinf_linf, True)},
    "expp": {"l1": (expp_l1, False)},
    "pow2": {"l2": (pow2_l2, True)},
}
