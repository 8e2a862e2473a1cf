"""Closed-form certified radii, and the certificates built on them.

The lambda = 1 functions of ``p`` (a lower bound on the top-class probability, 1/2 < p < 1, so that 1 - p and
p - 1/2 are exact in floating point) come first; the registered certificates ``(noise, p, d)`` apply the spec's
scale and the margin policy (:mod:`.margins`). The differential-method derivations behind the radial forms are
in :mod:`.differential` and docs/certificates.md.

Direct certificates (lambda is the spec's scale, d the number of elements per input):

* Gaussian, l2: lambda * Phi^-1(p) (Cohen et al. 2019).
* Laplace, l1: -lambda * log(2 (1 - p)) (Teng et al. 2020; Yang et al. 2020). Its l_inf certificate is a
  differential-method table; :func:`laplace_linf_approximate` is the Gaussian approximation
  lambda * Phi^-1(p) / sqrt(d) -- *not* a guaranteed certificate, never used by default.
* Uniform (cube), l1: 2 lambda (p - 1/2); l_inf: 2 lambda (1 - (3/2 - p)^(1/d)) (Yang et al. 2020), evaluated
  as -2 lambda expm1(log1p(1/2 - p) / d).
* Lomax(k), l1: lambda (2p - 1)/k * 2F1(1, k/(k+1); k/(k+1) + 1; (2p - 1)^(1 + 1/k)) (Yang et al. 2020).
* UniformBall, l2: the distance at which two balls of radius lambda overlap in a fraction 3/2 - p of their
  volume, 2 lambda sqrt(1 - I^-1_{(d+1)/2, 1/2}(3/2 - p)) = 2 lambda sqrt(I^-1_{1/2, (d+1)/2}(p - 1/2)).
* Masking(keep), l0: the largest integer R with p > 1/2 + 1 - (1 - keep)^R (the mass an adversary
  changing R coordinates can move is the chance that one of them is kept), decided by a float-safe test
  with an ulp margin; the union bound R * keep gives the smaller :func:`masking_l0_union_bound`.
* ExpInf(k), l1: 2 lambda (p - 1/2) Gamma(d/k + 1) / Gamma((d - 1)/k + 1) (every k) up to p* = 1 - 1/(2d),
  plus the kink term R_linf(1 - d (1 - p)) above it; l_inf: -lambda log(2 (1 - p)) for k = 1.
* ExpInf(k, j > 0), l1: 2d (p - 1/2) Gamma(a) / ((d - 1) Gamma(a - 1/k)), a = (d - j)/k.
* Exp1(k = 1), l1: -lambda log(2 (1 - p)) (i.i.d. Laplace).
* Exp2(k = 1), l2: lambda (d - 1)/2 log((1 - x)/x), x = I^-1_{(d-1)/2,(d-1)/2}(1 - p); Exp2(k = 2), l2:
  (lambda / sqrt 2) Phi^-1(p) (a Gaussian); Exp2(other k), l2: the linear bound (p - 1/2) / Phi(1/2),
  tight near p = 1/2, beside the level-set and differential tables.
* PowInf(a), l1: 2d (p - 1/2) / (a - d).
* Expp(p >= 1), l1: the exact F^-1(p) = Q^-1_{1/p}(2 (1 - p))^(1/p); Expp(1/2), l1: 2 (Li_2(e^-s0) - s0 log(1 -
  e^-s0)) with (1 + s0) e^-s0 = 2p - 1.

The radial l1 forms (ExpInf, PowInf): for a radial noise q(x) = f(||x||) with g = -(log f)', the l1 growth
function is G = g(r) s 1{c = 1} (c the coordinate on the cube's face, s its sign), nonzero with probability
1/d, so Phi_l1(u) <= Phi_l1(1/2) = E[g(r)] / (2d) and R_l1(p) = 2d (p - 1/2) / E[g(r)] is a lower bound on
the differential radius (equal to it for p <= 1 - 1/(2d)). ExpInf(k, j): g(r) = j/r + k r^(k-1), r^k ~ Gamma(a),
E[g] = (d - 1) Gamma(a - 1/k) / Gamma(a) (finite iff d - j > 1). PowInf(a): g(r) = a / (1 + r),
B = 1/(1 + r) ~ Beta(a - d, d), E[g] = a E[B] = a - d.

Expp(p), i.i.d. density C exp(-|x|^p), against l1 (v = e_1): G = p |e|^(p-1) sign(e). For p >= 1 (g
non-decreasing in |e|) the top u-mass is {e > t_u}, Phi(u) = f(t_u), du = f dt, so R(p) = F^-1(p), which is
also an upper bound (the half-space classifier {eps_1 <= F^-1(p)} is not certified beyond it): the exact
certificate. p = 1 is Laplace's -log(2(1 - p)); p = 2 is the Gaussian's. For p = 1/2, with s = sqrt(t):
u = (1 - (1 + s) e^-s)/2, Phi = (1 - e^-s)/4, and R(p) = 2 integral_{s0}^inf s / (e^s - 1) ds.

Top-2 forms (:mod:`.top2`): Gaussian / l2: sigma/2 (Phi^-1(p_A) - Phi^-1(p_B)) (Cohen et al. 2019, Theorem 1);
Exp2(k = 2, j = 0) / l2 the same with sigma = lambda / sqrt(2) (not for j > 0: that noise is not a Gaussian);
Laplace / l1: max(lambda/2 log(p_A / p_B), -lambda log(1 - p_A + p_B)) (Teng et al. 2020, Theorem 1). The
Uniform, UniformBall and Masking certificates are total-variation certificates ("TV(delta) < p - 1/2"), marked
so for the top-2 engine.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import special, stats

from . import registry
from .checks import check_d, check_k_d, check_p, check_shape
from .margins import SPECIAL_FUNCTION_MARGIN, round_down
from .registry import certificate, top2_certificate

# closed forms are evaluated in float64 with a few ulp of error: lowered by this relative margin so that the
# returned radius is never above the exact one
_SAFETY = 1.0 - 1e-12
_EPS = float(np.finfo(np.float64).eps)


def _no_j(noise) -> bool:
    return not noise.j


def _below_one(p: np.ndarray) -> np.ndarray:
    """p capped at the closed forms' domain (p < 1): p = 1 is only a limit, the radius there is the one at the
    largest float below 1 (still a lower bound, as radii are non-decreasing in p)."""
    return np.minimum(p, np.nextafter(1.0, 0.0))


# ---- lambda = 1 closed forms ------------------------------------------------------------------------------


def laplace_l1_radius(p):
    """I.i.d. Laplace(0, 1) against l1: -log(2(1 - p)) (Teng et al. 2020; exact). Vectorised over p."""
    p = check_p(p, "laplace_l1_radius")
    return -np.log1p(1.0 - 2.0 * p)  # = -log(2(1-p)); 1 - 2p is exact for 1/2 <= p <= 1


def expinf_linf_radius_k1(p):
    """ExpInf(k=1, d) against linf: Phi(u) = u (see :func:`.differential.phi_expinf_linf`), so
    R(p) = -log(2(1 - p)) for every d (Yang et al. 2020). A differential-method (lower-bound) certificate."""
    p = check_p(p, "expinf_linf_radius_k1")
    return -np.log1p(1.0 - 2.0 * p)


def exp1_l1_radius_k1(p):
    """Exp1(k=1, d) = i.i.d. Laplace against l1: -log(2(1 - p)) (exact)."""
    return laplace_l1_radius(p)


# below this w = 1 - z the Lomax hypergeometric function is summed in powers of w (scipy's hyp2f1 loses accuracy
# as z -> 1 and overflows to inf for 1 - p below ~5e-14); at w = 1/4, 60 terms leave a remainder below 1e-36
LOMAX_SERIES_W = 0.25
LOMAX_SERIES_TERMS = 60


def lomax_l1_radius(k: float, p):
    """Lomax(k) against l1 (lambda = 1; Yang et al. 2020): R(p) = (q / k) 2F1(1, b; b + 1; z), q = 2p - 1,
    b = k / (k + 1), z = q^(1 + 1/k), for 1/2 < p <= 1 (inf at p = 1 exactly, finite below). Vectorised over p.

    c = a + b here (a = 1), so 2F1 has a logarithmic singularity at z = 1. w = 1 - z is computed without
    cancellation, -expm1((1 + 1/k) log1p(-2 (1 - p))) (1 - p exact), and for w < LOMAX_SERIES_W the function is
    summed by the z -> 1 expansion (Abramowitz and Stegun 15.3.10, DLMF 15.8.10 with a = 1, c = a + b):

        2F1(1, b; b + 1; z) = b sum_n (b)_n / n! (psi(n + 1) - psi(n + b) - log w) w^n,

    every term positive (b < 1), so the sum is as accurate as its terms; elsewhere scipy's hyp2f1."""
    k = check_shape("k", k, "Lomax certificate")
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any() or (p <= 0.5).any() or (p > 1.0).any():
        raise ValueError(f"the Lomax certificate needs 1/2 < p <= 1, got p={p[~((p > 0.5) & (p <= 1.0))].ravel()[0]!r}")
    b = k / (k + 1.0)
    q = 2.0 * (p - 0.5)
    with np.errstate(divide="ignore"):
        w = -np.expm1((1.0 + 1.0 / k) * np.log1p(-2.0 * (1.0 - p)))
        log_w = np.log(w)
    direct = special.hyp2f1(1.0, b, b + 1.0, np.where(w < LOMAX_SERIES_W, 0.0, 1.0 - w))
    series = np.zeros_like(w)
    coefficient, digamma_gap, power = 1.0, float(special.digamma(1.0) - special.digamma(b)), np.ones_like(w)
    near = w < LOMAX_SERIES_W
    with np.errstate(invalid="ignore"):
        for n in range(LOMAX_SERIES_TERMS):
            series = series + coefficient * (digamma_gap - log_w) * power
            coefficient *= (b + n) / (n + 1.0)
            digamma_gap += 1.0 / (n + 1.0) - 1.0 / (n + b)
            power = power * np.where(near, w, 0.0)
    hypergeometric = np.where(near, b * series, direct)
    return np.where(w == 0.0, np.inf, q / k * hypergeometric)


def expinf_l1_radius(k: float, d: int, p):
    """ExpInf(k, d) against l1, the paper's closed form

        R(p) = 2 (p - 1/2) Gamma(d/k + 1) / Gamma((d - 1)/k + 1)
             = 2 (p - 1/2) (d / (d - 1)) Gamma(d/k) / Gamma((d - 1)/k)      (d >= 2),

    i.e. (p - 1/2) / Phi_l1(1/2) with Phi_l1 from :func:`.differential.phi_expinf_l1`. Since
    Phi_l1(u) <= Phi_l1(1/2) for all u, it is a lower bound on the differential-method radius (equal to it for
    p <= 1 - 1/(2d)). Vectorised over p."""
    k, d = check_k_d(k, d, "expinf_l1_radius")
    p = check_p(p, "expinf_l1_radius")
    factor = float(special.poch((d - 1.0) / k + 1.0, 1.0 / k))  # Gamma(d/k + 1) / Gamma((d-1)/k + 1)
    return 2.0 * (p - 0.5) * factor


def exp2_l2_radius_k1(d: int, p):
    """Exp2(k=1, d) against l2, d >= 2: the differential method with :func:`.differential.phi_exp2_l2_k1`.
    Substituting u = P(w_1 > t), du = -c_d (1 - t^2)^((d-3)/2) dt, gives du / Phi(u) = -(d - 1) dt / (1 - t^2), so

        R(p) = (d - 1) artanh(t_{1-p}) = (d - 1) artanh(1 - 2 x) = ((d - 1)/2) log((1 - x) / x),
        x = I^-1_{(d-1)/2,(d-1)/2}(1 - p)

    A lower bound on the exact (level-set) certificate. Vectorised over p.

    Near p = 1/2, x = 1/2 - t/2 and betaincinv's absolute error of an ulp or so is a large relative error
    of t (1e-3 at p = 1/2 + 1e-12, d = 3072, in either direction). There t comes from a lower bound instead:
    the density of w_1 is c_d (1 - s^2)^((d-3)/2) <= c_d exp(-(d-3) s^2 / 2) (d >= 4), so
    P(0 < w_1 < t) <= c_d sqrt(pi / (2(d-3))) erf(t sqrt((d-3)/2)), and the t with P = p - 1/2 is at least
    sqrt(2/(d-3)) erfinv((p - 1/2) / (c_d sqrt(pi / (2(d-3))))); its relative loss is ~ (d-3) t^4 / 4,
    negligible where it is used (t below min(1e-3, 1/sqrt(d))). d = 2 and 3 have exact forms
    (t = sin(pi (p - 1/2)) and t = 2p - 1)."""
    d = check_d(d, "exp2_l2_radius_k1", minimum=2)
    p = check_p(p, "exp2_l2_radius_k1")
    if d == 2:  # artanh(sin(pi (p - 1/2))) = -log(tan(pi (1 - p) / 2)), the latter accurate near p = 1
        return np.where(p < 0.75, np.arctanh(np.sin(np.pi * (p - 0.5))), -np.log(np.tan(0.5 * np.pi * (1.0 - p))))
    if d == 3:  # 2 artanh(2p - 1) = log(p / (1 - p))
        return np.where(p < 0.75, 2.0 * np.arctanh(2.0 * (p - 0.5)), np.log(p / (1.0 - p)))
    a = 0.5 * (d - 1)
    x = special.betaincinv(a, a, 1.0 - p)  # in (0, 1/2)
    radius = 0.5 * (d - 1.0) * (np.log1p(-x) - np.log(x))  # = (d - 1) artanh(1 - 2x), without cancellation
    c_d = float(special.poch(0.5 * (d - 1), 0.5)) / math.sqrt(math.pi)  # Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2))
    width = math.sqrt(math.pi / (2.0 * (d - 3)))
    ratio = np.minimum((p - 0.5) / (c_d * width), 1.0)
    t_low = special.erfinv(ratio) / math.sqrt(0.5 * (d - 3))
    near_half = t_low < min(1e-3, 1.0 / math.sqrt(d))
    return np.where(near_half, (d - 1.0) * np.arctanh(t_low), radius)


def exp2_l2_linear_radius(k: float, d: int, p):
    """Exp2(k, d) against l2 (d >= 2): the differential-method lower bound (p - 1/2) / Phi(1/2), valid since
    the growth function is non-decreasing on (0, 1/2]. G = k rho^(k-1) w_1 (-grad log q = k rho^(k-1) w), so
    Phi(1/2) = E[G 1{G > 0}] = k E[rho^(k-1)] E[w_1 1{w_1 > 0}] = k poch(d/k, 1 - 1/k) c_d / (d - 1), with
    c_d = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)). G is symmetric with a density at 0, so Phi is flat at
    u = 1/2 and the bound is tight to second order as p -> 1/2: it covers the p below the first radius of a
    level-set table. Vectorised over p."""
    k, d = check_k_d(k, d, "exp2_l2_linear_radius", minimum_d=2)
    p = check_p(p, "exp2_l2_linear_radius")
    c_d = float(special.poch(0.5 * (d - 1), 0.5)) / math.sqrt(math.pi)
    phi_half = k * float(special.poch(d / k, 1.0 - 1.0 / k)) * c_d / (d - 1.0)
    return (p - 0.5) / phi_half


def _expinf_j_args(k, j, d, owner):
    k = check_shape("k", k, owner)
    d = check_d(d, owner, 2)
    j = float(j)
    if not (0.0 <= j and d - j > 1.0):
        raise ValueError(f"{owner}: needs 0 <= j < d - 1 (E[1/r] and the gradient's integrability), got j={j!r}, d={d}")
    return k, j, d, (d - j) / k


def expinf_j_l1_radius(k: float, j: float, d: int, p):
    """ExpInf(k, j, d) against l1 (lambda = 1, d >= 2, 0 <= j < d - 1): R(p) = 2d (p - 1/2) Gamma(a) / ((d - 1)
    Gamma(a - 1/k)), a = (d - j)/k (the module docstring derives it). For j = 0 it is the paper's closed form.
    A lower bound on the differential-method radius, equal to it for p <= 1 - 1/(2d). Vectorised over p."""
    k, j, d, a = _expinf_j_args(k, j, d, "expinf_j_l1_radius")
    p = check_p(p, "expinf_j_l1_radius")
    log_ratio = special.gammaln(a) - special.gammaln(a - 1.0 / k)
    return 2.0 * d * (p - 0.5) / (d - 1.0) * math.exp(log_ratio) * _SAFETY


def _powinf_args(a, d, owner):
    d = check_d(d, owner, 1)
    a = check_shape("a", a, owner)
    if not a > d:
        raise ValueError(f"{owner}: needs a > d, got a={a!r}, d={d}")
    return a, d


def powinf_l1_radius(a: float, d: int, p):
    """PowInf(a, d) against l1 (lambda = 1): R(p) = 2d (p - 1/2) / (a - d), a lower bound on the differential
    radius (equal to it for p <= 1 - 1/(2d)). Vectorised over p."""
    a, d = _powinf_args(a, d, "powinf_l1_radius")
    p = check_p(p, "powinf_l1_radius")
    return 2.0 * d * (p - 0.5) / (a - d) * _SAFETY


def expp_l1_radius_p_ge_1(p_exponent: float, p):
    """Expp(p_exponent >= 1) against l1 (lambda = 1): the exact certificate F^-1(p) = Q^-1_{1/p_exponent}(2(1 - p))
    ^(1/p_exponent), F the generalized normal CDF (module docstring). Vectorised over p."""
    q = check_shape("p_exponent", p_exponent, "expp_l1_radius_p_ge_1")
    if q < 1.0:
        raise ValueError(f"expp_l1_radius_p_ge_1: needs p_exponent >= 1, got {q!r}")
    p = check_p(p, "expp_l1_radius_p_ge_1")
    x = special.gammainccinv(1.0 / q, 2.0 * (1.0 - p))  # 1 - p is exact for 1/2 <= p <= 1
    return x ** (1.0 / q) * _SAFETY


def _expp_half_s0(p: np.ndarray) -> np.ndarray:
    """s0 > 0 with (1 + s0) exp(-s0) = 2p - 1, i.e. h(s0) = log1p(s0) - s0 = L := log1p(-2(1 - p)) (exact 1 - p).
    Start from the lower branch of Lambert W (or, near p = 1 where W loses its accuracy at the branch point,
    from the series h(s) = -s^2/2 + s^3/3 - ..., s ~ sqrt(-2L)), then Newton steps on h (h is concave and
    decreasing for s > 0, h' = -s/(1 + s), so Newton from either side converges)."""
    target = np.log1p(-2.0 * (1.0 - p))
    series = np.sqrt(-2.0 * target) * (1.0 + np.sqrt(-2.0 * target) / 3.0)
    with np.errstate(invalid="ignore"):
        w = -1.0 - special.lambertw(-(2.0 * p - 1.0) / math.e, k=-1).real
    s = np.where((-target > 1e-3) & np.isfinite(w) & (w > 0), w, series)
    for _ in range(8):
        s = np.maximum(s - (np.log1p(s) - s - target) / (-s / (1.0 + s)), 0.5 * s)
    return s


def expp_l1_radius_p_half(p):
    """Expp(1/2) against l1 (lambda = 1), the differential method in closed form:
    R(p) = 2 (Li_2(e^-s0) - s0 log(1 - e^-s0)) with (1 + s0) e^-s0 = 2p - 1 (module docstring). Vectorised."""
    p = check_p(p, "expp_l1_radius_p_half")
    s0 = _expp_half_s0(p)
    e = np.exp(-s0)
    dilog = special.spence(1.0 - e)  # Li_2(e) = spence(1 - e)
    return 2.0 * (dilog - s0 * np.log(-np.expm1(-s0))) * _SAFETY


# ndtri's relative error bound used by :func:`normal_quantile_gap` (Cephes' ndtri is within a few ulp; the
# oracle tests check the gap against mpmath down to p_A - p_B = 1e-15 and 1 - p = 1e-16)
NDTRI_RTOL = 32.0 * _EPS


def normal_quantile_gap(p_a, p_b):
    """A lower bound on Phi^-1(p_a) - Phi^-1(p_b) (0 <= p_b < p_a <= 1, float64 arrays), accurate however small
    the gap: the max of two sound bounds.

    * the difference of the two quantiles less its absolute error, NDTRI_RTOL (|z_a| + |z_b|): tight when the gap
      is large against that error, useless when p_a and p_b nearly meet (the difference then cancels);
    * the mean-value bound: Phi^-1(p_a) - Phi^-1(p_b) is the integral of 1 / phi(Phi^-1(p)) over [p_b, p_a],
      at least (p_a - p_b) / max phi there; phi(Phi^-1(p)) peaks at p = 1/2, so the max is at the end nearest
      1/2 (1 / sqrt(2 pi) if the interval contains it). p_a - p_b and the endpoint's quantile are evaluated
      without cancellation (the quantile at an exact input), and the density is rounded up by its error bound;
      the relative loss, ~ (p_a - p_b) |z| / phi(z), is below 1e-7 wherever the first bound is worse.
    """
    p_a = np.asarray(p_a, dtype=np.float64)
    p_b = np.asarray(p_b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z_a, z_b = special.ndtri(p_a), special.ndtri(p_b)
        infinite = np.isinf(z_a) | np.isinf(z_b)
        error = NDTRI_RTOL * (np.abs(z_a) + np.abs(z_b)) + 2.0 * _EPS * np.abs(z_a - z_b)
        direct = np.where(infinite, z_a - z_b, z_a - z_b - error)
        # the end nearest 1/2: z_b if p_b >= 1/2, z_a if p_a <= 1/2, else 0 (the interval holds 1/2)
        z_near = np.where(p_b >= 0.5, z_b, np.where(p_a <= 0.5, z_a, 0.0))
        # exp(-z^2/2) with z's relative error NDTRI_RTOL moves by NDTRI_RTOL z^2 (relative); exp, the product
        # and the quotient add a few ulp
        density_up = np.exp(-0.5 * z_near * z_near) * (1.0 + 2.0 * NDTRI_RTOL * z_near * z_near + 8.0 * _EPS)
        gap = (p_a - p_b) * (1.0 - _EPS)  # one rounding (exact where Sterbenz applies)
        mean_value = np.where(np.isfinite(z_near), gap * math.sqrt(2.0 * math.pi) / density_up, 0.0)
    return np.maximum(np.maximum(direct, mean_value), 0.0)


def laplace_l1_top2_radius(p_a, p_b):
    """Teng et al.'s (2020, Theorem 1) top-2 l1 radius of Laplace(0, 1), max(log(p_a / p_b) / 2,
    -log(1 - p_a + p_b)) (0 <= p_b < p_a <= 1), evaluated without cancellation:

    * log(p_a / p_b) = log1p((p_a - p_b) / p_b): the difference is rounded once (exact where Sterbenz applies),
      and log1p is well conditioned in its argument's relative error (x / ((1 + x) log1p(x)) <= 1), so the result
      is within a few ulp however close p_a and p_b are (log p_a - log p_b cancels);
    * -log(1 - g), g = p_a - p_b: -log1p(-g) for g <= 1/2 (condition number <= 3), else -log((1 - p_a) + p_b)
      (1 - p_a is exact for p_a >= 1/2 and the sum is rounded once; the condition number 1 / |log s| <= 1.5).

    The few ulp left are covered by the margin every route applies (:mod:`.margins`). p_b = 0 gives inf."""
    p_a = np.asarray(p_a, dtype=np.float64)
    p_b = np.asarray(p_b, dtype=np.float64)
    g = p_a - p_b
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ratio = np.log1p(g / p_b)
        # a subnormal p_b can overflow the quotient: there the logs are huge and their difference has no
        # cancellation (absolute error a few ulp of the larger)
        tiny = p_b < 1e-300
        logs = np.log(p_a) - np.log(p_b)
        ratio = np.where(tiny, logs - 8.0 * _EPS * (np.abs(np.log(p_a)) + np.abs(np.log(p_b))), ratio)
        ratio = np.where(p_b == 0.0, np.inf, ratio)
        complement = np.where(g <= 0.5, -np.log1p(-g), -np.log((1.0 - p_a) + p_b))
    return np.maximum(np.maximum(0.5 * ratio, complement), 0.0)


def masking_l0_union_bound(keep: float, p) -> np.ndarray:
    """The looser l0 certificate of Masking by the union bound: the largest integer R with p > 1/2 + R * keep
    (the exact certificate, used by ``certify``, is at least this)."""
    p = np.asarray(p, dtype=np.float64)
    return np.maximum(np.ceil((p - 0.5) / keep) - 1.0, 0.0)


def laplace_linf_approximate(noise, p_lower, dim: int):
    """The Gaussian-CDF approximation lambda * Phi^-1(p) / sqrt(d) of the Laplace l_inf radius used by
    default in earlier code. APPROXIMATE: it is not a guaranteed certificate (it can exceed the true
    radius); use ``noise.certify(p, 'linf', dim=d)`` for the guaranteed one."""
    p = np.asarray(p_lower, dtype=np.float64)
    return np.where(p > 0.5, noise.lambd * stats.norm.ppf(np.clip(p, 0.5, 1.0)) / math.sqrt(dim), 0.0)


# ---- the registered certificates (noise, p, d) ------------------------------------------------------------


@certificate("gaussian", "l2", needs_dim=False)
def gaussian_l2(noise, p, d):
    return noise.lambd * stats.norm.ppf(p)


@certificate("laplace", "l1", needs_dim=False)
def laplace_l1(noise, p, d):
    return noise.lambd * laplace_l1_radius(p)


@certificate("uniform", "l1", needs_dim=False, total_variation=True)
def uniform_l1(noise, p, d):
    return 2.0 * noise.lambd * (p - 0.5)


@certificate("uniform", "linf", needs_dim=True, total_variation=True)
def uniform_linf(noise, p, d):
    # 1 - (3/2 - p)^(1/d) without cancellation: 1/2 - p is exact, log1p and expm1 are accurate to an ulp
    return 2.0 * noise.lambd * -np.expm1(np.log1p(0.5 - p) / d)


@certificate("lomax", "l1", needs_dim=False)
def lomax_l1(noise, p, d):
    return round_down(noise.lambd * lomax_l1_radius(noise.k, p), SPECIAL_FUNCTION_MARGIN)


@certificate("uniformball", "l2", needs_dim=True, total_variation=True)
def uniform_ball_l2(noise, p, d):
    # 1 - I^-1_{(d+1)/2, 1/2}(3/2 - p) = I^-1_{1/2, (d+1)/2}(p - 1/2): no cancellation, p - 1/2 is exact
    y = special.betaincinv(0.5, (d + 1) / 2.0, p - 0.5)
    return round_down(2.0 * noise.lambd * np.sqrt(np.clip(y, 0.0, 1.0)), SPECIAL_FUNCTION_MARGIN)


# (1 - keep)^R is evaluated as -expm1(R log1p(-keep)) = 1 - (1 - keep)^R with a relative error below 8 ulp
# (log1p, the product and expm1 each contribute at most ~2 ulp, and -expm1 is well conditioned). Outside a band
# of MASKING_ULPS ulp around it the float comparison with p - 1/2 (exact) decides; inside the band (a near-tie)
# exact rational arithmetic on the float values of p and keep does, where the power is small enough to expand
# (R <= MASKING_EXACT_MAX_R), else R is not certified (sound, at most one lost).
MASKING_ULPS = 16.0
MASKING_EXACT_MAX_R = 100_000


def _masking_certifies_exactly(p: float, keep: float, r: int) -> bool:
    """p - 1/2 > 1 - (1 - keep)^r in exact rational arithmetic on the float values of p and keep."""
    return Fraction(p) - Fraction(1, 2) > 1 - (1 - Fraction(keep)) ** r


def _masking_certifies(p, keep: float, r):
    """Whether R = r is certified at p: p - 1/2 > 1 - (1 - keep)^r, float-safe (see MASKING_ULPS)."""
    p = np.asarray(p, dtype=np.float64)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), p.shape)
    moved = -np.expm1(r * np.log1p(-keep))
    band = MASKING_ULPS * np.finfo(np.float64).eps * moved
    certified = (p - 0.5) > moved + band
    tie = ~certified & ((p - 0.5) >= moved - band) & (r <= MASKING_EXACT_MAX_R)
    for index in zip(*np.nonzero(tie)):
        certified[index] = _masking_certifies_exactly(float(p[index]), keep, int(r[index]))
    return certified


@certificate("masking", "l0", needs_dim=False, total_variation=True)
def masking_l0(noise, p, d):
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


@certificate("expinf", "l1", needs_dim=True, when=_no_j)
def expinf_l1(noise, p, d):
    # the differential integral with Phi_l1 (docs/certificates.md 1.3): the paper's linear closed form up to
    # the kink p* = 1 - 1/(2d), then R(p*) + R_linf(1 - d (1 - p)) above it (R_linf: the direct l_inf certificate)
    p = np.asarray(p, dtype=np.float64)
    radius = noise.lambd * expinf_l1_radius(noise.k, d, p)
    above = p > 1.0 - 0.5 / d
    if above.any():
        at_kink = (1.0 - 1.0 / d) * float(special.poch((d - 1.0) / noise.k + 1.0, 1.0 / noise.k))
        tail_mass = np.nextafter(d * (1.0 - p[above]), 1.0)  # rounded up: the linf radius at a lower p
        p_linf = 1.0 - tail_mass
        linf = np.zeros_like(p_linf)
        inside = p_linf > 0.5
        if inside.any():
            linf[inside] = registry.best_radius(registry.certificates(noise, "linf"), noise, p_linf[inside], d)
        radius[above] = np.maximum(radius[above], noise.lambd * at_kink + linf)
    return round_down(radius, SPECIAL_FUNCTION_MARGIN)


@certificate("expinf", "linf", needs_dim=True, when=lambda noise: noise.k == 1.0 and not noise.j)
def expinf_linf_k1(noise, p, d):
    return noise.lambd * expinf_linf_radius_k1(p)


@certificate("expinf", "l1", needs_dim=True, when=lambda noise: bool(noise.j))
def expinf_j_l1(noise, p, d):
    return noise.lambd * expinf_j_l1_radius(noise.k, noise.j, d, _below_one(p))


@certificate("exp1", "l1", needs_dim=True, when=lambda noise: noise.k == 1.0)
def exp1_l1_k1(noise, p, d):
    return noise.lambd * exp1_l1_radius_k1(p)


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k == 2.0 and not noise.j)
def exp2_l2_k2(noise, p, d):
    return noise.lambd / math.sqrt(2.0) * stats.norm.ppf(p)


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k == 1.0 and not noise.j)
def exp2_l2_k1(noise, p, d):
    if d == 1:
        return noise.lambd * laplace_l1_radius(p)
    return round_down(noise.lambd * exp2_l2_radius_k1(d, p), SPECIAL_FUNCTION_MARGIN)


@certificate("exp2", "l2", needs_dim=True, when=lambda noise: noise.k not in (1.0, 2.0) and not noise.j)
def exp2_l2_linear(noise, p, d):
    if d == 1:
        return None  # one dimension: the table alone
    return round_down(noise.lambd * exp2_l2_linear_radius(noise.k, d, p), SPECIAL_FUNCTION_MARGIN)


@certificate("powinf", "l1", needs_dim=True)
def powinf_l1(noise, p, d):
    return noise.lambd * powinf_l1_radius(noise.a, d, _below_one(p))


@certificate("expp", "l1", needs_dim=False, when=lambda noise: noise.p >= 1.0)
def expp_l1_p_ge_1(noise, p, d):
    return noise.lambd * expp_l1_radius_p_ge_1(noise.p, _below_one(p))


@certificate("expp", "l1", needs_dim=False, when=lambda noise: noise.p == 0.5)
def expp_l1_p_half(noise, p, d):
    return noise.lambd * expp_l1_radius_p_half(_below_one(p))


# ---- top-2 forms (noise, p_a, p_b, d) ---------------------------------------------------------------------


@top2_certificate("gaussian", "l2", parameters={})
def gaussian_l2_top2(noise, p_a, p_b, d):
    return noise.lambd / 2.0 * normal_quantile_gap(p_a, p_b)


@top2_certificate("exp2", "l2", parameters={"k": 2.0, "j": 0.0})
def exp2_l2_k2_top2(noise, p_a, p_b, d):
    return noise.lambd / (2.0 * np.sqrt(2.0)) * normal_quantile_gap(p_a, p_b)


@top2_certificate("laplace", "l1", parameters={})
def laplace_l1_top2(noise, p_a, p_b, d):
    return noise.lambd * laplace_l1_top2_radius(p_a, p_b)
