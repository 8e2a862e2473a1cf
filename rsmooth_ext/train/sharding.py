"""Data-parallel training under torchrun: this rank's share of each global batch, the loss weight that makes
DistributedDataParallel's averaged gradient the single-process gradient of the whole batch, the sums the log
reduces over ranks, and the agreement on a start-up error (every rank raises the same one).

Without an active process group (one rank) every helper is the identity: the share is the whole batch with
weight 1 and nothing is reduced."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..sampling import distributed as dist


@dataclass(frozen=True)
class Share:
    """This rank's part of a global batch of ``size`` examples: rows [begin, end) of it (contiguous; the
    sizes of the ranks' shares differ by at most 1), and ``weight``, the factor on the share's mean loss.

    DDP averages the ranks' gradients (divides their sum by the world size W), and each rank's loss is the
    mean over its share of n_r examples, so the weight is n_r * W / size: the averaged gradient is then
    sum_r (n_r / size) * grad(mean over share r) = grad(mean over the whole batch), the single-process update.
    A rank whose share is empty (a last batch of fewer than W examples) still takes part in DDP's all-reduce:
    it runs the step on the batch's first example (``stand_in``) with weight 0, so its gradient is zero."""

    begin: int
    end: int
    size: int
    weight: float

    @property
    def stand_in(self) -> bool:
        return self.begin == self.end

    @property
    def rows(self) -> slice:
        """The rows this rank runs: its share, or the stand-in example of an empty share."""
        return slice(0, 1) if self.stand_in else slice(self.begin, self.end)

    @property
    def count(self) -> int:
        """Examples of this rank that count in the log's sums (0 for a stand-in)."""
        return self.end - self.begin


def share_of(size: int, distributed: bool) -> Share:
    """This rank's share of a global batch of ``size`` >= 1 examples (the whole batch, weight 1, without
    ``distributed`` or on one rank)."""
    rank, world = dist.rank_and_world() if distributed else (0, 1)
    if world == 1:
        return Share(0, size, size, 1.0)
    begin, end = dist.sample_share(size)  # the same contiguous split as certify's samples
    return Share(begin, end, size, (end - begin) * world / size)


def range_share(n: int, distributed: bool) -> range:
    """This rank's contiguous part of n items (all of them without ``distributed`` or on one rank), e.g. the
    test examples it evaluates."""
    return range(*dist.sample_share(n)) if distributed else range(n)


def reduced_sums(distributed: bool, *values: float) -> list[float]:
    """``values`` summed over the ranks under ``distributed`` (float64; unchanged otherwise or on one rank)."""
    if not distributed or not dist.is_active():
        return list(values)
    sums = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce_sum(sums)
    return sums.tolist()


def agree_on_error(error: BaseException | None, kinds: tuple[type[BaseException], ...]) -> None:
    """Raise on every rank the start-up error of the lowest rank that had one (``error``: this rank's, or None);
    return if no rank had one. The other ranks raise it with the same message, as the same type when it is one
    of ``kinds``, else as the first of ``kinds``. A collective, so every rank calls it once before the first
    step: a rank that cannot start stops the others instead of leaving them waiting in DDP's first all-reduce."""
    if not dist.is_active():
        if error is not None:
            raise error
        return
    rank, world = dist.rank_and_world()
    mine = None if error is None else (type(error).__name__, str(error))
    everyone: list = [None] * world
    torch.distributed.all_gather_object(everyone, mine)
    failed = [(r, e) for r, e in enumerate(everyone) if e is not None]
    if not failed:
        return
    first, (kind, message) = failed[0]
    if first == rank:
        raise error
    rebuilt = next((k for k in kinds if k.__name__ == kind), kinds[0])
    raise rebuilt(message)


def _collective_device() -> torch.device:
    """Where the process group's collectives take tensors: this rank's GPU under NCCL, else the CPU."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
