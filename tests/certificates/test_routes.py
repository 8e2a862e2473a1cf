"""Closed-form certified radii: values, soundness checks against exact computations, vectorisation,
and errors."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import rsmooth_ext as rs
from rsmooth_ext.certificates.routes import masking_l0_union_bound

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
    union = masking_l0_union_bound(keep, p)
    assert (got >= union).all()
    assert (got > union).any() or keep >= 0.5


def test_tensor_in_tensor_out_and_float_in_float_out():
    g = rs.Gaussian(sigma=1.0)
    t = torch.tensor([0.4, 0.9])
    out = g.certify(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out[0] == 0
    assert isinstance(g.certify(0.9), float)
    assert g.certify(0.5) == 0.0


def test_radius_errors():
    g = rs.Gaussian(sigma=1.0)
    with pytest.raises(ValueError, match="depends on the input size: pass dim="):
        g.certify(0.9, "linf")
    with pytest.raises(ValueError, match=r"p_lower must lie in \[0, 1\]"):
        g.certify(1.2)
    with pytest.raises(ValueError, match="no guaranteed certificate for Gaussian against l0; supported pairs: "
                                         "gaussian/l1, gaussian/l2, gaussian/linf, laplace/l1"):
        g.certify(0.9, "l0")
    with pytest.raises(ValueError, match="no guaranteed certificate for Masking against l2"):
        rs.Masking(keep=0.5).certify(0.9, "l2", dim=10)
    with pytest.raises(ValueError, match="does not match the noise's own dim=10"):
        rs.UniformBall(dim=10, sigma=1.0).certify(0.9, dim=11)
    with pytest.raises(ValueError, match="no guaranteed certificate for Exp2 against l0"):
        rs.Exp2(dim=10, sigma=1.0).certify(0.9, "l0")
