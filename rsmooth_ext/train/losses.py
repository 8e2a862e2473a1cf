"""Training smoothed classifiers: the spec's Monte Carlo estimator of the soft smoothed classifier's
negative log-likelihood (appendix "Loss Estimators for the Smoothed Classifier")."""

from __future__ import annotations

import math

import torch

from .._checks import check_int
from .._ops import perturb
from ..noises import Noise
from ..seeding import Phase, resolve_seed


def smoothed_log_likelihood(model, x: torch.Tensor, y: torch.Tensor, noise: Noise, num_samples: int, *,
                            seed=None, offset: int = 0) -> torch.Tensor:
    """Per-input loss -log((1/K) sum_k softmax(model(x + eps_k))_y) with K = ``num_samples`` noisy copies
    (a (B,) tensor, differentiable with respect to the model's parameters).

    It estimates -log F_soft(x)_y, the soft smoothed classifier's negative log-likelihood. The estimator is
    consistent as K grows and biased upwards (Jensen), by about Var[q] / (2 K E[q]^2) with
    q = softmax(model(x + eps))_y: the bias shrinks like 1/K. Use a new ``seed`` (or offset) every step."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a batch (B, *shape) tensor")
    if not isinstance(y, torch.Tensor) or y.shape != (x.shape[0],):
        raise ValueError(f"y must be a (B,) tensor of class indices, got {getattr(y, 'shape', y)}")
    k = check_int("num_samples", num_samples, 1)
    noisy = perturb(x.detach(), noise, k, seed=resolve_seed(seed), offset=offset, phase=Phase.TRAINING)
    log_probs = torch.log_softmax(model(noisy).float(), dim=1).reshape(x.shape[0], k, -1)
    picked = log_probs.gather(2, y.to(log_probs.device).view(-1, 1, 1).expand(-1, k, 1)).squeeze(2)
    return -(torch.logsumexp(picked, dim=1) - math.log(k))
