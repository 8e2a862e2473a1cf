"""The closed-form radii (rsmooth_ext.certificates.closed_forms): values, soundness against exact
computations (1-d integrals, brute force, an independent mpmath oracle from the noise's density), the
differential integrals they come from, vectorisation and argument errors."""

import math

import numpy as np
import pytest
from scipy import special, stats

import rsmooth_ext as rs
from rsmooth_ext.certificates import closed_forms, differential, tables

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 20
PRECISION_DIGITS = 20



def _random_p(n, seed):
    """p in (1/2, 1 - 1e-7), spread on the Gaussian-radius scale."""
    rng = np.random.default_rng(seed)
    return special.ndtr(rng.uniform(0.01, special.ndtri(1 - 1e-7), size=n))


def _grid(n=200):
    zmax = special.ndtri(1 - 1e-7)
    p = special.ndtr(np.linspace(zmax / n, zmax, n))
    p[-1] = 1 - 1e-7
    return p


P = np.array([0.3, 0.5, 0.51, 0.6, 0.9, 0.999, 0.99999])


def test_gaussian_laplace_uniform_closed_forms():
    g = rs.Gaussian(lambd=0.5)
    expected = np.where(P > 0.5, 0.5 * stats.norm.ppf(P), 0.0)
    np.testing.assert_allclose(g.certify(P), expected)
    np.testing.assert_allclose(g.certify(P, "l1"), expected)
    np.testing.assert_allclose(g.certify(P, "linf", dim=100), expected / 10)
    lap = rs.Laplace(lambd=0.7)
    np.testing.assert_allclose(lap.certify(P), np.where(P > 0.5, -0.7 * np.log(2 * (1 - P)), 0.0))
    u = rs.Uniform(lambd=2.0)
    np.testing.assert_allclose(u.certify(P), np.where(P > 0.5, 4.0 * (P - 0.5), 0.0))
    np.testing.assert_allclose(u.certify(P, "linf", dim=10), np.where(P > 0.5, 4.0 * (1 - (1.5 - P) ** 0.1), 0.0))


def _exact_1d_radius(pdf, p, lo, hi):
    """Exact l1 (= |delta|) certificate of 1-d additive noise with density ``pdf`` by the Neyman-Pearson
    lemma on a fine grid: the largest delta whose worst-case set of mass p keeps mass > 1/2 after the
    shift."""
    y = np.linspace(lo, hi, 400001)
    dy = y[1] - y[0]
    f0 = pdf(y)

    def worst(delta):
        f1 = pdf(y - delta)
        order = np.argsort(f1 / f0, kind="stable")
        mass0 = np.cumsum(f0[order]) * dy
        cut = np.searchsorted(mass0, p)
        return np.sum(f1[order][: cut + 1]) * dy

    a, b = 0.0, 50.0
    for _ in range(50):
        mid = (a + b) / 2
        a, b = (mid, b) if worst(mid) > 0.5 else (a, mid)
    return a


@pytest.mark.parametrize("k", [2.5, 4.0])
@pytest.mark.parametrize("p", [0.6, 0.8, 0.95])
def test_lomax_l1_radius_is_sound_in_one_dimension(k, p):
    lam = 1.0
    noise = rs.Lomax(k=k, lambd=lam)

    def pdf(x):
        return 0.5 * k / lam * (1 + np.abs(x) / lam) ** (-(k + 1))

    exact = _exact_1d_radius(pdf, p, -400.0, 400.0)
    radius = noise.certify(p)
    assert radius <= exact * (1 + 2e-3)  # never above the truth (grid error well below 0.2%)
    assert radius >= 0.5 * exact  # and not vacuous


@pytest.mark.parametrize("d", [1, 3, 10])
def test_uniform_ball_radius_is_the_overlap_root(d):
    """At the certified radius two balls of radius lambda overlap in exactly 3/2 - p of their volume
    (checked by Monte Carlo)."""
    lam, p = 1.5, 0.8
    r = rs.UniformBall(dim=d, lambd=lam).certify(p)
    rng = np.random.default_rng(0)
    m = 400000
    g = rng.normal(size=(m, d))
    pts = g / np.linalg.norm(g, axis=1, keepdims=True) * lam * rng.uniform(size=(m, 1)) ** (1 / d)
    shifted = pts.copy()
    shifted[:, 0] += r
    inside = (np.linalg.norm(shifted, axis=1) <= lam).mean()
    assert inside == pytest.approx(1.5 - p, abs=4 * math.sqrt(0.25 / m))


@pytest.mark.parametrize("keep", [0.01, 0.1, 0.5, 0.9])
def test_masking_l0_exact_bound_by_brute_force(keep):
    noise = rs.Masking(keep=keep)
    p = np.linspace(0.0, 0.99999, 2001)
    got = noise.certify(p)
    brute = np.array([max([r for r in range(0, 2000) if q > 0.5 + 1 - (1 - keep) ** r] or [0]) for q in p])
    np.testing.assert_array_equal(got, brute)
    union = closed_forms.masking_l0_union_bound(keep, p)
    assert (got >= union).all()
    assert (got > union).any() or keep >= 0.5


P_FIXED = np.array([0.5001, 0.51, 0.6, 0.75, 0.9, 0.99, 0.999, 0.99999, 1 - 1e-7])


@pytest.mark.parametrize("d", [1, 5, 64, 3072])
def test_expinf_linf_k1_and_exp1_l1_k1_closed_forms(d):
    p = _grid(100)
    for phi in (differential.phi_expinf_linf(1.0, d), differential.phi_exp1_l1(1.0, d)):
        radii, err = differential.differential_table(phi, p)
        np.testing.assert_allclose(radii, closed_forms.expinf_linf_radius_k1(p), rtol=1e-9)
        np.testing.assert_allclose(radii, closed_forms.exp1_l1_radius_k1(p), rtol=1e-9)
        assert err < 1e-9


@pytest.mark.parametrize("d", [2, 3, 10, 64, 3072])
def test_exp2_k1_closed_form_is_its_differential_integral(d):
    phi = differential.phi_exp2_l2_k1(d)
    p = np.concatenate([P_FIXED, _random_p(3, d)])
    for pi in p:
        value, _ = differential.differential_radius(phi, pi)
        assert value == pytest.approx(float(closed_forms.exp2_l2_radius_k1(d, pi)), rel=1e-9)


@pytest.mark.parametrize("k,d", [(1.0, 4), (2.0, 10), (0.5, 3), (3.0, 64), (2.0, 3072)])
def test_expinf_l1_closed_form_is_the_differential_radius_below_the_threshold(k, d):
    """The closed form equals the Phi_l1 integral for p <= 1 - 1/(2d), is below it above, where the
    integral is the closed form at the threshold plus the linf radius at 1 - d(1 - p)."""
    phi = differential.phi_expinf_l1(k, d)
    threshold = 1 - 0.5 / d
    below = [p for p in P_FIXED if p <= threshold]
    above = [p for p in P_FIXED if p > threshold]
    for p in below:
        value, _ = differential.differential_radius(phi, p)
        assert value == pytest.approx(float(closed_forms.expinf_l1_radius(k, d, p)), rel=1e-9)
    phi_linf = differential.phi_expinf_linf(k, d)
    for p in above:
        value, _ = differential.differential_radius(phi, p)
        closed = float(closed_forms.expinf_l1_radius(k, d, p))
        assert value > closed
        expected = (float(closed_forms.expinf_l1_radius(k, d, threshold))
                    + differential.differential_radius(phi_linf, 1 - d * (1 - p))[0])
        assert value == pytest.approx(expected, rel=1e-9)


def test_expinf_l1_closed_form_gamma_factor():
    """2 (p - 1/2) Gamma(d/k + 1) / Gamma((d-1)/k + 1) = 2 (p - 1/2) d/(d-1) Gamma(d/k) / Gamma((d-1)/k)."""
    for k, d in [(1.0, 10), (2.0, 3072), (0.5, 7), (3.0, 150528)]:
        ref = 2 * 0.2 * d / (d - 1) * math.exp(math.lgamma(d / k) - math.lgamma((d - 1) / k))
        assert float(closed_forms.expinf_l1_radius(k, d, 0.7)) == pytest.approx(ref, rel=1e-8)
    assert float(closed_forms.expinf_l1_radius(1.0, 10, 0.7)) == pytest.approx(2 * 10 * 0.2)


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



@pytest.mark.parametrize("k,j,d", [(1.0, 2.0, 6), (2.0, 5.0, 10), (0.5, 1.0, 4), (3.0, 0.0, 8)])
def test_expinf_j_l1_closed_form(k, j, d):
    f_r = _normalised(lambda r: r ** (d - 1 - j) * mpmath.exp(-(r**k)))
    mean_g = mpmath.quad(lambda r: (j / r + k * r ** (k - 1)) * f_r(r), [0, 1, mpmath.inf])
    for p in P_VALUES:
        oracle = (mpmath.mpf(p) - mpmath.mpf(0.5)) * 2 * d / mean_g
        assert_sound_and_tight(closed_forms.expinf_j_l1_radius(k, j, d, p), oracle, f"expinf k={k} j={j} d={d} p={p}")


def test_expinf_j_zero_is_the_j_free_closed_form():
    p = np.array(P_VALUES)
    for k, d in [(1.0, 10), (2.5, 784), (0.5, 3072)]:
        np.testing.assert_allclose(closed_forms.expinf_j_l1_radius(k, 0.0, d, p),
                                   closed_forms.expinf_l1_radius(k, d, p), rtol=1e-11)


@pytest.mark.parametrize("a,d", [(5.5, 3), (20.0, 10), (3082.0, 3072)])
def test_powinf_l1_closed_form(a, d):
    if d > 100:  # the radius law's mean E[a / (1 + r)] = a E[Beta(a - d, d)] = a - d, by mpmath's beta integral
        mean_g = a * mpmath.beta(a - d + 1, d) / mpmath.beta(a - d, d)
    else:
        f_r = _normalised(lambda r: r ** (d - 1) * (1 + r) ** (-a))
        mean_g = mpmath.quad(lambda r: a / (1 + r) * f_r(r), [0, 1, mpmath.inf])
    for p in P_VALUES:
        oracle = (mpmath.mpf(p) - mpmath.mpf(0.5)) * 2 * d / mean_g
        assert_sound_and_tight(closed_forms.powinf_l1_radius(a, d, p), oracle, f"powinf a={a} d={d} p={p}")


def test_expp_half_closed_form_limits():
    p = np.array([0.5 + 1e-9, 1 - 1e-15])
    r = closed_forms.expp_l1_radius_p_half(p)
    assert np.all(np.diff(closed_forms.expp_l1_radius_p_half(np.linspace(0.5001, 1 - 1e-12, 500))) > 0)
    assert r[1] < math.pi**2 / 3 and r[1] == pytest.approx(math.pi**2 / 3, rel=1e-6)


@pytest.mark.parametrize("q", [1.0, 1.5, 2.0, 4.0])
def test_expp_l1_exact_quantile(q):
    norm = 2 * mpmath.gamma(1 + 1 / mpmath.mpf(q))

    def cdf(t):  # P(0 < e < t) + 1/2
        return mpmath.mpf(0.5) + mpmath.quad(lambda y: mpmath.exp(-(y**q)), [0, t]) / norm

    for p in P_VALUES:
        oracle = _root(lambda t, p=p: cdf(t) - p, 0, 40)
        assert_sound_and_tight(closed_forms.expp_l1_radius_p_ge_1(q, p), oracle, f"expp {q} p={p}")


def test_expp_special_cases_equal_laplace_and_gaussian_radii():
    p = np.array([0.55, 0.7, 0.9, 0.99, 0.999999])
    np.testing.assert_allclose(rs.Expp(p=1, lambd=0.7).certify(p), rs.Laplace(lambd=0.7).certify(p), rtol=1e-11)
    gaussian = rs.Gaussian(lambd=0.7 / math.sqrt(2))
    np.testing.assert_allclose(rs.Expp(p=2, lambd=0.7).certify(p, "l1"), gaussian.certify(p, "l1"), rtol=1e-11)
    assert rs.Expp(p=2, lambd=0.7).certify(0.4) == 0.0


def test_argument_errors():
    with pytest.raises(ValueError, match="needs 0 <= j < d - 1"):
        closed_forms.expinf_j_l1_radius(1.0, 9.5, 10, 0.7)
    with pytest.raises(ValueError, match="needs k <= 1"):
        differential.phi_expinf_j_linf(2.0, 1.0, 10)
    with pytest.raises(ValueError, match="needs a > d"):
        closed_forms.powinf_l1_radius(10.0, 10, 0.7)
    with pytest.raises(ValueError, match="1/2 < p < 1"):
        closed_forms.expp_l1_radius_p_ge_1(2.0, 1.0)
    with pytest.raises(ValueError, match="needs p_exponent >= 1"):
        closed_forms.expp_l1_radius_p_ge_1(0.5, 0.7)
    assert special.ndtr(0) == 0.5  # the grid starts above p = 1/2
    assert GRID[0] > 0.5 and GRID[-1] == pytest.approx(tables.COMPUTED_P_MAX)
