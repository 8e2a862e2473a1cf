"""The fused kernels against the exact laws (scipy.stats) and against the pure-PyTorch reference path.

Fixed seeds; each check's threshold is set for a false-alarm rate of FALSE_ALARM (see tests/support)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from support import DEVICES, FALSE_ALARM, Z_THRESHOLD, all_noises

import rsmooth_ext as rs
from rsmooth_ext.reference import perturb_reference, sample_noise_reference


def draw(noise, num_samples, dim, seed=1234, device="cpu", x=None):
    x = torch.zeros(1, dim, device=device) if x is None else x
    return rs.perturb(x, noise, num_samples, seed=seed).double().cpu().numpy()


def assert_ks(sample, cdf, label):
    p = stats.kstest(np.ravel(sample), cdf).pvalue
    assert p > FALSE_ALARM, f"{label}: KS p-value {p:.2e}"


def assert_mean(values, expected, label):
    values = np.ravel(values)
    z = (values.mean() - expected) / (values.std(ddof=1) / math.sqrt(values.size))
    assert abs(z) < Z_THRESHOLD, f"{label}: mean {values.mean():.6g} vs {expected:.6g} (z = {z:.2f})"


# ---- i.i.d. marginals ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_iid_marginals_match_scipy(device):
    lam = 0.7
    cases = [
        (rs.Gaussian(lambd=lam), stats.norm(scale=lam).cdf),
        (rs.Laplace(lambd=lam), stats.laplace(scale=lam).cdf),
        (rs.Uniform(lambd=lam), stats.uniform(loc=-lam, scale=2 * lam).cdf),
    ]
    for noise, cdf in cases:
        assert_ks(draw(noise, 40, 1000, device=device), cdf, noise.family)


@pytest.mark.parametrize("k", [0.7, 2.5, 6.0])
def test_lomax_magnitude_and_sign(k):
    eps = draw(rs.Lomax(k=k, lambd=1.3), 40, 1000)
    assert_ks(np.abs(eps), stats.lomax(c=k, scale=1.3).cdf, f"lomax k={k}")
    positive = int((eps > 0).sum())
    assert stats.binomtest(positive, eps.size, 0.5).pvalue > FALSE_ALARM


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9])
def test_masking_keep_rate(keep):
    out = draw(rs.Masking(keep=keep), 50, 2000, x=torch.ones(1, 2000))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert stats.binomtest(int(out.sum()), out.size, keep).pvalue > FALSE_ALARM


def test_masking_keep_one_is_identity():
    x = torch.randn(3, 17)
    assert torch.equal(rs.perturb(x, rs.Masking(keep=1.0), 4, seed=0), x.repeat_interleave(4, 0))


# ---- radial families ------------------------------------------------------------------------------

NORM_ORD = {"expinf": np.inf, "exp1": 1, "exp2": 2}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", [rs.ExpInf, rs.Exp1, rs.Exp2])
@pytest.mark.parametrize("d,k", [(1, 1.0), (1, 4.0), (2, 3.0), (2, 0.5), (5, 3.0), (64, 1.0), (300, 0.25), (3072, 2.0)])
def test_radial_radius_law(device, cls, d, k):
    """(||eps||_q / lambda)^k ~ Gamma(d/k, 1) exactly (shapes below and above 1)."""
    lam = 0.8
    eps = draw(cls(k=k, dim=d, lambd=lam), 3000 if d < 1000 else 800, d, device=device)
    z = (np.linalg.norm(eps, ord=NORM_ORD[cls.family], axis=1) / lam) ** k
    assert_ks(z, stats.gamma(a=d / k).cdf, f"{cls.family} d={d} k={k}")


def test_radial_radius_law_imagenet_size():
    d, k, lam = 3 * 224 * 224, 1.0, 1e-3
    eps = draw(rs.Exp2(k=k, dim=d, lambd=lam), 300, d)
    z = (np.linalg.norm(eps, axis=1) / lam) ** k
    assert_ks(z, stats.gamma(a=d / k).cdf, "exp2 imagenet")


@pytest.mark.parametrize("d", [1, 7, 500])
def test_expinf_one_coordinate_on_the_face(d):
    eps = draw(rs.ExpInf(k=1.5, dim=d, lambd=1.0), 2000, d)
    radius = np.abs(eps).max(axis=1, keepdims=True)
    on_face = np.isclose(np.abs(eps), radius, rtol=1e-6, atol=0)
    assert (on_face.sum(axis=1) == 1).all()
    # the face coordinate is uniform over coordinates and its sign is symmetric
    face = np.argmax(on_face, axis=1)
    if d > 1:
        counts = np.bincount(face, minlength=d)
        assert stats.chisquare(counts).pvalue > FALSE_ALARM
    signs = np.sign(eps[np.arange(len(eps)), face])
    assert stats.binomtest(int((signs > 0).sum()), len(signs), 0.5).pvalue > FALSE_ALARM
    # the other coordinates, divided by the radius, are uniform on (-1, 1)
    others = (eps / radius)[~on_face]
    if others.size:
        assert_ks(others, stats.uniform(loc=-1, scale=2).cdf, "expinf interior")


@pytest.mark.parametrize("d", [2, 10, 3072])
def test_exp1_direction_is_dirichlet(d):
    eps = draw(rs.Exp1(k=1.0, dim=d, lambd=1.0), 40 if d > 100 else 2000, d)
    frac = np.abs(eps) / np.abs(eps).sum(axis=1, keepdims=True)
    assert_ks(frac[:, : min(d, 50)], stats.beta(1, d - 1).cdf, f"exp1 d={d}")
    assert stats.binomtest(int((eps > 0).sum()), eps.size, 0.5).pvalue > FALSE_ALARM


@pytest.mark.parametrize("cls", [rs.Exp2, rs.UniformBall])
@pytest.mark.parametrize("d", [2, 3, 50])
def test_l2_directions_are_isotropic(cls, d):
    """Projections of u = eps/||eps|| onto fixed unit vectors follow the exact marginal of the sphere:
    (<u, v> + 1)/2 ~ Beta((d-1)/2, (d-1)/2)."""
    eps = draw(cls(dim=d, lambd=1.0), 4000, d)
    u = eps / np.linalg.norm(eps, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.normal(size=d)
        v /= np.linalg.norm(v)
        assert_ks((u @ v + 1) / 2, stats.beta((d - 1) / 2, (d - 1) / 2).cdf, f"{cls.family} d={d}")


@pytest.mark.parametrize("d", [1, 3, 100])
def test_uniform_ball_radius(d):
    eps = draw(rs.UniformBall(dim=d, lambd=2.0), 5000, d)
    assert_ks((np.linalg.norm(eps, axis=1) / 2.0) ** d, stats.uniform().cdf, f"uniformball d={d}")


# ---- calibration by simulation (both matchings) -------------------------------------------------


@pytest.mark.parametrize("match", ["l2", "l1"])
@pytest.mark.parametrize("d", [16, 784])
def test_empirical_moments_match_calibration(match, d):
    for noise in all_noises(d):
        if noise.family == "masking":
            continue
        noise = type(noise)(**_kwargs(noise), sigma=0.5, match=match)
        eps = draw(noise, 4000 if d == 16 else 400, d)
        if match == "l2":
            assert_mean((eps**2).mean(axis=1), 0.25, f"{noise!r} m2")
        else:
            assert_mean(np.abs(eps).mean(axis=1), 0.5, f"{noise!r} m1")


def _kwargs(noise):
    """The spec's declared parameters (everything but its scale)."""
    return {p.name: getattr(noise, p.name) for p in noise.parameters}


# ---- agreement with the pure-PyTorch reference path ---------------------------------------------


@pytest.mark.parametrize("noise", all_noises(48), ids=lambda n: n.family)
def test_fused_and_reference_have_the_same_law(noise):
    x = torch.rand(1, 3, 4, 4)
    fused = rs.perturb(x, noise, 2000, seed=7) - x
    ref = perturb_reference(x, noise, 2000, generator=torch.Generator().manual_seed(7)) - x
    if noise.family == "masking":
        masked_fused, masked_ref = (fused == -x).float().mean((1, 2, 3)), (ref == -x).float().mean((1, 2, 3))
        assert stats.ks_2samp(masked_fused, masked_ref).pvalue > FALSE_ALARM
        return
    # per-coordinate values, and the per-sample l2 norm (which catches a wrong radius law)
    assert stats.ks_2samp(fused.flatten()[:20000], ref.flatten()[:20000]).pvalue > FALSE_ALARM
    assert stats.ks_2samp(fused.flatten(1).norm(dim=1), ref.flatten(1).norm(dim=1)).pvalue > FALSE_ALARM


@pytest.mark.parametrize("cls", list(rs.NOISES.values()), ids=list(rs.NOISES))
def test_every_family_has_a_reference_sampler(cls):
    noise = cls.example(12, 0.5)
    eps = sample_noise_reference(noise, (5, 3, 4), generator=torch.Generator().manual_seed(0))
    assert eps.shape == (5, 3, 4) and eps.dtype == torch.float32 and torch.isfinite(eps).all()
    x = torch.rand(2, 3, 4)
    out = perturb_reference(x, noise, 5, generator=torch.Generator().manual_seed(0), out_dtype=torch.bfloat16)
    assert out.shape == (10, 3, 4) and out.dtype == torch.bfloat16


def test_reference_sampler_of_an_unregistered_spec_is_a_clear_error():
    class Unregistered(rs.Noise):
        family = "unregistered"
        natural_adversary = "l2"

        def _a1(self):
            return 1.0

        def _a2(self):
            return 1.0

    with pytest.raises(TypeError, match="no reference sampler for Unregistered; registered: Gaussian, "):
        sample_noise_reference(Unregistered(lambd=1.0), (2, 3))
