"""The training losses of the field's methods, as functions of the model's outputs on noisy copies.

Each takes ``logits`` of shape (B, m, K): row b, copy j is the model's output on copy j of input b (the
layout of ``perturb``'s output reshaped to (B, m, K)), the labels ``y`` (B,), and the method's
hyperparameters; each returns the batch mean (a 0-d tensor, differentiable). The losses are computed in
float32 whatever the logits' dtype (under autocast the model may return bfloat16 / float16).

``smoothed_log_likelihood`` is the spec's estimator run end to end (it draws the copies itself)."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .._checks import check_int
from .._ops import perturb
from ..noises import Noise
from ..seeding import Phase, resolve_seed


def _check_logits(logits, y, name: str = "logits") -> torch.Tensor:
    """``logits`` as a float32 (B, m, K) tensor with labels ``y`` (B,) in [0, K)."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise ValueError(f"{name} must be a (B, m, K) tensor (copy j of input b at [b, j]), "
                         f"got {getattr(logits, 'shape', type(logits).__name__)}")
    if not isinstance(y, torch.Tensor) or y.shape != (logits.shape[0],):
        raise ValueError(f"y must be a (B,) tensor of class indices with B = {logits.shape[0]}, "
                         f"got {getattr(y, 'shape', type(y).__name__)}")
    if logits.shape[2] < 2:
        raise ValueError(f"{name} must have K >= 2 classes, got K = {logits.shape[2]}")
    return logits.float()


def _check_weight(name: str, value, owner: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{owner}: {name} must be a finite real number, got {value!r}")
    if float(value) < 0 or (positive and float(value) == 0):
        raise ValueError(f"{owner}: {name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _labels_per_copy(y: torch.Tensor, m: int) -> torch.Tensor:
    return y.to(torch.int64).view(-1, 1).expand(-1, m).reshape(-1)


def gaussian_augmentation_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cohen, Rosenfeld & Kolter 2019 ("Certified Adversarial Robustness via Randomized Smoothing"): the
    cross-entropy of the base classifier on noisy copies, averaged over the m copies and the batch. Their
    train.py draws one copy per example per step (m = 1)."""
    logits = _check_logits(logits, y)
    b, m, k = logits.shape
    return F.cross_entropy(logits.reshape(b * m, k), _labels_per_copy(y.to(logits.device), m))


def smoothed_nll_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The spec's estimator of the soft smoothed classifier's negative log-likelihood (appendix "Loss
    Estimators for the Smoothed Classifier"; rs4a's ``--direct``): -log((1/m) sum_j softmax(logits[b, j])_y),
    averaged over the batch, computed as -(logsumexp_j log_softmax - log m) so no probability underflows.

    It estimates -log F_soft(x)_y. The estimator is consistent as m grows and biased upwards (Jensen:
    E[-log mean q] >= -log E[q]), by about Var[q] / (2 m E[q]^2) with q = softmax(model(x + eps))_y: the bias
    shrinks like 1/m, so few copies train a slightly pessimistic objective."""
    return _smoothed_nll_per_input(_check_logits(logits, y), y).mean()


def _smoothed_nll_per_input(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    m = logits.shape[1]
    log_probs = torch.log_softmax(logits, dim=2)
    picked = log_probs.gather(2, y.to(logits.device, torch.int64).view(-1, 1, 1).expand(-1, m, 1)).squeeze(2)
    return -(torch.logsumexp(picked, dim=1) - math.log(m))


STABILITY_LAMBDA = 6.0  # rs4a's train.py (Yang et al. 2020's runs of Li et al.'s stability training)


def stability_loss(logits: torch.Tensor, clean_logits: torch.Tensor, y: torch.Tensor,
                   lambd: float = STABILITY_LAMBDA) -> torch.Tensor:
    """Li, Chen, Wang & Carin 2019 ("Certified Adversarial Robustness with Additive Noise"), stability
    training: cross-entropy on the clean input plus ``lambd`` times KL(p(x) || p(x + eps)), the divergence of
    each noisy copy's softmax from the clean softmax, averaged over the m copies and the batch.
    ``clean_logits``: (B, K). Default lambd = 6 as in rs4a's train.py."""
    logits = _check_logits(logits, y)
    lambd = _check_weight("lambd", lambd, "stability_loss")
    if not isinstance(clean_logits, torch.Tensor) or clean_logits.shape != (logits.shape[0], logits.shape[2]):
        raise ValueError(f"clean_logits must be a (B, K) = ({logits.shape[0]}, {logits.shape[2]}) tensor, "
                         f"got {getattr(clean_logits, 'shape', type(clean_logits).__name__)}")
    clean_log = torch.log_softmax(clean_logits.float(), dim=1)
    noisy_log = torch.log_softmax(logits, dim=2)
    kl = (clean_log.exp().unsqueeze(1) * (clean_log.unsqueeze(1) - noisy_log)).sum(dim=2)  # (B, m)
    return F.cross_entropy(clean_log, y.to(logits.device, torch.int64)) + lambd * kl.mean()


CONSISTENCY_LAMBDA = 20.0  # Jeong & Shin 2020, their CIFAR-10 script at sigma = 0.25 (10 at sigma = 0.5)
CONSISTENCY_ETA = 0.5


def consistency_loss(logits: torch.Tensor, y: torch.Tensor, lambd: float = CONSISTENCY_LAMBDA,
                     eta: float = CONSISTENCY_ETA) -> torch.Tensor:
    """Jeong & Shin 2020 ("Consistency Regularization for Certified Robustness of Smoothed Classifiers"):
    the mean cross-entropy over the m copies, plus ``lambd`` times the mean over copies of KL(p_avg || p_j)
    (p_j the softmax of copy j, p_avg their average: the direction of their code, F.kl_div(log p_j, p_avg)),
    plus ``eta`` times the entropy of p_avg. Their CIFAR-10 runs: m = 2, eta = 0.5, lambd = 20 (sigma = 0.25)
    or 10 (sigma = 0.5)."""
    logits = _check_logits(logits, y)
    lambd = _check_weight("lambd", lambd, "consistency_loss")
    eta = _check_weight("eta", eta, "consistency_loss")
    b, m, k = logits.shape
    log_p = torch.log_softmax(logits, dim=2)
    log_avg = torch.logsumexp(log_p, dim=1) - math.log(m)  # (B, K), log of the mean softmax
    avg = log_avg.exp()
    kl = (avg.unsqueeze(1) * (log_avg.unsqueeze(1) - log_p)).sum(dim=2).mean(dim=1)  # (B,)
    entropy = -(avg * log_avg).sum(dim=1)
    ce = F.cross_entropy(logits.reshape(b * m, k), _labels_per_copy(y.to(logits.device), m))
    return ce + (lambd * kl + eta * entropy).mean()


MACER_LAMBDA, MACER_BETA, MACER_GAMMA = 12.0, 16.0, 8.0  # Zhai et al. 2020, CIFAR-10 (m = 16 copies)
_MACER_LOG_EPS = 1e-10  # their code: log(mean softmax + 1e-10)


def macer_loss(logits: torch.Tensor, y: torch.Tensor, sigma: float, lambd: float = MACER_LAMBDA,
               beta: float = MACER_BETA, gamma: float = MACER_GAMMA) -> torch.Tensor:
    """Zhai et al. 2020 ("MACER: Attack-free and Scalable Robust Training via Maximizing Certified Radius"):
    the soft smoothed classifier's NLL -log(mean_j softmax(logits[b, j])_y + 1e-10), plus ``lambd`` times
    the hinge on the certified radius of the ``beta``-scaled soft smoothed classifier
    p_hat = mean_j softmax(beta * logits[b, j]):

        (sigma / 2) * max(0, gamma - (Phi^-1(p_hat_top) - Phi^-1(p_hat_runner-up)))

    over the inputs whose top class of p_hat is the label, and (as in their code) only where the radius
    difference is finite and at most gamma. Both terms are summed over the batch and divided by B.
    Defaults (CIFAR-10): lambd = 12, beta = 16, gamma = 8, m = 16."""
    logits = _check_logits(logits, y)
    sigma = _check_weight("sigma", sigma, "macer_loss", positive=True)
    lambd = _check_weight("lambd", lambd, "macer_loss")
    beta = _check_weight("beta", beta, "macer_loss", positive=True)
    gamma = _check_weight("gamma", gamma, "macer_loss", positive=True)
    y = y.to(logits.device, torch.int64)
    b = logits.shape[0]
    soft = torch.softmax(logits, dim=2).mean(dim=1)
    nll = -torch.log(soft.gather(1, y.view(-1, 1)).squeeze(1) + _MACER_LOG_EPS)
    scaled = torch.softmax(beta * logits, dim=2).mean(dim=1)
    top2, top2_idx = scaled.topk(2, dim=1)
    with torch.no_grad():
        gap = torch.special.ndtri(top2[:, 0]) - torch.special.ndtri(top2[:, 1])
        counted = (top2_idx[:, 0] == y) & torch.isfinite(gap) & (gap <= gamma)
    # recomputed on the counted inputs only: an infinite gap elsewhere would make the gradient NaN (inf * 0)
    kept = top2[counted]
    hinge = gamma - (torch.special.ndtri(kept[:, 0]) - torch.special.ndtri(kept[:, 1]))
    return nll.sum() / b + lambd * (sigma / 2) * hinge.sum() / b


def smoothed_log_likelihood(model, x: torch.Tensor, y: torch.Tensor, noise: Noise, num_samples: int, *,
                            seed=None, offset: int = 0) -> torch.Tensor:
    """Per-input loss -log((1/K) sum_k softmax(model(x + eps_k))_y) with K = ``num_samples`` noisy copies
    (a (B,) tensor, differentiable with respect to the model's parameters); ``smoothed_nll_loss`` is its
    batch mean as a function of the logits.

    It estimates -log F_soft(x)_y, the soft smoothed classifier's negative log-likelihood. The estimator is
    consistent as K grows and biased upwards (Jensen), by about Var[q] / (2 K E[q]^2) with
    q = softmax(model(x + eps))_y: the bias shrinks like 1/K. Use a new ``seed`` (or offset) every step."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a batch (B, *shape) tensor")
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        raise ValueError(f"y must be a (B,) tensor of class indices, got {getattr(y, 'shape', y)}")
    k = check_int("num_samples", num_samples, 1)
    noisy = perturb(x.detach(), noise, k, seed=resolve_seed(seed), offset=offset, phase=Phase.TRAINING)
    return _smoothed_nll_per_input(model(noisy).float().reshape(x.shape[0], k, -1), y)
