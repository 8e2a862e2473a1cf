"""Every attack stays in the eps-ball of its norm and in [0, 1], whatever the norm, budget, method, gradient and
input (pixels at 0 and 1 included); the projection alone, over many random perturbations, and the l1 projection
against a bisection for its threshold."""

import pytest
import torch

import rsmooth_ext as rs
from rsmooth_ext.attacks import attack, lp_norm, project
from rsmooth_ext.attacks.norms import project_l1

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")
given, settings = hypothesis.given, hypothesis.settings

SLACK = 1e-5  # float32 rounding of a norm of ~50 elements


def _small_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3))


def _inputs(seed: int, batch: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 2, 5, 5, generator=g)
    x[:, 0, :2] = 0.0  # pixels on the box's faces: the projection must keep them inside
    x[:, 1, :2] = 1.0
    return x


MODEL = _small_cnn().eval()


@settings(max_examples=30, deadline=None)
@given(norm=st.sampled_from(["l2", "linf", "l1"]), eps=st.floats(0.0, 4.0), steps=st.integers(1, 6),
       method=st.sampled_from(["pgd", "ddn"]), gradient=st.sampled_from(["soft", "eot"]),
       seed=st.integers(0, 2**31), step_size=st.one_of(st.none(), st.floats(1e-3, 10.0)),
       noise=st.sampled_from([rs.Gaussian(sigma=0.5), rs.Laplace(sigma=0.5), rs.Masking(keep=0.7)]))
def test_an_attack_never_leaves_the_ball_or_the_box(norm, eps, steps, method, gradient, seed, step_size, noise):
    if method == "ddn":
        norm = "l2"
    x = _inputs(seed % 1000)
    y = torch.tensor([0, 1, 2])
    adv = attack(MODEL, x, y, noise, eps, steps, 4, seed=seed, norm=norm, method=method,
                 gradient=gradient, step_size=step_size)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert torch.all(lp_norm(adv - x, norm) <= eps * (1 + SLACK) + 1e-6)


@settings(max_examples=200, deadline=None)
@given(norm=st.sampled_from(["l2", "linf", "l1"]), eps=st.floats(0.0, 5.0), scale=st.floats(0.0, 10.0),
       seed=st.integers(0, 2**31))
def test_projection_lands_in_the_ball_and_the_box(norm, eps, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = _inputs(seed % 1000)
    delta = scale * torch.randn(x.shape, generator=g)
    out = project(x, delta, norm, eps)
    assert float((x + out).min()) >= -1e-6 and float((x + out).max()) <= 1 + 1e-6
    assert torch.all(lp_norm(out, norm) <= eps * (1 + SLACK) + 1e-6)
    inside = lp_norm((x + delta).clamp(0, 1) - x, norm) <= eps
    kept = ((x + delta).clamp(0, 1) - x)[inside]
    assert torch.allclose(out[inside], kept, atol=1e-6)  # a feasible point is left where it is


@pytest.mark.parametrize("seed", range(5))
def test_l1_projection_matches_bisection_for_its_threshold(seed):
    g = torch.Generator().manual_seed(seed)
    delta = torch.randn(4, 30, generator=g, dtype=torch.float64)
    eps = 2.0
    out = project_l1(delta, eps)
    low, high = torch.zeros(4, 1, dtype=torch.float64), delta.abs().amax(dim=1, keepdim=True)
    for _ in range(200):  # the threshold theta with sum(max(|d| - theta, 0)) = eps
        mid = (low + high) / 2
        over = (delta.abs() - mid).clamp(min=0).sum(dim=1, keepdim=True) > eps
        low, high = torch.where(over, mid, low), torch.where(over, high, mid)
    expected = torch.sign(delta) * (delta.abs() - high).clamp(min=0)
    assert torch.allclose(out, expected, atol=1e-9)
    assert torch.allclose(out.abs().sum(dim=1), torch.full((4,), eps, dtype=torch.float64))
