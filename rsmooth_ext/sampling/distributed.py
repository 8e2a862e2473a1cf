"""torch.distributed support: sharding by Monte Carlo sample (``distributed=True`` in the API) and by
input (the ``rsmooth`` command under torchrun). Because every sample is a pure function of
(seed, input id, sample index), a sharded run returns exactly what a single process returns.

Everything is a no-op without an initialised default process group."""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 1800.0


def is_active() -> bool:
    """True inside an initialised default process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def _use_cuda() -> bool:
    """One GPU per local rank when there are enough of them (and RSMOOTH_DIST_DEVICE is not 'cpu')."""
    if os.environ.get("RSMOOTH_DIST_DEVICE", "").lower() == "cpu" or not torch.cuda.is_available():
        return False
    return torch.cuda.device_count() >= int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def local_device() -> torch.device:
    """cuda:LOCAL_RANK when every local rank can have its own GPU, else the CPU (RSMOOTH_DIST_DEVICE=cpu
    forces the CPU)."""
    if _use_cuda():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init_from_env(timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Initialise the default process group from torchrun's environment (NCCL on GPUs, gloo on CPUs),
    with a timeout on collectives so that a dead rank fails the run instead of hanging it. Returns
    whether a multi-rank group is active."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return is_active()
    device = local_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                            timeout=datetime.timedelta(seconds=timeout_s))
    return is_active()


def sample_share(n: int) -> tuple[int, int]:
    """This rank's share [begin, end) of n Monte Carlo samples (contiguous, sizes differ by at most 1)."""
    rank, world = rank_and_world()
    return rank * n // world, (rank + 1) * n // world


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum tensors over all ranks, in place."""
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)


def shutdown() -> None:
    """Destroy the default process group if one is initialised (lets gloo / NCCL threads exit cleanly)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
