"""``attack``: adversarial inputs against a smoothed classifier, one call for every method, norm and gradient,
with the argument checks they share."""

from __future__ import annotations

import math
import numbers

import torch

from .._checks import check_int
from .._ops import check_input_ids
from ..noises import Noise
from ..sampling.sampler import check_model_and_batch
from ..seeding import resolve_seed
from .ddn import DEFAULT_GAMMA, ddn
from .norms import DEFAULT_L1_SPARSITY, NORMS, lp_norm
from .objective import GRADIENTS, SmoothedObjective
from .pgd import pgd

METHODS = ("pgd", "ddn")
_AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check_real(name: str, value, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def _check_batch(model, x, y) -> None:
    check_model_and_batch(model, x)  # the sampling loop's checks: a callable model, a batch x on its device
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"x must be float32, float16 or bfloat16, got {x.dtype}")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(f"x must lie in [0, 1] (the attack projects onto that box), got values in "
                         f"[{float(x.min()):g}, {float(x.max()):g}]")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.shape != (x.shape[0],):
        raise ValueError(f"y must be an int64 tensor of shape ({x.shape[0]},) (one label per input), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"y must hold class indices >= 0, got {int(y.min())}")


def attack(model, x: torch.Tensor, y: torch.Tensor, noise: Noise, eps: float, steps: int, m: int, seed, *,
           norm: str = "l2", method: str = "pgd", gradient: str = "soft", step_size: float | None = None,
           input_ids: torch.Tensor | None = None, autocast: torch.dtype | None = None, channels_last: bool = False,
           gamma: float = DEFAULT_GAMMA, init_norm: float | None = None,
           l1_sparsity: float = DEFAULT_L1_SPARSITY, copies=None) -> torch.Tensor:
    """Adversarial inputs (B, *shape), in x's dtype, within ``eps`` of ``x`` in ``norm`` and inside [0, 1], against
    the smoothed classifier of ``model`` under ``noise``.

    The objective is the cross-entropy of the soft smoothed classifier, -log((1/m) sum_k softmax(f(x + eps_k))_y)
    (``gradient="soft"``, Salman et al. 2019), or the mean of the cross-entropies on the copies
    (``gradient="eot"``: its gradient is the mean of the copies' gradients, for a model without the soft form),
    on ``m`` noisy copies per input drawn by the fused kernel. The copies are fixed across the steps of the attack
    and differ between inputs: they are a pure function of (``seed``, input id, copy), with input ids
    ``input_ids`` (default 0..B-1) and their own RNG phase, independent of PREDICT's and CERTIFY's noise.

    ``method="pgd"``: ``steps`` projected steps of ``step_size`` (default 2 * eps / steps, Salman et al.'s) in
    l2, l_inf or l1 (the l1 step moves the top ``l1_sparsity`` fraction of coordinates), from x, returning the
    last iterate. ``method="ddn"`` (l2 only): decoupled direction and norm with norm factor ``gamma``, starting at
    norm ``init_norm`` (default eps), returning the smallest-norm iterate the soft smoothed classifier got wrong,
    else the last one.

    The model runs in eval mode (restored afterwards) and no gradient reaches its parameters. ``autocast``
    (torch.bfloat16 / torch.float16) runs it under ``torch.autocast`` on x's device, the copies written in that
    dtype; ``channels_last`` writes the copies channels_last (4-d x). All B * m copies go through the model in one
    batch. ``copies`` (a callable ``copies(x, m)`` returning the (B * m, *shape) noisy copies, differentiable in
    x, e.g. a training step's) replaces the attack's own copies. There is no guarantee of optimality: an attack
    gives an upper bound on robust accuracy, a certificate a lower one."""
    _check_batch(model, x, y)
    if not isinstance(noise, Noise):
        raise TypeError(f"noise must be an rsmooth_ext noise spec, got {noise!r}")
    eps = _check_real("eps", eps, positive=False)
    steps = check_int("steps", steps, 1)
    m = check_int("m", m, 1)
    seed = resolve_seed(seed)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "ddn" and norm != "l2":
        raise ValueError(f"method 'ddn' is an l2 attack; got norm={norm!r} (use method='pgd')")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")
    step_size = 2 * eps / steps if step_size is None else _check_real("step_size", step_size, positive=True)
    gamma = _check_real("gamma", gamma, positive=True)
    if gamma >= 1:
        raise ValueError(f"gamma must be in (0, 1), got {gamma!r}")
    if init_norm is not None:
        init_norm = _check_real("init_norm", init_norm, positive=True)
    l1_sparsity = _check_real("l1_sparsity", l1_sparsity, positive=True)
    if l1_sparsity > 1:
        raise ValueError(f"l1_sparsity must be in (0, 1], got {l1_sparsity!r}")
    if autocast is not None and autocast not in _AUTOCAST_DTYPES:
        raise TypeError(f"autocast must be None, torch.bfloat16 or torch.float16, got {autocast!r}")
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool, got {channels_last!r}")
    if channels_last and x.dim() != 4:
        raise ValueError(f"channels_last needs a 4-d x (B, C, H, W), got shape {tuple(x.shape)}")
    if copies is not None and not callable(copies):
        raise TypeError(f"copies must be None or a callable copies(x, m), got {type(copies).__name__}")
    ids = check_input_ids(input_ids, x)
    if ids is None:
        ids = torch.arange(x.shape[0], device=x.device)
    if x.shape[0] == 0 or eps == 0:
        return x.detach().clone()
    objective = SmoothedObjective(model, noise, m, seed, ids, gradient, autocast, channels_last, copies,
                                  max_label=int(y.max()))
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()  # batch norm in train mode would mix the inputs (and the copies) of the batch
    try:
        if method == "pgd":
            delta = pgd(objective, x, y, eps=eps, steps=steps, norm=norm, step_size=step_size,
                        l1_sparsity=l1_sparsity)
        else:
            delta = ddn(objective, x, y, eps=eps, steps=steps, gamma=gamma, init_norm=init_norm)
    finally:
        if was_training is not None:
            model.train(was_training)
    # the clamp only undoes float rounding: x and the projected point both lie in [0, 1]
    return (x.float() + delta).clamp(0.0, 1.0).to(x.dtype)


__all__ = ["METHODS", "attack", "lp_norm"]
