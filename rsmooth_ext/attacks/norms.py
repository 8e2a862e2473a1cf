"""The threat models of the attacks: per-input l_p norms, the steepest-ascent direction of a gradient under each
norm, and the projection of a perturbation onto the eps-ball intersected with the box [0, 1].

Every projection first clamps x + delta into [0, 1], then shrinks delta towards 0 coordinate-wise (l_inf: clamp;
l2: a common scale <= 1; l1: soft thresholding). A shrink keeps each coordinate of x + delta between x and the
clamped point, both in [0, 1], so the result lies in the ball and in the box."""

from __future__ import annotations

import math

import torch

NORMS = ("l2", "linf", "l1")
DEFAULT_L1_SPARSITY = 0.01  # the l1 step moves the top 1% of coordinates (at least one): Tramer & Boneh's SLIDE


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _per_input(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def lp_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """(B,) float32 norms of each input's perturbation."""
    flat = _flat(delta.float())
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    if norm == "linf":
        return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(flat.shape[0])
    return flat.abs().sum(dim=1)


def steepest_direction(grad: torch.Tensor, norm: str, l1_sparsity: float = DEFAULT_L1_SPARSITY) -> torch.Tensor:
    """The unit-norm direction of steepest ascent of a linear function with this gradient: g / ||g||_2 (l2),
    sign(g) (l_inf), sign(g) on the top ``l1_sparsity`` fraction of |g| (at least one coordinate), scaled to l1
    norm 1 (l1). A zero gradient gives a zero direction: nothing says where to go."""
    g = grad.float()
    flat = _flat(g)
    if norm == "l2":
        n = flat.norm(p=2, dim=1)
        return g / _per_input(torch.where(n > 0, n, torch.ones_like(n)), g)
    if norm == "linf":
        return torch.sign(g)
    k = max(1, math.ceil(l1_sparsity * flat.shape[1]))
    threshold = flat.abs().topk(k, dim=1).values[:, -1:]
    chosen = (flat.abs() >= threshold) & (flat != 0)
    direction = torch.sign(flat) * chosen
    count = chosen.sum(dim=1, keepdim=True).clamp(min=1)
    return (direction / count).reshape(g.shape)


def project_l1(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Euclidean projection of each row onto the l1 ball of radius eps (Duchi et al. 2008: soft thresholding at
    the level that makes the l1 norm eps)."""
    flat = _flat(delta)
    magnitude = flat.abs()
    inside = magnitude.sum(dim=1) <= eps
    ordered = magnitude.sort(dim=1, descending=True).values
    cumulative = ordered.cumsum(dim=1)
    ranks = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
    # the largest rank rho with ordered[rho] > (cumulative[rho] - eps) / rho fixes the threshold
    candidates = ordered - (cumulative - eps) / ranks > 0
    rho = candidates.float().cumsum(dim=1).argmax(dim=1)  # last True index (the condition holds on a prefix)
    theta = ((cumulative.gather(1, rho.view(-1, 1)) - eps) / (rho.view(-1, 1) + 1).to(flat.dtype)).clamp(min=0)
    shrunk = torch.sign(flat) * (magnitude - theta).clamp(min=0)
    return torch.where(inside.view(-1, 1), flat, shrunk).reshape(delta.shape)


def project(x: torch.Tensor, delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """delta moved into {d : ||d||_p <= eps, 0 <= x + d <= 1} (see the module docstring)."""
    delta = (x + delta).clamp(0.0, 1.0) - x
    if norm == "linf":
        return delta.clamp(-eps, eps)
    if norm == "l2":
        n = lp_norm(delta, "l2")
        scale = torch.where(n > eps, eps / torch.where(n > 0, n, torch.ones_like(n)), torch.ones_like(n))
        return delta * _per_input(scale, delta).to(delta.dtype)
    return project_l1(delta, eps)
