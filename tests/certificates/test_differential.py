"""Numerical certificates (rsmooth_ext.certificate_math): the differential method against known closed forms,
every growth function against an independent computation (brute force, Monte Carlo of the defining
expectation with a finite-difference gradient, 1-d generalized normal, nested quadrature), closed forms
against the differential integrals they come from, lower-bound relations, monotonicity, and the Exp2
level-set certificate against the Gaussian (k = 2) and Monte Carlo."""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from rsmooth_ext.certificates import differential as cm
from rsmooth_ext.certificates import tables

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


# ------------------------------------------------------------------------------------------------------
# (a) the differential method reproduces the Gaussian and Laplace/l1 closed forms
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", list(P_FIXED) + list(_random_p(5, 1)))
def test_differential_gaussian_and_laplace_l1(p):
    value, err = cm.differential_radius(cm.phi_gaussian(), p)
    assert value == pytest.approx(float(special.ndtri(p)), rel=1e-9)
    assert err < 1e-8 * value
    value, err = cm.differential_radius(cm.phi_laplace_l1(), p)
    assert value == pytest.approx(-math.log(2 * (1 - p)), rel=1e-9)


def test_differential_table_matches_closed_forms_and_error_is_sound():
    p = _grid(300)
    for phi, exact in [(cm.phi_gaussian(), special.ndtri(p)), (cm.phi_laplace_l1(), -np.log(2 * (1 - p)))]:
        radii, err = cm.differential_table(phi, p)
        np.testing.assert_allclose(radii, exact, rtol=1e-9)
        assert np.all(np.diff(radii) > 0)
        assert err < 1e-8
        assert np.all(radii - err <= exact * (1 + 1e-12))


def test_differential_radius_vectorised_and_errors():
    values, errs = cm.differential_radius(cm.phi_gaussian(), np.array([0.6, 0.9]))
    np.testing.assert_allclose(values, special.ndtri([0.6, 0.9]), rtol=1e-9)
    assert errs.shape == (2,)
    for bad in (0.5, 1.0, 0.3, float("nan")):
        with pytest.raises(ValueError):
            cm.differential_radius(cm.phi_gaussian(), bad)
    with pytest.raises(ValueError):
        cm.differential_table(cm.phi_gaussian(), [0.7, 0.6])


# ------------------------------------------------------------------------------------------------------
# growth functions against independent computations
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 11])
def test_laplace_linf_phi_brute_force(d):
    """Phi(u) = top-u mean of G = sum_i sign(eps_i), enumerating all 2^d sign patterns."""
    phi = cm.phi_laplace_linf(d)
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
    for phi in (cm.phi_expinf_linf(k, 1), cm.phi_exp1_l1(k, 1)):
        ref = g.pdf(g.isf(u)) if k >= 1 else g.pdf(0) - g.pdf(g.ppf(0.5 + u))
        np.testing.assert_allclose(phi(u), ref, rtol=1e-8)
    if k >= 1:
        for p in [0.6, 0.95, 1 - 1e-7]:
            value, _ = cm.differential_radius(cm.phi_expinf_linf(k, 1), p)
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
    phi = {"expinf_linf": cm.phi_expinf_linf, "exp1_l1": cm.phi_exp1_l1, "expinf_l1": cm.phi_expinf_l1}[family](k, d)
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

    phi = cm.phi_expinf_linf(k, d)
    for u in [0.45, 0.2, 0.01, 1e-4]:
        target = 2 * u
        if k >= 1:
            x0 = optimize.brentq(lambda x, t=target: upper_mass(x) - t, lo + 1e-12, hi, xtol=1e-13, rtol=1e-14)
            ref = 0.5 * k * moment(x0, hi)
        else:
            x0 = optimize.brentq(lambda x, t=target: lower_mass(x) - t, lo + 1e-12, hi, xtol=1e-13, rtol=1e-14)
            ref = 0.5 * k * moment(lo, x0)
        assert float(phi(u)) == pytest.approx(ref, rel=1e-8)


# ------------------------------------------------------------------------------------------------------
# (b) Phi-based radii against their closed forms; (e) spot checks with a second integration scheme
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3, 10, 64, 3072])
def test_laplace_linf_quad_matches_exact_piecewise_integral(d):
    phi = cm.phi_laplace_linf(d)
    p = np.concatenate([P_FIXED, _random_p(4, d)])
    exact = cm.laplace_linf_radius(d, p) / (1.0 - cm.LAPLACE_LINF_MARGIN)  # undo its rounding toward zero
    for pi, ex in zip(p, exact):
        value, err = cm.differential_radius(phi, pi)
        assert value == pytest.approx(ex, rel=1e-10)
        assert value - err <= ex * (1 + 1e-13)


@pytest.mark.parametrize("d", [1, 5, 64, 3072])
def test_expinf_linf_k1_and_exp1_l1_k1_closed_forms(d):
    p = _grid(100)
    for phi in (cm.phi_expinf_linf(1.0, d), cm.phi_exp1_l1(1.0, d)):
        radii, err = cm.differential_table(phi, p)
        np.testing.assert_allclose(radii, cm.expinf_linf_radius_k1(p), rtol=1e-9)
        np.testing.assert_allclose(radii, cm.exp1_l1_radius_k1(p), rtol=1e-9)
        assert err < 1e-9


@pytest.mark.parametrize("d", [2, 3, 10, 64, 3072])
def test_exp2_k1_closed_form_is_its_differential_integral(d):
    phi = cm.phi_exp2_l2_k1(d)
    p = np.concatenate([P_FIXED, _random_p(3, d)])
    for pi in p:
        value, _ = cm.differential_radius(phi, pi)
        assert value == pytest.approx(float(cm.exp2_l2_radius_k1(d, pi)), rel=1e-9)


@pytest.mark.parametrize("k,d", [(1.0, 4), (2.0, 10), (0.5, 3), (3.0, 64), (2.0, 3072)])
def test_expinf_l1_closed_form_is_the_differential_radius_below_the_threshold(k, d):
    """The closed form equals the Phi_l1 integral for p <= 1 - 1/(2d), is below it above, where the
    integral is the closed form at the threshold plus the linf radius at 1 - d(1 - p)."""
    phi = cm.phi_expinf_l1(k, d)
    threshold = 1 - 0.5 / d
    below = [p for p in P_FIXED if p <= threshold]
    above = [p for p in P_FIXED if p > threshold]
    for p in below:
        value, _ = cm.differential_radius(phi, p)
        assert value == pytest.approx(float(cm.expinf_l1_radius(k, d, p)), rel=1e-9)
    phi_linf = cm.phi_expinf_linf(k, d)
    for p in above:
        value, _ = cm.differential_radius(phi, p)
        closed = float(cm.expinf_l1_radius(k, d, p))
        assert value > closed
        expected = float(cm.expinf_l1_radius(k, d, threshold)) + cm.differential_radius(phi_linf, 1 - d * (1 - p))[0]
        assert value == pytest.approx(expected, rel=1e-9)


def test_expinf_l1_closed_form_gamma_factor():
    """2 (p - 1/2) Gamma(d/k + 1) / Gamma((d-1)/k + 1) = 2 (p - 1/2) d/(d-1) Gamma(d/k) / Gamma((d-1)/k)."""
    for k, d in [(1.0, 10), (2.0, 3072), (0.5, 7), (3.0, 150528)]:
        ref = 2 * 0.2 * d / (d - 1) * math.exp(math.lgamma(d / k) - math.lgamma((d - 1) / k))
        assert float(cm.expinf_l1_radius(k, d, 0.7)) == pytest.approx(ref, rel=1e-8)
    assert float(cm.expinf_l1_radius(1.0, 10, 0.7)) == pytest.approx(2 * 10 * 0.2)


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
        value, _ = cm.differential_radius(cm.phi_expinf_linf(k, d), p)
        assert value == pytest.approx(ref, rel=1e-8)


# ------------------------------------------------------------------------------------------------------
# (c) monotonicity and lower-bound relations
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 17, 64])
def test_tables_monotone_and_norm_relations(d):
    p = _grid(150)
    r_lap_inf, e1 = cm.differential_table(cm.phi_laplace_linf(d), p)
    assert np.all(np.diff(r_lap_inf) > 0)
    np.testing.assert_allclose(r_lap_inf, cm.laplace_linf_radius(d, p), rtol=2e-10)  # its margin is 1e-10
    # Phi_linf <= d Phi_l1 = d u, so the linf radius is at least the l1 radius / d
    assert np.all(r_lap_inf - e1 >= cm.laplace_l1_radius(p) / d * (1 - 1e-12))
    for k in (0.5, 2.0):
        r_inf, _ = cm.differential_table(cm.phi_expinf_linf(k, d), p)
        r_l1, _ = cm.differential_table(cm.phi_expinf_l1(k, d), p)
        assert np.all(np.diff(r_inf) > 0) and np.all(np.diff(r_l1) > 0)
        # linf ball subset of the l1 ball of radius d R; l1 ball subset of the linf ball
        assert np.all(r_l1 >= r_inf * (1 - 1e-9))
        assert np.all(r_inf >= r_l1 / d * (1 - 1e-9))
        closed = cm.expinf_l1_radius(k, d, p)
        assert np.all(np.diff(closed) > 0)
        assert np.all(closed <= r_l1 * (1 + 1e-9))  # the closed form is a lower bound
    closed = cm.exp2_l2_radius_k1(d, p)
    assert np.all(np.diff(closed) > 0)


# ------------------------------------------------------------------------------------------------------
# (d) the level-set method
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3, 10, 64, 3072])
def test_exp2_k2_levelset_is_the_gaussian(d):
    """Exp2(k=2) is N(0, I/2): the exact l2 certificate is Phi_N^-1(p) / sqrt(2)."""
    for p in [0.6, 0.99, 1 - 1e-7]:
        r = cm.exp2_l2_levelset_radius(2.0, d, p)
        exact = float(special.ndtri(p)) / math.sqrt(2)
        assert exact * (1 - 1e-6) < r <= exact


def test_exp2_k2_levelset_masses_are_gaussian_halfspaces():
    """For k = 2, T = 2 r y_1 - r^2, so P(T > c) = P(N(0, 1/2) > (c + r^2) / (2r))."""
    for d in (2, 5, 64):
        for r, c in [(0.3, 0.1), (1.0, -0.5), (2.0, 3.0)]:
            inside, outside, shifted, err = cm.exp2_l2_levelset_masses(2.0, d, r, c)
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
        inside, outside, shifted, err = cm.exp2_l2_levelset_masses(k, d, r, c)
        assert inside + outside == pytest.approx(1.0, abs=1e-12)
        for exact, mc in [(inside, np.mean(T0 <= c)), (shifted, np.mean(T1 <= c))]:
            assert abs(exact - mc) < 5 * math.sqrt(mc * (1 - mc) / n) + 1e-6
        fast = cm.exp2_l2_levelset_masses(k, d, r, c, method="fast")
        assert fast[1] == pytest.approx(outside, rel=1e-9, abs=1e-15)


def test_exp2_levelset_radius_monte_carlo_end_to_end():
    """At the certified radius R, the NP set of mass p (empirical quantile of T) keeps shifted mass ~ 1/2."""
    k, d, p = 1.5, 3, 0.9
    R = cm.exp2_l2_levelset_radius(k, d, p)
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
        assert cm.exp2_l2_levelset_radius(1.0, d, p) >= float(cm.exp2_l2_radius_k1(d, p)) * (1 - 1e-9)


@pytest.mark.parametrize("k,d", [(0.5, 2), (1.0, 3), (4.0, 10), (0.3, 64)])
def test_exp2_levelset_monotone_in_p_and_worst_case_monotone_in_r(k, d):
    radii = [cm.exp2_l2_levelset_radius(k, d, p) for p in [0.51, 0.7, 0.9, 0.999]]
    assert np.all(np.diff(radii) > 0)
    # the worst-case shifted probability of the NP set of mass p falls as r grows (so certifying r
    # certifies the whole ball)
    ls = cm._Exp2LevelSet(k, d)
    for p in (0.7, 0.999):
        rs = np.linspace(0.02, 1.5, 25) * radii[-1]
        worst = [ls.tail_fast(r, -ls.tail_root(r, 1 - p)) for r in rs]
        assert np.all(np.diff(worst) <= 1e-12)


def test_exp2_levelset_table_agrees_with_radius():
    d = 5
    r_grid = np.array([0.2, 0.8, 2.0])
    p_needed = cm.exp2_l2_levelset_table(2.0, d, r_grid)
    exact = special.ndtr(math.sqrt(2) * r_grid)
    assert np.all(p_needed >= exact) and np.all(p_needed - exact < 1e-9)
    p_needed = cm.exp2_l2_levelset_table(1.0, d, r_grid)
    for r, pn in zip(r_grid, p_needed):
        assert cm.exp2_l2_levelset_radius(1.0, d, min(pn + 1e-9, 1 - 1e-12)) == pytest.approx(r, rel=1e-6)


def test_levelset_argument_errors():
    with pytest.raises(ValueError):
        cm.exp2_l2_levelset_radius(1.0, 1, 0.7)
    with pytest.raises(ValueError):
        cm.exp2_l2_levelset_radius(1.0, 5, 0.5)
    with pytest.raises(ValueError):
        cm.exp2_l2_levelset_radius(0.0, 5, 0.7)


# ------------------------------------------------------------------------------------------------------
# (f) the Exp2 differential method (k not in {1, 2}): growth-function nodes and concave tangent radii
# ------------------------------------------------------------------------------------------------------
def test_concave_tangent_radii_are_a_tight_lower_bound():
    """G ~ N(0, 1): u = P(G > tau), Phi = pdf(tau), and the exact radius is tau itself."""
    tau = np.linspace(0.0, 5.5, 300)
    radii = cm.concave_tangent_radii(stats.norm.sf(tau), stats.norm.pdf(tau), tau)
    assert radii[0] == 0
    assert np.all(radii[1:] <= tau[1:]) and np.all(radii[1:] >= tau[1:] * (1 - 1e-4))


@pytest.mark.parametrize("d", [2, 10, 784])
def test_exp2_growth_nodes_k2_are_the_gaussian(d):
    """Exp2(k = 2) is N(0, I/2): G = 2 eps_1 ~ N(0, 2), so u = sf(tau / sqrt 2), Phi = sqrt 2 pdf(tau / sqrt 2)."""
    tau = np.array([0.0, 0.3, 1.0, 4.0, 9.0])
    u, phi, u_err, phi_err = cm.exp2_l2_growth_nodes(2.0, d, tau)
    np.testing.assert_allclose(u, stats.norm.sf(tau / np.sqrt(2)), rtol=1e-9)
    np.testing.assert_allclose(phi, np.sqrt(2) * stats.norm.pdf(tau / np.sqrt(2)), rtol=1e-9)
    assert np.all(u_err < 1e-12) and np.all(phi_err < 1e-12)
    # Phi(1/2) agrees with the linear bound's closed form (p - 1/2) / Phi(1/2)
    for k in (0.5, 4.0):
        _, phi_half, _, _ = cm.exp2_l2_growth_nodes(k, d, [0.0])
        assert phi_half[0] == pytest.approx(0.1 / cm.exp2_l2_linear_radius(k, d, 0.6), rel=1e-9)


@pytest.mark.slow  # level-set tables: ~10 s each
@pytest.mark.parametrize("k,d", [(0.5, 10), (4.0, 64)])
def test_exp2_differential_table_below_the_level_set(k, d):
    table = tables.compute_table("exp2", "l2", d, k, "differential", progress=False)
    assert table.header["method"] == "differential" and table.phi is not None
    for p in (0.5001, 0.6, 0.9, 0.999, 1 - 1e-6):
        ours = float(table.lookup(p))
        levelset = cm.exp2_l2_levelset_radius(k, d, p)
        assert 0 < ours <= levelset * (1 + 3e-9)  # the level-set radius backs off 1e-9 below its root
        assert ours >= cm.exp2_l2_linear_radius(k, d, p) * (1 - 1e-9)  # Phi <= Phi(1/2)
        if d >= 64:  # the differential method loses little at larger d (21% at d = 10, k = 0.5, high p)
            assert ours >= 0.99 * levelset
