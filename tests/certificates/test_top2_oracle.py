"""The top-2 closed forms against the papers' statements at 50 digits (tests/support/mpmath_oracle.py): never above
the exact value however close p_A and p_B are (gaps down to 1e-15, where the difference of two quantiles or two
logs cancels), and within 1e-6 of it. The exact top-2 radius is the max of the paper's pA/pB form and the
single-bound radius at p_A (which p_B > 1 - p_A cannot beat)."""

import numpy as np
import pytest
from support.mpmath_oracle import gaussian_l2, gaussian_l2_top2, laplace_l1, laplace_l1_top2

import rsmooth_ext as rs
from rsmooth_ext.certificates.top2 import certify_top2

mpmath = pytest.importorskip("mpmath")
hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given, settings, HealthCheck = hypothesis.given, hypothesis.settings, hypothesis.HealthCheck

pytestmark = pytest.mark.slow

SETTINGS = dict(derandomize=True, deadline=None, database=None, max_examples=400,
                suppress_health_check=[HealthCheck.too_slow])
TIGHTNESS = 1e-6


@pytest.fixture(autouse=True, scope="module")
def _fifty_digits():
    with mpmath.workdps(50):
        yield


def _exact(family, scale, p_a, p_b):
    mpf = mpmath.mpf
    if family == "laplace":
        value = laplace_l1_top2(p_a, p_b, scale)
        single = scale * laplace_l1(p_a) if p_a > 0.5 else mpf(0)
    else:  # Gaussian of standard deviation ``scale``
        value = gaussian_l2_top2(p_a, p_b, scale)
        single = scale * gaussian_l2(p_a) if p_a > 0.5 else mpf(0)
    return max(value, single)


NOISES = {
    "gaussian": (rs.Gaussian(sigma=0.8), "gaussian", 0.8),
    "exp2-k2": (rs.Exp2(k=2.0, dim=10, lambd=1.3), "gaussian", 1.3 / np.sqrt(2.0)),
    "laplace": (rs.Laplace(lambd=0.6), "laplace", 0.6),
}


def _check(name, p_a, p_b):
    noise, family, scale = NOISES[name]
    ours = float(certify_top2(noise, np.array([p_a]), np.array([p_b]))[0])
    truth = _exact(family, scale, p_a, p_b)
    assert ours >= 0
    assert ours <= truth, f"{name}: p_A={p_a!r}, p_B={p_b!r}: {ours!r} > exact {mpmath.nstr(truth, 20)}"
    assert ours >= truth * (1 - TIGHTNESS), f"{name}: p_A={p_a!r}, p_B={p_b!r}: {ours!r} << {mpmath.nstr(truth, 20)}"


# p_A anywhere in (0, 1), with the tails down to 1e-16 of 0 and of 1; the gap p_A - p_B from 1e-15 to 1e-3
p_as = st.one_of(st.floats(1e-6, 0.999999), st.floats(-16.0, -1.0).map(lambda e: 10.0**e),
                 st.floats(-16.0, -1.0).map(lambda e: 1.0 - 10.0**e),
                 st.floats(-16.0, -2.0).map(lambda e: 0.5 + 10.0**e))


@pytest.mark.parametrize("name", list(NOISES))
@settings(**SETTINGS)
@given(p_a=p_as, log_gap=st.floats(-15.0, -3.0))
def test_top2_never_above_the_exact_radius(name, p_a, log_gap):
    p_b = p_a - 10.0**log_gap
    hypothesis.assume(0.0 < p_b < p_a)
    _check(name, p_a, p_b)


@pytest.mark.parametrize("name", list(NOISES))
def test_top2_hard_points(name):
    """The audit's example, gaps of one ulp, and bounds on either side of 1/2."""
    points = [(0.11810301281752757, 0.11810301281752644), (0.5, np.nextafter(0.5, 0.0)),
              (np.nextafter(0.5, 1.0), np.nextafter(0.5, 0.0)), (0.3, np.nextafter(0.3, 0.0)),
              (1e-300, 0.9e-300), (0.7, 0.2), (0.45, 0.4), (1 - 1e-16, 1e-16), (0.6, 0.4 - 1e-15)]
    for p_a, p_b in points:
        _check(name, float(p_a), float(p_b))
