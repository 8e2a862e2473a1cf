"""Decoupled direction and norm (Rony et al. 2019) on the attack objective, as Salman et al. 2019 run it on the
soft smoothed classifier: a unit step along the normalised gradient (step size cosine-annealed from 1 to 0.01),
then the perturbation rescaled to a norm that shrinks by ``gamma`` while the soft smoothed prediction is wrong
and grows by ``gamma`` while it is right, capped at eps (and at the farthest point of [0, 1]).

Unlike their code, the norm is capped at the budget eps during the attack (not only at the end) and an input
that never turns adversarial gets the last iterate, on the eps sphere, rather than no perturbation: at a fixed
budget that is the stronger attack. No 8-bit quantisation (it could leave the eps-ball)."""

from __future__ import annotations

import math

import torch

from .norms import lp_norm, project
from .objective import SmoothedObjective

DEFAULT_GAMMA = 0.05  # Rony et al.'s and Salman et al.'s norm factor
_FINAL_STEP_SIZE = 0.01  # the cosine schedule's floor in both codes


def _per_input(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def ddn(objective: SmoothedObjective, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
        gamma: float = DEFAULT_GAMMA, init_norm: float | None = None) -> torch.Tensor:
    """The perturbation delta (B, *shape): the smallest-norm adversarial iterate found within eps, else the last
    iterate (arguments checked by ``attack``). ``init_norm`` defaults to eps (Salman et al.'s setting)."""
    x32 = x.float()
    delta = torch.zeros_like(x32)
    farthest = lp_norm(torch.maximum(x32, 1 - x32), "l2")  # no perturbation inside [0, 1] is longer
    cap = torch.minimum(farthest, torch.full_like(farthest, eps))
    target = torch.minimum(torch.full_like(cap, eps if init_norm is None else init_norm), cap)
    best = torch.zeros_like(x32)
    best_norm = torch.full_like(cap, math.inf)
    for i in range(steps):
        evaluation = objective.evaluate((x32 + delta).to(x.dtype), y)
        norm_now = lp_norm(delta, "l2")
        adversarial = evaluation.prediction != y
        better = adversarial & (norm_now < best_norm)
        best = torch.where(_per_input(better, x32), delta, best)
        best_norm = torch.where(better, norm_now, best_norm)
        step_size = _FINAL_STEP_SIZE + (1 - _FINAL_STEP_SIZE) * (1 + math.cos(math.pi * (i + 1) / steps)) / 2
        grad = evaluation.grad.float()
        g = lp_norm(grad, "l2")
        delta = delta + step_size * grad / _per_input(torch.where(g > 0, g, torch.ones_like(g)), grad)
        target = torch.minimum(target * (1 - gamma * (2 * adversarial.float() - 1)), cap)
        d = lp_norm(delta, "l2")
        delta = delta * _per_input(torch.where(d > 0, target / torch.where(d > 0, d, torch.ones_like(d)),
                                               torch.zeros_like(d)), delta)
        delta = project(x32, delta, "l2", eps)
    # the last iterate may itself be adversarial and shorter than every earlier one
    final = objective.evaluate((x32 + delta).to(x.dtype), y)
    norm_now = lp_norm(delta, "l2")
    better = (final.prediction != y) & (norm_now < best_norm)
    best = torch.where(_per_input(better, x32), delta, best)
    found = torch.isfinite(best_norm) | better
    return torch.where(_per_input(found, x32), best, delta)
