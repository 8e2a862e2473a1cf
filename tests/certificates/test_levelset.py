"""The level-set method (rsmooth_ext.certificates.levelset): Exp2 against the Gaussian (k = 2) and Monte
Carlo, monotonicity, the table against the radius, and the Pow2 and Exp2(j > 0) families against their
Gaussian limits and an independent d = 3 oracle."""

import math

import numpy as np
import pytest
from scipy import special

from rsmooth_ext.certificates import closed_forms, levelset, tables

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 20
PRECISION_DIGITS = 20



RNG_SEED = 20240611


@pytest.mark.parametrize("d", [2, 3, 10, 64, 3072])
def test_exp2_k2_levelset_is_the_gaussian(d):
    """Exp2(k=2) is N(0, I/2): the exact l2 certificate is Phi_N^-1(p) / sqrt(2)."""
    for p in [0.6, 0.99, 1 - 1e-7]:
        r = levelset.exp2_l2_levelset_radius(2.0, d, p)
        exact = float(special.ndtri(p)) / math.sqrt(2)
        assert exact * (1 - 1e-6) < r <= exact


def test_exp2_k2_levelset_masses_are_gaussian_halfspaces():
    """For k = 2, T = 2 r y_1 - r^2, so P(T > c) = P(N(0, 1/2) > (c + r^2) / (2r))."""
    for d in (2, 5, 64):
        for r, c in [(0.3, 0.1), (1.0, -0.5), (2.0, 3.0)]:
            inside, outside, shifted, err = levelset.Exp2LevelSet(2.0, d).masses(r, c)
            tail = special.ndtr(-math.sqrt(2) * (c + r * r) / (2 * r))
            assert outside == pytest.approx(tail, rel=1e-10, abs=1e-15)
            assert inside == pytest.approx(1 - tail, abs=1e-13)
            # shifted: T(eps + delta) = 2 r eps_1 + r^2 <= c
            assert shifted == pytest.approx(special.ndtr(math.sqrt(2) * (c - r * r) / (2 * r)), rel=1e-9, abs=1e-14)
            assert err < 1e-12


@pytest.mark.parametrize("k,d", [(1.0, 3), (0.5, 5), (3.0, 4), (1.5, 2)])
def test_exp2_levelset_masses_monte_carlo(k, d):
    """Masses of {T <= c} under the noise and under the shifted noise, against direct sampling."""
    rng = np.random.default_rng(RNG_SEED + d)
    n = 200_000
    rho = rng.gamma(d / k, size=n) ** (1.0 / k)
    w = rng.standard_normal((n, d))
    eps = rho[:, None] * w / np.linalg.norm(w, axis=1, keepdims=True)
    r = 0.7 * math.sqrt(np.mean(rho**2) / d)
    delta = np.zeros(d)
    delta[0] = r

    def T(y):
        return np.linalg.norm(y, axis=1) ** k - np.linalg.norm(y - delta, axis=1) ** k

    T0, T1 = T(eps), T(eps + delta)
    for c in np.quantile(T0, [0.02, 0.3, 0.6, 0.95]):
        inside, outside, shifted, err = levelset.Exp2LevelSet(k, d).masses(r, c)
        assert inside + outside == pytest.approx(1.0, abs=1e-12)
        for exact, mc in [(inside, np.mean(T0 <= c)), (shifted, np.mean(T1 <= c))]:
            assert abs(exact - mc) < 5 * math.sqrt(mc * (1 - mc) / n) + 1e-6
        fast = levelset.Exp2LevelSet(k, d).masses(r, c, method="fast")
        assert fast[1] == pytest.approx(outside, rel=1e-9, abs=1e-15)


def test_exp2_levelset_radius_monte_carlo_end_to_end():
    """At the certified radius R, the NP set of mass p (empirical quantile of T) keeps shifted mass ~ 1/2."""
    k, d, p = 1.5, 3, 0.9
    R = levelset.exp2_l2_levelset_radius(k, d, p)
    rng = np.random.default_rng(RNG_SEED)
    n = 400_000
    rho = rng.gamma(d / k, size=n) ** (1.0 / k)
    w = rng.standard_normal((n, d))
    eps = rho[:, None] * w / np.linalg.norm(w, axis=1, keepdims=True)
    delta = np.zeros(d)
    delta[0] = R
    T = lambda y: np.linalg.norm(y, axis=1) ** k - np.linalg.norm(y - delta, axis=1) ** k  # noqa: E731
    c_p = np.quantile(T(eps), p)
    shifted = np.mean(T(eps + delta) <= c_p)
    assert abs(shifted - 0.5) < 5 * math.sqrt(0.25 / n) + 2e-3


@pytest.mark.parametrize("d", [2, 10, 64, 3072])
def test_exp2_k1_levelset_dominates_the_differential_closed_form(d):
    for p in [0.6, 0.99, 1 - 1e-7]:
        assert levelset.exp2_l2_levelset_radius(1.0, d, p) >= float(closed_forms.exp2_l2_radius_k1(d, p)) * (1 - 1e-9)


@pytest.mark.parametrize("k,d", [(0.5, 2), (1.0, 3), (4.0, 10), (0.3, 64)])
def test_exp2_levelset_monotone_in_p_and_worst_case_monotone_in_r(k, d):
    radii = [levelset.exp2_l2_levelset_radius(k, d, p) for p in [0.51, 0.7, 0.9, 0.999]]
    assert np.all(np.diff(radii) > 0)
    # the worst-case shifted probability of the NP set of mass p falls as r grows (so certifying r
    # certifies the whole ball)
    ls = levelset.Exp2LevelSet(k, d)
    for p in (0.7, 0.999):
        rs = np.linspace(0.02, 1.5, 25) * radii[-1]
        worst = [ls.tail_fast(r, -ls.tail_root(r, 1 - p)) for r in rs]
        assert np.all(np.diff(worst) <= 1e-12)


def test_exp2_levelset_table_agrees_with_radius():
    d = 5
    r_grid = np.array([0.2, 0.8, 2.0])
    p_needed = levelset.exp2_l2_levelset_table(2.0, d, r_grid)
    exact = special.ndtr(math.sqrt(2) * r_grid)
    assert np.all(p_needed >= exact) and np.all(p_needed - exact < 1e-9)
    p_needed = levelset.exp2_l2_levelset_table(1.0, d, r_grid)
    for r, pn in zip(r_grid, p_needed):
        assert levelset.exp2_l2_levelset_radius(1.0, d, min(pn + 1e-9, 1 - 1e-12)) == pytest.approx(r, rel=1e-6)


def test_levelset_argument_errors():
    with pytest.raises(ValueError):
        levelset.exp2_l2_levelset_radius(1.0, 1, 0.7)
    with pytest.raises(ValueError):
        levelset.exp2_l2_levelset_radius(1.0, 5, 0.5)
    with pytest.raises(ValueError):
        levelset.exp2_l2_levelset_radius(0.0, 5, 0.7)


SOUND = 1e-12  # never above the oracle (relative, the oracle's own accuracy is far better)


TIGHT = 1e-3  # within 0.1% of the oracle


P_VALUES = [0.5001, 0.6, 0.9, 0.99, 0.9999]


GRID = tables.computed_probability_grid()


GRID_POINTS = [GRID[5], GRID[1000], GRID[-1]]


@pytest.fixture(autouse=True, scope="module")
def _oracle_precision():
    """This module's oracles run at 20 digits whatever another module set globally (tests/mpmath_oracle.py
    sets 40 at import, which made the nested quadratures here many times slower)."""
    with mpmath.workdps(PRECISION_DIGITS):
        yield


def assert_sound_and_tight(ours, oracle, label):
    ours, oracle = float(ours), float(oracle)
    assert ours <= oracle * (1 + SOUND), f"{label}: {ours!r} above the oracle {oracle!r}"
    assert ours >= oracle * (1 - TIGHT), f"{label}: {ours!r} more than 0.1% below the oracle {oracle!r}"


def _normalised(density, lo=0, hi=mpmath.inf):
    total = mpmath.quad(density, [lo, 1, hi])
    return lambda r: density(r) / total


def _root(f, lo, hi):
    """The root of an increasing f on (lo, hi), by bisection to 1e-18 relative (robust, if slow)."""
    lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
    while hi - lo > mpmath.mpf(10) ** -18 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def _decreasing_sign_oracle(f_m, g, p):
    """R(p) = int_{t_p}^inf f_m(t) / int_0^t g f_m dt, F_m(t_p) = 2(1 - p) (see the module docstring)."""
    p = mpmath.mpf(p)

    def cdf(t):
        return mpmath.quad(f_m, [0, t])

    hi = mpmath.mpf(1)
    while cdf(hi) < 2 * (1 - p):
        hi *= 2
    t_p = _root(lambda t: cdf(t) - 2 * (1 - p), 0, hi)

    def inner(t):
        return mpmath.quad(lambda r: g(r) * f_m(r), [0, t])

    return mpmath.quad(lambda t: f_m(t) / inner(t), [t_p, 2 * t_p + 1, mpmath.inf])



@pytest.mark.parametrize("d", [3, 20])
def test_pow2_levelset_gaussian_limit(d):
    """(1 + ||x||^2 / a)^-a -> exp(-||x||^2) as a -> inf: Pow2(k=2, a, lambda = sqrt(a)) tends to N(0, I/2), whose
    l2 certificate is Phi^-1(p) / sqrt(2) (the difference is O(1/a))."""
    a = 1e8
    for p in (0.55, 0.9, 0.9999):
        ours = math.sqrt(a) * tables.pow2_l2_levelset_radius(2.0, a, d, p)
        exact = float(mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf(p) - 1)) / math.sqrt(2)  # Phi^-1(p) / sqrt 2
        assert ours == pytest.approx(exact, rel=1e-5)


def _pow2_d3_certified_margin(k, a, r, p):
    """Independent mpmath evaluation of the Neyman-Pearson condition for Pow2(k, a) in d = 3 (lambda = 1), shift
    r e_1: with T(y) = a (log(1 + ||y||^k) - log(1 + ||y - delta||^k)), c_p such that P(T > c_p) = 1 - p, returns
    P(T > -c_p) - 1/2 (> 0 iff r is certified). In d = 3, w_1 is uniform on (-1, 1), so given rho,
    P(T > c | rho) = clip((1 - t)/2, 0, 1), t = (rho^2 + r^2 - s^2) / (2 rho r), s^k = (1 + rho^k) e^(-c/a) - 1."""
    k, a, r, p = (mpmath.mpf(v) for v in (k, a, r, p))
    f_rho = _normalised(lambda rho: rho**2 * (1 + rho**k) ** (-a))

    def tail(c):
        def conditional(rho):
            sk = (1 + rho**k) * mpmath.exp(-c / a) - 1
            if sk <= 0:
                return mpmath.mpf(0)
            t = (rho**2 + r**2 - sk ** (2 / k)) / (2 * rho * r)
            return min(max((1 - t) / 2, mpmath.mpf(0)), mpmath.mpf(1))

        edges = [0, r / 4, r / 2, r, 2 * r, 4 * r, 8 * r, mpmath.inf]
        return mpmath.quad(lambda rho: f_rho(rho) * conditional(rho), sorted(set(edges)))

    bound = a * mpmath.log(1 + (50 + r) ** k)
    c_p = _root(lambda c: (1 - p) - tail(c), -bound, bound)  # tail is decreasing in c
    return tail(-c_p) - mpmath.mpf(0.5)


@pytest.mark.slow  # nested mpmath quadratures: ~20 s
@pytest.mark.parametrize("k,a,p", [(2.0, 4.0, 0.8), (1.0, 6.0, 0.99)])
def test_pow2_levelset_against_an_independent_oracle(k, a, p):
    """Sound (certified just below our radius) and tight (not certified 0.1% above it)."""
    ours = tables.pow2_l2_levelset_radius(k, a, 3, p)
    assert _pow2_d3_certified_margin(k, a, ours * (1 - 1e-4), p) > 0
    assert _pow2_d3_certified_margin(k, a, ours * (1 + TIGHT), p) < 0


@pytest.mark.slow  # more than 3 s on a 2-core machine
@pytest.mark.parametrize("d", [3, 20])
def test_exp2_j_levelset_small_j_is_the_gaussian(d):
    """j -> 0 with k = 2 is N(0, I/2): the certificate tends to Phi^-1(p) / sqrt(2)."""
    for p in (0.55, 0.99):
        exact = float(mpmath.erfinv(2 * mpmath.mpf(p) - 1))  # Phi^-1(p) / sqrt 2
        assert tables.exp2_j_l2_levelset_radius(2.0, 1e-7, d, p) == pytest.approx(exact, rel=1e-5)


def _exp2_j_d3_certified_margin(k, j, r, p):
    """Independent mpmath evaluation of the Neyman-Pearson condition for Exp2(k, j) in d = 3 (lambda = 1): as for
    Pow2 above with h(s) = s^k + j log s, s = h^-1(h(rho) - c) by Lambert W: with s = e^sigma, e^(k sigma) +
    j sigma = H gives sigma = H/j - W((k/j) e^(k H / j)) / k (W evaluated from its log form for large arguments)."""
    k, j, r, p = (mpmath.mpf(v) for v in (k, j, r, p))
    f_rho = _normalised(lambda rho: rho ** (2 - j) * mpmath.exp(-(rho**k)))

    def h_inverse(big_h):
        return mpmath.exp(big_h / j - mpmath.lambertw((k / j) * mpmath.exp(k * big_h / j)).real / k)

    def tail(c):
        def conditional(rho):
            s = h_inverse(rho**k + j * mpmath.log(rho) - c)
            t = (rho**2 + r**2 - s**2) / (2 * rho * r)
            return min(max((1 - t) / 2, mpmath.mpf(0)), mpmath.mpf(1))

        edges = [0, r / 4, r / 2, r, 2 * r, 4 * r, 8 * r, mpmath.inf]
        return mpmath.quad(lambda rho: f_rho(rho) * conditional(rho), edges)

    bound = 200 * (1 + r) ** k + 50 * j
    c_p = _root(lambda c: (1 - p) - tail(c), -bound, bound)
    return tail(-c_p) - mpmath.mpf(0.5)


@pytest.mark.slow  # nested mpmath quadratures: ~30 s
@pytest.mark.parametrize("k,j,p", [(2.0, 1.0, 0.8), (1.0, 0.5, 0.99)])
def test_exp2_j_levelset_against_an_independent_oracle(k, j, p):
    ours = tables.exp2_j_l2_levelset_radius(k, j, 3, p)
    assert _exp2_j_d3_certified_margin(k, j, ours * (1 - 1e-4), p) > 0
    assert _exp2_j_d3_certified_margin(k, j, ours * (1 + TIGHT), p) < 0
