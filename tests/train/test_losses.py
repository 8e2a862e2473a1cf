"""The smoothed log-likelihood estimator: consistent, biased upwards like 1/K, differentiable."""

import math

import pytest
import torch
from scipy import stats
from support import Z_THRESHOLD

import rsmooth_ext as rs


class ProbitModel(torch.nn.Module):
    """Class probabilities (1 - Phi(a z), Phi(a z)) of the first coordinate z: under Gaussian noise of
    std s the soft smoothed probability of class 1 is Phi(a x / sqrt(1 + a^2 s^2)) in closed form."""

    def __init__(self, a=1.0):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(float(a)))

    def forward(self, x):
        z = self.a * x.flatten(1)[:, 0].double()
        return torch.stack([torch.special.log_ndtr(-z), torch.special.log_ndtr(z)], dim=1)


def exact_nll(x1, a, s):
    return -stats.norm.logcdf(a * x1 / math.sqrt(1 + a * a * s * s))


def test_consistent_as_num_samples_grows():
    x, y = torch.tensor([[0.3, 0.0]]), torch.tensor([1])
    loss = rs.smoothed_log_likelihood(ProbitModel(), x, y, rs.Gaussian(sigma=1.0), 200000, seed=0)
    assert loss.item() == pytest.approx(exact_nll(0.3, 1.0, 1.0), abs=0.01)


def test_bias_shrinks_like_one_over_k():
    """Average of many independent estimates (one per input id) minus the exact value, against the
    second-order bias Var[q] / (2 K E[q]^2)."""
    model, noise, x1 = ProbitModel(), rs.Gaussian(sigma=1.0), 0.2
    rows = 40000
    x = torch.zeros(rows, 2)
    x[:, 0] = x1
    y = torch.ones(rows, dtype=torch.long)
    # E[q] and Var[q] for q = Phi(x1 + eps), eps ~ N(0, 1)
    grid = torch.linspace(-9, 9, 20001, dtype=torch.float64)
    w = torch.exp(-grid**2 / 2) / math.sqrt(2 * math.pi) * (grid[1] - grid[0])
    q = torch.special.ndtr(x1 + grid)
    mean_q, var_q = float((w * q).sum()), float((w * q * q).sum()) - float((w * q).sum()) ** 2
    exact = exact_nll(x1, 1.0, 1.0)
    for k in (4, 16):
        est = rs.smoothed_log_likelihood(model, x, y, noise, k, seed=k).detach()
        bias = est.mean().item() - exact
        predicted = var_q / (2 * k * mean_q**2)
        se = est.std().item() / math.sqrt(rows)
        # the Taylor bias is exact to O(1/K^2); allow that plus sampling error
        assert abs(bias - predicted) < Z_THRESHOLD * se + 0.5 * predicted / k, (k, bias, predicted)
        assert bias > 0


def test_gradients_reach_the_model():
    model = ProbitModel(0.5)
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    loss = rs.smoothed_log_likelihood(model, x, y, rs.Laplace(sigma=0.5), 5, seed=1).mean()
    loss.backward()
    assert model.a.grad is not None and torch.isfinite(model.a.grad)


def test_bad_labels_shape():
    with pytest.raises(ValueError, match=r"y must be a \(B,\) tensor"):
        rs.smoothed_log_likelihood(ProbitModel(), torch.randn(3, 2), torch.zeros(2, dtype=torch.long),
                                   rs.Gaussian(sigma=1.0), 2, seed=0)
