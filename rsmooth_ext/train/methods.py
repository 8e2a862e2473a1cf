"""The registry of training methods: what ``rsmooth train --method NAME`` and ``rsmooth_ext.train.train`` run.

A :class:`Method` has a ``name``, a ``reference`` (the paper), its ``hyperparameters`` (each with the paper's
default, its allowed range and a help line) and a ``loss``:

    loss(model, x, y, copies, hparams, *, epoch, epochs) -> loss | (loss, logits)

* ``x`` (B, *shape), ``y`` (B,): the step's (augmented) batch on the model's device;
* ``copies(x, m, offset=0)``: the (B * m, *shape) noisy copies of this step (:class:`~.copies.NoisyCopies`:
  the fused ``perturb``, differentiable with respect to x, the noise a pure function of (seed, epoch,
  example index, copy index), written in the autocast dtype and memory format). Two calls on the same x
  shape draw the same noise; ``offset`` selects other copy indices. ``copies.noise`` is the spec;
* ``hparams``: the method's hyperparameters, checked (``Method.resolve``);
* ``epoch`` (0-based) and ``epochs``: for schedules (warm-ups, ramps);
* returns the scalar loss (a 0-d tensor), or ``(loss, logits)`` with the (B, m, K) logits of the noisy copies
  the loss saw, which the training log's accuracy counts.

A new method registers itself with the :func:`register_method` decorator (other modules add theirs the same
way; importing ``rsmooth_ext.train`` imports them all)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..noises import Noise
from .losses import (
    CONSISTENCY_ETA,
    CONSISTENCY_LAMBDA,
    MACER_BETA,
    MACER_GAMMA,
    MACER_LAMBDA,
    STABILITY_LAMBDA,
    consistency_loss,
    gaussian_augmentation_loss,
    macer_loss,
    smoothed_nll_loss,
    stability_loss,
)


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: ``kind`` int or float, allowed values ``low`` <= v (< v if ``low_open``) and
    v <= ``high`` (None: no bound)."""

    name: str
    default: float | int
    help: str
    kind: type = float
    low: float = 0.0
    high: float | None = None
    low_open: bool = False

    def allowed(self) -> str:
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        what = "an integer" if self.kind is int else "a number"
        return f"{what} {low}" + ("" if self.high is None else f" and <= {self.high:g}")

    def check(self, value, method: str):
        """``value`` converted to ``kind``, or a TypeError / ValueError naming the method, the name, the value
        and what is allowed."""
        where = f"method {method}: hyperparameter {self.name}"
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise TypeError(f"{where} must be {self.allowed()}, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise TypeError(f"{where} must be {self.allowed()}, got {value!r}")
        value = self.kind(value)
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or (self.high is not None and value > self.high):
            raise ValueError(f"{where} must be {self.allowed()}, got {value!r}")
        return value


LossFunction = Callable[..., "torch.Tensor | tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class Method:
    """A training method: see the module docstring for the ``loss`` contract. ``check_noise(noise)`` returns
    None or the reason the method cannot train under that noise."""

    name: str
    reference: str
    hyperparameters: tuple[Hyperparameter, ...]
    loss: LossFunction
    summary: str
    check_noise: Callable[[Noise], str | None] | None = None

    def defaults(self) -> dict:
        return {h.name: h.default for h in self.hyperparameters}

    def resolve(self, overrides: dict | None = None, noise: Noise | None = None) -> dict:
        """The defaults updated by ``overrides``, each checked; an unknown name or a noise the method cannot
        use (when ``noise`` is given) is a ValueError."""
        by_name = {h.name: h for h in self.hyperparameters}
        values = self.defaults()
        for name, value in (overrides or {}).items():
            if name not in by_name:
                known = ", ".join(by_name) or "none"
                raise ValueError(f"method {self.name} has no hyperparameter {name!r} (its hyperparameters: {known})")
            values[name] = by_name[name].check(value, self.name)
        if noise is not None and self.check_noise is not None:
            problem = self.check_noise(noise)
            if problem is not None:
                raise ValueError(f"method {self.name} cannot train under {noise!r}: {problem}")
        return values


METHODS: dict[str, Method] = {}


def register_method(name: str, *, reference: str, hyperparameters: tuple[Hyperparameter, ...] = (), summary: str,
                    check_noise: Callable[[Noise], str | None] | None = None):
    """Decorator: register ``loss`` (the function decorated) as method ``name`` in :data:`METHODS`."""

    def decorate(loss: LossFunction) -> LossFunction:
        if name in METHODS:
            raise ValueError(f"a training method named {name!r} is registered already")
        METHODS[name] = Method(name, reference, tuple(hyperparameters), loss, summary, check_noise)
        return loss

    return decorate


def get_method(name) -> Method:
    """The registered method ``name``; a ValueError listing the registered ones otherwise."""
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown training method {name!r}; registered: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def noisy_logits(model, x: torch.Tensor, copies, m: int, *, offset: int = 0) -> torch.Tensor:
    """The model's logits on the m noisy copies of x, as (B, m, K)."""
    out = model(copies(x, m, offset=offset))
    return out.reshape(x.shape[0], m, -1)


def copies_parameter(default: int, low: int = 1) -> Hyperparameter:
    return Hyperparameter("m", default, "noisy copies of each example per step", int, low)


def needs_sigma(noise: Noise) -> str | None:
    """MACER's radius is sigma/2 (Phi^-1(pA) - Phi^-1(pB)): a noise with an l2 sigma."""
    if getattr(noise, "sigma", None) is None:
        return "its robustness term needs the noise's l2 sigma, and this noise has none"
    return None


@register_method("gaussian", summary="cross-entropy on noisy copies (Gaussian data augmentation)",
                 reference="Cohen, Rosenfeld & Kolter 2019, Certified Adversarial Robustness via Randomized Smoothing",
                 hyperparameters=(copies_parameter(1),))
def _gaussian(model, x, y, copies, hparams, *, epoch, epochs):
    logits = noisy_logits(model, x, copies, hparams["m"])
    return gaussian_augmentation_loss(logits, y), logits


@register_method("smoothed-nll", summary="-log of the mean softmax over m copies (the spec's estimator)",
                 reference="the spec's appendix, Loss Estimators for the Smoothed Classifier (rs4a's --direct)",
                 hyperparameters=(copies_parameter(16),))
def _smoothed_nll(model, x, y, copies, hparams, *, epoch, epochs):
    logits = noisy_logits(model, x, copies, hparams["m"])
    return smoothed_nll_loss(logits, y), logits


@register_method("stability", summary="cross-entropy on the clean input + lambd KL(clean || noisy)",
                 reference="Li, Chen, Wang & Carin 2019, Certified Adversarial Robustness with Additive Noise",
                 hyperparameters=(copies_parameter(1),
                                  Hyperparameter("lambd", STABILITY_LAMBDA, "weight of the KL term")))
def _stability(model, x, y, copies, hparams, *, epoch, epochs):
    logits = noisy_logits(model, x, copies, hparams["m"])
    clean = model(x)
    return stability_loss(logits, clean, y, hparams["lambd"]), logits


@register_method("consistency", summary="mean cross-entropy + lambd KL(average || copy) + eta entropy(average)",
                 reference="Jeong & Shin 2020, Consistency Regularization for Certified Robustness of Smoothed "
                           "Classifiers",
                 hyperparameters=(copies_parameter(2, low=2),
                                  Hyperparameter("lambd", CONSISTENCY_LAMBDA, "weight of the consistency (KL) term"),
                                  Hyperparameter("eta", CONSISTENCY_ETA, "weight of the entropy of the average")))
def _consistency(model, x, y, copies, hparams, *, epoch, epochs):
    logits = noisy_logits(model, x, copies, hparams["m"])
    return consistency_loss(logits, y, hparams["lambd"], hparams["eta"]), logits


@register_method("macer", summary="soft smoothed NLL + lambd hinge on the soft classifier's certified radius",
                 reference="Zhai et al. 2020, MACER: Attack-free and Scalable Robust Training via Maximizing "
                           "Certified Radius",
                 hyperparameters=(copies_parameter(16),
                                  Hyperparameter("lambd", MACER_LAMBDA, "weight of the robustness (radius) term"),
                                  Hyperparameter("beta", MACER_BETA, "inverse temperature of the soft classifier",
                                                 low_open=True),
                                  Hyperparameter("gamma", MACER_GAMMA, "hinge margin on Phi^-1(pA) - Phi^-1(pB)",
                                                 low_open=True)),
                 check_noise=needs_sigma)
def _macer(model, x, y, copies, hparams, *, epoch, epochs):
    logits = noisy_logits(model, x, copies, hparams["m"])
    loss = macer_loss(logits, y, copies.noise.sigma, hparams["lambd"], hparams["beta"], hparams["gamma"])
    return loss, logits
