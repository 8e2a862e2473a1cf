"""The differential method (Yang et al. 2020) and its growth functions.

Pure NumPy/SciPy, float64. Every function works for scale lambda = 1: all radii below scale linearly with
the noise's lambda (a certificate for eps is one for lambda * eps after multiplying the radius by lambda).
``p`` is always a lower bound on the top-class probability, with 1/2 < p < 1; since 1/2 <= p <= 1, the
tail mass 1 - p is computed exactly in floating point. See docs/certificates.md for the derivations.

The differential method of Yang, Duan, Hu, Salman, Razenshteyn and Li, "Randomized Smoothing of All Shapes and
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

The growth functions of the radial families (lambda = 1): with r the noise's radius and, for l_inf, c the
coordinate on the cube's face and s its sign, -grad log q(eps) = g(r) s e_c with g = -(log f)'. Phi_v is convex
in v, so the sup over the l1 ball is at a vertex e_1 and over the l_inf ball at a vertex (1, ..., 1) (all vertices
are equivalent by the noises' sign-flip and permutation symmetries). Against l_inf, G = g(r) s with a fair sign s
independent of r; where g is monotone the top u-mass is {s = +1} and the r-tail of probability 2u on g's large
side: Phi_linf(u) = E[g(r) 1{r in that tail}] / 2. ExpInf(k, j): g(r) = j/r + k r^(k-1); for k <= 1 it is
decreasing (closed-form Phi, :func:`phi_expinf_j_linf`); for k > 1 and j > 0 it is U-shaped and the top u-mass
is two-sided (:func:`expinf_two_sided_linf_table` walks its level). PowInf(a): g(r) = a / (1 + r),
:func:`phi_powinf_linf`. Expp(p < 1) against l1: :func:`phi_expp_l1`.

Public functions (all for lambda = 1):

* the engine: :func:`differential_radius`, :func:`differential_pieces`, :func:`differential_table`,
  :func:`concave_tangent_radii` (from samples of a concave growth function and its slopes);
* growth functions (factories returning a vectorised callable u -> Phi(u) on 0 < u <= 1/2):
  :func:`phi_laplace_linf`, :func:`phi_expinf_linf`, :func:`phi_exp1_l1`, :func:`phi_expinf_l1`,
  :func:`phi_exp2_l2_k1`, :func:`phi_expinf_j_linf`, :func:`phi_powinf_linf`, :func:`phi_expp_l1`, and the
  Exp2 growth function at thresholds, :func:`exp2_l2_growth_nodes`;
* exact integrals of a growth function: :func:`laplace_linf_radius` (piecewise linear) and
  :func:`expinf_two_sided_linf_table` (a Riemann lower sum along the two-sided level).

The closed forms that come out of these integrals are in :mod:`.closed_forms`; the tables built from them in
:mod:`.tables`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import integrate, special

from .checks import check_d, check_k_d, check_p, check_shape
from .closed_forms import _expinf_j_args, _powinf_args
from .levelset import Exp2LevelSet
from .margins import round_down as _round_down

PhiFunction = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------------------
# the engine
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
    p = check_p(p, "differential_radius")
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
    p = check_p(p_grid, "differential_table")
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



# ---------------------------------------------------------------------------------------------------------
# growth functions Phi (lambda = 1); each factory returns a vectorised callable on 0 < u <= 1/2
# ---------------------------------------------------------------------------------------------------------
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
    d = check_d(d, "phi_laplace_linf")
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
    d = check_d(d, "laplace_linf_radius")
    p = check_p(p, "laplace_linf_radius")
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
    radius is -log(2(1-p)) (:func:`.closed_forms.expinf_linf_radius_k1`)."""
    k, d = check_k_d(k, d, "phi_expinf_linf")
    return _radial_sign_phi(k, d)[0]



def phi_exp1_l1(k: float, d: int) -> PhiFunction:
    """Exp1(k, d) (density ~ exp(-||x||_1^k)) against l1. With r = ||eps||_1, -grad log q(eps) =
    k r^(k-1) sign(eps); the sup over the l1 ball is at a vertex v = e_1, G = k r^(k-1) sign(eps_1), and
    sign(eps_1) is a fair sign independent of r with U = r^k ~ Gamma(d/k): the same law of G as for
    ExpInf/linf, hence the same Phi as :func:`phi_expinf_linf`. k = 1 is i.i.d. Laplace (Phi(u) = u)."""
    k, d = check_k_d(k, d, "phi_exp1_l1")
    return _radial_sign_phi(k, d)[0]



def phi_expinf_l1(k: float, d: int) -> PhiFunction:
    """ExpInf(k, d) against l1. The sup over the l1 ball is at v = e_1: G = k r^(k-1) s 1{j = 1}, with
    j uniformly distributed on the d coordinates, independent of (r, s). So G = 0 with probability 1 - 1/d, and

        Phi_l1(u) = Phi_linf(d u) / d      for u <= 1/(2d),
        Phi_l1(u) = Phi_linf(1/2) / d = k Gamma(b) / (2 d Gamma(a))   for 1/(2d) <= u <= 1/2,

    (Phi_linf from :func:`phi_expinf_linf`). Integrating gives the paper's linear closed form
    :func:`.closed_forms.expinf_l1_radius` for p <= 1 - 1/(2d) and a larger radius above."""
    k, d = check_k_d(k, d, "phi_expinf_l1")
    phi_linf, const = _radial_sign_phi(k, d)

    def phi(u):
        u = np.asarray(u, dtype=np.float64)
        return phi_linf(np.minimum(d * u, 0.5)) / d

    phi.breakpoints = np.array([0.5 / d])
    return phi



def phi_exp2_l2_k1(d: int) -> PhiFunction:
    """Exp2(k=1, d) (density ~ exp(-||x||_2)) against l2, d >= 2. -grad log q(eps) = eps / ||eps||_2 is the
    uniformly distributed direction w on the sphere, independent of the radius; with v = e_1 (rotation invariance),
    G = w_1, whose density is c_d (1 - t^2)^((d-3)/2) on (-1, 1), c_d = Gamma(d/2) / (sqrt(pi)
    Gamma((d-1)/2)), and (1 + w_1)/2 ~ Beta((d-1)/2, (d-1)/2). For P(w_1 > t_u) = u:

        Phi(u) = E[w_1 1{w_1 > t_u}] = c_d (1 - t_u^2)^((d-1)/2) / (d - 1),
        1 - t_u^2 = 4 x (1 - x),  x = I^-1_{(d-1)/2,(d-1)/2}(u)

    (I^-1: inverse regularized incomplete beta). Its integral is the closed form
    :func:`.closed_forms.exp2_l2_radius_k1`."""
    d = check_d(d, "phi_exp2_l2_k1", minimum=2)
    a = 0.5 * (d - 1)
    log_const = special.gammaln(d / 2.0) - 0.5 * math.log(math.pi) - special.gammaln(a) - math.log(d - 1.0)

    def phi(u):
        x = special.betaincinv(a, a, np.asarray(u, dtype=np.float64))
        return np.exp(log_const + a * np.log(4.0 * x * (1.0 - x)))

    return phi



def exp2_l2_growth_nodes(k: float, d: int, taus, *, rtol: float = 1e-11):
    """The growth function of Exp2(k, d) against l2 (lambda = 1, d >= 2, k != 1) at thresholds ``taus``
    (>= 0): G = k rho^(k-1) w_1 (-grad log q = k rho^(k-1) w; rotation invariance, v = e_1), and for each
    tau, u = P(G > tau) and Phi = E[G 1{G > tau}] (the top-u mean, so Phi(u) has slope tau there):

        P(G > tau | rho) = I_{(1-s)/2}(a, a),  E[G 1{G > tau} | rho] = k rho^(k-1) c_d (1 - s^2)^((d-1)/2) / (d-1),

    s = tau / (k rho^(k-1)) (both 0 for s >= 1), a = (d-1)/2. Integrated over rho with quad in z (as the
    level-set masses), split where s = 1. Returns float64 arrays (u, Phi, u_err, Phi_err)."""
    k, d = check_k_d(k, d, "exp2_l2_growth_nodes", minimum_d=2)
    if k == 1.0:
        raise ValueError("exp2_l2_growth_nodes: needs k != 1 (k = 1 has a closed form)")
    ls = Exp2LevelSet(k, d)
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



def phi_expinf_j_linf(k: float, j: float, d: int) -> Callable:
    """Growth function of ExpInf(k, j, d) against l_inf for k <= 1 (g(r) = j/r + k r^(k-1) decreasing), j < d - 1:
    with x = P_a^-1(2u) (the 2u-quantile of U = r^k ~ Gamma(a), a = (d - j)/k),

        Phi(u) = (1/2) [ j Gamma(a - 1/k)/Gamma(a) P_{a - 1/k}(x) + k Gamma(a + 1 - 1/k)/Gamma(a) P_{a + 1 - 1/k}(x) ]

    (E[U^m 1{U < x}] = Gamma(a + m)/Gamma(a) P_{a+m}(x)). Vectorised callable on 0 < u <= 1/2."""
    k, j, d, a = _expinf_j_args(k, j, d, "phi_expinf_j_linf")
    if k > 1.0:
        raise ValueError("phi_expinf_j_linf: needs k <= 1 (for k > 1 and j > 0 the top set is two-sided)")
    c_j = j * math.exp(special.gammaln(a - 1.0 / k) - special.gammaln(a))
    c_k = k * math.exp(special.gammaln(a + 1.0 - 1.0 / k) - special.gammaln(a))

    def phi(u):
        x = special.gammaincinv(a, 2.0 * np.asarray(u, dtype=np.float64))
        return 0.5 * (c_j * special.gammainc(a - 1.0 / k, x) + c_k * special.gammainc(a + 1.0 - 1.0 / k, x))

    return phi



def phi_powinf_linf(a: float, d: int) -> Callable:
    """Growth function of PowInf(a, d) against l_inf: Phi(u) = ((a - d)/2) I^c_{b_u}(a - d + 1, d), where
    I^c_{b_u}(a - d, d) = 2u (regularized upper incomplete beta; B = 1/(1 + r) ~ Beta(a - d, d))."""
    a, d = _powinf_args(a, d, "phi_powinf_linf")
    beta = a - d

    def phi(u):
        b = special.betainccinv(beta, float(d), 2.0 * np.asarray(u, dtype=np.float64))
        return 0.5 * beta * special.betaincc(beta + 1.0, float(d), b)

    return phi



def phi_expp_l1(p_exponent: float) -> Callable:
    """Growth function of Expp(p_exponent < 1) against l1: Phi(u) = C (1 - exp(-x_u)), x_u = P^-1_{1/p}(2u),
    C = 1 / (2 Gamma(1 + 1/p)) (module docstring)."""
    q = check_shape("p_exponent", p_exponent, "phi_expp_l1")
    if q >= 1.0:
        raise ValueError(f"phi_expp_l1: for p_exponent >= 1 use closed_forms.expp_l1_radius_p_ge_1, got {q!r}")
    shape = 1.0 / q
    const = 0.5 / special.gamma(1.0 + shape)

    def phi(u):
        x = special.gammaincinv(shape, 2.0 * np.asarray(u, dtype=np.float64))
        return -const * np.expm1(-x)

    return phi



# ---------------------------------------------------------------------------------------------------------
# ExpInf(k > 1, j > 0) against l_inf: the two-sided top set
# ---------------------------------------------------------------------------------------------------------
TWO_SIDED_POINTS = 100_000



def _bisect_increasing(f, lo, hi, steps=200):
    """Elementwise root of f (increasing on [lo, hi], arrays of brackets, lo > 0) by bisection in log space."""
    lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    for _ in range(steps):
        mid = np.sqrt(lo * hi)
        below = f(mid) < 0
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return lo, hi



def expinf_two_sided_linf_table(k: float, j: float, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(p grid, sound radii) of ExpInf(k > 1, j > 0, d) against l_inf, lambda = 1.

    g(r) = j/r + k r^(k-1) falls to its minimum g* at r*^k = j / (k (k - 1)), then rises. For a level c > g*,
    the top set {g > c} = {r < r1} u {r > r2} (g(r1) = g(r2) = c, r1 < r* < r2) has r-mass
    m = P_a(r1^k) + Q_a(r2^k) and E[g; set] = E = cj (P_{a-1/k}(r1^k) + Q_{a-1/k}(r2^k)) +
    ck (P_{a+1-1/k}(r1^k) + Q_{a+1-1/k}(r2^k)) (a = (d - j)/k; cj, ck as in :func:`phi_expinf_j_linf`), so along
    the curve u = m/2 the growth function is Phi(u) = E/2, increasing in u. The curve is parametrised by the
    right end, U2 = r2^k = Q_a^-1(Phi_N(-z)) on an even grid of z (even resolution in the right tail's mass),
    c = g(r2), and r1 by bisection (200 halvings in log space: r1 to double precision).
    R(p_i) = integral_{1-p_i}^{1/2} du / Phi(u) is bounded below by the Riemann sum
    taking 1/Phi at the right (larger u) end of each piece, as 1/Phi decreases in u: a sound table, lowered
    by a relative 1e-9 for the float error of the incomplete gamma functions."""
    k, j, d, a = _expinf_j_args(k, j, d, "expinf_two_sided_linf_table")
    if not (k > 1.0 and j > 0.0):
        raise ValueError(f"expinf_two_sided_linf_table: needs k > 1 and j > 0, got k={k!r}, j={j!r}")
    c_j = j * math.exp(special.gammaln(a - 1.0 / k) - special.gammaln(a))
    c_k = k * math.exp(special.gammaln(a + 1.0 - 1.0 / k) - special.gammaln(a))
    U_star = j / (k * (k - 1.0))
    r_star = U_star ** (1.0 / k)

    def g(r):
        return j / r + k * r ** (k - 1.0)

    z = np.linspace(-8.5, 8.5, TWO_SIDED_POINTS)
    U2 = np.maximum(special.gammainccinv(a, special.ndtr(-z)), U_star)
    c = g(U2 ** (1.0 / k))
    r1 = _bisect_increasing(lambda r: c - g(r), np.full_like(c, 1e-300), np.full_like(c, r_star))[1]
    U1 = np.minimum(r1**k, U_star)
    mass = special.gammainc(a, U1) + special.gammaincc(a, U2)
    expected = (c_j * (special.gammainc(a - 1 / k, U1) + special.gammaincc(a - 1 / k, U2))
                + c_k * (special.gammainc(a + 1 - 1 / k, U1) + special.gammaincc(a + 1 - 1 / k, U2)))
    u = np.minimum(mass / 2.0, 0.5)
    phi = expected / 2.0
    order = np.argsort(-u, kind="stable")  # decreasing u: 1/2 first
    u, phi = np.concatenate([[0.5], u[order]]), np.concatenate([[phi.max()], phi[order]])
    keep = u > 0
    u, phi = u[keep], phi[keep]
    right_phi = np.maximum.accumulate(phi[::-1])[::-1][:-1]  # Phi at (or above) the right end of each piece
    pieces = (u[:-1] - u[1:]) / right_phi
    radii = np.concatenate([[0.0], np.cumsum(pieces)]) * (1.0 - 1e-9)
    return 1.0 - u, radii
