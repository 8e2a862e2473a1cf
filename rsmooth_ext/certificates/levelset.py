"""The level-set (Neyman-Pearson) method: the exact certificate against an l2 shift, up to verified numerical error.

For a shift delta with ||delta||_2 = r (by rotation invariance, delta = r e_1), the smallest possible probability
of the top class after the shift, over all classifiers with probability p before it, is P(eps + delta in A) for
the Neyman-Pearson set A = A_{c_p} = {T <= c_p}, T the log-likelihood ratio of eps + delta against eps, with
P(eps in A) = p (T has no atoms for d >= 2) (Cohen et al. 2019 for the argument; Yang et al. 2020 for its use
with other noises). r is certified iff that probability exceeds 1/2.

One engine, :class:`LevelSet`: for a radial noise eps = rho w (w uniformly distributed on the unit l2 sphere,
independent of rho, U = rho^k with a family's radius law), given rho the set {T > c} is a cap {w_1 > t} of the
sphere, whose probability is a regularized incomplete beta I_x((d-1)/2, (d-1)/2). The masses P0(T > c) and P0(T <=
c) are 1-d integrals over the radius law, computed in z = Phi_N^-1(F(U)) by fixed Gauss-Legendre nodes (``fast``,
used for roots) and by adaptive quad (``quad``, used to verify). :meth:`LevelSet.radius` finds the root in r of
c_p(r) + median_r(T) (the certified radius) and then *verifies* it with quad. The families are small
subclasses that give the radius law and the cap's argument x:

* :class:`Exp2LevelSet`: Exp2(k), U ~ Gamma(d/k), T(y) = ||y||^k - ||y - delta||^k;
* :class:`Exp2JLevelSet`: Exp2(k, j > 0), U ~ Gamma((d - j)/k), T(y) = h(||y||) - h(||y - delta||),
  h(s) = s^k + j log s;
* :class:`Pow2LevelSet`: Pow2(k, a), U ~ BetaPrime(d/k, a - d/k),
  T(y) = a (log(1 + ||y||^k) - log(1 + ||y - delta||^k)).

Everything at lambda = 1 (radii scale linearly with lambda). Results are memoised by :mod:`.tables`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, optimize, special, stats

from .checks import check_d, check_k_d, check_p, check_shape


class LevelSet:
    """The level-set engine: masses of the Neyman-Pearson sets of a radial noise eps = rho w (lambda = 1) for
    the shift delta = r e_1, and the verified radius.

    Given rho, T > c <=> w_1 > t for a t of (rho, r, c), and P(w_1 > t) = I_x(a, a) with a = (d - 1)/2 and
    x = (1 - t)/2 (a family gives x and 1 - x without cancellation, :meth:`_x_pair`). So P0(T > c) =
    E_U[I_x(a, a)], a 1-d integral over the radius law of U = rho^k. Two integration schemes:

    * ``fast``: fixed composite Gauss-Legendre in z, U = F^-1(Phi_N(z)), z in [-Z, Z] (the neglected
      mass 2 Phi_N(-Z) is added to the error);
    * ``quad``: adaptive scipy quad in the same variable z over [-40, 40], split at the integers and at
      the kinks of the integrand (where x crosses 0 or 1), with quad's error estimates summed. (Integrating
      over U with its density instead is unreliable when d/k is small: a Gamma density's U^(d/k - 1)
      singularity spans many decades of U, and quad then returns wrong values with tiny error estimates.)

    A family subclass gives the radius law (:meth:`_quantile_z`, :meth:`_z_of_U`), the cap (:meth:`_x_pair`),
    where the level set crosses the e_1 axis (:meth:`kink_rhos`) and the range of T (:meth:`c_bound`,
    :meth:`c_typical`).
    """

    Z = 8.5  # 2 Phi_N(-8.5) = 1.9e-17

    PANEL = 0.25

    ORDER = 16


    def __init__(self, k: float, d: int):
        self.k = k
        self.d = d
        self.a = 0.5 * (d - 1)
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

    # -- the family's hooks ------------------------------------------------------------------------------
    def _quantile_z(self, z):
        """U = F^-1(Phi_N(z)) for the radius law F of U = rho^k, accurate in both tails."""
        raise NotImplementedError

    def _z_of_U(self, U):
        """The inverse of :meth:`_quantile_z` (a float)."""
        raise NotImplementedError

    def kink_rhos(self, r, c):
        """The radii rho where the level set {T = c} crosses the e_1 axis (the conditional masses' kinks)."""
        raise NotImplementedError

    def _x_pair(self, rho, U, r, c):
        """(x, 1 - x, alive): the argument x of the conditional tail I_x(a, a) given rho, its complement, and
        where {T > c} is non-empty given rho."""
        raise NotImplementedError

    def c_bound(self, r):
        """A bound on |T| at every node."""
        raise NotImplementedError

    def c_typical(self, r):
        """The typical size of T (sets the root's absolute tolerance)."""
        raise NotImplementedError

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

    def tail_root(self, r, target):
        """c with tail_fast(r, c) = target (0 < target < 1)."""
        b = self.c_bound(r)
        tol = 1e-40 * self.c_typical(r)
        return optimize.brentq(lambda c: self.tail_fast(r, c) - target, -b, b, xtol=tol, rtol=1e-15, maxiter=400)

    def cdf_root(self, r, target):
        b = self.c_bound(r)
        tol = 1e-40 * self.c_typical(r)
        return optimize.brentq(lambda c: self.cdf_fast(r, c) - target, -b, b, xtol=tol, rtol=1e-15, maxiter=400)

    def masses(self, r: float, c: float, *, method: str = "quad"):
        """Masses of the Neyman-Pearson set A_c = {T <= c} for the shift delta = r e_1 (r > 0).

        Returns ``(mu0_in, mu0_out, mu1_in, abserr)``: mu0_in = P(eps in A_c), mu0_out = P(eps not in A_c)
        (computed directly, so accurate when tiny), mu1_in = P(eps + delta in A_c) and the largest of the three
        absolute-error estimates. mu1_in uses the reflection y -> delta - y, which swaps the two laws and
        negates T, so P(eps + delta in A_c) = P(T(eps) >= -c) = mu0_out at -c. ``method``: 'quad' (adaptive,
        error = quad's estimates) or 'fast' (fixed nodes; error = truncated mass only, quadrature error not
        included)."""
        if not r > 0:
            raise ValueError(f"{type(self).__name__}.masses: r must be > 0, got {r!r}")
        if method == "quad":
            cdf, e1 = self.cdf_quad(r, c)
            tail, e2 = self.tail_quad(r, c)
            mu1, e3 = self.tail_quad(r, -c)
            return cdf, tail, mu1, max(e1, e2, e3)
        if method == "fast":
            return self.cdf_fast(r, c), self.tail_fast(r, c), self.tail_fast(r, -c), self.fast_err
        raise ValueError(f"method must be 'quad' or 'fast', got {method!r}")

    def radius(self, p: float, scale: float, *, root_rtol: float, what: str) -> float:
        """The level-set radius at p: the root of r -> c_p(r) + median_r(T), bracketed from the
        normal-approximation guess ``scale`` * Phi_N^-1(p) and found with the fast integrals, then *verified* with
        adaptive quad (a witness c with P(T > c) - err > 1 - p and P(T <= -c) + err < 1/2), r backed off (relative 1e-9,
        1e-8, ...) until verified. Returns 0.0, with a warning naming ``what``, if nothing verifies."""
        tail_target = 1.0 - p

        def gap(r):
            return self.tail_root(r, tail_target) + self.cdf_root(r, 0.5)

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
            c_p = self.tail_root(r, tail_target)
            c_med = -self.cdf_root(r, 0.5)
            if not c_p > c_med:
                continue
            c = 0.5 * (c_p + c_med)
            tail, e1 = self.tail_quad(r, c)
            if not tail - e1 > tail_target:
                continue
            below, e2 = self.cdf_quad(r, -c)
            if below + e2 < 0.5:
                return r
        warnings.warn(f"{what}: could not verify the radius; returning 0", stacklevel=4)
        return 0.0


class Exp2LevelSet(LevelSet):
    """Exp2(k, d) (lambda = 1, d >= 2): eps = rho w with U = rho^k ~ Gamma(d/k) (``shape``; (d - j)/k for
    :class:`Exp2JLevelSet`). The log likelihood ratio of eps + delta against eps at y is
    T(y) = ||y||^k - ||y - delta||^k; given rho,

        T > c  <=>  ||eps - delta|| < s,  s = (rho^k - c)^(1/k)  (impossible when rho^k <= c)
               <=>  w_1 > t,  t = (rho^2 + r^2 - s^2) / (2 rho r),

    x = (1 - t)/2 = (s^2 - (rho - r)^2) / (4 rho r), 1 - x = ((rho + r)^2 - s^2) / (4 rho r) (clipped to [0, 1]).
    """

    def __init__(self, k: float, d: int, shape: float | None = None):
        self.shape = d / k if shape is None else shape  # U = rho^k ~ Gamma(shape)
        self.log_norm = special.gammaln(self.shape)
        super().__init__(k, d)

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


def _axis_kinks(ls, r: float, c: float) -> list[float]:
    """The radii rho where the level set {T = c} crosses the e_1 axis (where the conditional masses are not
    smooth): roots of T(+-rho e_1) = c (``ls._log_ratio_along_axis``), bracketed on a geometric scan of rho and
    refined by brentq (T along the axis is not monotone in general, so every sign change is refined)."""
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


class Pow2LevelSet(LevelSet):
    """Masses of the Neyman-Pearson sets of Pow2(k, a, d) (lambda = 1, d >= 2) for the shift delta = r e_1: the
    engine of :class:`LevelSet` with the Pow2 radius law and log-likelihood ratio:

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
        """(x, 1 - x, alive) as for :class:`Exp2LevelSet`, with s^k = U (1 + ratio), ratio = (1 + 1/U) expm1(-c/a):
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


class Exp2JLevelSet(Exp2LevelSet):
    """Masses of the Neyman-Pearson sets of Exp2(k, j, d), j > 0 (lambda = 1, d >= 2), for the shift r e_1: the
    :class:`Exp2LevelSet` engine with U = rho^k ~ Gamma((d - j)/k) and T(y) = h(||y||) - h(||y - delta||),
    h(s) = s^k + j log s (increasing, onto the reals, so {T > c} is never empty given rho). Given rho,
    T > c <=> ||eps - delta|| < s with h(s) = h(rho) - c; s = rho e^delta where
    phi(delta) = U expm1(k delta) + j delta + c = 0. phi is increasing and convex, and both the tangent root
    -c/(k U + j) and (for c < 0) the j = 0 root log1p(-c/U)/k lie to the right of the root, so Newton's method
    from their minimum decreases monotonically to it."""

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
        """(x, 1 - x, alive) as for :class:`Exp2LevelSet` with D = s - rho = rho expm1(delta); alive everywhere."""
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
    """:meth:`LevelSet.radius` with the families' root tolerance; ``scale`` is the noise's sigma (the
    normal-approximation guess that starts the bracket)."""
    return ls.radius(p, scale, root_rtol=1e-12, what=f"level-set radius at p={p}")


def exp2_l2_levelset_radius(k: float, d: int, p: float, *, rtol: float = 1e-8) -> float:
    """Certified l2 radius of Exp2(k, d) noise (lambda = 1, d >= 2) at top-class probability lower bound p,
    by the level-set (Neyman-Pearson) method: exact up to numerical error (Yang et al. 2020; Cohen et al.
    2019 for the Neyman-Pearson argument), for every k > 0.

    For a shift delta with ||delta||_2 = r (by rotation invariance, delta = r e_1), the smallest possible
    probability of the top class after the shift, over all classifiers with probability p before it, is
    P(eps + delta in A) for the NP set A = A_{c_p} = {T <= c_p}, T(y) = ||y||^k - ||y - delta||^k, with
    P(eps in A) = p (T has no atoms for d >= 2). r is certified iff that probability exceeds 1/2, i.e.
    (by the reflection identity in :meth:`LevelSet.masses`) iff P(T(eps) < -c_p) < 1/2, i.e. iff
    c_p(r) > -median(T). The radius is the root of r -> c_p(r) + median_r(T), found with the fast fixed
    node integrals (see :class:`LevelSet`), then *verified* with adaptive quad: a witness c with
    P(T > c) - err > 1 - p (so c < c_p) and P(T <= -c) + err < 1/2 (so the shifted mass of A_c, hence of
    A_{c_p}, is > 1/2) is required; r is backed off (relative 1e-9, 1e-8, ...) until verified. The returned
    radius is therefore sound as far as quad's error estimates are. Certifying the whole ball assumes the
    worst-case probability is non-increasing in r (checked numerically in the tests). Takes ~0.1-0.6 s.
    ``rtol``: relative tolerance of the root in r (before the back-off).

    Returns a float (0.0 if nothing could be verified). Multiply by lambda for other scales."""
    k, d = check_k_d(k, d, "exp2_l2_levelset_radius", minimum_d=2)  # d = 1 is a 1-d noise: a 1-d certificate
    p = float(check_p(p, "exp2_l2_levelset_radius"))
    ls = Exp2LevelSet(k, d)
    # bracket: start from the normal approximation sigma * Phi^-1(p), sigma^2 = E rho^2 / d
    sigma = math.sqrt(float(special.poch(d / k, 2.0 / k)) / d)
    return ls.radius(p, sigma, root_rtol=max(rtol * 0.01, 1e-15),
                     what=f"exp2_l2_levelset_radius(k={k}, d={d}, p={p})")


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
    k, d = check_k_d(k, d, "exp2_l2_levelset_table", minimum_d=2)
    r_grid = np.asarray(r_grid, dtype=np.float64)
    if not (r_grid > 0).all():
        raise ValueError("exp2_l2_levelset_table: radii must be > 0")
    ls = Exp2LevelSet(k, d)
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


def check_pow2_args(k, a, d, owner: str) -> tuple[float, float, int]:
    """Pow2's parameters for the level set: k > 0, a > 0, d >= 2 with a * k > d."""
    k = check_shape("k", k, owner)
    a = check_shape("a", a, owner)
    d = check_d(d, owner, 2)
    if not a * k > d:
        raise ValueError(f"{owner}: needs a * k > d, got a={a!r}, k={k!r}, d={d}")
    return k, a, d


def check_exp2_j_args(k, j, d, owner: str) -> tuple[float, float, int]:
    """Exp2(k, j)'s parameters for the level set: k > 0, j > 0, d >= 2 with j < d."""
    k = check_shape("k", k, owner)
    j = check_shape("j", j, owner)
    d = check_d(d, owner, 2)
    if not j < d:
        raise ValueError(f"{owner}: needs j < d, got j={j!r}, d={d}")
    return k, j, d


def pow2_l2_levelset_point(k: float, a: float, d: int, p: float, ls: Pow2LevelSet | None = None) -> float:
    """The level-set radius of Pow2(k, a, d) at one p (lambda = 1; arguments checked by the caller); ``ls`` a
    :class:`Pow2LevelSet` of these parameters to reuse."""
    alpha, beta = d / k, a - d / k
    # sigma of the radius law (finite for a k > d + 2), else the median radius / sqrt(d): only starts the bracket
    if beta > 2.0 / k:
        scale = math.sqrt(math.exp(special.gammaln(alpha + 2 / k) + special.gammaln(beta - 2 / k)
                                   - special.gammaln(alpha) - special.gammaln(beta)) / d)
    else:
        median = special.betaincinv(alpha, beta, 0.5)
        scale = (median / (1.0 - median)) ** (1.0 / k) / math.sqrt(d)
    return _levelset_radius(Pow2LevelSet(k, a, d) if ls is None else ls, p, scale)


def exp2_j_l2_levelset_point(k: float, j: float, d: int, p: float, ls: Exp2JLevelSet | None = None) -> float:
    """The level-set radius of Exp2(k, j, d) at one p (lambda = 1; arguments checked by the caller); ``ls`` an
    :class:`Exp2JLevelSet` of these parameters to reuse."""
    shape = (d - j) / k
    scale = math.sqrt(math.exp(special.gammaln(shape + 2 / k) - special.gammaln(shape)) / d)  # sigma: the bracket
    return _levelset_radius(Exp2JLevelSet(k, j, d) if ls is None else ls, p, scale)



def exp2_l2_levelset_point(k: float, d: int, p: float, ls: Exp2LevelSet | None = None) -> float:
    """The level-set radius of Exp2(k, d) (j = 0) at one p (lambda = 1; arguments checked by the caller), as
    :func:`exp2_l2_levelset_radius` with its default tolerance; ``ls`` an :class:`Exp2LevelSet` of these
    parameters to reuse."""
    sigma = math.sqrt(float(special.poch(d / k, 2.0 / k)) / d)
    return (Exp2LevelSet(k, d) if ls is None else ls).radius(
        p, sigma, root_rtol=1e-10, what=f"exp2_l2_levelset_radius(k={k}, d={d}, p={p})")
