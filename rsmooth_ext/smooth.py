"""The smoothed classifier g(x) = argmax_c P(f(x + eps) = c): Monte Carlo vote counts, Cohen et al.'s
PREDICT and CERTIFY, and the soft smoothed classifier, for batches of inputs.

Counts stay on the device; each public call synchronises with the host once, at the end. Every sample is
a pure function of (seed, input id, sample index, phase), so results do not depend on ``batch_size``,
on the order of the inputs (given ``input_ids``) or on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_int, check_probability
from .certificates.top2 import certify_top2
from .noises import Noise
from .sampling import distributed as dist
from .sampling.labels import check_labels, check_labels_in_range
from .sampling.sampler import EvalMode, Sampler, raise_if_invalid
from .seeding import Phase
from .stats import clopper_pearson_lower, top2_bounds, two_sided_binomial_pvalues

ABSTAIN = -1


def sample_counts(model, x, noise: Noise, n: int, *, batch_size: int = 1000, seed=None, input_ids=None,
                  num_classes: int | None = None, out_dtype: torch.dtype | None = None,
                  channels_last: bool = False, distributed: bool = False, autocast: torch.dtype | None = None,
                  compile: bool | dict = False, fast: bool = False) -> torch.Tensor:
    """Count the classes the base classifier ``model`` returns on ``n`` noisy copies of each input.

    ``x`` is a batch (B, *shape) on the model's device; returns int64 counts (B, K) on that device. The
    model runs in eval mode under ``torch.inference_mode`` on batches of at most ``batch_size`` rows.
    Raises FloatingPointError if any sample gave NaN or infinite logits (those are never counted).

    ``distributed=True`` (inside an initialised torch.distributed process group, e.g. under torchrun)
    splits the n samples of every input across the ranks and all-reduces the counts: every rank gets the
    counts a single process would compute. Without a process group it is a no-op.

    ``out_dtype`` is the dtype the noisy batch is written in, for a model that is itself in that dtype
    (e.g. ``model.half()``). ``autocast=torch.bfloat16`` (or ``torch.float16``) instead keeps the model as it
    is and runs it under ``torch.autocast`` on x's device (convolutions and matmuls in that dtype, the
    precision-sensitive ops in float32); the kernel writes the noisy batch directly in that dtype, so there
    is no cast pass. Either way the base classifier being certified is the model as run: its votes, not the
    float32 model's.

    ``compile=True`` (or a dict of ``torch.compile`` options, e.g. ``{"backend": "aot_eager"}``) compiles the
    per-batch step -- perturb, model, vote count -- into one graph with fixed shapes (fullgraph; on CUDA,
    ``mode="reduce-overhead"``, a CUDA graph), once per configuration (model, noise, shapes, dtypes, batch
    layout) and cached across calls. The noise is the same as without compile (same seeds, same samples);
    the votes can differ only where the compiled model's rounding flips a sample at a decision boundary.

    ``fast=True`` chooses channels_last, autocast (native dtypes only) and compile by measurement on this
    model, input shape and batch size (``rsmooth_ext.sampling.tuning.tune``: a few timed batches per
    candidate, at most two compilations, cached for the process and on disk); options set away from their
    defaults are kept fixed. The votes are those of the model as the chosen configuration runs it."""
    sampler = Sampler(model, x, noise, n, batch_size=batch_size, seed=seed, input_ids=input_ids,
                       num_classes=num_classes, out_dtype=out_dtype, channels_last=channels_last,
                       distributed=distributed, autocast=autocast, compile=compile, fast=fast)
    with EvalMode(model):
        counts, invalid = sampler.counts(Phase.PREDICT, sampler.n)
    raise_if_invalid(invalid.cpu().numpy(), "noisy")
    return counts


def predict(model, x, noise: Noise, n: int, alpha: float, *, batch_size: int = 1000, seed=None, input_ids=None,
            num_classes: int | None = None, out_dtype: torch.dtype | None = None,
            channels_last: bool = False, distributed: bool = False, autocast: torch.dtype | None = None,
            compile: bool | dict = False, fast: bool = False) -> torch.Tensor:
    """Cohen et al.'s PREDICT for every input: the smoothed classifier's class, or -1 (abstain).

    With probability at least 1 - alpha (per input), a returned class is the smoothed classifier's
    prediction: the two-sided binomial test of the top two counts (scipy.stats.binomtest at 1/2) must
    reject at level alpha, else the input abstains. Returns a LongTensor (B,) on x's device. ``autocast``,
    ``compile`` and ``fast``: see ``sample_counts``."""
    alpha = check_probability(alpha)
    counts = sample_counts(model, x, noise, n, batch_size=batch_size, seed=seed, input_ids=input_ids,
                           num_classes=num_classes, out_dtype=out_dtype, channels_last=channels_last,
                           distributed=distributed, autocast=autocast, compile=compile, fast=fast)
    host = counts.cpu().numpy()
    if host.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=x.device)
    top = host.argmax(axis=1)
    n_top = host[np.arange(len(host)), top]
    others = host.copy()
    others[np.arange(len(host)), top] = -1
    runner_up = others.max(axis=1).clip(min=0) if host.shape[1] > 1 else np.zeros(len(host), dtype=np.int64)
    pvalues = two_sided_binomial_pvalues(n_top, runner_up)
    prediction = np.where(pvalues <= alpha, top, ABSTAIN)
    return torch.from_numpy(prediction.astype(np.int64)).to(x.device)


@dataclass
class CertifyResult:
    """What ``certify`` returns: per-input tensors and what is needed to replay the run."""

    prediction: torch.Tensor  # (B,) int64, -1 = abstain
    p_lower: torch.Tensor  # (B,) float64, lower confidence bound on the top class's probability
    radius: torch.Tensor  # (B,) float64, certified radius (0 for abstentions)
    counts_selection: torch.Tensor  # (B, K) int64, the n0 selection votes
    counts_estimation: torch.Tensor  # (B, K) int64, the n estimation votes
    seed: int
    n0: int
    n: int
    alpha: float
    noise: Noise
    adversary: str
    skipped: torch.Tensor | None = None
    # top2=True: upper confidence bound on the largest probability among all other classes (None otherwise)
    p_upper_others: torch.Tensor | None = None


def certify(model, x, noise: Noise, n0: int, n: int, alpha: float, *, adversary: str | None = None,
            batch_size: int = 1000, seed=None, input_ids=None, num_classes: int | None = None,
            out_dtype: torch.dtype | None = None, channels_last: bool = False,
            distributed: bool = False, labels=None, top2: bool = False, autocast: torch.dtype | None = None,
            compile: bool | dict = False, fast: bool = False) -> CertifyResult:
    """Cohen et al.'s CERTIFY for every input of the batch ``x``.

    ``n0`` selection samples choose the class c_A; ``n`` estimation samples, drawn independently (another
    RNG phase), give p_lower, the one-sided (1 - alpha) Clopper-Pearson lower bound on P(f(x + eps) = c_A).
    The input abstains (prediction -1, radius 0) unless p_lower > 1/2; otherwise, with probability at least
    1 - alpha, the smoothed classifier predicts c_A everywhere within ``radius`` of the input, measured in
    ``adversary`` ('l0', 'l1', 'l2', 'linf'; default: the noise's natural one) -- see ``noise.certify``.

    ``labels`` (B,) (optional): an input whose selected class differs from its label is wrong at every
    radius whatever its estimate, so its n estimation samples are not drawn: ``skipped[i]`` is True, its
    prediction is the selected class, p_lower and radius are NaN. Certified accuracy and the average
    certified radius are those of the run without labels (the other inputs' samples are unchanged); this
    costs one more host synchronisation (after the selection).

    ``top2=True``: p_lower (at level alpha/2) and ``p_upper_others``, a simultaneous upper bound on the
    probability of every other class (Bonferroni over the K - 1 others at alpha / (2 (K - 1))), hold together
    with probability >= 1 - alpha; the input is certified when p_lower > p_upper_others, with the pA/pB
    radius where the theory gives one (``rsmooth_ext.certificates.top2``; e.g. Cohen et al.'s Theorem 1 in l2).

    ``autocast``, ``compile`` and ``fast``: see ``sample_counts``."""
    if not isinstance(top2, bool):
        raise TypeError(f"top2 must be a bool, got {top2!r}")
    alpha = check_probability(alpha)
    n0 = check_int("n0", n0, 1)
    n = check_int("n", n, 1)
    host_labels = check_labels(labels, x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() >= 2 else None
    adversary = noise.natural_adversary if adversary is None and isinstance(noise, Noise) else adversary
    if isinstance(noise, Noise):
        noise.certify(0.5, adversary, dim=x[0].numel() if isinstance(x, torch.Tensor) and x.dim() >= 2 else None)
    sampler = Sampler(model, x, noise, n0, batch_size=batch_size, seed=seed, input_ids=input_ids,
                       num_classes=num_classes, out_dtype=out_dtype, channels_last=channels_last,
                       distributed=distributed, autocast=autocast, compile=compile, fast=fast)
    batch = x.shape[0]
    skipped = np.zeros(batch, dtype=bool)
    with EvalMode(model):
        counts_selection, invalid_selection = sampler.counts(Phase.SELECTION, n0)
        if host_labels is None:
            counts_estimation, invalid_estimation = sampler.counts(Phase.ESTIMATION, n)
        else:
            # the one extra host synchronisation: the selection votes and their invalid tallies together
            host = torch.cat([counts_selection.flatten(), invalid_selection]).cpu().numpy()
            raise_if_invalid(host[counts_selection.numel():], "selection")
            check_labels_in_range(host_labels, counts_selection.shape[1])
            votes = host[: counts_selection.numel()].reshape(counts_selection.shape)
            skipped = votes.argmax(axis=1) != host_labels if batch else skipped
            counts_estimation, invalid_estimation = _estimation_counts_of(sampler, ~skipped, n)
    invalid = torch.stack([invalid_selection, invalid_estimation]).sum(0).cpu().numpy()
    raise_if_invalid(invalid, "selection or estimation")
    selection, estimation = counts_selection.cpu().numpy(), counts_estimation.cpu().numpy()
    top = selection.argmax(axis=1) if batch else np.zeros(0, dtype=np.int64)
    n_top = estimation[np.arange(batch), top] if batch else np.zeros(0)
    p_upper_others = None
    if top2:
        p_lower, p_upper_others = top2_bounds(estimation, top, alpha)
        certified = p_lower > p_upper_others
    else:
        p_lower = clopper_pearson_lower(n_top, n, alpha)
        certified = p_lower > 0.5
    certified &= ~skipped
    radius = np.zeros(batch)
    if certified.any() and top2:
        radius[certified] = certify_top2(noise, p_lower[certified], p_upper_others[certified], adversary,
                                         dim=x[0].numel())
    elif certified.any():
        radius[certified] = noise.certify(p_lower[certified], adversary, dim=x[0].numel())
    p_lower = np.where(skipped, np.nan, p_lower)
    radius = np.where(skipped, np.nan, radius)
    if p_upper_others is not None:
        p_upper_others = np.where(skipped, np.nan, p_upper_others)
    prediction = np.where(certified | skipped, top, ABSTAIN).astype(np.int64)
    device = x.device
    return CertifyResult(
        prediction=torch.from_numpy(prediction).to(device),
        p_lower=torch.from_numpy(p_lower).to(device),
        radius=torch.from_numpy(radius).to(device),
        counts_selection=counts_selection,
        counts_estimation=counts_estimation,
        seed=sampler.seed,
        n0=n0,
        n=n,
        alpha=alpha,
        noise=noise,
        adversary=adversary,
        skipped=torch.from_numpy(skipped).to(device),
        p_upper_others=None if p_upper_others is None else torch.from_numpy(p_upper_others).to(device),
    )


def _estimation_counts_of(sampler: Sampler, keep: np.ndarray, n: int):
    """Estimation counts (B, K) and invalid tallies (B,) of the inputs ``keep`` only (zeros elsewhere); each
    keeps its input id, so its samples are those of a run over the whole batch."""
    counts, invalid = sampler.zero_counts(sampler.num_classes or 0)
    if keep.any():
        rows = torch.from_numpy(np.flatnonzero(keep)).to(sampler.x.device)
        sub = Sampler(sampler.model, sampler.x[rows], sampler.noise, n, batch_size=sampler.batch_size,
                       seed=sampler.seed, input_ids=sampler.input_ids[rows], num_classes=sampler.num_classes,
                       out_dtype=sampler.out_dtype, channels_last=sampler.channels_last,
                       distributed=sampler.distributed, autocast=sampler.passes.autocast,
                       compile=sampler.passes.options if sampler.passes.compiled else False)
        kept_counts, kept_invalid = sub.counts(Phase.ESTIMATION, n)
        counts[rows], invalid[rows] = kept_counts, kept_invalid
    return counts, invalid


def predict_soft(model, x, noise: Noise, n: int, *, batch_size: int = 1000, seed=None, input_ids=None,
                 num_classes: int | None = None, out_dtype: torch.dtype | None = None,
                 channels_last: bool = False, distributed: bool = False, autocast: torch.dtype | None = None,
                 compile: bool | dict = False, fast: bool = False) -> torch.Tensor:
    """The soft smoothed classifier: the Monte Carlo mean over ``n`` noisy copies of softmax(model(x + eps)),
    a (B, K) float32 tensor on x's device (accumulated in float64). ``autocast``, ``compile`` and ``fast``: see
    ``sample_counts``."""
    sampler = Sampler(model, x, noise, n, batch_size=batch_size, seed=seed, input_ids=input_ids,
                       num_classes=num_classes, out_dtype=out_dtype, channels_last=channels_last,
                       distributed=distributed, autocast=autocast, compile=compile, fast=fast)
    total = None
    with EvalMode(model):
        if sampler.passes.compiled:
            total = sampler.passes.run(sampler, "soft", Phase.SOFT, sampler.batch_plan(sampler.n))
        for i0, m, logits in () if sampler.passes.compiled else sampler.batches(Phase.SOFT, sampler.n):
            if total is None:
                total = torch.zeros(x.shape[0], logits.shape[1], dtype=torch.float64, device=x.device)
            probs = torch.softmax(logits.double(), dim=1)
            total[i0 : i0 + m] += probs.reshape(m, -1, probs.shape[1]).sum(dim=1)
    if sampler.distributed:
        width = torch.tensor([-1 if total is None else total.shape[1]], device=x.device)
        torch.distributed.all_reduce(width, op=torch.distributed.ReduceOp.MAX)
        if total is None:
            total = torch.zeros(x.shape[0], int(width.item()), dtype=torch.float64, device=x.device)
        dist.all_reduce_sum(total)
    if total is None:
        return torch.zeros(0, sampler.num_classes or 0, device=x.device)
    if not torch.isfinite(total).all():
        raise FloatingPointError("some noisy samples gave NaN or infinite logits; check the model and noise level")
    return (total / sampler.n).float()
