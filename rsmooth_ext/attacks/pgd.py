"""Projected gradient ascent on the attack objective (Salman et al. 2019's PGD on the soft smoothed classifier,
in l2; the same loop in l_inf and l1): from delta = 0, ``steps`` steps of ``step_size`` along the steepest-ascent
direction of the norm, each followed by the projection onto the eps-ball and [0, 1]. The last iterate is returned,
as in Salman et al.'s code."""

from __future__ import annotations

import torch

from .norms import project, steepest_direction
from .objective import SmoothedObjective


def pgd(objective: SmoothedObjective, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, norm: str,
        step_size: float, l1_sparsity: float) -> torch.Tensor:
    """The perturbation delta (B, *shape) after ``steps`` projected steps (arguments checked by ``attack``)."""
    delta = torch.zeros_like(x, dtype=torch.float32)
    x32 = x.float()
    for _ in range(steps):
        grad = objective.evaluate((x32 + delta).to(x.dtype), y).grad
        delta = project(x32, delta + step_size * steepest_direction(grad, norm, l1_sparsity), norm, eps)
    return delta
