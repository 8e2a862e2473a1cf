"""Every top-2 radius checked against the Neyman-Pearson definition by Monte Carlo, from the noise densities alone.

At the radius R that ``certify_top2`` returns for (p_A, p_B), shift the noise by the adversary's worst-case delta
of norm R. Over all classifiers with P(A) >= p_A and P(B) <= p_B under the unshifted noise, the smallest shifted
mass of A is that of the lowest-likelihood-ratio set of mass p_A, and the largest shifted mass of B is that of the
highest-likelihood-ratio set of mass p_B plus the shifted mass where the unshifted density vanishes. With samples
eps_i of the unshifted noise and T_i = log q(eps_i - delta) / q(eps_i), both are sums of e^T_i over the sorted
samples (atoms of T need no randomisation: e^T is constant on them). R is certified iff the first exceeds the
second; the test asserts it does, up to a stated number of standard errors (fixed seeds; false-alarm rate per
check below 1e-6, Z_SOUND). The same check at 1.15 R must fail for the Gaussian (tight) form: the test can fail.

Nothing here uses the library's formulas: only the densities (log-likelihood ratios) and the samplers below.
"""

import math

import numpy as np
import pytest

import rsmooth_ext as rs
from rsmooth_ext.certificates.top2 import certify_top2

pytestmark = pytest.mark.slow

N = 2_000_000
Z_SOUND = 5.0  # one-sided normal tail 2.9e-7


def _np_margin(log_ratio, singular_q_mass, p_a, p_b):
    """(Q_min(A) - Q_max(B), its standard error) from log-likelihood ratios of samples of the unshifted noise."""
    t = np.sort(log_ratio)
    n = t.size
    w = np.exp(t) / n  # e^-inf = 0: the unshifted-only region
    m_a, m_b = int(math.floor(p_a * n)), int(math.ceil(p_b * n))
    q_a = w[:m_a].sum()
    q_b = w[n - m_b:].sum() + singular_q_mass
    x = np.zeros(n)
    x[:m_a] = np.exp(t[:m_a])
    x[n - m_b:] -= np.exp(t[n - m_b:])
    # sampling error of the sums, plus that of the sets' boundaries (the empirical quantiles move the boundary
    # by ~ sqrt(p (1 - p) / n) of mass, each unit of which carries e^T at the boundary)
    se = x.std() / math.sqrt(n)
    se += math.exp(t[max(m_a - 1, 0)]) * math.sqrt(p_a * (1 - p_a) / n)
    se += math.exp(t[n - m_b]) * math.sqrt(p_b * (1 - p_b) / n)
    return q_a - q_b, se


# ---- log-likelihood ratios T(eps) = log q(eps - delta) - log q(eps) of each noise, delta of norm r -------------

def _gaussian(rng, sigma, r):
    e = rng.normal(0.0, sigma, N)
    return (e**2 - (e - r) ** 2) / (2 * sigma**2), 0.0


def _laplace(rng, lambd, r):  # l1: delta = r e_1 (Teng et al.'s worst case)
    e = rng.laplace(0.0, lambd, N)
    return (np.abs(e) - np.abs(e - r)) / lambd, 0.0


def _sphere_coordinate(rng, d):
    """w_1 of a point uniform on the unit sphere of R^d: (1 + w_1)/2 ~ Beta((d - 1)/2, (d - 1)/2)."""
    return 2.0 * rng.beta((d - 1) / 2, (d - 1) / 2, N) - 1.0


def _exp2(rng, k, j, d, lambd, r):  # density ~ ||x||^-j exp(-(||x|| / lambda)^k); l2: delta = r e_1
    rho = lambd * rng.gamma((d - j) / k, 1.0, N) ** (1.0 / k)
    w1 = _sphere_coordinate(rng, d)
    shifted = np.sqrt(np.maximum(rho**2 - 2 * rho * r * w1 + r**2, 0.0))

    def h(s):  # -log density, up to a constant
        with np.errstate(divide="ignore"):
            return (s / lambd) ** k + j * np.log(s)

    return h(rho) - h(shifted), 0.0


def _uniform_cube(rng, lambd, d, delta):
    e = rng.uniform(-lambd, lambd, (N, d))
    inside = np.all(np.abs(e - delta) < lambd, axis=1)
    escaped = np.mean(np.any(np.abs(rng.uniform(-lambd, lambd, (N, d)) + delta) >= lambd, axis=1))
    return np.where(inside, 0.0, -np.inf), float(escaped)


def _uniform_ball(rng, d, lambd, r):
    rho = lambd * rng.uniform(0, 1, N) ** (1.0 / d)
    w1 = _sphere_coordinate(rng, d)
    inside = rho**2 - 2 * rho * r * w1 + r**2 < lambd**2
    rho2, w2 = lambd * rng.uniform(0, 1, N) ** (1.0 / d), _sphere_coordinate(rng, d)
    escaped = np.mean(rho2**2 + 2 * rho2 * r * w2 + r**2 >= lambd**2)
    return np.where(inside, 0.0, -np.inf), float(escaped)


def _masking(rng, keep, r):  # l0: r coordinates changed; any of them kept tells the two inputs apart
    told = rng.binomial(int(r), keep, N) > 0
    return np.where(told, -np.inf, 0.0), float(np.mean(rng.binomial(int(r), keep, N) > 0))


CASES = [
    # (id, noise, adversary, dim, log-ratio sampler (rng, r) -> (T, singular Q mass))
    ("gaussian", rs.Gaussian(sigma=0.8), "l2", None, lambda g, r: _gaussian(g, 0.8, r)),
    ("laplace", rs.Laplace(lambd=0.7), "l1", None, lambda g, r: _laplace(g, 0.7, r)),
    ("exp2-k2-d2", rs.Exp2(k=2.0, dim=2, lambd=1.0), "l2", 2, lambda g, r: _exp2(g, 2.0, 0.0, 2, 1.0, r)),
    ("exp2-k2-j1-d2", rs.Exp2(k=2.0, j=1.0, dim=2, lambd=1.0), "l2", 2, lambda g, r: _exp2(g, 2.0, 1.0, 2, 1.0, r)),
    ("exp2-k2-j5-d10", rs.Exp2(k=2.0, j=5.0, dim=10, lambd=1.0), "l2", 10,
     lambda g, r: _exp2(g, 2.0, 5.0, 10, 1.0, r)),
    ("uniform-l1", rs.Uniform(lambd=1.5), "l1", None,
     lambda g, r: _uniform_cube(g, 1.5, 1, np.array([r]))),
    ("uniform-linf-d4", rs.Uniform(lambd=1.0), "linf", 4, lambda g, r: _uniform_cube(g, 1.0, 4, np.full(4, r))),
    ("uniformball-d3", rs.UniformBall(dim=3, lambd=1.0), "l2", 3, lambda g, r: _uniform_ball(g, 3, 1.0, r)),
    ("masking", rs.Masking(keep=0.05), "l0", None, lambda g, r: _masking(g, 0.05, r)),
]
BOUNDS = [(0.7, 0.2), (0.7, 0.3), (0.9, 0.05), (0.45, 0.4), (0.55, 0.05)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_top2_radius_is_certified_by_neyman_pearson(case):
    _, noise, adversary, dim, sampler = case
    rng = np.random.default_rng(2026)
    checked = 0
    for p_a, p_b in BOUNDS:
        radius = float(certify_top2(noise, np.array([p_a]), np.array([p_b]), adversary, dim)[0])
        if radius == 0.0:
            continue
        margin, se = _np_margin(*sampler(rng, radius), p_a, p_b)
        assert margin > -Z_SOUND * se, f"p_A={p_a}, p_B={p_b}: R={radius} not certified (margin {margin}, se {se})"
        checked += 1
    assert checked >= 3


def test_the_check_detects_an_over_claim():
    """15% above the exact (Gaussian) top-2 radius, and the former Gaussian form applied to Exp2(k=2, j=1): both
    fail."""
    rng = np.random.default_rng(7)
    for p_a, p_b in [(0.7, 0.2), (0.9, 0.05)]:
        radius = float(certify_top2(rs.Gaussian(sigma=0.8), np.array([p_a]), np.array([p_b]))[0])
        margin, se = _np_margin(*_gaussian(rng, 0.8, 1.15 * radius), p_a, p_b)
        assert margin < -Z_SOUND * se
    from scipy import special
    gaussian_form = 0.5 / math.sqrt(2.0) * (special.ndtri(0.7) - special.ndtri(0.3))  # sigma = lambda / sqrt 2
    margin, se = _np_margin(*_exp2(rng, 2.0, 1.0, 2, 1.0, gaussian_form), 0.7, 0.3)
    assert margin < -Z_SOUND * se


@pytest.mark.parametrize("d", [2, 3, 10])
def test_exp2_k1_small_d_level_set_is_certified_and_tight(d):
    """Exp2(k = 1) at small d uses the per-p level set (the differential closed form is up to 4.9% low there):
    Neyman-Pearson-certified at the radius, not at 6% above it (with p_B = 1 - p_A: the single-bound case)."""
    noise = rs.Exp2(k=1.0, dim=d, lambd=1.0)
    rng = np.random.default_rng(d)
    for p in (0.6, 0.9, 0.999):
        radius = noise.certify(p)
        margin, se = _np_margin(*_exp2(rng, 1.0, 0.0, d, 1.0, radius), p, 1 - p)
        assert margin > -Z_SOUND * se, (d, p, radius, margin, se)
        margin, se = _np_margin(*_exp2(rng, 1.0, 0.0, d, 1.0, 1.06 * radius), p, 1 - p)
        assert margin < -Z_SOUND * se, (d, p, radius, margin, se)
