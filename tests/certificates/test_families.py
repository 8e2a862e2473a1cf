"""Certificates of the rs4a families (rsmooth_ext.certificate_math_rs4a, radii_rs4a) against an independent
high-precision oracle (mpmath): never above it, and within 0.1% of it (tables at their grid points).

The oracle evaluates the defining integrals directly from the noise's density, with no closed form of ours:
* l1 closed forms (ExpInf(k, j), PowInf): (p - 1/2) / Phi(1/2) with Phi(1/2) = E[g(r)] / (2d) by quadrature of
  the radius density;
* sign x magnitude growth functions with g decreasing (PowInf / l_inf, ExpInf(k <= 1, j) / l_inf, Expp(p < 1) / l1):
  G = s g(m), s a fair sign, m >= 0 with density f_m. The top u-mass is {s = +1, m < t}, u = F_m(t)/2,
  Phi = (1/2) int_0^t g f_m, so R(p) = int_{t_p}^inf f_m(t) / (int_0^t g f_m) dt with F_m(t_p) = 2(1 - p);
* Expp(p >= 1) / l1: the generalized normal's quantile F^-1(p) by root finding on its CDF.
"""

import math

import numpy as np
import pytest
from scipy import special

import rsmooth_ext as rs
from rsmooth_ext.certificates import differential as cm
from rsmooth_ext.certificates import rs4a_tmp as rm

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 20
PRECISION_DIGITS = 20


@pytest.fixture(autouse=True, scope="module")
def _oracle_precision():
    """This module's oracles run at 20 digits whatever another module set globally (tests/mpmath_oracle.py
    sets 40 at import, which made the nested quadratures here many times slower)."""
    with mpmath.workdps(PRECISION_DIGITS):
        yield
TIGHT = 1e-3  # within 0.1% of the oracle
SOUND = 1e-12  # never above the oracle (relative, the oracle's own accuracy is far better)


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


P_VALUES = [0.5001, 0.6, 0.9, 0.99, 0.9999]


# ---- l1 closed forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k,j,d", [(1.0, 2.0, 6), (2.0, 5.0, 10), (0.5, 1.0, 4), (3.0, 0.0, 8)])
def test_expinf_j_l1_closed_form(k, j, d):
    f_r = _normalised(lambda r: r ** (d - 1 - j) * mpmath.exp(-(r**k)))
    mean_g = mpmath.quad(lambda r: (j / r + k * r ** (k - 1)) * f_r(r), [0, 1, mpmath.inf])
    for p in P_VALUES:
        oracle = (mpmath.mpf(p) - mpmath.mpf(0.5)) * 2 * d / mean_g
        assert_sound_and_tight(rm.expinf_j_l1_radius(k, j, d, p), oracle, f"expinf k={k} j={j} d={d} p={p}")


def test_expinf_j_zero_is_the_j_free_closed_form():
    p = np.array(P_VALUES)
    for k, d in [(1.0, 10), (2.5, 784), (0.5, 3072)]:
        np.testing.assert_allclose(rm.expinf_j_l1_radius(k, 0.0, d, p), cm.expinf_l1_radius(k, d, p), rtol=1e-11)


@pytest.mark.parametrize("a,d", [(5.5, 3), (20.0, 10), (3082.0, 3072)])
def test_powinf_l1_closed_form(a, d):
    if d > 100:  # the radius law's mean E[a / (1 + r)] = a E[Beta(a - d, d)] = a - d, by mpmath's beta integral
        mean_g = a * mpmath.beta(a - d + 1, d) / mpmath.beta(a - d, d)
    else:
        f_r = _normalised(lambda r: r ** (d - 1) * (1 + r) ** (-a))
        mean_g = mpmath.quad(lambda r: a / (1 + r) * f_r(r), [0, 1, mpmath.inf])
    for p in P_VALUES:
        oracle = (mpmath.mpf(p) - mpmath.mpf(0.5)) * 2 * d / mean_g
        assert_sound_and_tight(rm.powinf_l1_radius(a, d, p), oracle, f"powinf a={a} d={d} p={p}")


# ---- growth-function certificates (differential method) -------------------------------------------------

GRID = rm._probability_grid()
GRID_POINTS = [GRID[5], GRID[1000], GRID[-1]]


@pytest.mark.slow  # nested mpmath quadratures: ~10-30 s
def test_powinf_linf_table():
    a, d = 9.0, 5
    f_r = _normalised(lambda r: r ** (d - 1) * (1 + r) ** (-a))
    for p in GRID_POINTS:
        oracle = _decreasing_sign_oracle(f_r, lambda r: a / (1 + r), p)
        ours = rm.differential_table_radius("powinf_linf", (a, d), p)
        assert_sound_and_tight(ours, oracle, f"powinf linf p={p}")


@pytest.mark.slow  # nested mpmath quadratures: ~10-30 s
def test_expinf_j_linf_table():
    k, j, d = 0.5, 1.5, 4
    f_r = _normalised(lambda r: r ** (d - 1 - j) * mpmath.exp(-(r**k)))
    for p in GRID_POINTS:
        oracle = _decreasing_sign_oracle(f_r, lambda r: j / r + k * r ** (k - 1), p)
        ours = rm.differential_table_radius("expinf_j_linf", (k, j, d), p)
        assert_sound_and_tight(ours, oracle, f"expinf j linf p={p}")


@pytest.mark.slow  # nested mpmath quadratures: ~10-30 s
@pytest.mark.parametrize("q", [0.3, 0.5])
def test_expp_l1_below_one(q):
    # m = |e|^q (the oracle's integral is invariant under increasing reparametrisations of m; this one keeps
    # mpmath's quadrature off |e|'s very long tail): |e| = m^(1/q) has density ~ exp(-|e|^q), so m has density
    # ~ m^(1/q - 1) exp(-m), and g = q |e|^(q - 1) = q m^(1 - 1/q)
    f_m = _normalised(lambda m: m ** (1 / q - 1) * mpmath.exp(-m))
    for p in GRID_POINTS:
        oracle = _decreasing_sign_oracle(f_m, lambda m: q * m ** (1 - 1 / q), p)
        if q == 0.5:
            assert_sound_and_tight(rm.expp_l1_radius_p_half(p), oracle, f"expp 1/2 closed form p={p}")
        assert_sound_and_tight(rm.differential_table_radius("expp_l1", (q,), p), oracle, f"expp {q} table p={p}")


def test_expp_half_closed_form_limits():
    p = np.array([0.5 + 1e-9, 1 - 1e-15])
    r = rm.expp_l1_radius_p_half(p)
    assert np.all(np.diff(rm.expp_l1_radius_p_half(np.linspace(0.5001, 1 - 1e-12, 500))) > 0)
    assert r[1] < math.pi**2 / 3 and r[1] == pytest.approx(math.pi**2 / 3, rel=1e-6)


@pytest.mark.parametrize("q", [1.0, 1.5, 2.0, 4.0])
def test_expp_l1_exact_quantile(q):
    norm = 2 * mpmath.gamma(1 + 1 / mpmath.mpf(q))

    def cdf(t):  # P(0 < e < t) + 1/2
        return mpmath.mpf(0.5) + mpmath.quad(lambda y: mpmath.exp(-(y**q)), [0, t]) / norm

    for p in P_VALUES:
        oracle = _root(lambda t, p=p: cdf(t) - p, 0, 40)
        assert_sound_and_tight(rm.expp_l1_radius_p_ge_1(q, p), oracle, f"expp {q} p={p}")


# ---- registered radii ------------------------------------------------------------------------------------


def test_expp_special_cases_equal_laplace_and_gaussian_radii():
    p = np.array([0.55, 0.7, 0.9, 0.99, 0.999999])
    np.testing.assert_allclose(rs.Expp(p=1, lambd=0.7).certify(p), rs.Laplace(lambd=0.7).certify(p), rtol=1e-11)
    gaussian = rs.Gaussian(lambd=0.7 / math.sqrt(2))
    np.testing.assert_allclose(rs.Expp(p=2, lambd=0.7).certify(p, "l1"), gaussian.certify(p, "l1"), rtol=1e-11)
    assert rs.Expp(p=2, lambd=0.7).certify(0.4) == 0.0


def test_registered_pairs_and_conversions():
    p = np.array([0.6, 0.9, 0.999])
    d = 3072
    powinf = rs.PowInf(a=d + 10, dim=d, sigma=0.5)
    np.testing.assert_allclose(powinf.certify(p, "l1"), powinf.lambd * 2 * d * (p - 0.5) / 10 * (1 - 1e-12), rtol=1e-12)
    linf = powinf.certify(p)  # natural adversary: l_inf, the differential table
    assert np.all(linf >= powinf.certify(p, "l1") / d)
    np.testing.assert_allclose(powinf.certify(p, "l2"), np.maximum(powinf.certify(p, "l1") / math.sqrt(d), linf),
                               rtol=1e-12)
    expp = rs.Expp(p=0.5, sigma=0.5)
    np.testing.assert_allclose(expp.certify(p, "l2", dim=d), expp.certify(p) / math.sqrt(d), rtol=1e-12)
    with pytest.raises(ValueError, match="depends on the input size"):
        expp.certify(p, "l2")
    # j = 0 keeps the j-free radii; j > 0 certifies l1 and (k <= 1) l_inf
    for k in (1.0, 2.0):
        np.testing.assert_array_equal(rs.ExpInf(k=k, j=0, dim=d, sigma=0.5).certify(p, "l1"),
                                      rs.ExpInf(k=k, dim=d, sigma=0.5).certify(p, "l1"))
    with_j = rs.ExpInf(k=1.0, j=10, dim=d, sigma=0.5)
    assert np.all(with_j.certify(p) > with_j.certify(p, "l1") / d)
    steep = rs.ExpInf(k=2.0, j=10, dim=d, sigma=0.5)  # k > 1, j > 0: the two-sided growth function
    assert np.all(steep.certify(p) >= steep.certify(p, "l1") / d)
    assert steep.certify(0.999) > 5 * steep.certify(0.999, "l1") / d
    assert {"powinf/l1", "powinf/linf", "expp/l1", "pow2/l2"} <= set(rs.certificates.routes.supported_pairs())


def test_exp2_j_registered_radius():
    noise = rs.Exp2(k=1.5, j=2, dim=20, sigma=0.5)
    np.testing.assert_allclose(noise.certify(0.9), noise.lambd * rm.exp2_j_l2_levelset_radius(1.5, 2.0, 20, 0.9))
    assert rs.Exp2(k=2, j=0, dim=20, sigma=0.5).certify(0.9) == rs.Exp2(k=2, dim=20, sigma=0.5).certify(0.9)
    with pytest.raises(ValueError, match="needs j < d"):
        rm.exp2_j_l2_levelset_radius(1.0, 20.0, 20, 0.7)


def test_argument_errors():
    with pytest.raises(ValueError, match="needs 0 <= j < d - 1"):
        rm.expinf_j_l1_radius(1.0, 9.5, 10, 0.7)
    with pytest.raises(ValueError, match="needs k <= 1"):
        rm.phi_expinf_j_linf(2.0, 1.0, 10)
    with pytest.raises(ValueError, match="needs a > d"):
        rm.powinf_l1_radius(10.0, 10, 0.7)
    with pytest.raises(ValueError, match="1/2 < p < 1"):
        rm.expp_l1_radius_p_ge_1(2.0, 1.0)
    with pytest.raises(ValueError, match="needs p_exponent >= 1"):
        rm.expp_l1_radius_p_ge_1(0.5, 0.7)
    assert special.ndtr(0) == 0.5  # the grid starts above p = 1/2
    assert GRID[0] > 0.5 and GRID[-1] == pytest.approx(rm.TABLE_P_MAX)


# ---- Pow2 against l2: the level-set method ----------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 20])
def test_pow2_levelset_gaussian_limit(d):
    """(1 + ||x||^2 / a)^-a -> exp(-||x||^2) as a -> inf: Pow2(k=2, a, lambda = sqrt(a)) tends to N(0, I/2), whose
    l2 certificate is Phi^-1(p) / sqrt(2) (the difference is O(1/a))."""
    a = 1e8
    for p in (0.55, 0.9, 0.9999):
        ours = math.sqrt(a) * rm.pow2_l2_levelset_radius(2.0, a, d, p)
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
    ours = rm.pow2_l2_levelset_radius(k, a, 3, p)
    assert _pow2_d3_certified_margin(k, a, ours * (1 - 1e-4), p) > 0
    assert _pow2_d3_certified_margin(k, a, ours * (1 + TIGHT), p) < 0


def test_pow2_registered_radius():
    noise = rs.Pow2(k=2.0, a=13.0, dim=20, sigma=0.5)
    p = np.array([0.6, 0.9])
    np.testing.assert_allclose(noise.certify(p), noise.lambd * rm.pow2_l2_levelset_radius(2.0, 13.0, 20, p))
    assert noise.certify(p, "l1")[1] == pytest.approx(noise.certify(0.9))  # l2 -> l1 with C(l2, l1) = 1
    with pytest.raises(ValueError, match=r"needs a \* k > d"):
        rm.pow2_l2_levelset_radius(2.0, 5.0, 10, 0.7)


# ---- Exp2(k, j) against l2: the level-set method -------------------------------------------------------


@pytest.mark.slow  # level-set tables: ~3 s each
@pytest.mark.parametrize("d", [3, 20])
def test_exp2_j_levelset_small_j_is_the_gaussian(d):
    """j -> 0 with k = 2 is N(0, I/2): the certificate tends to Phi^-1(p) / sqrt(2)."""
    for p in (0.55, 0.99):
        exact = float(mpmath.erfinv(2 * mpmath.mpf(p) - 1))  # Phi^-1(p) / sqrt 2
        assert rm.exp2_j_l2_levelset_radius(2.0, 1e-7, d, p) == pytest.approx(exact, rel=1e-5)


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
    ours = rm.exp2_j_l2_levelset_radius(k, j, 3, p)
    assert _exp2_j_d3_certified_margin(k, j, ours * (1 - 1e-4), p) > 0
    assert _exp2_j_d3_certified_margin(k, j, ours * (1 + TIGHT), p) < 0


# ---- ExpInf(k > 1, j > 0) against l_inf: the two-sided top set ------------------------------------------


def test_expinf_two_sided_small_j_is_the_j_free_differential_radius():
    for p in (0.6, 0.9, 0.999):
        exact = cm.differential_radius(cm.phi_expinf_linf(2.0, 50), p)[0]
        assert_sound_and_tight(rm.expinf_two_sided_linf_radius(2.0, 1e-6, 50, p), exact, f"j -> 0, p={p}")


def _expinf_two_sided_oracle(k, j, d, p):
    """Independent mpmath evaluation: along the level c > g* = min g, the top set {r < r1(c)} u {r > r2(c)} has
    mass m(c) and E[g; set] = E(c) (quadratures of the radius density f ~ r^(d-1-j) exp(-r^k)); u = m/2,
    Phi = E/2, so R(p) = int du / Phi = int -m'(c) / E(c) dc with -m'(c) = f(r1)/|g'(r1)| + f(r2)/|g'(r2)| and
    m(c_p) = 2(1 - p). Parametrised by r2 = r* + s (c = g(r2), dc = g'(r2) ds), which keeps full precision
    near c = g*: R = int_0^{s_p} (f(r1) g'(r2)/|g'(r1)| + f(r2)) / E ds."""
    k, j, d, p = (mpmath.mpf(v) for v in (k, j, d, p))
    f = _normalised(lambda r: r ** (d - 1 - j) * mpmath.exp(-(r**k)))

    def g(r):
        return j / r + k * r ** (k - 1)

    def g_prime(r):
        return -j / r**2 + k * (k - 1) * r ** (k - 2)

    r_star = (j / (k * (k - 1))) ** (1 / k)

    def left_end(r2):
        c = g(r2)
        return _root(lambda r: c - g(r), mpmath.mpf(10) ** -30, r_star)

    def mass(r2):
        return mpmath.quad(f, [0, left_end(r2)]) + mpmath.quad(f, [r2, 2 * r2, mpmath.inf])

    def integrand(s):
        r2 = r_star + s
        r1 = left_end(r2)
        expected = mpmath.quad(lambda r: g(r) * f(r), [0, r1]) + mpmath.quad(lambda r: g(r) * f(r), [r2, mpmath.inf])
        return (f(r1) * g_prime(r2) / abs(g_prime(r1)) + f(r2)) / expected

    hi = r_star + 1
    while mass(hi) > 2 * (1 - p):
        hi += 1
    r2_p = _root(lambda r2: 2 * (1 - p) - mass(r2), r_star, hi)  # mass decreases in r2
    return mpmath.quad(integrand, [0, (r2_p - r_star) / 2, r2_p - r_star])


@pytest.mark.slow  # nested mpmath quadratures and roots: ~1 min
def test_expinf_two_sided_against_an_independent_oracle():
    k, j, d = 2.0, 1.5, 4
    grid = rm._expinf_two_sided_table(k, j, d)[0]
    for p in (grid[np.searchsorted(grid, 0.7)], grid[np.searchsorted(grid, 0.99)]):
        oracle = _expinf_two_sided_oracle(k, j, d, p)
        assert_sound_and_tight(rm.expinf_two_sided_linf_radius(k, j, d, p), oracle, f"two-sided p={p}")
