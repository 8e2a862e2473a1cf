"""Seeds: the ops take a plain 64-bit int; the Python API takes ``int | torch.Generator | None``."""

from __future__ import annotations

import numbers

import torch

SEED_LIMIT = 2**63  # the ops' seed is an int64; the Philox key is its 64 bits


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
