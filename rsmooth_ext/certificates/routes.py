"""Certified radii: for each noise family, the adversaries it has a direct guaranteed certificate
against, and valid conversions to the other norms. Given a lower bound p on the top-class probability,
the radius is the distance within which the smoothed classifier's prediction cannot change. All math in
float64, in float-safe forms, and every radius is rounded toward zero by a margin that covers its
evaluation error (margins.py; docs/certificates.md, "Margin policy"); p <= 1/2 gives 0.

Direct certificates (lambda is the spec's scale, d the number of elements per input):

* Gaussian, l2: lambda * Phi^-1(p) (Cohen et al. 2019).
* Laplace, l1: -lambda * log(2 (1 - p)) (Teng et al. 2020; Yang et al. 2020).
  l_inf: the differential-method table (Yang et al. 2020); ``laplace_linf_approximate`` is the Gaussian
  approximation lambda * Phi^-1(p) / sqrt(d) -- *not* a guaranteed certificate, never used by default.
* Uniform (cube), l1: 2 lambda (p - 1/2); l_inf: 2 lambda (1 - (3/2 - p)^(1/d)) (Yang et al. 2020), evaluated
  as -2 lambda expm1(log1p(1/2 - p) / d).
* Lomax(k), l1: lambda (2p - 1)/k * 2F1(1, k/(k+1); k/(k+1) + 1; (2p - 1)^(1 + 1/k)) (Yang et al. 2020).
* UniformBall, l2: the distance at which two balls of radius lambda overlap in a fraction 3/2 - p of their
  volume, 2 lambda sqrt(1 - I^-1_{(d+1)/2, 1/2}(3/2 - p)) = 2 lambda sqrt(I^-1_{1/2, (d+1)/2}(p - 1/2)).
* Masking(keep), l0: the largest integer R with p > 1/2 + 1 - (1 - keep)^R (the mass an adversary
  changing R coordinates can move is the chance that one of them is kept), decided by a float-safe test
  with an ulp margin; the spec's union bound R * keep gives the smaller ``masking_l0_union_bound``.
* ExpInf(k), l1: 2 lambda (p - 1/2) Gamma(d/k + 1) / Gamma((d - 1)/k + 1) (closed form, every k) up to
  p* = 1 - 1/(2d), plus the kink term R_linf(1 - d (1 - p)) above it;
  l_inf: -lambda log(2 (1 - p)) for k = 1, the differential-method table otherwise.
* Exp1(k), l1: -lambda log(2 (1 - p)) for k = 1, the differential-method table otherwise.
* Exp2(k), l2: the closed form lambda (d - 1)/2 log((1 - x)/x), x = I^-1_{(d-1)/2,(d-1)/2}(1 - p) for k = 1;
  with the level-set table where one ships (d = 784; up to 0.14% larger); (lambda / sqrt 2) Phi^-1(p) for
  k = 2 (a Gaussian); otherwise the max of the level-set (Neyman-Pearson) table, exact on its radius grid,
  and the differential-method table (concave tangent bounds of the growth function).

Conversions: a radius R certified in norm a is also certified in norm b at R / C(a, b), with
C(a, b) = max ||delta||_a / ||delta||_b over delta != 0 in R^d: C(l2, l1) = C(linf, l1) = C(linf, l2) = 1,
C(l1, l2) = C(l2, linf) = sqrt(d), C(l1, linf) = d. Every such conversion is itself a valid certificate (the
b-ball of radius R / C(a, b) lies inside the a-ball of radius R); every pair returns the max over its direct
certificate and all conversions (those that need d only when d is known). l0 has no conversions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import special, stats

from . import differential as cm
from . import registry_rs4a_tmp as rs4a
from .margins import ELEMENTARY_MARGIN, SPECIAL_FUNCTION_MARGIN, TABLE_MARGIN, round_down
from .tables import SHIPPED, get_table

ADVERSARIES = ("l0", "l1", "l2", "linf")
_NORMED = ("l1", "l2", "linf")


def _gaussian_l2(noise, p, d):
    return noise.lambd * stats.norm.ppf(p)


def _laplace_l1(noise, p, d):
    return noise.lambd * cm.laplace_l1_radius(p)


def _table(family, adversary):
    def radius(noise, p, d):
        k = None if family == "laplace" else noise.k
        return round_down(noise.lambd * get_table(family, adversary, d, k).lookup(p), TABLE_MARGIN)

    return radius


def _uniform_l1(noise, p, d):
    return 2.0 * noise.lambd * (p - 0.5)


def _uniform_linf(noise, p, d):
    # 1 - (3/2 - p)^(1/d) without cancellation: 1/2 - p is exact, log1p and expm1 are accurate to an ulp
    return 2.0 * noise.lambd * -np.expm1(np.log1p(0.5 - p) / d)


def _lomax_l1(noise, p, d):
    k = noise.k
    q = 2.0 * p - 1.0
    radius = noise.lambd * q / k * special.hyp2f1(1.0, k / (k + 1.0), k / (k + 1.0) + 1.0, q ** (1.0 + 1.0 / k))
    return round_down(radius, SPECIAL_FUNCTION_MARGIN)


def _uniform_ball_l2(noise, p, d):
    # 1 - I^-1_{(d+1)/2, 1/2}(3/2 - p) = I^-1_{1/2, (d+1)/2}(p - 1/2): no cancellation, p - 1/2 is exact
    y = special.betaincinv(0.5, (d + 1) / 2.0, p - 0.5)
    return round_down(2.0 * noise.lambd * np.sqrt(np.clip(y, 0.0, 1.0)), SPECIAL_FUNCTION_MARGIN)


def masking_l0_union_bound(keep: float, p) -> np.ndarray:
    """The spec's looser l0 certificate for Masking: the largest integer R with p > 1/2 + R * keep."""
    p = np.asarray(p, dtype=np.float64)
    return np.maximum(np.ceil((p - 0.5) / keep) - 1.0, 0.0)


# (1 - keep)^R is evaluated as -expm1(R log1p(-keep)) = 1 - (1 - keep)^R with a relative error below 8 ulp
# (log1p, the product and expm1 each contribute at most ~2 ulp, and -expm1 is well conditioned); the test
# demands p - 1/2 (exact) to exceed it by MASKING_ULPS ulp more, so a float tie never certifies one too many.
MASKING_ULPS = 16.0


def _masking_certifies(p, keep: float, r):
    """Whether R = r is certified at p: p - 1/2 > (1 - (1 - keep)^r) (1 + MASKING_ULPS ulp), float-safe."""
    moved = -np.expm1(r * np.log1p(-keep))
    return (p - 0.5) > moved * (1.0 + MASKING_ULPS * np.finfo(np.float64).eps)


def _masking_l0(noise, p, d):
    keep = noise.keep
    p = np.asarray(p, dtype=np.float64)
    if keep >= 1.0:
        return np.zeros_like(p)
    # largest integer R with (1 - keep)^R > 3/2 - p: solve in logs, then correct the float rounding
    with np.errstate(divide="ignore"):
        r = np.maximum(np.floor(np.log1p(0.5 - p) / math.log1p(-keep)), 0.0)
    for _ in range(64):  # the log estimate is within one or two of the answer
        down = (r > 0) & ~_masking_certifies(p, keep, r)
        up = ~down & _masking_certifies(p, keep, r + 1.0)
        if not (down.any() or up.any()):
            return r
        r = r - down + up
    raise FloatingPointError("masking l0 radius: the integer search did not settle")


def _expinf_l1(noise, p, d):
    # the differential integral with Phi_l1 (docs/certificates.md 1.3): the paper's linear closed form up to
    # the kink p* = 1 - 1/(2d), then R(p*) + R_linf(1 - d (1 - p)) above it
    p = np.asarray(p, dtype=np.float64)
    radius = noise.lambd * cm.expinf_l1_radius(noise.k, d, p)
    above = p > 1.0 - 0.5 / d
    if above.any():
        at_kink = (1.0 - 1.0 / d) * float(special.poch((d - 1.0) / noise.k + 1.0, 1.0 / noise.k))
        tail_mass = np.nextafter(d * (1.0 - p[above]), 1.0)  # rounded up: the linf radius at a lower p
        p_linf = 1.0 - tail_mass
        linf = np.zeros_like(p_linf)
        inside = p_linf > 0.5
        if inside.any():
            linf[inside] = _expinf_linf(noise, p_linf[inside], d)
        radius[above] = np.maximum(radius[above], noise.lambd * at_kink + linf)
    return round_down(radius, SPECIAL_FUNCTION_MARGIN)


def _expinf_linf(noise, p, d):
    if noise.k == 1.0:
        return noise.lambd * cm.expinf_linf_radius_k1(p)
    return _table("expinf", "linf")(noise, p, d)


def _exp1_l1(noise, p, d):
    if noise.k == 1.0:
        return noise.lambd * cm.exp1_l1_radius_k1(p)
    return _table("exp1", "l1")(noise, p, d)


def _exp2_l2(noise, p, d):
    if noise.k == 2.0:
        return noise.lambd / math.sqrt(2.0) * stats.norm.ppf(p)
    if noise.k == 1.0:
        if d == 1:
            return noise.lambd * cm.laplace_l1_radius(p)
        radius = round_down(noise.lambd * cm.exp2_l2_radius_k1(d, p), SPECIAL_FUNCTION_MARGIN)
        if ("exp2", "l2", d, 1.0) in SHIPPED:  # the exact level set, where a table ships, is up to 0.14% larger
            radius = np.maximum(radius, _table("exp2", "l2")(noise, p, d))
        return radius
    table = _table("exp2", "l2")(noise, p, d)
    if d == 1:
        return table
    linear = round_down(noise.lambd * cm.exp2_l2_linear_radius(noise.k, d, p), SPECIAL_FUNCTION_MARGIN)
    differential = round_down(noise.lambd * get_table("exp2", "l2", d, noise.k, method="differential").lookup(p),
                              TABLE_MARGIN)
    # the level set is exact on its radius grid; the differential bound is continuous in p (tight near 1/2)
    return np.maximum(np.maximum(table, linear), differential)


# family -> adversary -> (radius function, needs d)
DIRECT: dict[str, dict[str, tuple[Callable, bool]]] = {
    "gaussian": {"l2": (_gaussian_l2, False)},
    "laplace": {"l1": (_laplace_l1, False), "linf": (_table("laplace", "linf"), True)},
    "uniform": {"l1": (_uniform_l1, False), "linf": (_uniform_linf, True)},
    "lomax": {"l1": (_lomax_l1, False)},
    "uniformball": {"l2": (_uniform_ball_l2, True)},
    "masking": {"l0": (_masking_l0, False)},
    "expinf": {"l1": (_expinf_l1, True), "linf": (_expinf_linf, True)},
    "exp1": {"l1": (_exp1_l1, True)},
    "exp2": {"l2": (_exp2_l2, True)},
}
# the rs4a families and the j exponent of ExpInf / Exp2 (rsmooth_ext/radii_rs4a.py); j = 0 keeps the entries above
DIRECT["expinf"] = {"l1": (rs4a.j_or(_expinf_l1, rs4a.expinf_j_l1), True),
                    "linf": (rs4a.j_or(_expinf_linf, rs4a.expinf_j_linf), True)}
DIRECT["exp2"] = {"l2": (rs4a.j_or(_exp2_l2, rs4a.exp2_j_l2), True)}
DIRECT.update(rs4a.DIRECT)

def norm_ratio(a: str, b: str, d: int) -> float:
    """C(a, b) = max ||delta||_a / ||delta||_b over R^d."""
    if a == b:
        return 1.0
    pa, pb = _norm_order(a), _norm_order(b)
    if pa >= pb:
        return 1.0
    # ||delta||_a <= d^(1/a - 1/b) ||delta||_b for a < b
    return d ** ((1.0 / pa) - (0.0 if pb == math.inf else 1.0 / pb))


def _norm_order(norm: str) -> float:
    return {"l1": 1.0, "l2": 2.0, "linf": math.inf}[norm]


def certificate_routes(family: str, adversary: str) -> list[tuple[str, Callable, bool]]:
    """Every certificate of ``family`` against ``adversary``: the direct one (if registered) and the
    conversion from each other normed direct certificate, as (source adversary, radius function, needs d)
    triples; the certificate is the max over them. l0 has no conversions."""
    direct = DIRECT[family]
    routes = [(adversary, *direct[adversary])] if adversary in direct else []
    if adversary in _NORMED:
        routes += [(a, f, needs or _norm_order(a) < _norm_order(adversary))
                   for a, (f, needs) in direct.items() if a in _NORMED and a != adversary]
    return routes


def supported_pairs() -> list[str]:
    pairs = []
    for family, direct in DIRECT.items():
        normed = any(a in _NORMED for a in direct)
        advs = list(direct) + ([a for a in _NORMED if a not in direct] if normed else [])
        pairs += [f"{family}/{a}" for a in sorted(advs, key=ADVERSARIES.index)]
    return pairs


def certify(noise, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius of ``noise`` against ``adversary`` ('l0', 'l1', 'l2', 'linf'; default the noise's
    natural one) at top-class probability lower bound(s) ``p_lower`` (float or tensor, in [0, 1]).
    ``dim`` (elements per input) is required where the radius depends on it, and must equal the spec's
    own ``dim`` where it has one. The result is the max over the direct certificate (if any) and every valid
    conversion from the noise's other direct ones (norm inequalities; see the module docstring), rounded
    toward zero by the margin policy. Returns a float
    for a float, a float64 tensor for a tensor (on its device); 0 wherever p_lower <= 1/2."""
    adversary = noise.natural_adversary if adversary is None else adversary
    if adversary not in ADVERSARIES:
        raise ValueError(f"adversary must be one of {', '.join(ADVERSARIES)}, got {adversary!r}")
    routes = certificate_routes(noise.family, adversary)
    if not routes:
        raise ValueError(
            f"no guaranteed certificate for {type(noise).__name__} against {adversary}; supported pairs: "
            + ", ".join(supported_pairs())
        )
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if noise.dim is not None:
        if dim is not None and dim != noise.dim:
            raise ValueError(f"dim={dim} does not match the noise's own dim={noise.dim}")
        dim = noise.dim
    # a direct certificate is required, the conversions to it are optional extras (used when dim is known);
    # without a direct certificate every conversion is required
    required = [route for route in routes if route[0] == adversary] or routes
    if any(needs for _, _, needs in required) and dim is None:
        raise ValueError(f"the {noise.family}/{adversary} certificate depends on the input size: pass dim=")
    routes = [route for route in routes if dim is not None or not route[2]]
    is_tensor = isinstance(p_lower, torch.Tensor)
    p = p_lower.detach().double().cpu().numpy() if is_tensor else np.asarray(p_lower, dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_lower must lie in [0, 1], got " + (
            "NaN" if np.isnan(p).any() else f"values in [{p.min()}, {p.max()}]"))
    above = p > 0.5
    radius = np.zeros_like(p)
    if above.any():
        # p = 1 is only reachable as a limit: the closed forms may diverge there, the tables stay finite
        pa = p[above]
        best = np.zeros_like(pa)
        with np.errstate(divide="ignore"):
            for source, function, _ in routes:
                best = np.maximum(best, np.asarray(function(noise, pa, dim), dtype=np.float64)
                                  / norm_ratio(source, adversary, dim or 1))
        # l0 radii are integers decided by a float-safe test; real radii are rounded toward zero
        radius[above] = best if adversary == "l0" else round_down(best, ELEMENTARY_MARGIN)
    if is_tensor:
        return torch.from_numpy(radius).to(p_lower.device)
    return float(radius) if radius.ndim == 0 else radius


def laplace_linf_approximate(noise, p_lower, dim: int):
    """The Gaussian-CDF approximation lambda * Phi^-1(p) / sqrt(d) of the Laplace l_inf radius used by
    default in earlier code. APPROXIMATE: it is not a guaranteed certificate (it can exceed the true
    radius); use ``noise.certify(p, 'linf', dim=d)`` for the guaranteed one."""
    p = np.asarray(p_lower, dtype=np.float64)
    return np.where(p > 0.5, noise.lambd * stats.norm.ppf(np.clip(p, 0.5, 1.0)) / math.sqrt(dim), 0.0)
