"""Top-2 certificates: simultaneous coverage of the (p_A, p_B) bounds, the pA/pB radius forms, end-to-end
soundness with a classifier whose smoothed probabilities are known in closed form, and the CLI flag."""

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from support import FALSE_ALARM

import rsmooth_ext as rs
from rsmooth_ext.certificates.top2 import certify_top2
from rsmooth_ext.cli import build_parser
from rsmooth_ext.stats import top2_bounds


def test_bounds_hold_simultaneously_for_all_other_classes():
    """The largest other class is often not the runner-up of the sample: the bound must hold anyway."""
    rng = np.random.default_rng(7)
    probs = np.array([0.46] + [0.06] * 9)  # nine others of equal mass: the observed runner-up varies
    alpha, trials, n = 0.1, 4000, 300
    counts = rng.multinomial(n, probs, size=trials)
    p_a, p_b = top2_bounds(counts, np.zeros(trials, dtype=np.int64), alpha)
    fail = (p_a > probs[0]) | (p_b < probs[1:].max())
    assert fail.sum() <= stats.binom.ppf(1 - FALSE_ALARM, trials, alpha)
    assert np.all(p_b <= 1 - p_a) and np.all(p_a < probs[0] + 0.2)


def test_pa_pb_forms():
    g = rs.Gaussian(sigma=0.5)
    p_a, p_b = np.array([0.4, 0.7, 0.9]), np.array([0.2, 0.1, 0.1])
    expected = 0.25 * (stats.norm.ppf(p_a) - stats.norm.ppf(p_b))
    np.testing.assert_allclose(certify_top2(g, p_a, p_b), expected, rtol=1e-12)
    # p_B = 1 - p_A: the single-bound radius
    np.testing.assert_allclose(certify_top2(g, p_a[1:], 1 - p_a[1:]), g.certify(p_a[1:]), rtol=1e-12)
    assert certify_top2(g, np.array([0.3]), np.array([0.3]))[0] == 0
    e2 = rs.Exp2(dim=10, k=2.0, lambd=1.0)  # N(0, I/2)
    np.testing.assert_allclose(certify_top2(e2, p_a, p_b), expected / 0.25 / (2 * np.sqrt(2)), rtol=1e-12)
    lap = rs.Laplace(lambd=0.7)
    teng = 0.7 * np.maximum(0.5 * np.log(p_a / p_b), -np.log(1 - p_a + p_b))
    np.testing.assert_allclose(certify_top2(lap, p_a, p_b), teng, rtol=1e-12)
    for noise, adversary, dim in [(rs.Uniform(lambd=1.0), "l1", None), (rs.Uniform(lambd=1.0), "linf", 50),
                                  (rs.UniformBall(dim=20, lambd=1.0), "l2", 20), (rs.Masking(keep=0.01), "l0", None)]:
        got = certify_top2(noise, p_a, p_b, adversary, dim)
        single = noise.certify(0.5 + (p_a - p_b) / 2, adversary, dim=dim)  # total variation < (pA - pB) / 2
        assert np.all(got <= single * (1 + 1e-12)) and np.all(got >= single * (1 - 1e-9) - (adversary == "l0"))
        assert np.all(got >= noise.certify(p_a, adversary, dim=dim))
    # conversions carry the pA/pB form to the other norms
    np.testing.assert_allclose(certify_top2(g, p_a, p_b, "linf", 100), expected / 10, rtol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        certify_top2(g, p_a, p_b[:2])


class ThreeWay(torch.nn.Module):
    """Class 0 if x_1 > 0, class 1 if -t < x_1 <= 0, class 2 if x_1 <= -t: the smoothed probabilities are
    differences of the noise's CDF, and only x_1 matters."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def forward(self, x):
        z = x.flatten(1)[:, 0]
        return torch.stack([(z > 0), (z <= 0) & (z > -self.t), (z <= -self.t)], dim=1).float()


def _true_radius(cdf, x0, t):
    """Distance from x_1 = x0 to where the smoothed classifier stops predicting class 0."""

    def margin(x):
        p0 = 1 - cdf(-x)
        p2 = cdf(-t - x)
        return p0 - max(cdf(-x) - p2, p2)

    return x0 - optimize.brentq(margin, -10.0, x0, xtol=1e-13)


@pytest.mark.parametrize(
    "noise,adversary,cdf",
    [(rs.Gaussian(sigma=1.0), "l2", stats.norm.cdf), (rs.Laplace(lambd=0.7), "l1", stats.laplace(scale=0.7).cdf),
     (rs.Uniform(lambd=1.5), "l1", stats.uniform(loc=-1.5, scale=3.0).cdf)],
    ids=["gaussian", "laplace", "uniform"],
)
def test_top2_radius_is_sound_and_beats_the_single_bound(noise, adversary, cdf):
    """The top-2 radius exceeds the true one in at most an alpha fraction of independent runs, and, with
    the other mass split over two classes, is larger than the single-bound radius on average."""
    alpha, trials, n, t, x0 = 0.1, 150, 400, 0.6, 0.3
    truth = _true_radius(cdf, x0, t)
    model = ThreeWay(t)
    x = torch.zeros(trials, 2)
    x[:, 0] = x0
    res = rs.certify(model, x, noise, 20, n, alpha, adversary=adversary, seed=99, top2=True)
    exceed = int((res.radius > truth + 1e-12).sum())
    assert exceed <= stats.binom.ppf(1 - FALSE_ALARM, trials, alpha), f"{exceed} of {trials} exceed {truth}"
    assert res.p_upper_others is not None and torch.all(res.p_upper_others <= 1 - res.p_lower + 1e-15)
    certified = res.prediction == 0
    assert torch.all(res.p_lower[certified] > res.p_upper_others[certified])
    single = rs.certify(model, x, noise, 20, n, alpha, adversary=adversary, seed=99)
    assert single.p_upper_others is None
    assert res.radius.mean() > single.radius.mean()


def test_cli_flag():
    args = build_parser().parse_args(["certify", "--model", "m:f", "--data", "d.pt", "--out", "o.tsv", "--top2"])
    assert args.top2 is True
    args = build_parser().parse_args(["certify", "--model", "m:f", "--data", "d.pt", "--out", "o.tsv"])
    assert args.top2 is False


def test_top2_argument_errors():
    model = ThreeWay(0.5)
    with pytest.raises(TypeError, match="top2 must be a bool"):
        rs.certify(model, torch.zeros(2, 2), rs.Gaussian(sigma=1.0), 10, 10, 0.1, top2="yes")


def test_top2_forms_apply_only_to_the_noise_they_are_derived_for():
    """A pA/pB form is used only where every shape parameter matches its derivation: Exp2(k=2, j>0) is not a
    Gaussian, so it falls back to the single-bound radius at p_A (p_B = 1 - p_A adds nothing)."""
    from rsmooth_ext.certificates import registry
    assert [c.radius.__name__ for c in registry.top2_forms(rs.Exp2(k=2.0, dim=4, lambd=1.0), "l2")] == [
        "exp2_l2_k2_top2"]
    for noise in (rs.Exp2(k=2.0, j=1.0, dim=4, lambd=1.0), rs.Exp2(k=1.0, dim=4, lambd=1.0)):
        assert registry.top2_forms(noise, "l2") == []
    n = rs.Exp2(k=2.0, j=1.0, dim=2, lambd=1.0)
    single = n.certify(0.7, "l2")
    assert certify_top2(n, np.array([0.7]), np.array([0.3]), "l2")[0] == pytest.approx(single, rel=1e-12)
