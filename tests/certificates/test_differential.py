"""The differential method (rsmooth_ext.certificates.differential): the engine against known closed forms,
every growth function against an independent computation (brute force, Monte Carlo of the defining expectation
with a finite-difference gradient, 1-d generalized normal, nested quadrature, an mpmath oracle from the noise's
density), lower-bound relations and the two-sided ExpInf(k > 1, j > 0) walk."""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from rsmooth_ext.certificates import closed_forms, differential, tables

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 20
PRECISION_DIGITS = 20



RNG_SEED = 20240611


P_FIXED = np.array([0.5001, 0.51, 0.6, 0.75, 0.9, 0.99, 0.999, 0.99999, 1 - 1e-7])


def _random_p(n, seed):
    """p in (1/2, 1 - 1e-7), spread on the Gaussian-radius scale."""
    rng = np.random.default_rng(seed)
    return special.ndtr(rng.uniform(0.01, special.ndtri(1 - 1e-7), size=n))


def _grid(n=200):
    zmax = special.ndtri(1 - 1e-7)
    p = special.ndtr(np.linspace(zmax / n, zmax, n))
    p[-1] = 1 - 1e-7
    return p


def PHI_GAUSSIAN(u):
    """The growth function of the standard Gaussian against l2: G_v = <eps, v> ~ N(0, 1) for ||v||_2 = 1, so
    Phi(u) = E[Z 1{Z > z_u}] = phi(Phi_N^-1(u)); the differential method then gives exactly Phi_N^-1(p)."""
    return stats.norm.pdf(special.ndtri(np.asarray(u, dtype=np.float64)))


def phi_laplace_l1(u):
    """The growth function of i.i.d. Laplace(0, 1) against l1 (any d): G = sign(eps_1), Phi(u) = u for u <= 1/2,
    so R(p) = -log(2 (1 - p))."""
    return np.asarray(u, dtype=np.float64) * 1.0


@pytest.mark.parametrize("p", list(P_FIXED) + list(_random_p(5, 1)))
def test_differential_gaussian_and_laplace_l1(p):
    value, err = differential.differential_radius(PHI_GAUSSIAN, p)
    assert value == pytest.approx(float(special.ndtri(p)), rel=1e-9)
    assert err < 1e-8 * value
    value, err = differential.differential_radius(phi_laplace_l1, p)
    assert value == pytest.approx(-math.log(2 * (1 - p)), rel=1e-9)


def test_differential_table_matches_closed_forms_and_error_is_sound():
    p = _grid(300)
    for phi, exact in [(PHI_GAUSSIAN, special.ndtri(p)), (phi_laplace_l1, -np.log(2 * (1 - p)))]:
        radii, err = differential.differential_table(phi, p)
        np.testing.assert_allclose(radii, exact, rtol=1e-9)
        assert np.all(np.diff(radii) > 0)
        assert err < 1e-8
        assert np.all(radii - err <= exact * (1 + 1e-12))


def test_differential_radius_vectorised_and_errors():
    values, errs = differential.differential_radius(PHI_GAUSSIAN, np.array([0.6, 0.9]))
    np.testing.assert_allclose(values, special.ndtri([0.6, 0.9]), rtol=1e-9)
    assert errs.shape == (2,)
    for bad in (0.5, 1.0, 0.3, float("nan")):
        with pytest.raises(ValueError):
            differential.differential_radius(PHI_GAUSSIAN, bad)
    with pytest.raises(ValueError):
        differential.differential_table(PHI_GAUSSIAN, [0.7, 0.6])


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 11])
def test_laplace_linf_phi_brute_force(d):
    """Phi(u) = top-u mean of G = sum_i sign(eps_i), enumerating all 2^d sign patterns."""
    phi = differential.phi_laplace_linf(d)
    G = np.sort(np.array(list(itertools.product([-1, 1], repeat=d))).sum(1))[::-1]
    w = 2.0**-d
    for u in [0.5, 0.4999, 0.3, 0.1, 0.01, 1e-3]:
        n = int(u / w)
        frac = u / w - n
        brute = w * (G[:n].sum() + (frac * G[n] if n < G.size else 0.0))
        assert float(phi(u)) == pytest.approx(brute, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("k", [1.0, 1.5, 2.0, 3.0, 0.5, 0.7])
def test_radial_phi_in_one_dimension_is_the_generalized_normal(k):
    """d = 1: ExpInf = Exp1 = density ~ exp(-|x|^k) (scipy's gennorm). For k >= 1 the optimal set is a half
    line {x >= x_u}, so Phi(u) = pdf(isf(u)) and the radius is gennorm.ppf(p) (exact, like the Gaussian);
    for k < 1 it is {0 < x <= x_u}: Phi(u) = pdf(0) - pdf(ppf(1/2 + u))."""
    g = stats.gennorm(k)
    u = np.array([0.5, 0.3, 0.1, 1e-3, 1e-6])
    for phi in (differential.phi_expinf_linf(k, 1), differential.phi_exp1_l1(k, 1)):
        ref = g.pdf(g.isf(u)) if k >= 1 else g.pdf(0) - g.pdf(g.ppf(0.5 + u))
        np.testing.assert_allclose(phi(u), ref, rtol=1e-8)
    if k >= 1:
        for p in [0.6, 0.95, 1 - 1e-7]:
            value, _ = differential.differential_radius(differential.phi_expinf_linf(k, 1), p)
            assert value == pytest.approx(g.ppf(p), rel=1e-9)


def _sample_expinf(rng, n, k, d):
    r = rng.gamma(d / k, size=n) ** (1.0 / k)
    x = rng.uniform(-1.0, 1.0, size=(n, d))
    j = rng.integers(d, size=n)
    x[np.arange(n), j] = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return x * r[:, None]


def _sample_exp1(rng, n, k, d):
    r = rng.gamma(d / k, size=n) ** (1.0 / k)
    x = rng.dirichlet(np.ones(d), size=n) * np.where(rng.random((n, d)) < 0.5, -1.0, 1.0)
    return x * r[:, None]


def _top_mean(G, u):
    """Monte Carlo estimate of E[G 1{G in its top u-mass}] and its standard error."""
    n = G.size
    m = int(round(u * n))
    top = np.partition(G, n - m)[n - m :]
    return top.sum() / n, top.std() * math.sqrt(m) / n + abs(top.mean()) * math.sqrt(u * (1 - u) / n)


@pytest.mark.parametrize(
    "family,k,d",
    [("expinf_linf", 2.0, 4), ("expinf_linf", 0.6, 3), ("exp1_l1", 1.7, 5), ("expinf_l1", 2.0, 3)],
)
def test_radial_phi_monte_carlo_with_finite_difference_gradient(family, k, d):
    """Phi(u) = E[G 1{top u}] with G = (log q(eps) - log q(eps + h v)) / h estimated from samples of the
    noise itself, with the worst direction v (all-ones for linf, e_1 for l1); random directions of the
    unit ball must not do better."""
    rng = np.random.default_rng(RNG_SEED)
    n = 200_000
    norm_ord = np.inf if family.startswith("expinf") else 1
    eps = (_sample_expinf if family.startswith("expinf") else _sample_exp1)(rng, n, k, d)
    phi = {"expinf_linf": differential.phi_expinf_linf, "exp1_l1": differential.phi_exp1_l1,
           "expinf_l1": differential.phi_expinf_l1}[family](k, d)
    logq = lambda x: -(np.linalg.norm(x, ord=norm_ord, axis=1) ** k)  # noqa: E731
    h = 1e-7
    vertex = np.ones(d) if family.endswith("linf") else np.eye(d)[0]

    def g_of(v):
        return (logq(eps - h * v) - logq(eps + h * v)) / (2 * h)

    G = g_of(vertex)
    for u in [0.5, 0.25, 0.1, 0.02]:
        mc, se = _top_mean(G, u)
        assert abs(mc - float(phi(u))) < 5 * se + 1e-3 * abs(mc), (u, mc, float(phi(u)), se)
    for _ in range(3):  # other directions of the unit ball give no more
        v = rng.uniform(-1, 1, size=d)
        v /= np.linalg.norm(v, ord=np.inf if family.endswith("linf") else 1)
        mc_v, se_v = _top_mean(g_of(v), 0.1)
        assert mc_v < float(phi(0.1)) + 5 * se_v


@pytest.mark.parametrize("k,d", [(2.0, 5), (0.5, 4), (3.0, 64), (1.0, 7)])
def test_radial_phi_against_nested_quadrature(k, d):
    """Phi_linf(u) = (k/2) E[U^((k-1)/k) 1{U beyond its 2u-quantile}], U ~ Gamma(d/k), by quad over the
    Gamma density with the quantile found by brentq (no incomplete-gamma inverse, no Gamma ratio)."""
    a = d / k
    logc = -special.gammaln(a)
    pdf = lambda x: math.exp((a - 1) * math.log(x) - x + logc) if x > 0 else 0.0  # noqa: E731
    lo, hi = max(a - 40 * math.sqrt(a), 0.0), a + 40 * math.sqrt(a) + 40

    def upper_mass(x0):
        return integrate.quad(pdf, x0, hi, epsabs=0, epsrel=1e-13, limit=200)[0]

    def lower_mass(x0):
        points = [a] if a < x0 else None
        return integrate.quad(pdf, lo, x0, epsabs=0, epsrel=1e-13, limit=200, points=points)[0]

    def moment(x_from, x_to):
        return integrate.quad(lambda x: x ** ((k - 1) / k) * pdf(x), x_from, x_to, epsabs=0, epsrel=1e-13)[0]

    phi = differential.phi_expinf_linf(k, d)
    for u in [0.45, 0.2, 0.01, 1e-4]:
        target = 2 * u
        if k >= 1:
            x0 = optimize.brentq(lambda x, t=target: upper_mass(x) - t, lo + 1e-12, hi, xtol=1e-13, rtol=1e-14)
            ref = 0.5 * k * moment(x0, hi)
        else:
            x0 = optimize.brentq(lambda x, t=target: lower_mass(x) - t, lo + 1e-12, hi, xtol=1e-13, rtol=1e-14)
            ref = 0.5 * k * moment(lo, x0)
        assert float(phi(u)) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("d", [1, 2, 3, 10, 64, 3072])
def test_laplace_linf_quad_matches_exact_piecewise_integral(d):
    phi = differential.phi_laplace_linf(d)
    p = np.concatenate([P_FIXED, _random_p(4, d)])
    # undo its rounding toward zero
    exact = differential.laplace_linf_radius(d, p) / (1.0 - differential.LAPLACE_LINF_MARGIN)
    for pi, ex in zip(p, exact):
        value, err = differential.differential_radius(phi, pi)
        assert value == pytest.approx(ex, rel=1e-10)
        assert value - err <= ex * (1 + 1e-13)


@pytest.mark.parametrize("k,d", [(2.0, 5), (0.5, 4), (1.5, 64)])
def test_radial_radius_spot_checks_second_scheme(k, d):
    """R(p) at random p by quad in the variable x0 = the Gamma quantile (u = P(U >= x0)/2 for k >= 1,
    P(U <= x0)/2 for k < 1): R = integral pdf(x0) / (2 Phi) dx0, Phi(x0) = (k/2) E[U^((k-1)/k) 1{U beyond x0}]
    from scipy's incomplete gamma -- a different variable and integrand than the library's log-u quad."""
    a = d / k
    b = a + 1 - 1 / k
    ratio = math.exp(math.lgamma(b) - math.lgamma(a))

    def integrand(x0):
        if k >= 1:
            phi = 0.5 * k * ratio * special.gammaincc(b, x0)
        else:
            phi = 0.5 * k * ratio * special.gammainc(b, x0)
        return stats.gamma.pdf(x0, a) / (2 * phi)

    for p in _random_p(4, 99):
        # u = 1/2 is x0 = 0 (k >= 1: u = P(U >= x0)/2) or x0 = inf (k < 1: u = P(U <= x0)/2)
        if k >= 1:
            lo, hi = 0.0, special.gammainccinv(a, 2 * (1 - p))
        else:
            lo, hi = special.gammaincinv(a, 2 * (1 - p)), np.inf
        ref = integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=500)[0]
        value, _ = differential.differential_radius(differential.phi_expinf_linf(k, d), p)
        assert value == pytest.approx(ref, rel=1e-8)


def test_concave_tangent_radii_are_a_tight_lower_bound():
    """G ~ N(0, 1): u = P(G > tau), Phi = pdf(tau), and the exact radius is tau itself."""
    tau = np.linspace(0.0, 5.5, 300)
    radii = differential.concave_tangent_radii(stats.norm.sf(tau), stats.norm.pdf(tau), tau)
    assert radii[0] == 0
    assert np.all(radii[1:] <= tau[1:]) and np.all(radii[1:] >= tau[1:] * (1 - 1e-4))


@pytest.mark.parametrize("d", [2, 10, 784])
def test_exp2_growth_nodes_k2_are_the_gaussian(d):
    """Exp2(k = 2) is N(0, I/2): G = 2 eps_1 ~ N(0, 2), so u = sf(tau / sqrt 2), Phi = sqrt 2 pdf(tau / sqrt 2)."""
    tau = np.array([0.0, 0.3, 1.0, 4.0, 9.0])
    u, phi, u_err, phi_err = differential.exp2_l2_growth_nodes(2.0, d, tau)
    np.testing.assert_allclose(u, stats.norm.sf(tau / np.sqrt(2)), rtol=1e-9)
    np.testing.assert_allclose(phi, np.sqrt(2) * stats.norm.pdf(tau / np.sqrt(2)), rtol=1e-9)
    assert np.all(u_err < 1e-12) and np.all(phi_err < 1e-12)
    # Phi(1/2) agrees with the linear bound's closed form (p - 1/2) / Phi(1/2)
    for k in (0.5, 4.0):
        _, phi_half, _, _ = differential.exp2_l2_growth_nodes(k, d, [0.0])
        assert phi_half[0] == pytest.approx(0.1 / closed_forms.exp2_l2_linear_radius(k, d, 0.6), rel=1e-9)


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



@pytest.mark.slow  # nested mpmath quadratures: ~10-30 s
def test_powinf_linf_table():
    a, d = 9.0, 5
    f_r = _normalised(lambda r: r ** (d - 1) * (1 + r) ** (-a))
    for p in GRID_POINTS:
        oracle = _decreasing_sign_oracle(f_r, lambda r: a / (1 + r), p)
        ours = tables.computed_table("powinf_linf", (a, d)).lookup(p)
        assert_sound_and_tight(ours, oracle, f"powinf linf p={p}")


@pytest.mark.slow  # nested mpmath quadratures: ~10-30 s
def test_expinf_j_linf_table():
    k, j, d = 0.5, 1.5, 4
    f_r = _normalised(lambda r: r ** (d - 1 - j) * mpmath.exp(-(r**k)))
    for p in GRID_POINTS:
        oracle = _decreasing_sign_oracle(f_r, lambda r: j / r + k * r ** (k - 1), p)
        ours = tables.computed_table("expinf_j_linf", (k, j, d)).lookup(p)
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
            assert_sound_and_tight(closed_forms.expp_l1_radius_p_half(p), oracle, f"expp 1/2 closed form p={p}")
        assert_sound_and_tight(tables.computed_table("expp_l1", (q,)).lookup(p), oracle, f"expp {q} table p={p}")


def test_expinf_two_sided_small_j_is_the_j_free_differential_radius():
    for p in (0.6, 0.9, 0.999):
        exact = differential.differential_radius(differential.phi_expinf_linf(2.0, 50), p)[0]
        ours = tables.computed_table("expinf_two_sided_linf", (2.0, 1e-6, 50)).lookup(p)
        assert_sound_and_tight(ours, exact, f"j -> 0, p={p}")


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
    grid = differential.expinf_two_sided_linf_table(k, j, d)[0]
    for p in (grid[np.searchsorted(grid, 0.7)], grid[np.searchsorted(grid, 0.99)]):
        oracle = _expinf_two_sided_oracle(k, j, d, p)
        ours = tables.computed_table("expinf_two_sided_linf", (k, j, d)).lookup(p)
        assert_sound_and_tight(ours, oracle, f"two-sided p={p}")
