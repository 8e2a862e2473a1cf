"""Certificates of the rs4a noise menu (Yang et al., "Randomized Smoothing of All Shapes and Sizes", ICML 2020):
ExpInf / Exp2 with their j exponent, PowInf, Pow2 and Expp. Pure NumPy/SciPy, float64, scale lambda = 1
(radii scale linearly with lambda); p is a lower bound on the top-class probability, 1/2 < p < 1.

The differential method (see :mod:`rsmooth_ext.certificate_math`): R(p) = integral_{1-p}^{1/2} du / Phi(u),
Phi(u) = sup_{||v|| <= 1} E[G_v 1{G_v in its top u-mass}], G_v = <-grad log q(eps), v>. Phi_v is convex in v, so
the sup over the l1 ball is at a vertex e_1 and over the l_inf ball at a vertex (1, ..., 1) (all vertices are
equivalent by the noises' sign-flip and permutation symmetries).

Radial noises q(x) = f(||x||) with r = ||eps|| and, for l_inf, c the coordinate on the cube's face and s its sign:
-grad log q(eps) = g(r) s e_c with g = -(log f)'. Then

* l1 (v = e_1): G = g(r) s 1{c = 1}, nonzero with probability 1/d; for u >= 1/(2d) the top u-mass holds all of
  {G > 0}, so Phi_l1(u) = Phi_l1(1/2) = E[g(r)] / (2d) there and Phi_l1(u) <= Phi_l1(1/2) everywhere:
  R_l1(p) = (p - 1/2) / Phi_l1(1/2) = 2d (p - 1/2) / E[g(r)] is a lower bound on the differential radius (equal
  to it for p <= 1 - 1/(2d)).
* l_inf (v = (1, ..., 1)): G = g(r) s with a fair sign s independent of r; where g is monotone the top u-mass is
  {s = +1} and the r-tail of probability 2u on g's large side: Phi_linf(u) = E[g(r) 1{r in that tail}] / 2.

Families (lambda = 1):

* ExpInf(k, j), f(r) = r^-j exp(-r^k), r^k ~ Gamma(a), a = (d - j)/k; g(r) = j/r + k r^(k-1), and
  E[g(r)] = (d - 1) Gamma(a - 1/k) / Gamma(a) (finite iff d - j > 1, which the gradient's integrability needs):
  l1: :func:`expinf_j_l1_radius` (j = 0: the paper's 2(p - 1/2) Gamma(d/k + 1)/Gamma((d-1)/k + 1));
  l_inf: for k <= 1, g is decreasing, the tail is {r^k < P_a^-1(2u)} and :func:`phi_expinf_j_linf` is closed
  form. For k > 1 and j > 0, g is U-shaped (minimum at r* = (j / (k (k - 1)))^(1/k)): the top u-mass is the
  two-sided set {r < r1} u {r > r2} with g(r1) = g(r2), P = 2u; rather than solving for it at each u,
  :func:`expinf_two_sided_linf_radius` walks the curve (u(c), Phi(c)) of the level c (a Riemann lower sum,
  see :func:`_expinf_two_sided_table`). The radius is never below the l1 conversion R_l1 / d.
* PowInf(a), f(r) = (1 + r)^-a, r ~ BetaPrime(d, a - d), g(r) = a / (1 + r) decreasing, B = 1/(1 + r) ~ Beta(a - d, d):
  l1: E[g] = a E[B] = a - d, :func:`powinf_l1_radius` = 2d (p - 1/2) / (a - d);
  l_inf: :func:`phi_powinf_linf`, Phi(u) = ((a - d)/2) P(Beta(a - d + 1, d) > b_u), P(B > b_u) = 2u.
* Expp(p), i.i.d. density C exp(-|x|^p), C = 1 / (2 Gamma(1 + 1/p)), against l1 (v = e_1): G = p |e|^(p-1) sign(e),
  e = eps_1. Since (C exp(-y^p))' = -p y^(p-1) C exp(-y^p), E[G 1{e in (t0, t1)}] = C (exp(-t0^p) - exp(-t1^p)):
  - p >= 1 (g non-decreasing in |e|): the top u-mass is {e > t_u}, Phi(u) = f(t_u), du = f dt, so
    R(p) = F^-1(p) = (Q^-1_{1/p}(2(1 - p)))^(1/p) (:func:`expp_l1_radius_p_ge_1`). This is also an upper bound (the
    shift F^-1(p) e_1 with the half-space classifier {eps_1 <= F^-1(p)} is not certified beyond it), so it is
    the exact l1 certificate. p = 1 is Laplace's -log(2(1 - p)); p = 2 is the Gaussian's (lambda/sqrt 2) Phi^-1(p).
  - p < 1 (g decreasing): the top u-mass is {0 < e < t_u}, Phi(u) = C (1 - exp(-x_u)), x_u = P^-1_{1/p}(2u)
    (:func:`phi_expp_l1`). For p = 1/2, with s = sqrt(t): u = (1 - (1 + s) e^-s)/2, Phi = (1 - e^-s)/4, and
    R(p) = 2 integral_{s0}^inf s / (e^s - 1) ds = 2 (Li_2(e^-s0) - s0 log(1 - e^-s0)), (1 + s0) e^-s0 = 2p - 1
    (:func:`expp_l1_radius_p_half`; it tends to pi^2/3 as p -> 1).

Level-set (Neyman-Pearson) certificates against l2, the exact certificate up to verified numerical error, with the
machinery of :class:`rsmooth_ext.certificate_math._Exp2LevelSet` (quadrature over the radius law of the
conditional incomplete-beta masses, roots in c, a radius verified by adaptive quad):

* Pow2(k, a): U = r^k ~ BetaPrime(d/k, a - d/k), T = a (log(1 + ||y||^k) - log(1 + ||y - delta||^k))
  (:class:`_Pow2LevelSet`, :func:`pow2_l2_levelset_radius`);
* Exp2(k, j > 0): U ~ Gamma((d - j)/k), T = h(||y||) - h(||y - delta||), h(s) = s^k + j log s
  (:class:`_Exp2JLevelSet`, :func:`exp2_j_l2_levelset_radius`).

Tables (the differential method where Phi has no closed-form integral) are computed on first use with
:func:`rsmooth_ext.certificate_math.differential_table` on the probability grid p_i = Phi_N(z_i) (z evenly
spaced up to Phi_N^-1(1 - 1e-7)), kept in memory, sound (quad's error bound subtracted, monotone) and looked up by
rounding p down to the grid (:func:`differential_table_radius`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy import special

from . import differential as cm

__all__ = [
    "expinf_j_l1_radius",
    "phi_expinf_j_linf",
    "powinf_l1_radius",
    "phi_powinf_linf",
    "expp_l1_radius_p_ge_1",
    "expp_l1_radius_p_half",
    "phi_expp_l1",
    "differential_table_radius",
    "pow2_l2_levelset_radius",
    "exp2_j_l2_levelset_radius",
    "expinf_two_sided_linf_radius",
    "TABLE_P_MAX",
]

TABLE_P_MAX = 1.0 - 1e-7
TABLE_POINTS = 2000
TABLE_RTOL = 1e-10
# closed forms are evaluated in float64 with a few ulp of error: lowered by this relative margin so that the
# returned radius is never above the exact one
_SAFETY = 1.0 - 1e-12


def _check_p(p, owner: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any() or (p <= 0.5).any() or (p >= 1.0).any():
        raise ValueError(f"{owner}: every p must satisfy 1/2 < p < 1")
    return p


def _check_int(name: str, value, owner: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name: str, value, owner: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return value


# ---- ExpInf(k, j) ----------------------------------------------------------------------------------------


def _expinf_j_args(k, j, d, owner):
    k = _check_positive("k", k, owner)
    d = _check_int("d", d, owner, 2)
    j = float(j)
    if not (0.0 <= j and d - j > 1.0):
        raise ValueError(f"{owner}: needs 0 <= j < d - 1 (E[1/r] and the gradient's integrability), got j={j!r}, d={d}")
    return k, j, d, (d - j) / k


def expinf_j_l1_radius(k: float, j: float, d: int, p):
    """ExpInf(k, j, d) against l1 (lambda = 1, d >= 2, 0 <= j < d - 1): R(p) = 2d (p - 1/2) Gamma(a) / ((d - 1)
    Gamma(a - 1/k)), a = (d - j)/k (the module docstring derives it). For j = 0 it is the paper's closed form.
    A lower bound on the differential-method radius, equal to it for p <= 1 - 1/(2d). Vectorised over p."""
    k, j, d, a = _expinf_j_args(k, j, d, "expinf_j_l1_radius")
    p = _check_p(p, "expinf_j_l1_radius")
    log_ratio = special.gammaln(a) - special.gammaln(a - 1.0 / k)
    return 2.0 * d * (p - 0.5) / (d - 1.0) * math.exp(log_ratio) * _SAFETY


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


# ---- PowInf(a) -------------------------------------------------------------------------------------------


def _powinf_args(a, d, owner):
    d = _check_int("d", d, owner, 1)
    a = _check_positive("a", a, owner)
    if not a > d:
        raise ValueError(f"{owner}: needs a > d, got a={a!r}, d={d}")
    return a, d


def powinf_l1_radius(a: float, d: int, p):
    """PowInf(a, d) against l1 (lambda = 1): R(p) = 2d (p - 1/2) / (a - d), a lower bound on the differential
    radius (equal to it for p <= 1 - 1/(2d)). Vectorised over p."""
    a, d = _powinf_args(a, d, "powinf_l1_radius")
    p = _check_p(p, "powinf_l1_radius")
    return 2.0 * d * (p - 0.5) / (a - d) * _SAFETY


def phi_powinf_linf(a: float, d: int) -> Callable:
    """Growth function of PowInf(a, d) against l_inf: Phi(u) = ((a - d)/2) I^c_{b_u}(a - d + 1, d), where
    I^c_{b_u}(a - d, d) = 2u (regularized upper incomplete beta; B = 1/(1 + r) ~ Beta(a - d, d))."""
    a, d = _powinf_args(a, d, "phi_powinf_linf")
    beta = a - d

    def phi(u):
        b = special.betainccinv(beta, float(d), 2.0 * np.asarray(u, dtype=np.float64))
        return 0.5 * beta * special.betaincc(beta + 1.0, float(d), b)

    return phi


# ---- Expp(p) ---------------------------------------------------------------------------------------------


def expp_l1_radius_p_ge_1(p_exponent: float, p):
    """Expp(p_exponent >= 1) against l1 (lambda = 1): the exact certificate F^-1(p) = Q^-1_{1/p_exponent}(2(1 - p))
    ^(1/p_exponent), F the generalized normal CDF (module docstring). Vectorised over p."""
    q = _check_positive("p_exponent", p_exponent, "expp_l1_radius_p_ge_1")
    if q < 1.0:
        raise ValueError(f"expp_l1_radius_p_ge_1: needs p_exponent >= 1, got {q!r}")
    p = _check_p(p, "expp_l1_radius_p_ge_1")
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
    p = _check_p(p, "expp_l1_radius_p_half")
    s0 = _expp_half_s0(p)
    e = np.exp(-s0)
    dilog = special.spence(1.0 - e)  # Li_2(e) = spence(1 - e)
    return 2.0 * (dilog - s0 * np.log(-np.expm1(-s0))) * _SAFETY


def phi_expp_l1(p_exponent: float) -> Callable:
    """Growth function of Expp(p_exponent < 1) against l1: Phi(u) = C (1 - exp(-x_u)), x_u = P^-1_{1/p}(2u),
    C = 1 / (2 Gamma(1 + 1/p)) (module docstring)."""
    q = _check_positive("p_exponent", p_exponent, "phi_expp_l1")
    if q >= 1.0:
        raise ValueError(f"phi_expp_l1: for p_exponent >= 1 use expp_l1_radius_p_ge_1, got {q!r}")
    shape = 1.0 / q
    const = 0.5 / special.gamma(1.0 + shape)

    def phi(u):
        x = special.gammaincinv(shape, 2.0 * np.asarray(u, dtype=np.float64))
        return -const * np.expm1(-x)

    return phi


# ---- tables ----------------------------------------------------------------------------------------------


def _probability_grid() -> np.ndarray:
    z = np.linspace(0.0, float(special.ndtri(TABLE_P_MAX)), TABLE_POINTS + 1)[1:]
    return special.ndtr(z)


_PHI_FACTORIES = {
    "expinf_j_linf": phi_expinf_j_linf,
    "powinf_linf": phi_powinf_linf,
    "expp_l1": phi_expp_l1,
}


@functools.lru_cache(maxsize=32)
def _table(kind: str, args: tuple) -> tuple[np.ndarray, np.ndarray]:
    phi = _PHI_FACTORIES[kind](*args)
    grid = _probability_grid()
    radii, error = cm.differential_table(phi, grid, rtol=TABLE_RTOL)
    radii = np.maximum(radii - error, 0.0)  # every entry's integration error is at most the total
    radii = np.minimum.accumulate(radii[::-1])[::-1]  # non-decreasing, each entry lowered (sound)
    return grid, radii


def differential_table_radius(kind: str, args: tuple, p):
    """Differential-method radius (lambda = 1) of the growth function ``_PHI_FACTORIES[kind](*args)`` at each p,
    from a table computed on first use (a few seconds) and kept in memory: the entry of the largest grid
    point <= p (radii are non-decreasing in p, so this is a lower bound); 0 for p <= 1/2, the last entry above
    the last grid point."""
    grid, radii = _table(kind, tuple(args))
    p = np.asarray(p, dtype=np.float64)
    index = np.searchsorted(grid, p, side="right") - 1
    out = np.where(index >= 0, radii[np.clip(index, 0, None)], 0.0)
    return np.where(p > 0.5, out, 0.0)


# ---- Pow2(k, a) against l2: the level-set (Neyman-Pearson) method ---------------------------------------


def _axis_kinks(ls, r: float, c: float) -> list[float]:
    """The radii rho where the level set {T = c} crosses the e_1 axis (where the conditional masses are not
    smooth): roots of T(+-rho e_1) = c (``ls._log_ratio_along_axis``), bracketed on a geometric scan of rho and
    refined by brentq (T along the axis is not monotone in general, so every sign change is refined)."""
    from scipy import optimize

    rho_max = float(ls.rho.max()) * 4.0 + 4.0 * r
    grid = np.unique(np.concatenate([np.geomspace(1e-6 * r, rho_max, 600), r * np.linspace(0.5, 1.5, 101)]))
    out = []
    for sign in (1, -1):
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.array([ls._log_ratio_along_axis(g, r, sign) - c for g in grid])
        values = np.where(np.isfinite(values), values, np.sign(values) * 1e300)
        for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0):
            def f(rho, sign=sign):
                return ls._log_ratio_along_axis(rho, r, sign) - c

            try:
                out.append(optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-14 * grid[i + 1], rtol=1e-15))
            except (ValueError, ZeroDivisionError):  # the scan's sign change was an infinity at rho = r
                continue
    return [x for x in out if x > 0]


class _Pow2LevelSet(cm._Exp2LevelSet):
    """Masses of the Neyman-Pearson sets of Pow2(k, a, d) (lambda = 1, d >= 2) for the shift delta = r e_1: the
    machinery of :class:`rsmooth_ext.certificate_math._Exp2LevelSet` (eps = rho w, w uniform on the sphere,
    integrals over the radius law by quadrature in z = Phi_N^-1(F(U)), U = rho^k), with the Pow2 radius law and
    log-likelihood ratio:

    * U = rho^k ~ BetaPrime(alpha = d/k, beta = a - d/k): U = X / (1 - X), X ~ Beta(alpha, beta);
    * T(y) = a [log(1 + ||y||^k) - log(1 + ||y - delta||^k)]. Given rho, T > c <=> ||eps - delta||^k < s^k with
      s^k = (1 + U) e^(-c/a) - 1 = U (1 + ratio), ratio = (1 + 1/U) expm1(-c/a) (impossible when ratio <= -1);
      the conditional tail is then the same regularized incomplete beta as for Exp2."""

    def __init__(self, k: float, a: float, d: int):
        self.alpha = d / k
        self.beta = a - d / k
        self.a_pow = a
        super().__init__(k, d)

    def _quantile_z(self, z):
        z = np.asarray(z, dtype=np.float64)
        lower = special.betaincinv(self.alpha, self.beta, special.ndtr(np.minimum(z, 0.0)))  # X, accurate for z <= 0
        upper = special.betaincinv(self.beta, self.alpha, special.ndtr(-np.maximum(z, 0.0)))  # 1 - X for z > 0
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return np.where(z <= 0, lower / (1.0 - lower), (1.0 - upper) / upper)

    def _z_of_U(self, U):
        x = U / (1.0 + U)
        lower = special.betainc(self.alpha, self.beta, x)
        if lower < 0.5:
            return float(special.ndtri(lower))
        return float(-special.ndtri(special.betainc(self.beta, self.alpha, 1.0 / (1.0 + U))))

    def _log_ratio_along_axis(self, rho, r, sign):
        """T at the point rho e_1 (sign = +1: ||y - delta|| = |rho - r|) or -rho e_1 (sign = -1: rho + r)."""
        other = abs(rho - r) if sign > 0 else rho + r
        return self.a_pow * (math.log1p(rho**self.k) - math.log1p(other**self.k))



    def kink_rhos(self, r, c):
        return _axis_kinks(self, r, c)

    def _x_pair(self, rho, U, r, c):
        """(x, 1 - x, alive) as in the Exp2 base class, with s^k = U (1 + ratio), ratio = (1 + 1/U) expm1(-c/a):
        D = s - rho = rho expm1(log1p(ratio) / k), x = (D + r)(2 rho + D - r) / (4 rho r),
        1 - x = (r - D)(2 rho + D + r) / (4 rho r)."""
        k = self.k
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = (1.0 + 1.0 / np.asarray(U, dtype=np.float64)) * math.expm1(-c / self.a_pow)
            alive = ratio > -1.0
            D = rho * np.expm1(np.log1p(np.maximum(np.where(alive, ratio, 0.0), -1.0)) / k)
            denom = 4.0 * rho * r
            x = (D + r) * (2.0 * rho + D - r) / denom
            y = (r - D) * (2.0 * rho + D + r) / denom
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        y = np.clip(np.nan_to_num(y, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return x, y, alive

    def c_bound(self, r):
        """|T| <= c_bound at every node, whatever the direction: a log((1 + (rho + r)^k) / (1 + rho^k)) and
        a log((1 + rho^k) / (1 + max(rho - r, 0)^k)), maximised over the nodes."""
        rho = self.rho
        up = np.log1p((rho + r) ** self.k) - np.log1p(rho**self.k)
        down = np.log1p(rho**self.k) - np.log1p(np.maximum(rho - r, 0.0) ** self.k)
        return float(self.a_pow * max(up.max(), down.max())) * 1.01

    def c_typical(self, r):
        """Typical size of T: its first-order term a k rho^(k-1) / (1 + rho^k) r at the median radius."""
        rho_med = float(self._quantile_z(np.array(0.0))) ** (1.0 / self.k)
        return min(self.a_pow * self.k * rho_med ** (self.k - 1.0) / (1.0 + rho_med**self.k) * r, self.c_bound(r))


class _Exp2JLevelSet(cm._Exp2LevelSet):
    """Masses of the Neyman-Pearson sets of Exp2(k, j, d), j > 0 (lambda = 1, d >= 2), for the shift r e_1: the
    Exp2 machinery with U = rho^k ~ Gamma((d - j)/k) and T(y) = h(||y||) - h(||y - delta||), h(s) = s^k + j log s
    (increasing, onto the reals, so {T > c} is never empty given rho). Given rho, T > c <=> ||eps - delta|| < s
    with h(s) = h(rho) - c; s = rho e^delta where phi(delta) = U expm1(k delta) + j delta + c = 0. phi is
    increasing and convex, and both the tangent root -c/(k U + j) and (for c < 0) the j = 0 root
    log1p(-c/U)/k lie to the right of the root, so Newton's method from their minimum decreases monotonically
    to it."""

    NEWTON_STEPS = 60

    def __init__(self, k: float, j: float, d: int):
        self.j = j
        super().__init__(k, d, shape=(d - j) / k)  # the radius law U = rho^k ~ Gamma((d - j)/k)

    def _h(self, s):
        return s**self.k + self.j * math.log(s) if s > 0 else -math.inf

    def _log_ratio_along_axis(self, rho, r, sign):
        other = abs(rho - r) if sign > 0 else rho + r
        return self._h(rho) - self._h(other)

    def kink_rhos(self, r, c):
        return _axis_kinks(self, r, c)

    def _delta(self, U, c):
        """delta with U expm1(k delta) + j delta = -c, elementwise (see the class docstring)."""
        k, j = self.k, self.j
        U = np.asarray(U, dtype=np.float64)
        delta = -c / (k * U + j)
        if c < 0:
            with np.errstate(divide="ignore"):
                delta = np.minimum(delta, np.log1p(-c / np.where(U > 0, U, np.inf)) / k)
        for _ in range(self.NEWTON_STEPS):
            with np.errstate(over="ignore", invalid="ignore"):
                phi = U * np.expm1(k * delta) + j * delta + c
                slope = U * k * np.exp(k * delta) + j
            delta = np.where(np.isfinite(phi) & np.isfinite(slope), delta - phi / slope, delta)
        return delta

    def _x_pair(self, rho, U, r, c):
        """(x, 1 - x, alive) as in the Exp2 base class with D = s - rho = rho expm1(delta); alive everywhere."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            D = np.asarray(rho, dtype=np.float64) * np.expm1(self._delta(U, c))
            denom = 4.0 * rho * r
            x = (D + r) * (2.0 * rho + D - r) / denom
            y = (r - D) * (2.0 * rho + D + r) / denom
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        y = np.clip(np.nan_to_num(y, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        return x, y, np.ones(np.shape(x), dtype=bool)

    def c_bound(self, r):
        """A c with P(T > c) and P(T < -c) below 1e-15 on the nodes (T is unbounded when j > 0: h(s) -> -inf as
        s -> 0): doubled from the j = 0 bound until the fast integrals say so."""
        b = self.k * (float(self.rho.max()) + r) ** max(self.k - 1.0, 0.0) * r + r**self.k + self.j
        for _ in range(200):
            if self.tail_fast(r, b) < 1e-15 and self.cdf_fast(r, -b) < 1e-15:
                return b
            b *= 2.0
        return b

    def c_typical(self, r):
        rho_med = float(self._quantile_z(np.array(0.0))) ** (1.0 / self.k)
        return (self.k * rho_med ** (self.k - 1.0) + self.j / rho_med) * r


def _levelset_radius(ls, p: float, scale: float) -> float:
    """:func:`rsmooth_ext.certificate_math.verified_levelset_radius` for a level-set object ``ls`` of this
    module; ``scale`` is the noise's sigma (the Gaussian guess that starts the bracket)."""
    return cm.verified_levelset_radius(ls, p, scale, root_rtol=1e-12, what=f"level-set radius at p={p}")


@functools.lru_cache(maxsize=8)
def _pow2_levelset(k: float, a: float, d: int) -> _Pow2LevelSet:
    return _Pow2LevelSet(k, a, d)


@functools.lru_cache(maxsize=4096)
def _pow2_l2_radius_cached(k: float, a: float, d: int, p: float) -> float:
    alpha, beta = d / k, a - d / k
    # sigma of the radius law (finite for a k > d + 2), else the median radius / sqrt(d): only starts the bracket
    if beta > 2.0 / k:
        scale = math.sqrt(math.exp(special.gammaln(alpha + 2 / k) + special.gammaln(beta - 2 / k)
                                   - special.gammaln(alpha) - special.gammaln(beta)) / d)
    else:
        median = special.betaincinv(alpha, beta, 0.5)
        scale = (median / (1.0 - median)) ** (1.0 / k) / math.sqrt(d)
    return _levelset_radius(_pow2_levelset(k, a, d), p, scale)


def pow2_l2_levelset_radius(k: float, a: float, d: int, p):
    """Certified l2 radius of Pow2(k, a, d) (lambda = 1, d >= 2, a k > d) by the level-set (Neyman-Pearson)
    method: exact up to the verified numerical error, as for Exp2 (:func:`_levelset_radius`;
    :class:`_Pow2LevelSet` gives the masses). Each distinct p costs a few tenths of a second (cached).
    Vectorised over p (1/2 < p < 1)."""
    k = _check_positive("k", k, "pow2_l2_levelset_radius")
    a = _check_positive("a", a, "pow2_l2_levelset_radius")
    d = _check_int("d", d, "pow2_l2_levelset_radius", 2)
    if not a * k > d:
        raise ValueError(f"pow2_l2_levelset_radius: needs a * k > d, got a={a!r}, k={k!r}, d={d}")
    p = _check_p(p, "pow2_l2_levelset_radius")
    out = np.array([_pow2_l2_radius_cached(k, a, d, float(pi)) for pi in p.ravel()]).reshape(p.shape)
    return float(out) if out.ndim == 0 else out


@functools.lru_cache(maxsize=8)
def _exp2_j_levelset(k: float, j: float, d: int) -> _Exp2JLevelSet:
    return _Exp2JLevelSet(k, j, d)


@functools.lru_cache(maxsize=4096)
def _exp2_j_l2_radius_cached(k: float, j: float, d: int, p: float) -> float:
    shape = (d - j) / k
    scale = math.sqrt(math.exp(special.gammaln(shape + 2 / k) - special.gammaln(shape)) / d)  # sigma: the bracket
    return _levelset_radius(_exp2_j_levelset(k, j, d), p, scale)


def exp2_j_l2_levelset_radius(k: float, j: float, d: int, p):
    """Certified l2 radius of Exp2(k, j, d), j > 0 (lambda = 1, d >= 2, j < d), by the level-set method
    (:class:`_Exp2JLevelSet`, :func:`_levelset_radius`). Each distinct p costs about a second (cached).
    Vectorised over p (1/2 < p < 1)."""
    k = _check_positive("k", k, "exp2_j_l2_levelset_radius")
    j = _check_positive("j", j, "exp2_j_l2_levelset_radius")
    d = _check_int("d", d, "exp2_j_l2_levelset_radius", 2)
    if not j < d:
        raise ValueError(f"exp2_j_l2_levelset_radius: needs j < d, got j={j!r}, d={d}")
    p = _check_p(p, "exp2_j_l2_levelset_radius")
    out = np.array([_exp2_j_l2_radius_cached(k, j, d, float(pi)) for pi in p.ravel()]).reshape(p.shape)
    return float(out) if out.ndim == 0 else out


# ---- ExpInf(k > 1, j > 0) against l_inf: the two-sided top set ---------------------------------------------

TWO_SIDED_POINTS = 100_000


def _bisect_increasing(f, lo, hi, steps=200):
    """Elementwise root of f (increasing on [lo, hi], arrays of brackets, lo > 0) by bisection in log space."""
    lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    for _ in range(steps):
        mid = np.sqrt(lo * hi)
        below = f(mid) < 0
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return lo, hi


@functools.lru_cache(maxsize=16)
def _expinf_two_sided_table(k: float, j: float, d: int) -> tuple[np.ndarray, np.ndarray]:
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
    a = (d - j) / k
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


def expinf_two_sided_linf_radius(k: float, j: float, d: int, p):
    """Differential-method radius of ExpInf(k > 1, j > 0, d) against l_inf (lambda = 1) from
    :func:`_expinf_two_sided_table`: the entry of the largest grid point <= p (a lower bound); 0 for p <= 1/2."""
    k, j, d, _ = _expinf_j_args(k, j, d, "expinf_two_sided_linf_radius")
    if not (k > 1.0 and j > 0.0):
        raise ValueError(f"expinf_two_sided_linf_radius: needs k > 1 and j > 0, got k={k!r}, j={j!r}")
    grid, radii = _expinf_two_sided_table(k, j, d)
    p = np.asarray(p, dtype=np.float64)
    index = np.searchsorted(grid, p, side="right") - 1
    out = np.where(index >= 0, radii[np.clip(index, 0, None)], 0.0)
    return np.where(p > 0.5, out, 0.0)
