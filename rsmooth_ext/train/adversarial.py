"""Adversarial training of smoothed classifiers: SmoothAdv (Salman et al. 2019) and SmoothMix (Jeong et al. 2021),
registered as training methods ``smoothadv`` and ``smoothmix``.

Both attack the soft smoothed classifier through the step's own noisy copies (``rsmooth_ext.attacks`` with the
step's ``copies``): the noise is fixed during the attack and the loss then sees the same noise, as in both papers'
code. The attacks run the model in eval mode and leave its parameters' gradients alone.

CAT-RS (Jeong et al. 2023) is not here: it needs the smoothed predictions of the whole training set precomputed
before training, which the method contract (one batch at a time) does not provide."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._ops import philox4x32_10
from ..attacks import attack
from .losses import gaussian_augmentation_loss
from .methods import Hyperparameter, copies_parameter, noisy_logits, register_method

# Salman et al.'s train_pgd.py: --epsilon 64 (/256), --num-steps 10, --warmup 1, --num-noise-vec 1, PGD;
# DDN: --gamma-DDN 0.05 (its initial norm is set to the warmed-up epsilon every epoch)
SMOOTHADV_EPS = 64 / 256
SMOOTHADV_STEPS = 10
SMOOTHADV_WARMUP = 1
SMOOTHADV_GAMMA = 0.05

# Jeong et al.'s CIFAR-10 runs at sigma = 0.5 (their EXPERIMENTS.MD): --num-noise-vec 2 --num-steps 4 --alpha 1.0
# --mix_step 0 --eta 5.0, and train.py's --warmup 10 (alpha is 0.5 / 2.0 at sigma 0.25 / 1.0: 2 sigma)
SMOOTHMIX_M = 2
SMOOTHMIX_STEPS = 4
SMOOTHMIX_ALPHA = 1.0
SMOOTHMIX_ETA = 5.0
SMOOTHMIX_WARMUP = 10

_MIXUP_TAG = 0x5A11  # the Philox counter word that sets SmoothMix's mixing weights apart from any noise draw


def warmed_up(value: float, epoch: int, warmup: int) -> float:
    """``value`` ramped linearly over the first ``warmup`` epochs: value * min(1, (epoch + 1) / warmup) (Salman et
    al.'s eps warm-up, Jeong et al.'s for the mixup weight and the one-step adversary's norm)."""
    return value * min(1.0, (epoch + 1) / warmup)


def smoothadv_adversary(model, x: torch.Tensor, y: torch.Tensor, copies, m: int, eps: float, steps: int, *,
                        ddn: bool = False, gamma: float = SMOOTHADV_GAMMA) -> torch.Tensor:
    """Salman et al.'s adversarial inputs: PGD (step 2 eps / steps) or DDN in l2 on the soft smoothed classifier of
    the m copies ``copies(x, m)``, within eps and [0, 1]."""
    return attack(model, x.detach(), y, copies.noise, eps, steps, m, 0, method="ddn" if ddn else "pgd",
                  copies=copies, gamma=gamma)


def smoothadv_loss(adversarial_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Salman et al.: the cross-entropy of the base classifier on the noisy copies of the adversarial inputs
    (B, m, K), averaged over copies and batch (their default trains on the first copy only: m = 1 here)."""
    return gaussian_augmentation_loss(adversarial_logits, y)


@register_method("smoothadv", summary="cross-entropy on noisy copies of PGD / DDN adversaries of the soft smoothed "
                                      "classifier",
                 reference="Salman et al. 2019, Provably Robust Deep Learning via Adversarially Trained Smoothed "
                           "Classifiers",
                 hyperparameters=(
                     copies_parameter(1),
                     Hyperparameter("eps", SMOOTHADV_EPS, "l2 budget of the attack after the warm-up (64/256)"),
                     Hyperparameter("steps", SMOOTHADV_STEPS, "attack steps", int, 1),
                     Hyperparameter("warmup", SMOOTHADV_WARMUP, "epochs over which eps grows linearly to its value",
                                    int, 1),
                     Hyperparameter("ddn", 0, "attack: 0 PGD (step 2 eps / steps), 1 DDN", int, 0, 1),
                     Hyperparameter("gamma", SMOOTHADV_GAMMA, "DDN's norm factor", float, 0, 1, low_open=True),
                     Hyperparameter("multi_noise", 0, "1: the loss sees all m copies of the adversaries (their "
                                    "--train-multi-noise); 0: the first copy of each", int, 0, 1)))
def _smoothadv(model, x, y, copies, hparams, *, epoch, epochs):
    m = hparams["m"]
    eps = warmed_up(hparams["eps"], epoch, hparams["warmup"])
    adversarial = smoothadv_adversary(model, x, y, copies, m, eps, hparams["steps"], ddn=bool(hparams["ddn"]),
                                      gamma=hparams["gamma"])
    logits = noisy_logits(model, adversarial, copies, m)  # the noise of the attack (same batch shape, same copies)
    if not hparams["multi_noise"]:
        logits = logits[:, :1]
    return smoothadv_loss(logits, y), logits


def mixup_weights(copies, batch: int, device: torch.device) -> torch.Tensor:
    """SmoothMix's mixing weights lambda ~ U(0, 1/2), one per example: a pure function of the step's seed and the
    example's index (Philox of the example id under the epoch's seed), so a resumed run mixes as the original."""
    ids = copies.example_ids.to(torch.int64).cpu()
    if ids.shape[0] != batch:
        raise ValueError(f"mixup_weights: the copies belong to a batch of {ids.shape[0]}, not {batch}")
    counters = torch.stack([ids & 0xFFFFFFFF, ids >> 32, torch.zeros_like(ids), torch.full_like(ids, _MIXUP_TAG)],
                           dim=1)
    words = philox4x32_10(counters, (copies.seed & 0xFFFFFFFF, copies.seed >> 32))[:, 0]
    return ((words.double() + 0.5) / 2**32 / 2).float().to(device)


def _renorm(delta: torch.Tensor, maxnorm: float) -> torch.Tensor:
    norms = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
    return delta * (maxnorm / norms).clamp(max=1.0).view(-1, *([1] * (delta.dim() - 1)))


def smoothmix_points(model, x: torch.Tensor, y: torch.Tensor, copies, m: int, steps: int, alpha: float,
                     mix_step: int, maxnorm: float, maxnorm_s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Jeong et al.'s two ends of the mixup: ``steps`` l2 steps of size alpha along the normalised gradient of the
    soft smoothed classifier's cross-entropy (the copies ``copies(x, m)``), clamped to [0, 1] and, if maxnorm > 0,
    to that l2 norm around x -> the adversarial end; the iterate after ``mix_step`` steps, within ``maxnorm_s`` of
    x -> the clean end (mix_step 0: x itself)."""
    budget = maxnorm if maxnorm > 0 else steps * alpha  # unbounded steps can reach no farther than steps * alpha

    def after(k: int) -> torch.Tensor:
        if k == 0:
            return x.detach()
        return attack(model, x.detach(), y, copies.noise, budget, k, m, 0, step_size=alpha, copies=copies)

    adversarial = after(steps)
    start = after(mix_step) if mix_step < steps else x.detach()  # theirs: mix_step >= steps keeps x
    start = (x.detach() + _renorm(start - x.detach(), maxnorm_s)).clamp(0, 1)
    return start, adversarial


def smoothmix_loss(clean_logits: torch.Tensor, mixed_logits: torch.Tensor, y: torch.Tensor, lam: torch.Tensor,
                   eta: float) -> torch.Tensor:
    """Jeong et al. 2021: mean cross-entropy on the clean copies + eta * mean over copies of
    1[soft prediction correct] * KL(target || softmax(f(mixed copy))), with the target
    (1 - lambda) * (mean softmax of the clean copies) + lambda * uniform. ``clean_logits`` and ``mixed_logits``
    are (B, m, K) on the same noise; the target keeps its gradient, as in their code."""
    clean, mixed = clean_logits.float(), mixed_logits.float()
    b, m, k = clean.shape
    labels = y.to(torch.int64).view(-1, 1).expand(-1, m).reshape(-1)
    cross_entropy = F.cross_entropy(clean.reshape(b * m, k), labels)
    average = torch.softmax(clean, dim=2).mean(dim=1)  # (B, K)
    target = (1 - lam).view(-1, 1) * average + lam.view(-1, 1) / k
    correct = (average.argmax(dim=1) == y).float()
    kl = (torch.xlogy(target, target).unsqueeze(1) - target.unsqueeze(1) * torch.log_softmax(mixed, dim=2)).sum(2)
    return cross_entropy + eta * (correct.view(-1, 1) * kl).mean()


@register_method("smoothmix", summary="cross-entropy on noisy copies + eta KL to the mixup of clean and soft-smoothed "
                                      "adversarial points",
                 reference="Jeong, Park, Kim, Lee, Kim & Shin 2021, SmoothMix: Training Confidence-calibrated Smoothed "
                           "Classifiers for Certified Robustness",
                 hyperparameters=(
                     copies_parameter(SMOOTHMIX_M),
                     Hyperparameter("steps", SMOOTHMIX_STEPS, "attack steps (T)", int, 1),
                     Hyperparameter("alpha", SMOOTHMIX_ALPHA, "l2 step size of the attack (theirs: 2 sigma)",
                                    low_open=True),
                     Hyperparameter("eta", SMOOTHMIX_ETA, "weight of the mixup (KL) term"),
                     Hyperparameter("mix_step", 0, "the clean end of the mixup: the iterate after this many steps "
                                    "(1: their one-step adversary)", int, 0),
                     Hyperparameter("maxnorm", 0.0, "l2 bound of the adversarial end (0: none)"),
                     Hyperparameter("maxnorm_s", 0.0, "l2 bound of the clean end (0: alpha * mix_step, theirs)"),
                     Hyperparameter("warmup", SMOOTHMIX_WARMUP, "epochs over which eta and maxnorm_s grow linearly",
                                    int, 1)))
def _smoothmix(model, x, y, copies, hparams, *, epoch, epochs):
    m, steps, alpha = hparams["m"], hparams["steps"], hparams["alpha"]
    maxnorm_s = hparams["maxnorm_s"] or alpha * hparams["mix_step"]
    start, adversarial = smoothmix_points(model, x, y, copies, m, steps, alpha, hparams["mix_step"],
                                          hparams["maxnorm"], warmed_up(maxnorm_s, epoch, hparams["warmup"]))
    clean_logits = noisy_logits(model, x, copies, m)
    lam = mixup_weights(copies, x.shape[0], x.device)
    view = lam.view(-1, *([1] * (x.dim() - 1)))
    mixed = (1 - view) * start + view * adversarial
    mixed_logits = noisy_logits(model, mixed, copies, m)
    eta = warmed_up(hparams["eta"], epoch, hparams["warmup"])
    return smoothmix_loss(clean_logits, mixed_logits, y, lam, eta), clean_logits
