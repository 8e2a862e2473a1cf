"""What an attack on the smoothed classifier maximises: the cross-entropy of the soft smoothed classifier estimated
on m noisy copies (Salman et al. 2019), or, for a model without the soft form, the mean of the cross-entropies on
the copies (expectation over transformation). Both differentiate through the fused ``perturb``.

The copies are a pure function of (seed, input id, copy, element, ``Phase.ATTACK``): the same at every step of one
attack (the objective is a fixed function of the input, so the steps climb one surface), new for each input id,
and independent of the noise PREDICT and CERTIFY draw (other phases), so an attack cannot fit the very samples
that later judge it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._ops import as_uint32_ids, perturb
from ..noises import Noise
from ..seeding import Phase

# soft: -log((1/m) sum_k softmax(f(x + eps_k))_y); eot: (1/m) sum_k -log softmax(f(x + eps_k))_y
GRADIENTS = ("soft", "eot")


@dataclass
class Evaluation:
    """The objective at one point: per-input loss (B,), its gradient with respect to the input (B, *shape), and the
    soft smoothed classifier's prediction on the same copies (B,)."""

    loss: torch.Tensor
    grad: torch.Tensor
    prediction: torch.Tensor


@dataclass
class SmoothedObjective:
    """The attack objective of ``model`` under ``noise`` with ``m`` fixed copies per input.

    ``autocast`` (a float dtype or None) runs the model under ``torch.autocast`` on the input's device with the
    copies written in that dtype; ``channels_last`` writes them channels_last. The loss is computed in float32.
    ``draw`` (``draw(x, m)`` -> the (B * m, *shape) copies, differentiable in x) replaces the attack's own copies:
    a training step attacks through the copies its loss then sees (Salman et al.'s fixed noise)."""

    model: torch.nn.Module
    noise: Noise
    m: int
    seed: int
    input_ids: torch.Tensor
    gradient: str = "soft"
    autocast: torch.dtype | None = None
    channels_last: bool = False
    draw: Callable[[torch.Tensor, int], torch.Tensor] | None = None
    max_label: int | None = None  # checked against the model's number of outputs at the first evaluation

    def copies(self, x: torch.Tensor) -> torch.Tensor:
        """The (B * m, *shape) noisy copies of x (input-major), differentiable in x."""
        if self.draw is not None:
            return self.draw(x, self.m)
        # uint32 ids (checked once by the attack): perturb reads nothing back to the host at each step
        return perturb(x, self.noise, self.m, seed=self.seed, input_ids=as_uint32_ids(self.input_ids),
                       out_dtype=self.autocast, channels_last=self.channels_last, phase=Phase.ATTACK)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, K) float32 log-softmax of the model on the m copies of each input (differentiable in x)."""
        copies = self.copies(x)
        if self.autocast is not None:
            with torch.autocast(device_type=x.device.type, dtype=self.autocast):
                logits = self.model(copies)
        else:
            logits = self.model(copies)
        if self.max_label is not None:
            if self.max_label >= logits.shape[-1]:
                raise ValueError(f"y must hold class indices below the model's {logits.shape[-1]} outputs, got "
                                 f"{self.max_label}")
            self.max_label = None
        return torch.log_softmax(logits.float(), dim=1).reshape(x.shape[0], self.m, -1)

    def losses(self, log_probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-input loss (B,) from the copies' log-probabilities (B, m, K)."""
        picked = log_probs.gather(2, y.view(-1, 1, 1).expand(-1, self.m, 1)).squeeze(2)  # (B, m)
        if self.gradient == "soft":
            # log of the mean softmax, as a logsumexp: no clamp, no underflow where one copy's probability is tiny
            return -(torch.logsumexp(picked, dim=1) - math.log(self.m))
        return -picked.mean(dim=1)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> Evaluation:
        """Loss, input gradient and soft prediction at ``x`` (no gradient reaches the model's parameters)."""
        point = x.detach().requires_grad_(True)
        with torch.enable_grad():
            log_probs = self.log_probs(point)
            loss = self.losses(log_probs, y)
            (grad,) = torch.autograd.grad(loss.sum(), point)  # inputs are independent: the sum's gradient is each's
        prediction = log_probs.detach().exp().mean(dim=1).argmax(dim=1)
        return Evaluation(loss.detach(), grad.detach(), prediction)
