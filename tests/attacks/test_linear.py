"""PGD and DDN against a base classifier whose smoothed classifier under Gaussian noise is known in closed form.

The model's class-1 probability is Phi(a u) with margin u = w.x + b (its logits are log Phi(-a u) and log Phi(a u),
whose softmax is exactly that pair). Under x + N(0, sigma^2 I), w.eps ~ N(0, sigma^2 ||w||^2), and
E[Phi(a (u + s Z))] = Phi(a u / sqrt(1 + a^2 s^2)): the soft smoothed classifier is Phi(kappa u) with
kappa = a / sqrt(1 + a^2 sigma^2 ||w||^2) (as a grows, the hard one, Phi(u / (sigma ||w||))). The objective, exact
or estimated on fixed copies, depends on x only through u, so the worst case in an l_p ball of radius eps moves
x against the true class by eps ||w||_q (q the dual norm): along -w / ||w||_2 (l2), -sign(w) (l_inf), or the
largest |w_j| alone (l1)."""

import math

import pytest
import torch
from support import Z_THRESHOLD

import rsmooth_ext as rs
from rsmooth_ext.attacks import SmoothedObjective, attack, lp_norm

SIGMA = 0.5
D = (1, 4, 4)


class ProbitLinear(torch.nn.Module):
    def __init__(self, w: torch.Tensor, b: float, a: float):
        super().__init__()
        self.register_buffer("w", w.flatten().float())
        self.b, self.a = float(b), float(a)

    def margin(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float() @ self.w + self.b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.a * self.margin(x)
        return torch.stack([torch.special.log_ndtr(-u), torch.special.log_ndtr(u)], dim=1)

    def kappa(self, sigma: float) -> float:
        return self.a / math.sqrt(1 + self.a**2 * sigma**2 * float(self.w.norm()) ** 2)

    def smoothed_loss(self, margin: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
        """-log F_soft(x)_y of the soft smoothed classifier at margin u, in float64."""
        t = self.kappa(sigma) * margin.double()
        return -torch.special.log_ndtr(torch.where(y == 1, t, -t))


def _setup(seed: int = 0, batch: int = 6):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, generator=g)
    model = ProbitLinear(w, b=0.0, a=2.0)
    x = 0.3 + 0.4 * torch.rand(batch, *D, generator=g)  # inside [0.3, 0.7]: the box never binds below
    y = (model.margin(x) > 0).long()  # the class each input is on the side of
    return model, x, y


def _dual_norm(w: torch.Tensor, norm: str) -> float:
    return float({"l2": w.norm(), "linf": w.abs().sum(), "l1": w.abs().max()}[norm])


def _worst_direction(w: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit-norm perturbation that lowers the margin the most."""
    if norm == "l2":
        return -w / w.norm()
    if norm == "linf":
        return -torch.sign(w)
    out = torch.zeros_like(w)
    j = int(w.abs().argmax())
    out[j] = -torch.sign(w[j])
    return out


@pytest.mark.parametrize("gradient", ["soft", "eot"])
@pytest.mark.parametrize("norm,eps", [("l2", 0.25), ("l2", 0.5), ("linf", 0.05), ("l1", 0.25)])
def test_pgd_finds_the_worst_case_direction(norm, eps, gradient):
    model, x, y = _setup()
    adv = attack(model, x, y, rs.Gaussian(sigma=SIGMA), eps, 20, 64, seed=3, norm=norm, gradient=gradient)
    delta = (adv - x).flatten(1)
    sign = torch.where(y == 1, 1.0, -1.0).view(-1, 1)  # against class 1: lower the margin; against class 0: raise it
    expected = sign * eps * _worst_direction(model.w, norm)
    assert torch.allclose(delta, expected, atol=2e-5 * max(1.0, eps * 16))
    assert torch.allclose(lp_norm(adv - x, norm), torch.full((len(x),), eps), rtol=1e-4)


@pytest.mark.parametrize("norm,eps", [("l2", 0.25), ("l2", 0.5), ("linf", 0.05), ("l1", 0.25)])
def test_pgd_loss_increase_matches_the_analytic_one(norm, eps):
    model, x, y = _setup(seed=1)
    noise, m = rs.Gaussian(sigma=SIGMA), 4096
    adv = attack(model, x, y, noise, eps, 20, m, seed=5, norm=norm)
    u, u_adv = model.margin(x), model.margin(adv)
    shift = eps * _dual_norm(model.w, norm) * torch.where(y == 1, -1.0, 1.0)
    analytic = model.smoothed_loss(u + shift, y, SIGMA) - model.smoothed_loss(u, y, SIGMA)
    exact = model.smoothed_loss(u_adv, y, SIGMA) - model.smoothed_loss(u, y, SIGMA)
    assert torch.allclose(exact, analytic, rtol=1e-4, atol=1e-6)
    # the attack's own Monte Carlo objective (its fixed copies) agrees within its sampling error: the delta method
    # gives sd(-log mean q) = sd(q) / (sqrt(m) mean q) at each point
    objective = SmoothedObjective(model, noise, m, 5, torch.arange(len(x)))
    estimated, tolerance = [], 0.0
    for point in (x, adv):
        q = objective.log_probs(point).detach().exp().gather(2, y.view(-1, 1, 1).expand(-1, m, 1)).squeeze(2)
        estimated.append(-torch.log(q.mean(dim=1)).double())
        tolerance = tolerance + Z_THRESHOLD * (q.std(dim=1) / (math.sqrt(m) * q.mean(dim=1))).double()
    assert torch.all((estimated[1] - estimated[0] - analytic).abs() <= tolerance)
    assert torch.all(analytic > 0)


def test_ddn_stops_just_past_the_decision_boundary():
    """Inputs the soft smoothed classifier (as estimated on the attack's copies) gets right, at distance d* from
    where that estimate flips along -w: with a budget of 3 d*, DDN returns a point it gets wrong, along -w, at a
    norm between d* and d* (1 + gamma)^2 (its norm moves by the factor 1 +- gamma per step)."""
    w = torch.randn(D, generator=torch.Generator().manual_seed(2)).flatten()
    model = ProbitLinear(w, b=-0.5 * float(w.sum()), a=2.0)  # margin 0 at x = 0.5
    y = torch.tensor([1, 1, 0, 0])
    side = torch.where(y == 1, 1.0, -1.0).view(-1, 1)
    x = (0.5 + side * torch.tensor([0.08, 0.1, 0.15, 0.1]).view(-1, 1) * w / w.norm()).reshape(-1, *D)
    noise, m, seed = rs.Gaussian(sigma=SIGMA), 512, 1
    objective = SmoothedObjective(model, noise, m, seed, torch.arange(len(x)))
    along = (-side * w / w.norm()).reshape(-1, *D)
    low, high = torch.zeros(len(x)), torch.full((len(x),), 0.5)
    for _ in range(40):  # bisection for the distance at which the estimated soft prediction flips
        mid = (low + high) / 2
        wrong = objective.evaluate(x + mid.view(-1, 1, 1, 1) * along, y).prediction != y
        high, low = torch.where(wrong, mid, high), torch.where(wrong, low, mid)
    boundary = high
    assert torch.all(boundary > 0.01) and torch.all(boundary < 0.25)
    adv = attack(model, x, y, noise, float(3 * boundary.max()), 100, m, seed=seed, method="ddn")
    delta = (adv - x).flatten(1)
    norms = delta.norm(dim=1)
    cosine = (delta * (-side * w)).sum(dim=1) / (norms * w.norm())
    assert torch.all(cosine > 0.9999)
    assert torch.all(norms >= boundary * (1 - 1e-3)) and torch.all(norms <= boundary * 1.05**2)
    assert torch.all(objective.evaluate(adv, y).prediction != y)


def test_ddn_on_a_robust_input_ends_on_the_eps_sphere_along_minus_w():
    model, x, y = _setup(seed=3)
    distance = model.margin(x).abs() / model.w.norm()
    eps = float(distance.min()) / 2  # no input can be flipped
    adv = attack(model, x, y, rs.Gaussian(sigma=SIGMA), eps, 40, 128, seed=2, method="ddn")
    delta = (adv - x).flatten(1)
    sign = torch.where(y == 1, 1.0, -1.0).view(-1, 1)
    assert torch.allclose(delta, sign * eps * _worst_direction(model.w, "l2"), atol=1e-4)
