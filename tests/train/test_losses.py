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


# ---- the methods' losses against their papers' formulas, written out term by term on fixed logits ----------

def fixed_logits(b=6, m=4, k=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, m, k, generator=g, dtype=torch.float64) * scale, torch.randint(0, k, (b,), generator=g)


def softmax_row(z):
    e = [math.exp(v - max(z)) for v in z]
    return [v / sum(e) for v in e]


def direct_gaussian(z, y):
    b, m, _ = z.shape
    return sum(-math.log(softmax_row(z[i, j].tolist())[y[i]]) for i in range(b) for j in range(m)) / (b * m)


def direct_smoothed_nll(z, y):
    b, m, _ = z.shape
    return sum(-math.log(sum(softmax_row(z[i, j].tolist())[y[i]] for j in range(m)) / m) for i in range(b)) / b


def kl(p, q):
    return sum(pk * math.log(pk / qk) for pk, qk in zip(p, q))


def direct_stability(z, clean, y, lambd):
    b, m, _ = z.shape
    total = 0.0
    for i in range(b):
        pc = softmax_row(clean[i].tolist())
        total += -math.log(pc[y[i]]) + lambd * sum(kl(pc, softmax_row(z[i, j].tolist())) for j in range(m)) / m
    return total / b


def average(rows):
    return [sum(col) / len(rows) for col in zip(*rows)]


def direct_consistency(z, y, lambd, eta):
    b, m, _ = z.shape
    total = 0.0
    for i in range(b):
        ps = [softmax_row(z[i, j].tolist()) for j in range(m)]
        avg = average(ps)
        ce = sum(-math.log(p[y[i]]) for p in ps) / m
        total += ce + lambd * sum(kl(avg, p) for p in ps) / m + eta * -sum(a * math.log(a) for a in avg)
    return total / b


def direct_macer(z, y, sigma, lambd, beta, gamma):
    """Zhai et al. 2020, eq. for the MACER objective: (1/B) sum [ -log g_y + lambd sigma/2 max(0, gamma - xi) ]
    with xi = Phi^-1(top) - Phi^-1(second) of the beta-scaled soft classifier, over correct inputs with
    xi <= gamma (their code's filter). Returns (value, number of inputs in the hinge)."""
    b, m, _ = z.shape
    total, hinged = 0.0, 0
    for i in range(b):
        g = average([softmax_row(z[i, j].tolist()) for j in range(m)])
        total += -math.log(g[y[i]] + 1e-10)
        gb = average([softmax_row((beta * z[i, j]).tolist()) for j in range(m)])
        order = sorted(range(len(gb)), key=lambda c: -gb[c])
        if order[0] != y[i]:
            continue
        xi = stats.norm.ppf(gb[order[0]]) - stats.norm.ppf(gb[order[1]])
        if math.isfinite(xi) and xi <= gamma:
            total += lambd * sigma / 2 * (gamma - xi)
            hinged += 1
    return total / b, hinged


def test_gaussian_loss_is_the_mean_cross_entropy_over_copies():
    z, y = fixed_logits()
    assert rs.train.gaussian_augmentation_loss(z, y).item() == pytest.approx(direct_gaussian(z, y), rel=1e-6)


def test_smoothed_nll_loss_is_minus_log_mean_softmax():
    z, y = fixed_logits(scale=8.0)  # large logits: the log-sum-exp form must not underflow
    assert rs.train.smoothed_nll_loss(z, y).item() == pytest.approx(direct_smoothed_nll(z, y), rel=1e-6)


def test_stability_loss_is_clean_cross_entropy_plus_kl_clean_to_noisy():
    z, y = fixed_logits()
    clean = fixed_logits(seed=1)[0][:, 0]
    for lambd in (0.0, 6.0, 0.5):
        got = rs.train.stability_loss(z, clean, y, lambd).item()
        assert got == pytest.approx(direct_stability(z, clean, y, lambd), rel=1e-6)


def test_consistency_loss_is_cross_entropy_plus_kl_average_to_copy_plus_entropy():
    z, y = fixed_logits()
    for lambd, eta in ((20.0, 0.5), (10.0, 0.5), (3.0, 0.0), (0.0, 1.0)):
        got = rs.train.consistency_loss(z, y, lambd, eta).item()
        assert got == pytest.approx(direct_consistency(z, y, lambd, eta), rel=1e-6)


def test_macer_loss_matches_the_papers_objective_with_and_without_hinged_inputs():
    z, y = fixed_logits(b=40, m=4, k=3, scale=1.0)
    y = z.mean(1).argmax(1)  # mostly correct inputs, so the hinge term is exercised
    y[:5] = (y[:5] + 1) % 3  # and some wrong ones, which it must skip
    for sigma, lambd, beta, gamma in ((0.25, 12.0, 16.0, 8.0), (0.5, 12.0, 1.0, 8.0), (1.0, 3.0, 2.0, 0.5)):
        expected, hinged = direct_macer(z, y, sigma, lambd, beta, gamma)
        assert 0 < hinged < 35, hinged  # the filter both keeps and drops inputs here
        got = rs.train.macer_loss(z, y, sigma, lambd, beta, gamma).item()
        assert got == pytest.approx(expected, rel=1e-6)


def test_macer_skips_infinite_radius_gaps():
    """A saturated beta-scaled classifier (top probability 1) has an infinite gap: their code drops it."""
    z = torch.tensor([[[100.0, 0.0], [100.0, 0.0]]])
    y = torch.tensor([0])
    loss = rs.train.macer_loss(z, y, sigma=0.5)
    assert loss.item() == pytest.approx(-math.log(1.0 + 1e-10), abs=1e-7)


@pytest.mark.parametrize("name", ["gaussian", "smoothed-nll", "stability", "consistency", "macer"])
def test_losses_are_differentiable_and_accept_half_precision_logits(name):
    z, y = fixed_logits(b=4, m=3, k=4, scale=1.0)
    z = z.to(torch.bfloat16).requires_grad_(True)
    clean = torch.zeros(4, 4, requires_grad=True)
    loss = {"gaussian": lambda: rs.train.gaussian_augmentation_loss(z, y),
            "smoothed-nll": lambda: rs.train.smoothed_nll_loss(z, y),
            "stability": lambda: rs.train.stability_loss(z, clean, y),
            "consistency": lambda: rs.train.consistency_loss(z, y),
            "macer": lambda: rs.train.macer_loss(z, y, 0.25, beta=1.0)}[name]()
    assert loss.dtype == torch.float32 and loss.dim() == 0
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad.float()).all() and z.grad.abs().sum() > 0


def test_smoothed_nll_loss_bias_shrinks_like_one_over_m():
    """Two classes with logits (0, z), z ~ N(mu, 1): q = sigmoid(z). The mean of many batch estimates minus
    -log E[q] against the second-order bias Var[q] / (2 m E[q]^2), at m = 2 and m = 8 (ratio 4)."""
    mu, rows = 0.3, 200000
    grid = torch.linspace(-10, 10, 40001, dtype=torch.float64)
    w = torch.exp(-grid**2 / 2) / math.sqrt(2 * math.pi) * (grid[1] - grid[0])
    q = torch.sigmoid(mu + grid)
    mean_q = float((w * q).sum())
    var_q = float((w * q * q).sum()) - mean_q**2
    biases = {}
    for m in (2, 8):
        g = torch.Generator().manual_seed(100 + m)
        z = torch.zeros(rows, m, 2, dtype=torch.float64)
        z[:, :, 1] = mu + torch.randn(rows, m, generator=g, dtype=torch.float64)
        y = torch.ones(rows, dtype=torch.long)
        per_row = rs.train.losses._smoothed_nll_per_input(z, y)
        bias = per_row.mean().item() + math.log(mean_q)
        se = per_row.std().item() / math.sqrt(rows)
        predicted = var_q / (2 * m * mean_q**2)
        assert abs(bias - predicted) < Z_THRESHOLD * se + 0.5 * predicted / m, (m, bias, predicted, se)
        biases[m] = bias
    assert biases[2] / biases[8] == pytest.approx(4.0, rel=0.25)


def test_bad_logits_and_weights_are_refused():
    z, y = fixed_logits(b=3)
    with pytest.raises(ValueError, match=r"logits must be a \(B, m, K\) tensor"):
        rs.train.gaussian_augmentation_loss(z[:, 0], y)
    with pytest.raises(ValueError, match=r"y must be a \(B,\) tensor of class indices with B = 3"):
        rs.train.consistency_loss(z, y[:2])
    with pytest.raises(ValueError, match=r"clean_logits must be a \(B, K\) = \(3, 5\) tensor"):
        rs.train.stability_loss(z, z, y)
    with pytest.raises(ValueError, match=r"consistency_loss: lambd must be >= 0, got -1"):
        rs.train.consistency_loss(z, y, lambd=-1)
    with pytest.raises(ValueError, match=r"macer_loss: sigma must be > 0, got 0"):
        rs.train.macer_loss(z, y, sigma=0)
    with pytest.raises(TypeError, match=r"macer_loss: gamma must be a finite real number, got nan"):
        rs.train.macer_loss(z, y, sigma=0.5, gamma=float("nan"))


def test_macer_gradient_stays_finite_when_some_gaps_are_infinite():
    z = torch.tensor([[[100.0, 0.0], [100.0, 0.0]], [[0.2, 0.0], [0.1, 0.0]]], requires_grad=True)
    loss = rs.train.macer_loss(z, torch.tensor([0, 0]), sigma=0.5, beta=1.0)
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad[1].abs().sum() > 0
