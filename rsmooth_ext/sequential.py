"""Sequential certification: per input, draw the estimation samples in rounds and stop as soon as the answer
(abstain, the largest certified radius of a grid, or a radius to within ``rtol``) is decided.

The bound stays valid at the data-dependent stopping time because the looks are a fixed schedule
n_1 < ... < n_K = n_max with the failure probability split across them, alpha_1 + ... + alpha_K = alpha, and
a one-sided Clopper-Pearson bound at level alpha_k at look k: by the union bound, the lower bound exceeds
p_A at some look (so at the stopping look) with probability at most alpha. Derivation: docs/sequential.md.

Sampling: every round gives every active input the samples up to its next look; the rows of all active
inputs form one stream cut into full batches of ``batch_size`` rows (a batch may span inputs: several
``perturb`` calls into slices of one reused buffer). The last batch of a round is filled with the next
look's samples of the first active inputs (kept for that look), so the model gets full batches; only the
last batch of the call can be shorter. One host synchronisation per round.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_int, check_probability
from ._ops import as_uint32_ids, launch_perturb
from .certificates.top2 import certify_top2
from .noises import Noise
from .sampling.forward import compiled_model
from .sampling.labels import check_labels, check_labels_in_range
from .sampling.sampler import EvalMode, Sampler, raise_if_invalid
from .seeding import Phase
from .smooth import ABSTAIN, CertifyResult
from .stats import clopper_pearson_lower, clopper_pearson_upper, top2_bounds

# ---- the look schedule and the stopping rule (pure NumPy: also used to simulate vote streams) --------------


@dataclass(frozen=True)
class LookSchedule:
    """Cumulative estimation sample counts at which an input may stop, and the failure probability spent at
    each: the bounds hold at every look simultaneously with probability >= 1 - sum(alphas)."""

    sizes: tuple[int, ...]
    alphas: tuple[float, ...]

    @property
    def alpha(self) -> float:
        return float(sum(self.alphas))


def look_schedule(n_max: int, alpha: float, *, first_look: int = 1000, growth: float = 1.5,
                  final_share: float = 0.5) -> LookSchedule:
    """Looks at first_look, first_look * growth, ... (rounded up) and n_max. The last look gets
    ``final_share`` of alpha (inputs near a decision threshold go there, so it should lose little against
    a fixed-n Clopper-Pearson bound at alpha); the other looks share the rest equally."""
    n_max = check_int("n_max", n_max, 1)
    alpha = check_probability(alpha)
    first_look = check_int("first_look", first_look, 1)
    if isinstance(growth, bool) or not isinstance(growth, numbers.Real) or not float(growth) > 1.0:
        raise ValueError(f"growth must be a number > 1, got {growth!r}")
    if isinstance(final_share, bool) or not isinstance(final_share, numbers.Real) or not 0 < final_share <= 1:
        raise ValueError(f"final_share must be a number in (0, 1], got {final_share!r}")
    sizes = []
    n = first_look
    while n < n_max:
        sizes.append(n)
        n = max(n + 1, math.ceil(n * float(growth)))
    sizes.append(n_max)
    if len(sizes) == 1:
        return LookSchedule((n_max,), (alpha,))
    early = alpha * (1.0 - float(final_share)) / (len(sizes) - 1)
    if final_share == 1:  # every look needs some alpha; spend a negligible part early
        early = alpha * 1e-3 / (len(sizes) - 1)
    return LookSchedule(tuple(sizes), (early,) * (len(sizes) - 1) + (alpha - early * (len(sizes) - 1),))


@dataclass
class LookDecision:
    """The bounds at one look for a batch of inputs, and which of them stop there."""

    stop: np.ndarray  # bool
    p_lower: np.ndarray
    p_upper: np.ndarray
    grid_index: np.ndarray  # int64: largest certified grid radius (-1: none); -1 everywhere without a grid
    radius: np.ndarray  # the certified radius: the grid radius with a grid, radius(p_lower) without


class StoppingRule:
    """When an input stops, and what it answers.

    ``radius_of`` maps top-class probabilities in (1/2, 1) to certified radii (monotone non-decreasing).
    With ``radii`` (sorted, increasing) the input stops once the largest certified grid radius is decided:
    r_j is certified (p_lower > 1/2 and radius_of(p_lower) >= r_j) and r_{j+1} is refuted (radius_of(p_upper)
    < r_{j+1}) or out of reach (not certified at any later look even if every further sample voted for the
    selected class). Without radii it stops once radius_of(p_lower) >= (1 - rtol) radius_of(p_upper). In
    both modes it abstains as soon as p_upper <= 1/2, and stops at the last look whatever the bounds say.

    p_lower is the (1 - alpha_k) Clopper-Pearson lower bound of look k: it alone carries the guarantee.
    p_upper only decides to stop for futility (an answer can no longer improve), so its level is free:
    ``futility`` (default: alpha_k, like the lower bound) is the one-sided level of the upper bound. A
    larger one stops sooner and may give up a radius that more samples would have certified, never
    claims more than the lower bound allows."""

    def __init__(self, schedule: LookSchedule, radius_of: Callable[[np.ndarray], np.ndarray], *,
                 radii=None, rtol: float = 0.01, futility: float | None = None):
        self.schedule = schedule
        if futility is not None:
            futility = check_probability(futility, "futility")
        self.futility = futility
        self.radius_of = radius_of
        self.radii = None if radii is None else check_radii(radii)
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0.0 < float(rtol) < 1.0:
            raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")
        self.rtol = float(rtol)

    def _radius(self, p: np.ndarray, *, at_one: float) -> np.ndarray:
        """radius_of(p) for p in (1/2, 1); -inf for p <= 1/2 (not certified), ``at_one`` for p >= 1."""
        out = np.full(p.shape, -np.inf)
        inside = (p > 0.5) & (p < 1.0)
        if inside.any():
            out[inside] = self.radius_of(p[inside])
        out[p >= 1.0] = at_one
        return out

    def decide(self, look: int, successes: np.ndarray) -> LookDecision:
        """Bounds and stopping decision of inputs with ``successes`` votes for their selected class among the
        first ``schedule.sizes[look]`` estimation samples."""
        sizes, alphas = self.schedule.sizes, self.schedule.alphas
        n, alpha = sizes[look], alphas[look]
        k = np.asarray(successes, dtype=np.float64)
        lower = clopper_pearson_lower(k, n, alpha)
        upper = clopper_pearson_upper(k, n, alpha if self.futility is None else self.futility)
        r_lower = self._radius(lower, at_one=np.inf)
        r_upper = self._radius(upper, at_one=np.inf)
        last = look == len(sizes) - 1
        stop = (upper <= 0.5) | last
        if self.radii is None:
            stop |= (lower > 0.5) & (r_lower >= (1.0 - self.rtol) * r_upper)
            return LookDecision(stop, lower, upper, np.full(k.shape, -1, dtype=np.int64),
                                np.where(lower > 0.5, r_lower, 0.0))
        grid = self.radii
        index = np.searchsorted(grid, r_lower, side="right") - 1  # -inf (not certified) gives -1
        all_certified = index == len(grid) - 1
        following = grid[np.minimum(index + 1, len(grid) - 1)]
        refuted = r_upper < following
        if not last:  # the best lower bound any later look could give: every further sample votes for c_A
            future_n = np.asarray(sizes[look + 1:], dtype=np.float64)
            future_alpha = np.asarray(alphas[look + 1:], dtype=np.float64)
            best = clopper_pearson_lower(k[:, None] + (future_n - n), future_n[None, :], future_alpha[None, :])
            unreachable = self._radius(best.max(axis=1), at_one=np.inf) < following
            stop |= unreachable
        stop |= all_certified | refuted
        radius = np.where(index >= 0, grid[np.maximum(index, 0)], 0.0)
        return LookDecision(stop, lower, upper, index.astype(np.int64), radius)


def check_radii(radii) -> np.ndarray:
    """A certification grid: a non-empty, strictly increasing sequence of finite radii >= 0."""
    try:
        grid = np.asarray(radii, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"radii must be a sequence of numbers, got {radii!r}") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"radii must be a non-empty 1-d sequence of radii, got {radii!r}")
    if not np.isfinite(grid).all() or (grid < 0).any() or (np.diff(grid) <= 0).any():
        raise ValueError(f"radii must be finite, >= 0 and strictly increasing, got {grid.tolist()}")
    return grid


class SequentialOutcome:
    """Per-input answers of a stopping rule, filled in as inputs stop."""

    def __init__(self, batch: int):
        self.done = np.zeros(batch, dtype=bool)
        self.look = np.full(batch, -1, dtype=np.int64)
        self.num_samples = np.zeros(batch, dtype=np.int64)
        self.p_lower = np.full(batch, np.nan)
        self.p_upper = np.full(batch, np.nan)
        self.grid_index = np.full(batch, -1, dtype=np.int64)
        self.radius = np.full(batch, np.nan)

    def record(self, rule: StoppingRule, look: int, inputs: np.ndarray, successes: np.ndarray) -> np.ndarray:
        """Apply ``rule`` at ``look`` to ``inputs`` (still running); store the answers of those that stop and
        return the mask (over ``inputs``) of those that stop."""
        decision = rule.decide(look, successes)
        stopped = inputs[decision.stop]
        self.done[stopped] = True
        self.look[stopped] = look
        self.num_samples[stopped] = rule.schedule.sizes[look]
        for name in ("p_lower", "p_upper", "grid_index", "radius"):
            getattr(self, name)[stopped] = getattr(decision, name)[decision.stop]
        return decision.stop

    @property
    def certified(self) -> np.ndarray:
        return self.p_lower > 0.5


def run_stopping_rule(rule: StoppingRule, successes_at_looks: np.ndarray) -> SequentialOutcome:
    """Run ``rule`` on given vote streams: ``successes_at_looks`` (T, K) holds each stream's cumulative votes
    for its selected class at every look (only the looks up to its stop are read). The simulation twin of
    ``certify_sequential``'s loop, for tests and benchmarks."""
    counts = np.asarray(successes_at_looks)
    if counts.ndim != 2 or counts.shape[1] != len(rule.schedule.sizes):
        raise ValueError(f"successes_at_looks must have shape (T, {len(rule.schedule.sizes)}), got {counts.shape}")
    outcome = SequentialOutcome(counts.shape[0])
    active = np.arange(counts.shape[0])
    for look in range(counts.shape[1]):
        if active.size == 0:
            break
        stop = outcome.record(rule, look, active, counts[active, look])
        active = active[~stop]
    return outcome


def simulate_successes(p: np.ndarray, schedule: LookSchedule, rng: np.random.Generator) -> np.ndarray:
    """Cumulative Binomial votes (T, K) at the looks of ``schedule`` of streams whose votes go to the
    selected class with probabilities ``p`` (T,)."""
    p = np.asarray(p, dtype=np.float64)
    steps = np.diff(np.asarray((0,) + schedule.sizes))
    return np.cumsum(rng.binomial(steps[None, :], p[:, None]), axis=1)


# ---- the result ---------------------------------------------------------------------------------------------


@dataclass
class SequentialCertifyResult(CertifyResult):
    """What ``certify_sequential`` returns: a CertifyResult (``n`` is n_max; ``counts_estimation`` the votes
    at each input's stopping look) plus the sequential bookkeeping."""

    num_samples: torch.Tensor | None = None  # (B,) int64: estimation samples each input's answer used
    p_upper: torch.Tensor | None = None  # (B,) float64: the futility upper bound at the stopping look
    grid_index: torch.Tensor | None = None  # (B,) int64: largest certified grid radius (-1: none / no grid)
    radii: tuple[float, ...] | None = None  # the grid (None: rtol mode)
    rtol: float | None = None
    futility: float | None = None
    schedule: LookSchedule | None = None
    forward_passes: int = 0  # rows the model saw: selection, estimation and batch-filling samples


# ---- the sampling loop --------------------------------------------------------------------------------------


class _Counts:
    """Vote counts (rows, K) on the device, allocated when the first logits give K."""

    def __init__(self, rows: int, device: torch.device, width: int | None = None):
        self.rows, self.device = rows, device
        self.tensor = None if width is None else self.zero_counts(width)

    def zero_counts(self, width: int) -> torch.Tensor:
        return torch.zeros(self.rows, width, dtype=torch.int64, device=self.device)

    def get(self, width: int) -> torch.Tensor:
        if self.tensor is None:
            self.tensor = self.zero_counts(width)
        return self.tensor


@dataclass
class _Piece:
    """Samples [offset, offset + count) of the (compacted) inputs lo..hi-1 in one phase, counted into
    target[lo:hi]."""

    lo: int
    hi: int
    phase: int
    offset: int
    count: int
    target: _Counts


class _RowStream:
    """Writes pieces of samples into full batches of one reused buffer and counts the model's votes."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        x = sampler.x
        fmt = torch.channels_last if sampler.channels_last else torch.contiguous_format
        # zeros: under compile every batch is the full buffer (one graph); rows past the batch's are not counted
        self.buffer = torch.zeros((sampler.batch_size, *x.shape[1:]), dtype=sampler.out_dtype,
                                  device=x.device).contiguous(memory_format=fmt)
        passes = sampler.passes
        self.forward = None
        self.cudagraphs = False
        if passes.compiled:
            self.forward = compiled_model(sampler.model, passes.options, x.device.type, passes.autocast)
            self.cudagraphs = passes.options.get("mode") == "reduce-overhead" and x.device.type == "cuda"
        self.rows = 0
        self.pending: list[tuple[int, int, _Counts, int, int, torch.Tensor]] = []
        self.forward_passes = 0

    def draw(self, x: torch.Tensor, ids: torch.Tensor, invalid: torch.Tensor, pieces: list[_Piece]) -> None:
        """Draw every piece (x, ids, invalid: the compacted inputs of this round) and flush the buffer."""
        s = self.sampler
        bs = s.batch_size
        for piece in pieces:
            if piece.count == 0:
                continue
            i, t = piece.lo, 0  # next input and its next local sample
            while i < piece.hi:
                space = bs - self.rows
                if t > 0 or space < piece.count:
                    m, c = 1, min(piece.count - t, space)
                else:
                    m, c = min(space // piece.count, piece.hi - i), piece.count
                rows = self.buffer[self.rows : self.rows + m * c]
                launch_perturb(x[i : i + m], s.noise, c, s.seed, piece.offset + t, piece.phase, ids[i : i + m],
                               None, s.channels_last, rows)
                self.pending.append((self.rows, self.rows + m * c, piece.target, i, i + m, invalid))
                self.rows += m * c
                t += c
                if t == piece.count:
                    i, t = i + m, 0
                if self.rows == bs:
                    self.flush()
        self.flush()

    def flush(self) -> None:
        if self.rows == 0:
            return
        if self.forward is None:
            logits = self.sampler.logits(self.buffer[: self.rows])
        else:
            if self.cudagraphs:  # the previous replay's logits were counted; let this one reuse them
                torch.compiler.cudagraph_mark_step_begin()
            logits = self.sampler.logits(self.buffer, self.forward)
        width = logits.shape[1]
        for a, b, target, lo, hi, invalid in self.pending:
            torch.ops.rsmooth_ext.argmax_count_.default(target.get(width)[lo:hi], invalid[lo:hi], logits[a:b])
        self.forward_passes += self.rows
        self.rows, self.pending = 0, []


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) ranges of equal consecutive values."""
    if values.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(values)) + 1
    edges = np.concatenate([[0], cuts, [values.size]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _filler(rows: int, batch_size: int, inputs: int, offset: int, step: int,
            target: _Counts) -> tuple[list[_Piece], np.ndarray]:
    """Pieces that fill the round's last batch with the next look's samples [offset, offset + step) of the
    first inputs, and how many each got."""
    fill = (-rows) % batch_size
    got = np.zeros(inputs, dtype=np.int64)
    if fill == 0 or step == 0 or inputs == 0:
        return [], got
    whole = min(fill // step, inputs)
    got[:whole] = step
    pieces = [_Piece(0, whole, Phase.SEQUENTIAL, offset, step, target)] if whole else []
    rest = fill - whole * step
    if rest and whole < inputs:
        got[whole] = rest
        pieces.append(_Piece(whole, whole + 1, Phase.SEQUENTIAL, offset, rest, target))
    return pieces, got


def certify_sequential(model, x, noise: Noise, alpha: float, *, n_max: int, radii=None, rtol: float = 0.01,
                       n0: int = 100, adversary: str | None = None, batch_size: int = 1000, seed=None,
                       input_ids=None, labels=None, num_classes: int | None = None,
                       out_dtype: torch.dtype | None = None, channels_last: bool = False,
                       first_look: int = 1000, growth: float = 1.5, final_share: float = 0.5,
                       futility: float | None = 0.05, top2: bool = False, autocast: torch.dtype | None = None,
                       compile: bool | dict = False, fast: bool = False) -> SequentialCertifyResult:
    """Cohen et al.'s CERTIFY with a data-dependent number of estimation samples per input (at most n_max).

    ``n0`` selection samples (the same as ``certify``'s for the same seed) choose c_A; estimation samples
    (their own RNG phase) are then drawn in rounds up to the looks of ``look_schedule(n_max, alpha,
    first_look=, growth=, final_share=)``, and each input stops as soon as ``StoppingRule`` says its answer
    is decided: with ``radii`` (a sorted grid, e.g. a certified-accuracy table's) its answer is the largest
    certified grid radius; without, the radius at the lower bound once it is within ``rtol`` of the radius at
    the upper bound (or at n_max). It abstains (prediction -1, radius 0) once the upper bound is <= 1/2, or
    if the lower bound is <= 1/2 when it stops. The upper bound (one-sided level ``futility`` at every look;
    None: the look's alpha) only stops inputs whose answer can no longer improve; it does not enter the
    guarantee (see ``StoppingRule``).

    With probability at least 1 - alpha (per input), p_lower <= P(f(x + eps) = c_A) at the stopping look, so
    the smoothed classifier predicts c_A within ``radius`` (measured in ``adversary``). ``labels`` skips the
    estimation of inputs whose selected class is wrong, as in ``certify``. ``num_samples`` holds the
    estimation samples each answer used; ``forward_passes`` counts every row the model saw.

    ``top2=True``: the looks stop as above (on p_A), and at the stopping look k the answer uses ``certify``'s
    top-2 bounds at that look's alpha_k (p_lower at alpha_k / 2 and ``p_upper_others``, Bonferroni over the
    other classes): they hold at every look together with probability >= 1 - sum_k alpha_k = 1 - alpha, so at
    the stopping look. Certified when p_lower > p_upper_others, with the pA/pB radius (with ``radii``: the
    largest grid radius it reaches).

    ``autocast``, ``compile`` and ``fast``: as in ``certify``; under compile the model is one graph for the
    round's fixed batch shape (batch_size rows; the last, partial batch runs on the full buffer and only its
    rows are counted)."""
    if not isinstance(top2, bool):
        raise TypeError(f"top2 must be a bool, got {top2!r}")
    alpha = check_probability(alpha)
    n0 = check_int("n0", n0, 1)
    schedule = look_schedule(n_max, alpha, first_look=first_look, growth=growth, final_share=final_share)
    adversary = noise.natural_adversary if adversary is None and isinstance(noise, Noise) else adversary
    sampler = Sampler(model, x, noise, n0, batch_size=batch_size, seed=seed, input_ids=input_ids,
                       num_classes=num_classes, out_dtype=out_dtype, channels_last=channels_last,
                       autocast=autocast, compile=compile, fast=fast)
    dim = math.prod(x.shape[1:])
    noise.certify(0.5, adversary, dim=dim)
    rule = StoppingRule(schedule, lambda p: noise.certify(p, adversary, dim=dim), radii=radii, rtol=rtol,
                        futility=futility)
    host_labels = check_labels(labels, x.shape[0])
    batch, device = x.shape[0], x.device
    outcome = SequentialOutcome(batch)
    top2_lower, top2_upper = np.full(batch, np.nan), np.full(batch, np.nan)
    stream = _RowStream(sampler)
    with EvalMode(model):
        selection, ahead_counts, invalid, ahead = _select(sampler, stream, schedule)
        width = selection.shape[1]
        look_counts = torch.zeros_like(selection)
        host = torch.cat([selection.flatten(), invalid]).cpu().numpy()  # sync: the selection
        raise_if_invalid(host[batch * width :], "selection")
        top = host[: batch * width].reshape(batch, width).argmax(axis=1) if batch else np.zeros(0, dtype=np.int64)
        check_labels_in_range(host_labels, width)
        skipped = np.zeros(batch, dtype=bool) if host_labels is None else top != host_labels
        active = np.flatnonzero(~skipped)
        top_device = torch.from_numpy(top).to(device)
        previous = 0
        for look, size in enumerate(schedule.sizes):
            if active.size == 0:
                break
            rows = torch.from_numpy(active).to(device)
            main = _Counts(active.size, device, width)
            round_invalid = torch.zeros(active.size, dtype=torch.int64, device=device)
            starts = previous + ahead[active]
            pieces = [_Piece(lo, hi, Phase.SEQUENTIAL, int(starts[lo]), size - int(starts[lo]), main)
                      for lo, hi in _runs(starts) if size > starts[lo]]
            needed = int((size - starts).sum())
            following = schedule.sizes[look + 1] - size if look + 1 < len(schedule.sizes) else 0
            next_ahead = _Counts(active.size, device, width)
            filler, got = _filler(needed, sampler.batch_size, active.size, size, following, next_ahead)
            stream.draw(sampler.x[rows], as_uint32_ids(sampler.input_ids[rows]), round_invalid, pieces + filler)
            look_counts[rows] += ahead_counts[rows] + main.tensor
            ahead_counts[rows] = next_ahead.tensor
            ahead[active] = got
            invalid[rows] += round_invalid
            successes = look_counts[rows, top_device[rows]]
            parts = [successes, invalid] + ([look_counts[rows].flatten()] if top2 else [])
            host = torch.cat(parts).cpu().numpy()  # sync: one per round
            raise_if_invalid(host[active.size : active.size + batch], "estimation")
            stop = outcome.record(rule, look, active, host[: active.size])
            if top2 and stop.any():
                counts_now = host[active.size + batch :].reshape(active.size, width)[stop]
                stopped = active[stop]
                top2_lower[stopped], top2_upper[stopped] = top2_bounds(counts_now, top[stopped],
                                                                       schedule.alphas[look])
            active, previous = active[~stop], size
    p_upper_others = None
    if top2:
        p_lower = np.where(skipped, np.nan, top2_lower)
        p_upper_others = np.where(skipped, np.nan, top2_upper)
        certified = p_lower > p_upper_others
        radius = np.zeros(batch)
        if certified.any():
            radius[certified] = certify_top2(noise, p_lower[certified], p_upper_others[certified], adversary,
                                             dim=dim)
            if rule.radii is not None:  # the largest grid radius reached
                index = np.searchsorted(rule.radii, radius[certified], side="right") - 1
                radius[certified] = np.where(index >= 0, rule.radii[np.maximum(index, 0)], 0.0)
        radius = np.where(skipped, np.nan, radius)
    else:
        p_lower = np.where(skipped, np.nan, outcome.p_lower)
        certified = p_lower > 0.5
        radius = np.where(skipped, np.nan, np.where(certified, outcome.radius, 0.0))
    prediction = np.where(certified | skipped, top, ABSTAIN).astype(np.int64)
    return SequentialCertifyResult(
        prediction=torch.from_numpy(prediction).to(device),
        p_lower=torch.from_numpy(p_lower).to(device),
        radius=torch.from_numpy(radius).to(device),
        counts_selection=selection,
        counts_estimation=look_counts,
        seed=sampler.seed,
        n0=n0,
        n=schedule.sizes[-1],
        alpha=alpha,
        noise=noise,
        adversary=adversary,
        skipped=torch.from_numpy(skipped).to(device),
        p_upper_others=None if p_upper_others is None else torch.from_numpy(p_upper_others).to(device),
        num_samples=torch.from_numpy(outcome.num_samples).to(device),
        p_upper=torch.from_numpy(np.where(skipped, np.nan, outcome.p_upper)).to(device),
        grid_index=torch.from_numpy(outcome.grid_index).to(device),
        radii=None if rule.radii is None else tuple(rule.radii.tolist()),
        rtol=None if rule.radii is not None else rule.rtol,
        futility=rule.futility,
        schedule=schedule,
        forward_passes=stream.forward_passes,
    )


def _select(sampler: Sampler, stream: _RowStream, schedule: LookSchedule):
    """The selection round: n0 samples of every input (certify's Phase.SELECTION stream), its last batch
    filled with the first look's estimation samples. Returns the device tensors (selection counts, counts
    ahead of the first look, invalid tallies) and the host array of samples drawn ahead."""
    x = sampler.x
    batch = x.shape[0]
    selection, ahead_counts = _Counts(batch, x.device, sampler.num_classes), _Counts(batch, x.device)
    invalid = torch.zeros(batch, dtype=torch.int64, device=x.device)
    pieces = [_Piece(0, batch, Phase.SELECTION, 0, sampler.n, selection)] if batch else []
    filler, ahead = _filler(batch * sampler.n, sampler.batch_size, batch, 0, schedule.sizes[0], ahead_counts)
    stream.draw(x, sampler.launch_ids, invalid, pieces + filler)
    width = sampler.num_classes or 0  # set by the first batch (0 for an empty x)
    return selection.get(width), ahead_counts.get(width), invalid, ahead
