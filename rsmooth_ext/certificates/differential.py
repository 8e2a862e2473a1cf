"""Numerical certificates for the table-based noises (ExpInf, Exp1, Exp2, Laplace against linf).

Pure NumPy/SciPy, float64. Every function works for scale lambda = 1: all radii below scale linearly with
the noise's lambda (a certificate for eps is one for lambda * eps after multiplying the radius by lambda).
``p`` is always a lower bound on the top-class probability, with 1/2 < p < 1; since 1/2 <= p <= 1, the
tail mass 1 - p is computed exactly in floating point. See docs/certificates.md for the derivations.

Two methods from Yang, Duan, Hu, Salman, Razenshteyn and Li, "Randomized Smoothing of All Shapes and
Sizes" (ICML 2020):

* the differential method (a lower bound on the exact certificate): for noise density q and adversary
  norm ||.||, let the growth function be

      Phi(u) = sup_{||v|| <= 1} sup_{f: R^d -> [0,1], E f(eps) = u} d/dt|_{t=0} E f(eps + t v)
             = sup_{||v|| <= 1} E[ G_v 1{G_v in its top u-mass} ],   G_v = <-grad log q(eps), v>,

  (the inner sup is a bathtub / Neyman-Pearson argument; it applies at every point of a path, since
  x -> f(x + .) is again [0,1]-valued). Along a path of unit speed in ||.||, the probability mass u of
  all other classes together can grow at rate at most Phi(u), so starting from u = 1 - p it needs a path
  length of at least

      R(p) = integral_{1-p}^{1/2} du / Phi(u)

  to reach 1/2; until then the top class keeps probability > 1/2 and stays the prediction.

* the level-set (Neyman-Pearson) method (the exact certificate against a shift of norm r, used for Exp2
  against l2; see :func:`exp2_l2_levelset_radius`).

Public functions (all for lambda = 1):

* differential method: :func:`differential_radius`, :func:`differential_table`;
* growth functions (factories returning a vectorised callable u -> Phi(u) on 0 < u <= 1/2):
  :func:`phi_gaussian`, :func:`phi_laplace_l1`, :func:`phi_laplace_linf`, :func:`phi_expinf_linf`,
  :func:`phi_exp1_l1`, :func:`phi_expinf_l1`, :func:`phi_exp2_l2_k1`;
* closed forms: :func:`gaussian_l2_radius`, :func:`laplace_l1_radius`, :func:`expinf_l1_radius`,
  :func:`expinf_linf_radius_k1`, :func:`exp1_l1_radius_k1`, :func:`exp2_l2_radius_k1`, and the exact
  evaluation :func:`laplace_linf_radius` of the (piecewise-linear) Laplace/linf differential integral;
* level-set method: :func:`exp2_l2_levelset_radius`, :func:`exp2_l2_levelset_table`,
  :func:`exp2_l2_levelset_masses`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import integrate, optimize, special, stats

from .margins import round_down as _round_down

__all__ = [
    "differential_radius",
    "differential_pieces",
    "differential_table",
    "phi_gaussian",
    "phi_laplace_l1",
    "phi_laplace_linf",
    "phi_expinf_linf",
    "phi_exp1_l1",
    "phi_expinf_l1",
    "phi_exp2_l2_k1",
    "gaussian_l2_radius",
    "laplace_l1_radius",
    "laplace_linf_radius",
    "expinf_l1_radius",
    "expinf_linf_radius_k1",
    "exp1_l1_radius_k1",
    "exp2_l2_radius_k1",
    "exp2_l2_linear_radius",
    "exp2_l2_growth_nodes",
    "concave_tangent_radii",
    "exp2_l2_levelset_masses",
    "exp2_l2_levelset_radius",
    "exp2_l2_levelset_table",
]

PhiFunction = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------------------
def _check_k_d(k, d, owner: str) -> tuple[float, int]:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"{owner}: d must be an integer >= 1, got {d!r}")
    k = float(k)
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"{owner}: k must be a finite number > 0, got {k!r}")
    return k, int(d)


def _check_p(p, owner: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any() or (p <= 0.5).any() or (p >= 1.0).any():
        raise ValueError(f"{owner}: every p must satisfy 1/2 < p < 1")
    return p


def _check_d(d, owner: str, minimum: int = 1) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < minimum:
        raise ValueError(f"{owner}: d must be an integer >= {minimum}, got {d!r}")
    return int(d)


# ---------------------------------------------------------------------------------------------------------
# the differential method
# ---------------------------------------------------------------------------------------------------------
def _integrate_inverse_phi(phi: PhiFunction, lo: float, hi: float, rtol: float):
    """integral_lo^hi du / Phi(u), split at ``phi.breakpoints`` (the u where Phi is not smooth, if the
    callable declares them): quad's error estimate is only trustworthy on smooth pieces."""
    cuts = getattr(phi, "breakpoints", None)
    if cuts is None:
        return _integrate_smooth(phi, lo, hi, rtol)
    cuts = np.asarray(cuts, dtype=np.float64)
    inner = cuts[(cuts > lo) & (cuts < hi)]
    edges = np.concatenate([[lo], inner, [hi]])
    value = err = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        v, e = _integrate_smooth(phi, float(a), float(b), rtol)
        value += v
        err += e
    return value, err


def _integrate_smooth(phi: PhiFunction, lo: float, hi: float, rtol: float, depth: int = 0):
    """integral_lo^hi du / Phi(u) for 0 < lo < hi <= 1/2, by quad in s = log u (integrand u / Phi(u),
    which is O(1) for all the growth functions here: Phi(u) ~ u * (slowly varying) as u -> 0).
    Returns (value, abserr). Pieces on which quad reports trouble are bisected (in s) and redone."""

    def integrand(s):
        u = math.exp(s)
        value = float(phi(u))
        if not (value > 0 and math.isfinite(value)):
            raise FloatingPointError(f"growth function Phi({u!r}) = {value!r} is not a positive number")
        return u / value

    a, b = math.log(lo), math.log(hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        out = integrate.quad(integrand, a, b, epsabs=0.0, epsrel=rtol, limit=200, full_output=1)
    value, abserr, ier = out[0], out[1], (out[3] if len(out) > 3 else None)
    if ier is not None and depth < 8:
        mid = math.exp(0.5 * (a + b))
        v1, e1 = _integrate_smooth(phi, lo, mid, rtol, depth + 1)
        v2, e2 = _integrate_smooth(phi, mid, hi, rtol, depth + 1)
        return v1 + v2, e1 + e2
    return value, abserr


def differential_radius(phi: PhiFunction, p, *, rtol: float = 1e-10):
    """The differential-method radius R(p) = integral_{1-p}^{1/2} du / Phi(u) (the differential method of
    Yang et al. 2020; see the module docstring and docs/certificates.md): a valid certified radius whenever
    ``phi`` is (an upper bound on) the noise's growth function against the adversary's norm.

    ``phi``: vectorised callable, Phi(u) > 0 on 0 < u <= 1/2 (the factories ``phi_*`` below).
    ``p``: float (or array, evaluated one by one) with 1/2 < p < 1.
    Integrated with scipy.integrate.quad in s = log u, relative tolerance ``rtol``.

    Returns ``(value, abserr)`` (floats, or float64 arrays of p's shape): quad's estimate of the integral
    and of its absolute error. ``value - abserr`` is the sound radius (as far as quad's error estimate is
    reliable; the integrands here are smooth or piecewise smooth and bounded)."""
    p = _check_p(p, "differential_radius")
    values = np.empty(p.shape)
    errors = np.empty(p.shape)
    for index, pi in np.ndenumerate(p):
        values[index], errors[index] = _integrate_inverse_phi(phi, 1.0 - float(pi), 0.5, rtol)
    if p.ndim == 0:
        return float(values), float(errors)
    return values, errors


def differential_pieces(phi: PhiFunction, p_grid, *, rtol: float = 1e-10,
                        on_piece: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pieces integral_{1-p_i}^{1-p_{i-1}} du / Phi(u) (p_0 = 1/2) of the differential-method radius on
    an increasing grid 1/2 < p_1 < p_2 < ... < 1, each computed separately with quad, and quad's error
    estimate of each: ``(pieces, errors)``, float64 arrays of the grid's shape (pieces clipped at 0).
    ``on_piece`` (optional) is called after each piece (a progress bar's update)."""
    p = _check_p(p_grid, "differential_table")
    if p.ndim != 1 or p.size == 0:
        raise ValueError("differential_table: p_grid must be a non-empty 1-d array")
    if p.size > 1 and not (np.diff(p) > 0).all():
        raise ValueError("differential_table: p_grid must be strictly increasing")
    edges = np.concatenate([[0.5], 1.0 - p])  # exact, decreasing
    pieces = np.empty(p.size)
    errors = np.empty(p.size)
    for i in range(p.size):
        value, errors[i] = _integrate_inverse_phi(phi, float(edges[i + 1]), float(edges[i]), rtol)
        pieces[i] = max(value, 0.0)
        if on_piece is not None:
            on_piece()
    return pieces, errors


def differential_table(phi: PhiFunction, p_grid, *, rtol: float = 1e-10, on_piece: Callable[[], None] | None = None):
    """Cumulative differential-method radii R(p_i) = integral_{1-p_i}^{1/2} du / Phi(u) on an increasing
    grid 1/2 < p_1 < p_2 < ... < 1 (see :func:`differential_radius`).

    Each piece integral_{1-p_i}^{1-p_{i-1}} du / Phi(u) (with p_0 = 1/2) is computed separately with quad
    (:func:`differential_pieces`) and the radii are their cumulative sums, so the table is non-decreasing by
    construction (every piece is >= 0 since Phi > 0).

    Returns ``(radii, abserr)``: a float64 array of the grid's shape and the sum of quad's error
    estimates over all pieces (a float). Every entry's own error is at most ``abserr``, so
    ``radii - abserr`` (clipped at 0) is a sound table. ``on_piece`` (optional) is called after each piece
    (a progress bar's update)."""
    pieces, errors = differential_pieces(phi, p_grid, rtol=rtol, on_piece=on_piece)
    return np.cumsum(pieces), float(errors.sum())


# ---------------------------------------------------------------------------------------------------------
# growth functions Phi (lambda = 1); each factory returns a vectorised callable on 0 < u <= 1/2
# ---------------------------------------------------------------------------------------------------------
def phi_gaussian() -> PhiFunction:
    """Standard Gaussian N(0, I) against l2: G_v = <eps, v> ~ N(0, 1) for ||v||_2 = 1, so
    Phi(u) = E[Z 1{Z > z_u}] = phi(z_u) = phi(Phi_N^-1(u)) (phi, Phi_N: standard normal pdf, cdf).
    The differential method then gives exactly Phi_N^-1(p) (Cohen et al. 2019). Validation only."""

    def phi(u):
        return stats.norm.pdf(special.ndtri(np.asarray(u, dtype=np.float64)))

    return phi


def phi_laplace_l1() -> PhiFunction:
    """I.i.d. Laplace(0, 1) against l1 (any d): -grad log q(eps) = sign(eps); the sup over the l1 ball is
    at v = e_1 (convexity in v plus symmetry), G = sign(eps_1) = +-1 with probability 1/2 each, so
    Phi(u) = u for u <= 1/2 and R(p) = -log(2 (1 - p)) (Teng et al. 2020). Also Exp1 with k = 1."""

    def phi(u):
        return np.asarray(u, dtype=np.float64) * 1.0

    return phi


def _binomial_half_tails(d: int, m0: int, m1: int) -> tuple[np.ndarray, np.ndarray]:
    """For B ~ Binomial(d, 1/2), B' ~ Binomial(d - 1, 1/2) and m = m0 ... m1: P(B > m) and
    (d/2) P(B' = m), each correctly rounded (error <= 1/2 ulp), except the last tail P(B > m1), which is
    a lower bound (its sum stops at terms below 2^-64 of it). Exact integer arithmetic: binomial coefficients and their
    suffix sums are Python integers, divided once by 2^d (Python's int / int is correctly rounded).
    scipy's bdtrc has ~2e-10 relative error at d = 150528, which is why this exists."""
    last, j = 0, m1 + 1
    coefficient = math.comb(d, j) if j <= d else 0  # C(d, j); the terms decrease geometrically
    while coefficient and coefficient << 64 > last:
        last += coefficient
        coefficient = coefficient * (d - j) // (j + 1)
        j += 1
    above = [last]  # above[i] = sum_{j > m0 + i} C(d, j) = 2^d P(B > m0 + i), built from the top down
    coefficient = math.comb(d, m1)
    for m in range(m1, m0, -1):  # coefficient = C(d, m)
        above.append(above[-1] + coefficient)
        coefficient = coefficient * m // (d - m + 1)
    above.reverse()
    denominator = 1 << d
    tails = np.array([a / denominator for a in above], dtype=np.float64)
    if d == 1:
        return tails, np.where(np.arange(m0, m1 + 1) == 0, 0.5, 0.0)
    coefficient = math.comb(d - 1, m0)  # (d/2) C(d - 1, m) / 2^(d - 1) = d C(d - 1, m) / 2^d
    means = []
    for m in range(m0, m1 + 1):
        means.append(d * coefficient / denominator)
        coefficient = coefficient * (d - 1 - m) // (m + 1)
    return tails, np.array(means, dtype=np.float64)


class _LaplaceLinfTable:
    """Pieces of the Laplace/linf growth function (see :func:`phi_laplace_linf`).

    G = sum_i sign(eps_i) = 2B - d with B ~ Binomial(d, 1/2). With S_m = P(B >= m) and
    E_m = E[G 1{B >= m}] = (d/2) P(B' = m - 1), B' ~ Binomial(d - 1, 1/2) (from E[B 1{B >= m}] =
    (d/2) P(B' >= m - 1) and P(B >= m) = (P(B' >= m) + P(B' >= m - 1)) / 2), the growth function on
    S_{m+1} <= u <= S_m is linear: Phi(u) = E_{m+1} + (2m - d)(u - S_{m+1}).
    Piece j (j = 0, 1, ...) is m = m0 + j, m0 = floor(d/2); pieces run downwards in u from 1/2."""

    def __init__(self, d: int):
        self.d = d
        m0 = d // 2  # S_{m0} >= 1/2 >= S_{m0 + 1} (equality at odd d)
        m1 = min(d, m0 + int(10.0 * math.sqrt(d)) + 20)  # S_{m1} < 1e-80 unless m1 = d
        S_next, E_next = _binomial_half_tails(d, m0, m1)
        self.lo = S_next  # lower end of piece j
        self.hi = np.minimum(np.concatenate([[0.5], S_next[:-1]]), 0.5)  # upper end, clipped at 1/2
        self.slope = 2.0 * np.arange(m0, m1 + 1, dtype=np.float64) - d
        self.base = E_next
        # the last tail P(B > m1) is exact (0) when m1 = d, else only a lower bound below 1e-80: stop at S_{m1}
        self.min_u = float(S_next[-1] if m1 == d else S_next[-2])

    def piece(self, u):
        """Index j of the piece with lo_j <= u (< hi_j); lo is decreasing."""
        idx = np.searchsorted(self.lo[::-1], u, side="right")  # number of lo values <= u
        return np.clip(self.lo.size - idx, 0, self.lo.size - 1)

    def phi(self, u):
        u = np.asarray(u, dtype=np.float64)
        if (u <= self.min_u).any() or (u > 0.5).any():
            raise ValueError("phi_laplace_linf: u outside the tabulated range (0, 1/2] (p too close to 1?)")
        j = self.piece(u)
        return self.base[j] + self.slope[j] * (u - self.lo[j])

    def integral(self, j, u_from, u_to):
        """integral_{u_from}^{u_to} du / Phi(u) inside piece j, exactly."""
        a = self.base[j] + self.slope[j] * (u_from - self.lo[j])
        x = self.slope[j] * (u_to - u_from) / a
        small = np.abs(x) < 1e-6
        safe_x = np.where(small, 1.0, x)
        ratio = np.where(small, 1.0 - x / 2.0 + x * x / 3.0 - x**3 / 4.0, np.log1p(safe_x) / safe_x)
        return (u_to - u_from) / a * ratio


@functools.lru_cache(maxsize=8)
def _laplace_linf_table(d: int) -> _LaplaceLinfTable:
    return _LaplaceLinfTable(d)  # exact integer tails: ~1 s at d = 150528, so built once per d


def phi_laplace_linf(d: int) -> PhiFunction:
    """I.i.d. Laplace(0, 1) in R^d against linf. -grad log q(eps) = sign(eps); Phi_v is convex in v and the
    noise is invariant under coordinate sign flips, so the sup over the linf ball is at v = (1, ..., 1):
    G = sum_i sign(eps_i) = 2B - d, B ~ Binomial(d, 1/2). The top u-mass of the discrete G takes all of
    {B > m} and a fraction of {B = m}, where P(B > m) <= u < P(B >= m):

        Phi(u) = E[G 1{B > m}] + (2m - d)(u - P(B > m)),   E[G 1{B > m}] = (d/2) P(Binomial(d-1, 1/2) = m),

    a concave piecewise-linear function of u (the paper's Laplace/linf Phi, derived in docs). The integral
    of 1/Phi has the exact evaluation :func:`laplace_linf_radius`. Defined for u > P(B > m1),
    m1 = min(d, floor(d/2) + 20 sqrt(d) + 20): that bound is below 1e-80 (or 0), far below any 1 - p."""
    d = _check_d(d, "phi_laplace_linf")
    tab = _laplace_linf_table(d)

    def phi(u):
        return tab.phi(u)

    phi.breakpoints = np.sort(tab.lo[(tab.lo > 0) & (tab.lo < 0.5)])
    return phi


# relative error bound of laplace_linf_radius's float evaluation (docs/certificates.md, margin policy): the
# tails are correctly rounded, each piece is accurate to a few hundred ulp (the width hi - lo of a piece is
# a difference of nearby tails), and the sum of positive pieces adds an ulp per piece: < 1e-12 in all.
LAPLACE_LINF_MARGIN = 1e-10


def laplace_linf_radius(d: int, p):
    """Exact value of the Laplace/linf differential-method radius integral_{1-p}^{1/2} du / Phi(u) with Phi
    from :func:`phi_laplace_linf` (lambda = 1). Phi is linear, A + b (u - u0), on each piece between
    consecutive binomial tail probabilities, where the integral of 1/Phi is log1p(b (u1 - u0) / A) / b
    ((u1 - u0) / A for b = 0); the pieces are summed, and the sum is rounded toward zero by
    ``LAPLACE_LINF_MARGIN`` (relative), which covers its float error. A lower bound on the exact linf
    certificate (the differential method), and at least the l1-derived radius -log(2(1-p)) / d. Vectorised
    over p."""
    d = _check_d(d, "laplace_linf_radius")
    p = _check_p(p, "laplace_linf_radius")
    tab = _laplace_linf_table(d)
    u = 1.0 - p
    if (u <= tab.min_u).any():
        raise ValueError("laplace_linf_radius: p too close to 1 for the tabulated range")
    full = np.zeros(tab.lo.size)
    valid = (tab.lo < tab.hi) & (tab.lo > tab.min_u)
    full[valid] = tab.integral(np.flatnonzero(valid), tab.lo[valid], tab.hi[valid])
    above = np.concatenate([[0.0], np.cumsum(full)])  # above[j] = integral from hi_j up to 1/2
    j = tab.piece(u)
    out = _round_down(tab.integral(j, u, tab.hi[j]) + above[j], LAPLACE_LINF_MARGIN)
    return float(out) if out.ndim == 0 else out


def _radial_sign_phi(k: float, d: int):
    """Phi(u) = (k/2) (Gamma(b)/Gamma(a)) Psi(u), a = d/k, b = a + 1 - 1/k, shared by ExpInf/linf and
    Exp1/l1 (see :func:`phi_expinf_linf`). Returns (callable, constant (k/2) Gamma(b)/Gamma(a))."""
    a = d / k
    b = a + 1.0 - 1.0 / k
    const = 0.5 * k * float(special.poch(a, 1.0 - 1.0 / k))  # (k/2) Gamma(b) / Gamma(a)
    if k >= 1.0:

        def phi(u):
            u = np.asarray(u, dtype=np.float64)
            return const * special.gammaincc(b, special.gammainccinv(a, 2.0 * u))

    else:

        def phi(u):
            u = np.asarray(u, dtype=np.float64)
            return const * special.gammainc(b, special.gammaincinv(a, 2.0 * u))

    return phi, const


def phi_expinf_linf(k: float, d: int) -> PhiFunction:
    """ExpInf(k, d) (density ~ exp(-||x||_inf^k)) against linf. With r = ||eps||_inf and j the coordinate
    achieving it, -grad log q(eps) = k r^(k-1) sign(eps_j) e_j; the sup over the linf ball is at
    v = (1, ..., 1) (convexity in v, sign-flip symmetry), so G = k r^(k-1) s with s = +-1 a fair sign
    independent of r, and U = r^k ~ Gamma(a = d/k). For u <= 1/2 the top u-mass of G lies in {s = +1}:
    {r >= r_u} for k >= 1 (r^(k-1) non-decreasing), {r <= r_u} for k < 1, with conditional mass 2u. Using
    E[U^((k-1)/k) 1{U in S}] = Gamma(b)/Gamma(a) P(Gamma(b) in S), b = a + 1 - 1/k = (d + k - 1)/k:

        k >= 1: Phi(u) = (k/2) Gamma(b)/Gamma(a) * Qb(Qa^-1(2u)),
        k <  1: Phi(u) = (k/2) Gamma(b)/Gamma(a) * Pb(Pa^-1(2u)),

    with Pa, Qa the regularized lower/upper incomplete gamma functions. For k = 1, Phi(u) = u and the
    radius is -log(2(1-p)) (:func:`expinf_linf_radius_k1`)."""
    k, d = _check_k_d(k, d, "phi_expinf_linf")
    return _radial_sign_phi(k, d)[0]


def phi_exp1_l1(k: float, d: int) -> PhiFunction:
    """Exp1(k, d) (density ~ exp(-||x||_1^k)) against l1. With r = ||eps||_1, -grad log q(eps) =
    k r^(k-1) sign(eps); the sup over the l1 ball is at a vertex v = e_1, G = k r^(k-1) sign(eps_1), and
    sign(eps_1) is a fair sign independent of r with U = r^k ~ Gamma(d/k): the same law of G as for
    ExpInf/linf, hence the same Phi as :func:`phi_expinf_linf`. k = 1 is i.i.d. Laplace (Phi(u) = u)."""
    k, d = _check_k_d(k, d, "phi_exp1_l1")
    return _radial_sign_phi(k, d)[0]


def phi_expinf_l1(k: float, d: int) -> PhiFunction:
    """ExpInf(k, d) against l1. The sup over the l1 ball is at v = e_1: G = k r^(k-1) s 1{j = 1}, with
    j uniform on the d coordinates, independent of (r, s). So G = 0 with probability 1 - 1/d, and

        Phi_l1(u) = Phi_linf(d u) / d      for u <= 1/(2d),
        Phi_l1(u) = Phi_linf(1/2) / d = k Gamma(b) / (2 d Gamma(a))   for 1/(2d) <= u <= 1/2,

    (Phi_linf from :func:`phi_expinf_linf`). Integrating gives the paper's linear closed form
    :func:`expinf_l1_radius` for p <= 1 - 1/(2d) and a larger radius above."""
    k, d = _check_k_d(k, d, "phi_expinf_l1")
    phi_linf, const = _radial_sign_phi(k, d)

    def phi(u):
        u = np.asarray(u, dtype=np.float64)
        return phi_linf(np.minimum(d * u, 0.5)) / d

    phi.breakpoints = np.array([0.5 / d])
    return phi


def phi_exp2_l2_k1(d: int) -> PhiFunction:
    """Exp2(k=1, d) (density ~ exp(-||x||_2)) against l2, d >= 2. -grad log q(eps) = eps / ||eps||_2 is the
    uniform direction w on the sphere, independent of the radius; with v = e_1 (rotation invariance),
    G = w_1, whose density is c_d (1 - t^2)^((d-3)/2) on (-1, 1), c_d = Gamma(d/2) / (sqrt(pi)
    Gamma((d-1)/2)), and (1 + w_1)/2 ~ Beta((d-1)/2, (d-1)/2). For P(w_1 > t_u) = u:

        Phi(u) = E[w_1 1{w_1 > t_u}] = c_d (1 - t_u^2)^((d-1)/2) / (d - 1),
        1 - t_u^2 = 4 x (1 - x),  x = I^-1_{(d-1)/2,(d-1)/2}(u)

    (I^-1: inverse regularized incomplete beta). Its integral is the closed form :func:`exp2_l2_radius_k1`."""
    d = _check_d(d, "phi_exp2_l2_k1", minimum=2)
    a = 0.5 * (d - 1)
    log_const = special.gammaln(d / 2.0) - 0.5 * math.log(math.pi) - special.gammaln(a) - math.log(d - 1.0)

    def phi(u):
        x = special.betaincinv(a, a, np.asarray(u, dtype=np.float64))
        return np.exp(log_const + a * np.log(4.0 * x * (1.0 - x)))

    return phi


# ---------------------------------------------------------------------------------------------------------
# closed forms (lambda = 1)
# ---------------------------------------------------------------------------------------------------------
def gaussian_l2_radius(p):
    """Gaussian N(0, I) against l2: Phi_N^-1(p) (Cohen et al. 2019; exact). Validation only."""
    p = _check_p(p, "gaussian_l2_radius")
    return special.ndtri(p)


def laplace_l1_radius(p):
    """I.i.d. Laplace(0, 1) against l1: -log(2(1 - p)) (Teng et al. 2020; exact). Validation only."""
    p = _check_p(p, "laplace_l1_radius")
    return -np.log1p(1.0 - 2.0 * p)  # = -log(2(1-p)); 1 - 2p is exact for 1/2 <= p <= 1


def expinf_linf_radius_k1(p):
    """ExpInf(k=1, d) against linf: Phi(u) = u (see :func:`phi_expinf_linf`), so R(p) = -log(2(1 - p)) for
    every d (Yang et al. 2020). A differential-method (lower-bound) certificate."""
    p = _check_p(p, "expinf_linf_radius_k1")
    return -np.log1p(1.0 - 2.0 * p)


def exp1_l1_radius_k1(p):
    """Exp1(k=1, d) = i.i.d. Laplace against l1: -log(2(1 - p)) (exact)."""
    return laplace_l1_radius(p)


def expinf_l1_radius(k: float, d: int, p):
    """ExpInf(k, d) against l1, the paper's closed form

        R(p) = 2 (p - 1/2) Gamma(d/k + 1) / Gamma((d - 1)/k + 1)
             = 2 (p - 1/2) (d / (d - 1)) Gamma(d/k) / Gamma((d - 1)/k)      (d >= 2),

    i.e. (p - 1/2) / Phi_l1(1/2) with Phi_l1 from :func:`phi_expinf_l1`. Since Phi_l1(u) <= Phi_l1(1/2) for
    all u, it is a lower bound on the differential-method radius (equal to it for p <= 1 - 1/(2d)).
    Vectorised over p."""
    k, d = _check_k_d(k, d, "expinf_l1_radius")
    p = _check_p(p, "expinf_l1_radius")
    factor = float(special.poch((d - 1.0) / k + 1.0, 1.0 / k))  # Gamma(d/k + 1) / Gamma((d-1)/k + 1)
    return 2.0 * (p - 0.5) * factor


def exp2_l2_radius_k1(d: int, p):
    """Exp2(k=1, d) against l2, d >= 2: the differential method with :func:`phi_exp2_l2_k1`. Substituting
    u = P(w_1 > t), du = -c_d (1 - t^2)^((d-3)/2) dt, gives du / Phi(u) = -(d - 1) dt / (1 - t^2), so

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
    d = _check_d(d, "exp2_l2_radius_k1", minimum=2)
    p = _check_p(p, "exp2_l2_radius_k1")
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
    k, d = _check_k_d(k, d, "exp2_l2_linear_radius")
    if d < 2:
        raise ValueError("exp2_l2_linear_radius: d must be >= 2")
    p = _check_p(p, "exp2_l2_linear_radius")
    c_d = float(special.poch(0.5 * (d - 1), 0.5)) / math.sqrt(math.pi)
    phi_half = k * float(special.poch(d / k, 1.0 - 1.0 / k)) * c_d / (d - 1.0)
    return (p - 0.5) / phi_half


# ---------------------------------------------------------------------------------------------------------
# the level-set (Neyman-Pearson) method for Exp2(k, d) against l2
# ---------------------------------------------------------------------------------------------------------
class _Exp2LevelSet:
    """Masses of the Neyman-Pearson sets of Exp2(k, d) (lambda = 1) for the shift delta = r e_1.

    eps = rho w with U = rho^k ~ Gamma(d/k) and w uniform on the unit sphere, independent. The log
    likelihood ratio of eps + delta against eps at y is ||y||^k - ||y - delta||^k =: T(y); the NP sets are
    A_c = {T <= c} (where the shifted density is smallest relative to the unshifted one). Given rho,

        T > c  <=>  ||eps - delta|| < s,  s = (rho^k - c)^(1/k)  (impossible when rho^k <= c)
               <=>  w_1 > t,  t = (rho^2 + r^2 - s^2) / (2 rho r),

    and P(w_1 > t) = I_x(a, a) with a = (d - 1)/2 and x = (1 - t)/2 = (s^2 - (rho - r)^2) / (4 rho r),
    1 - x = ((rho + r)^2 - s^2) / (4 rho r) (clipped to [0, 1]). So P0(T > c) = E_U[I_x(a, a)], a 1-d
    integral over the Gamma law of U. Two integration schemes:

    * ``fast``: fixed composite Gauss-Legendre in z, U = Q_Gamma(Phi_N(z)), z in [-Z, Z] (the neglected
      mass 2 Phi_N(-Z) is added to the error);
    * ``quad``: adaptive scipy quad in the same variable z over [-40, 40], split at the integers and at
      the kinks of the integrand (where x crosses 0 or 1), with quad's error estimates summed. (Integrating
      over U with the Gamma density instead is unreliable when d/k is small: the density's U^(d/k - 1)
      singularity spans many decades of U, and quad then returns wrong values with tiny error estimates.)
    """

    Z = 8.5  # 2 Phi_N(-8.5) = 1.9e-17
    PANEL = 0.25
    ORDER = 16

    def __init__(self, k: float, d: int, shape: float | None = None):
        self.k = k
        self.d = d
        self.shape = d / k if shape is None else shape  # U = rho^k ~ Gamma(shape); (d - j)/k for Exp2(k, j)
        self.a = 0.5 * (d - 1)
        self.log_norm = special.gammaln(self.shape)
        self.gl_nodes, self.gl_weights = np.polynomial.legendre.leggauss(self.ORDER)
        self.edges = np.linspace(-self.Z, self.Z, int(round(2 * self.Z / self.PANEL)) + 1)
        self.panel_z, self.panel_w = self._panel_nodes(self.edges[:-1], self.edges[1:])
        self.panel_U = self._quantile_z(self.panel_z)
        self.U = self.panel_U.ravel()
        self.rho = self.U ** (1.0 / k)
        self.weights = self.panel_w.ravel()
        self.fast_err = 2.0 * special.ndtr(-self.Z)

    def _panel_nodes(self, left, right):
        left = np.asarray(left, dtype=np.float64)[:, None]
        right = np.asarray(right, dtype=np.float64)[:, None]
        z = 0.5 * (left + right) + 0.5 * (right - left) * self.gl_nodes
        w = 0.5 * (right - left) * self.gl_weights * stats.norm.pdf(z)
        return z, w

    def _quantile_z(self, z):
        z = np.asarray(z, dtype=np.float64)
        return np.where(
            z <= 0,
            special.gammaincinv(self.shape, special.ndtr(np.minimum(z, 0.0))),
            special.gammainccinv(self.shape, special.ndtr(-np.maximum(z, 0.0))),
        )

    def _z_of_U(self, U):
        lower = special.gammainc(self.shape, U)
        return float(special.ndtri(lower)) if lower < 0.5 else float(-special.ndtri(special.gammaincc(self.shape, U)))

    def kink_rhos(self, r, c):
        """The radii rho where the conditional masses are not smooth: x = 0 <=> T(rho e_1) = c and x = 1 <=>
        T(-rho e_1) = c (the level set {T = c} crosses the e_1 axis). Along the axis,
        tau_+(rho) = rho^k - |rho - r|^k is increasing on [0, r] (from -r^k to r^k) and on (r, inf) is
        increasing to inf (k > 1), constant r (k = 1) or decreasing to 0 (k < 1); tau_-(rho) = rho^k -
        (rho + r)^k is decreasing from -r^k to -inf (k > 1), constant (k = 1) or increasing to 0 (k < 1).
        Each monotone piece has at most one root, found by brentq."""
        k = self.k
        rk = r**k
        out = []

        def tau_plus(rho):
            return rho**k - abs(rho - r) ** k - c

        def tau_minus(rho):
            return rho**k - (rho + r) ** k - c

        def root_on_ray(f, lo):
            hi = max(2.0 * lo, r)
            f_lo = f(lo)
            for _ in range(200):
                if f_lo * f(hi) < 0:
                    return optimize.brentq(f, lo, hi, xtol=1e-14 * hi, rtol=1e-15)
                hi *= 2.0
            return None

        if -rk < c < rk:
            out.append(optimize.brentq(tau_plus, 0.0, r, xtol=1e-14 * r, rtol=1e-15))
        if (k > 1 and c > rk) or (k < 1 and 0 < c < rk):
            root = root_on_ray(tau_plus, r)
            if root is not None:
                out.append(root)
        if (k > 1 and c < -rk) or (k < 1 and -rk < c < 0):
            root = root_on_ray(tau_minus, 0.0) if k > 1 else root_on_ray(tau_minus, 1e-300)
            if root is not None:
                out.append(root)
        return [x for x in out if x > 0]

    def _graded_nodes(self, kink, other):
        """Gauss-Legendre nodes on the z-interval between ``kink`` and ``other`` with the substitution
        z = kink + (other - kink) t^2, t in [0, 1], which smooths the (x^((d-1)/2)-type) kink."""
        t = 0.5 * (self.gl_nodes + 1.0)
        wt = 0.5 * self.gl_weights
        z = kink + (other - kink) * t**2
        w = np.abs(other - kink) * 2.0 * t * wt * stats.norm.pdf(z)
        return z, w

    def _nodes(self, r, c):
        """Fixed nodes, except that each panel containing kinks is split at them and at the midpoints
        between them, the pieces getting graded nodes (see :meth:`_graded_nodes`) towards their kink."""
        kz = []
        for rho in self.kink_rhos(r, c):
            z = self._z_of_U(rho**self.k)
            if -self.Z < z < self.Z:
                kz.append(z)
        if not kz:
            return self.rho, self.U, self.weights
        kz = np.unique(kz)
        panel = np.searchsorted(self.edges, kz, side="right") - 1
        keep = np.ones(self.panel_U.shape[0], dtype=bool)
        zs, ws = [], []
        for j in np.unique(panel):
            keep[j] = False
            ks = kz[panel == j]
            bounds = [self.edges[j]] + [0.5 * (ks[i] + ks[i + 1]) for i in range(ks.size - 1)] + [self.edges[j + 1]]
            for i, kink in enumerate(ks):
                for other in (bounds[i], bounds[i + 1]):
                    if other != kink:
                        z, w = self._graded_nodes(kink, other)
                        zs.append(z)
                        ws.append(w)
        z_new = np.concatenate(zs)
        U_new = self._quantile_z(z_new)
        U = np.concatenate([self.panel_U[keep].ravel(), U_new])
        w = np.concatenate([self.panel_w[keep].ravel(), np.concatenate(ws)])
        return U ** (1.0 / self.k), U, w

    # -- conditional masses given rho -----------------------------------------------------------------
    def _x_pair(self, rho, U, r, c):
        """(x, 1 - x, alive): alive = (rho^k > c); x = (1 - t)/2 is the argument of the conditional tail.
        With D = s - rho = rho expm1(log1p(-c / rho^k) / k) (no cancellation, also for r << rho):
        x = (D + r)(2 rho + D - r) / (4 rho r) and 1 - x = (r - D)(2 rho + D + r) / (4 rho r)."""
        k = self.k
        alive = U > c
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(alive, -c / np.where(U > 0, U, 1.0), 0.0)
            D = rho * np.expm1(np.log1p(np.maximum(ratio, -1.0)) / k)
            denom = 4.0 * rho * r
            x = (D + r) * (2.0 * rho + D - r) / denom
            y = (r - D) * (2.0 * rho + D + r) / denom
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        y = np.clip(np.nan_to_num(y, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return x, y, alive

    def cond_tail(self, rho, U, r, c):
        """P(T > c | rho)."""
        x, _, alive = self._x_pair(rho, U, r, c)
        return np.where(alive, special.betainc(self.a, self.a, x), 0.0)

    def cond_cdf(self, rho, U, r, c):
        """P(T <= c | rho)."""
        _, y, alive = self._x_pair(rho, U, r, c)
        return np.where(alive, special.betainc(self.a, self.a, y), 1.0)

    # -- fast fixed-node integrals --------------------------------------------------------------------
    def tail_fast(self, r, c):
        rho, U, w = self._nodes(r, c)
        return float(np.dot(w, self.cond_tail(rho, U, r, c)))

    def cdf_fast(self, r, c):
        rho, U, w = self._nodes(r, c)
        return float(np.dot(w, self.cond_cdf(rho, U, r, c)))

    # -- adaptive quad integrals ----------------------------------------------------------------------
    def _integrate(self, conditional, r, c, rtol):
        """E[conditional(rho)] for the level-set masses (kinks where {T = c} crosses the e_1 axis)."""
        return self.expectation(lambda rho, U: conditional(rho, U, r, c), self.kink_rhos(r, c), rtol)

    def expectation(self, function, kink_rhos, rtol):
        """E[function(rho, U)] by quad in z (U = Q_Gamma(Phi_N(z)), weight phi_N(z)) on [-40, 40] (the mass
        outside is below 1e-300), split at the integers in [-9, 9] and at the z of ``kink_rhos``. Returns
        (value, summed quad error estimate)."""
        k = self.k

        def integrand(z):
            U = float(self._quantile_z(np.array(z)))
            return float(function(U ** (1.0 / k), U)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

        kinks = [self._z_of_U(rho**k) for rho in kink_rhos]
        cuts = np.unique(np.concatenate([np.arange(-9.0, 10.0), [z for z in kinks if -40 < z < 40]]))
        edges = np.concatenate([[-40.0], cuts, [40.0]])
        total = err = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            for lo, hi in zip(edges[:-1], edges[1:]):
                v, e = integrate.quad(integrand, lo, hi, epsabs=1e-18, epsrel=rtol, limit=200)[:2]
                total += v
                err += e
        return total, err

    def tail_quad(self, r, c, rtol=1e-11):
        return self._integrate(self.cond_tail, r, c, rtol)

    def cdf_quad(self, r, c, rtol=1e-11):
        return self._integrate(self.cond_cdf, r, c, rtol)

    # -- roots -----------------------------------------------------------------------------------------
    def c_bound(self, r):
        """|T| <= c_bound on all nodes: r^k for k <= 1, k (rho_max + r)^(k-1) r for k > 1."""
        if self.k <= 1:
            return r**self.k
        return self.k * (float(self.rho.max()) + r) ** (self.k - 1.0) * r

    def c_typical(self, r):
        """Typical size of T: k rho_med^(k-1) r (its first-order term), capped by c_bound."""
        rho_med = float(self._quantile_z(np.array(0.0))) ** (1.0 / self.k)
        return min(self.k * rho_med ** (self.k - 1.0) * r, self.c_bound(r))

    def tail_root(self, r, target):
        """c with tail_fast(r, c) = target (0 < target < 1)."""
        b = self.c_bound(r)
        tol = 1e-40 * self.c_typical(r)
        return optimize.brentq(lambda c: self.tail_fast(r, c) - target, -b, b, xtol=tol, rtol=1e-15, maxiter=400)

    def cdf_root(self, r, target):
        b = self.c_bound(r)
        tol = 1e-40 * self.c_typical(r)
        return optimize.brentq(lambda c: self.cdf_fast(r, c) - target, -b, b, xtol=tol, rtol=1e-15, maxiter=400)


def exp2_l2_growth_nodes(k: float, d: int, taus, *, rtol: float = 1e-11):
    """The growth function of Exp2(k, d) against l2 (lambda = 1, d >= 2, k != 1) at thresholds ``taus``
    (>= 0): G = k rho^(k-1) w_1 (-grad log q = k rho^(k-1) w; rotation invariance, v = e_1), and for each
    tau, u = P(G > tau) and Phi = E[G 1{G > tau}] (the top-u mean, so Phi(u) has slope tau there):

        P(G > tau | rho) = I_{(1-s)/2}(a, a),  E[G 1{G > tau} | rho] = k rho^(k-1) c_d (1 - s^2)^((d-1)/2) / (d-1),

    s = tau / (k rho^(k-1)) (both 0 for s >= 1), a = (d-1)/2. Integrated over rho with quad in z (as the
    level-set masses), split where s = 1. Returns float64 arrays (u, Phi, u_err, Phi_err)."""
    k, d = _check_k_d(k, d, "exp2_l2_growth_nodes")
    if d < 2 or k == 1.0:
        raise ValueError("exp2_l2_growth_nodes: needs d >= 2 and k != 1 (k = 1 has a closed form)")
    ls = _Exp2LevelSet(k, d)
    a = 0.5 * (d - 1)
    log_mean = float(special.gammaln(d / 2.0) - 0.5 * math.log(math.pi) - special.gammaln(a) - math.log(d - 1.0))
    out = np.zeros((4, np.size(taus)))
    for i, tau in enumerate(np.asarray(taus, dtype=np.float64).ravel()):
        kink = [(tau / k) ** (1.0 / (k - 1.0))] if tau > 0 else []

        def slope(rho):
            rho = float(rho)
            if rho == 0.0:
                return 0.0 if k > 1 else math.inf
            return k * rho ** (k - 1.0) if rho < math.inf else (math.inf if k > 1 else 0.0)

        def ratio(g, tau):
            return 0.0 if tau == 0 else (tau / g if 0 < g < math.inf else (math.inf if g == 0 else 0.0))

        def tail(rho, U, tau=tau):
            s = ratio(slope(rho), tau)
            return special.betainc(a, a, 0.5 * (1.0 - s)) if s < 1.0 else 0.0

        def mean(rho, U, tau=tau):
            g = slope(rho)
            s = ratio(g, tau)
            return g * math.exp(log_mean + a * math.log1p(-s * s)) if s < 1.0 and math.isfinite(g) else 0.0

        out[0, i], out[2, i] = ls.expectation(tail, kink, rtol)
        out[1, i], out[3, i] = ls.expectation(mean, kink, rtol)
    return tuple(out)


def concave_tangent_radii(u, phi, tau) -> np.ndarray:
    """Differential-method radii R_j >= integral_{u_j}^{1/2} du / Phi(u) from upper bounds of a concave,
    non-decreasing growth function: ``phi[j]`` bounds Phi(u[j]) from above and ``tau[j] >= 0`` is its slope
    there (u decreasing from u[0] = 1/2). Concavity puts Phi below every tangent T_j(u) = phi_j +
    tau_j (u - u_j), so on [u_{j+1}, u_j] the integrand 1/Phi is at least 1/min(T_j, T_{j+1}), integrated
    exactly (log1p(tau dU / T) / tau) on the two sides of the tangents' crossing."""
    u, phi, tau = (np.asarray(x, dtype=np.float64) for x in (u, phi, tau))

    def piece(j, lo, hi):  # integral_lo^hi du / T_j(u)
        start = phi[j] + tau[j] * (lo - u[j])
        width = hi - lo
        if width <= 0:
            return 0.0
        return width / start if tau[j] == 0 else math.log1p(tau[j] * width / start) / tau[j]

    radii = np.zeros(u.size)
    for j in range(u.size - 1):
        lo, hi = u[j + 1], u[j]
        slope_gap = tau[j + 1] - tau[j]
        cross = (phi[j] - tau[j] * u[j] - phi[j + 1] + tau[j + 1] * u[j + 1]) / slope_gap if slope_gap else hi
        cross = min(max(cross, lo), hi)
        # T_{j+1} <= T_j left of the crossing (it has the larger slope), T_j right of it
        radii[j + 1] = radii[j] + piece(j + 1, lo, cross) + piece(j, cross, hi)
    return radii


def exp2_l2_levelset_masses(k: float, d: int, r: float, c: float, *, method: str = "quad"):
    """Masses of the Neyman-Pearson set A_c = {y : ||y||_2^k - ||y - r e_1||_2^k <= c} for Exp2(k, d) noise
    (lambda = 1, d >= 2) and the shift delta = r e_1 (r > 0).

    Returns ``(mu0_in, mu0_out, mu1_in, abserr)``: mu0_in = P(eps in A_c), mu0_out = P(eps not in A_c)
    (computed directly, so accurate when tiny), mu1_in = P(eps + delta in A_c) and the largest of
    the three absolute-error estimates. mu1_in uses the reflection y -> delta - y, which swaps the two laws and
    negates T, so P(eps + delta in A_c) = P(T(eps) >= -c) = mu0_out at -c. ``method``: 'quad' (adaptive,
    error = quad's estimates) or 'fast' (fixed nodes; error = truncated mass only, quadrature error not
    included). The formula is in :class:`_Exp2LevelSet`."""
    k, d = _check_k_d(k, d, "exp2_l2_levelset_masses")
    if d < 2:
        raise ValueError("exp2_l2_levelset_masses: d must be >= 2")
    if not r > 0:
        raise ValueError("exp2_l2_levelset_masses: r must be > 0")
    ls = _Exp2LevelSet(k, d)
    if method == "quad":
        cdf, e1 = ls.cdf_quad(r, c)
        tail, e2 = ls.tail_quad(r, c)
        mu1, e3 = ls.tail_quad(r, -c)
        return cdf, tail, mu1, max(e1, e2, e3)
    if method == "fast":
        return ls.cdf_fast(r, c), ls.tail_fast(r, c), ls.tail_fast(r, -c), ls.fast_err
    raise ValueError(f"method must be 'quad' or 'fast', got {method!r}")


def exp2_l2_levelset_radius(k: float, d: int, p: float, *, rtol: float = 1e-8) -> float:
    """Certified l2 radius of Exp2(k, d) noise (lambda = 1, d >= 2) at top-class probability lower bound p,
    by the level-set (Neyman-Pearson) method: exact up to numerical error (Yang et al. 2020; Cohen et al.
    2019 for the Neyman-Pearson argument), for every k > 0.

    For a shift delta with ||delta||_2 = r (by rotation invariance, delta = r e_1), the smallest possible
    probability of the top class after the shift, over all classifiers with probability p before it, is
    P(eps + delta in A) for the NP set A = A_{c_p} = {T <= c_p}, T(y) = ||y||^k - ||y - delta||^k, with
    P(eps in A) = p (T has no atoms for d >= 2). r is certified iff that probability exceeds 1/2, i.e.
    (by the reflection identity in :func:`exp2_l2_levelset_masses`) iff P(T(eps) < -c_p) < 1/2, i.e. iff
    c_p(r) > -median(T). The radius is the root of r -> c_p(r) + median_r(T), found with the fast fixed
    node integrals (see :class:`_Exp2LevelSet`), then *verified* with adaptive quad: a witness c with
    P(T > c) - err > 1 - p (so c < c_p) and P(T <= -c) + err < 1/2 (so the shifted mass of A_c, hence of
    A_{c_p}, is > 1/2) is required; r is backed off (relative 1e-9, 1e-8, ...) until verified. The returned
    radius is therefore sound as far as quad's error estimates are. Certifying the whole ball assumes the
    worst-case probability is non-increasing in r (checked numerically in the tests). Takes ~0.1-0.6 s.
    ``rtol``: relative tolerance of the root in r (before the back-off).

    Returns a float (0.0 if nothing could be verified). Multiply by lambda for other scales."""
    k, d = _check_k_d(k, d, "exp2_l2_levelset_radius")
    if d < 2:
        raise ValueError("exp2_l2_levelset_radius: d must be >= 2 (d = 1 is a 1-d noise; use a 1-d certificate)")
    p = float(_check_p(p, "exp2_l2_levelset_radius"))
    ls = _Exp2LevelSet(k, d)
    # bracket: start from the Gaussian approximation sigma * Phi^-1(p), sigma^2 = E rho^2 / d
    sigma = math.sqrt(float(special.poch(d / k, 2.0 / k)) / d)
    return verified_levelset_radius(ls, p, sigma, root_rtol=max(rtol * 0.01, 1e-15),
                                    what=f"exp2_l2_levelset_radius(k={k}, d={d}, p={p})")


def verified_levelset_radius(ls, p: float, scale: float, *, root_rtol: float, what: str) -> float:
    """The level-set radius at p for a level-set object ``ls`` (the interface of :class:`_Exp2LevelSet`:
    tail_root, cdf_root, tail_quad, cdf_quad): the root of r -> c_p(r) + median_r(T), bracketed from the
    Gaussian guess ``scale`` * Phi_N^-1(p) and found with the fast integrals, then *verified* with adaptive
    quad (a witness c with P(T > c) - err > 1 - p and P(T <= -c) + err < 1/2), r backed off (relative 1e-9,
    1e-8, ...) until verified. Returns 0.0, with a warning naming ``what``, if nothing verifies."""
    tail_target = 1.0 - p

    def gap(r):
        return ls.tail_root(r, tail_target) + ls.cdf_root(r, 0.5)

    r_hi = max(scale * float(special.ndtri(p)), 1e-12 * scale)
    r_lo = r_hi
    while gap(r_lo) <= 0:
        r_lo /= 2.0
        if r_lo < 1e-14 * scale:
            return 0.0
    while gap(r_hi) > 0:
        r_hi *= 2.0
    r_star = optimize.brentq(gap, r_lo, r_hi, xtol=1e-15 * r_hi, rtol=root_rtol)

    for backoff in (1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1):
        r = r_star * (1.0 - backoff)
        c_p = ls.tail_root(r, tail_target)
        c_med = -ls.cdf_root(r, 0.5)
        if not c_p > c_med:
            continue
        c = 0.5 * (c_p + c_med)
        tail, e1 = ls.tail_quad(r, c)
        if not tail - e1 > tail_target:
            continue
        below, e2 = ls.cdf_quad(r, -c)
        if below + e2 < 0.5:
            return r
    warnings.warn(f"{what}: could not verify the radius; returning 0", stacklevel=3)
    return 0.0


def exp2_l2_levelset_table(k: float, d: int, r_grid) -> np.ndarray:
    """Level-set table for Exp2(k, d) against l2 (lambda = 1, d >= 2): for each radius r in ``r_grid``
    (r > 0) a probability p_needed(r) such that every p > p_needed(r) certifies r (the rs4a-style table
    "radius -> probability needed", sound as far as quad's error estimates are).

    For each r: the median m of T under the unshifted noise is found with the fast integrals; then a
    witness c slightly above -m is taken such that quad verifies P(eps + delta in A_c) = P(T >= -c) > 1/2
    (with its error); p_needed = P(T <= c) + err (quad). Any p > p_needed has its NP set A_{c_p} with
    c_p > c, hence shifted mass >= that of A_c > 1/2 (see :func:`exp2_l2_levelset_radius`). To look up a
    radius for p, take the largest r_i with p_needed(r_i) < p; certifying all radii below it also
    assumes the worst-case probability is non-increasing in r (checked numerically in the tests).
    Returns a float64 array of r_grid's shape (nan where no witness was verified)."""
    k, d = _check_k_d(k, d, "exp2_l2_levelset_table")
    if d < 2:
        raise ValueError("exp2_l2_levelset_table: d must be >= 2")
    r_grid = np.asarray(r_grid, dtype=np.float64)
    if not (r_grid > 0).all():
        raise ValueError("exp2_l2_levelset_table: radii must be > 0")
    ls = _Exp2LevelSet(k, d)
    out = np.full(r_grid.shape, np.nan)
    for index, r in np.ndenumerate(r_grid):
        r = float(r)
        minus_median = -ls.cdf_root(r, 0.5)
        scale = ls.c_typical(r)
        for step in (1e-12, 1e-10, 1e-8, 1e-6, 1e-4):
            c = minus_median + step * scale
            shifted, e1 = ls.tail_quad(r, -c)  # P(T > -c) = P(T >= -c)
            if shifted - e1 > 0.5:
                inside, e2 = ls.cdf_quad(r, c)
                out[index] = min(inside + e2, 1.0)
                break
    return out
