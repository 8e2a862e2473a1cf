"""Seeds and RNG phases. The ops take a plain 64-bit int seed; the Python API takes ``int | torch.Generator |
None``. A phase is the part of the Philox counter that keeps the independent Monte Carlo streams of one seed
apart (csrc/rsmooth/counter.h: kPhaseShift); every stream of the library has its member of ``Phase``."""

from __future__ import annotations

import enum
import numbers

import torch

SEED_LIMIT = 2**63  # the ops' seed is an int64; the Philox key is its 64 bits


class Phase(enum.IntEnum):
    """The RNG phases: one independent noise stream per Monte Carlo estimate (and per other use of the noise).
    The values are part of the reproducibility contract: a given (seed, phase) always draws the same noise."""

    PREDICT = 0  # predict / sample_counts
    SELECTION = 1  # certify's n0 selection samples (also certify_sequential's)
    ESTIMATION = 2  # certify's n estimation samples
    SOFT = 3  # predict_soft
    TRAINING = 4  # noisy copies drawn by the training losses
    AUGMENT = 5  # the demo's training augmentation
    SEQUENTIAL = 6  # certify_sequential's estimation samples
    ATTACK = 7  # the noisy copies an attack on the soft smoothed classifier differentiates through


def resolve_seed(seed: int | torch.Generator | None, name: str = "seed") -> int:
    """Return a seed in [0, 2^63). An int is checked and kept; a torch.Generator (or None: torch's default
    generator) gives one draw, so ``torch.manual_seed`` makes a run reproducible."""
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, SEED_LIMIT - 1, (), generator=seed, device=seed.device).item())
    if seed is None:
        return int(torch.randint(0, SEED_LIMIT - 1, ()).item())
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int, a torch.Generator or None, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be in [0, 2^63), got {seed}")
    return int(seed)
