"""Sound smoothing's exact thresholds and grid arithmetic (docs/sound.md).

A sound noise draws delta = i / G from a continuous symmetric law F discretised to the grid of step 1 / G:
P(delta = i / G) = F((2i+1)/(2G)) - F((2i-1)/(2G)), the law of round(G Z) / G for Z ~ F. The kernel samples it
by comparing a 64-bit random word with the thresholds T[i] = floor(2^64 F((2i+1)/(2G))), i = 0 .. M-1,
computed here once per (family, lambda, G, clip) in high precision (mpmath, or exact rationals for the
uniform law) and cached like the certificate tables: the user cache directory (RSMOOTH_CACHE_DIR, else
$XDG_CACHE_HOME/rsmooth_ext, under ``sound/``), npz files whose header must match what is asked for.

M = G + C (C the clip bound in grid steps) unless the law ends earlier: then M - 1 is the last i with
F((2i+1)/(2G)) < 1. The kernel's magnitude k = M stands for every |i| >= M, which all clamp to the same output
(docs/sound.md, "Tails").
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch

from .cache import atomic_write, cache_dir

FORMAT_VERSION = 1
FAMILIES = ("gaussian", "laplace", "uniform")
MAX_GRID = 1 << 16  # csrc/rsmooth/grid_noise.h kMaxGrid
PRECISION_BITS = 256  # mpmath working precision; the floor is confirmed at PRECISION_BITS + 64
FLAG_INDEX, FLAG_CHECKED = 1, 2  # csrc/rsmooth/grid_noise.h kFlagIndex, kFlagChecked
_TWO64 = 1 << 64


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of one (family, lambda, G, C): ``values`` (M,) as Python ints in [2^63, 2^64)."""

    family: str
    lambd: float
    grid: int
    clip_steps: int
    values: tuple[int, ...]

    @property
    def entries(self) -> int:
        """M, the number of thresholds."""
        return len(self.values)

    def probabilities(self) -> list[Fraction]:
        """The law the kernel samples, exactly: P(|delta| = k / G) for k = 0 .. M (k = M: every |i| >= M),
        from the thresholds (the sign is one fair bit, so P(delta = +-k / G) is half of it for k >= 1)."""
        t = self.values
        half = _TWO64 >> 1
        masses = [2 * (t[0] - half)] + [2 * (t[k] - t[k - 1]) for k in range(1, len(t))] + [2 * (_TWO64 - t[-1])]
        return [Fraction(m, _TWO64) for m in masses]


def survival_at_half_steps(family: str, lambd: float, grid: int, count: int, bits: int) -> list:
    """S(t) = 1 - F(t) at t = (2i+1)/(2G), i = 0 .. count-1: mpmath mpf at ``bits`` of precision (S itself, not
    1 - F, so the far tails keep their relative precision), exact Fractions for the uniform law."""
    import mpmath

    if family == "uniform":  # exact: S(t) = max(0, (lambda - t) / (2 lambda)) for t >= 0
        lam = Fraction(lambd)
        return [max(Fraction(0), (lam - Fraction(2 * i + 1, 2 * grid)) / (2 * lam)) for i in range(count)]
    with mpmath.workprec(bits):
        lam = mpmath.mpf(lambd)  # the float's exact value
        points = [mpmath.mpf(2 * i + 1) / (2 * grid) for i in range(count)]
        if family == "gaussian":
            return [mpmath.erfc(t / (lam * mpmath.sqrt(2))) / 2 for t in points]
        if family == "laplace":
            return [mpmath.exp(-t / lam) / 2 for t in points]
    raise ValueError(f"sound noise: family must be one of {', '.join(FAMILIES)}, got {family!r}")


def _floors(survival, bits: int) -> list[int]:
    """floor(2^64 (1 - S)) = 2^64 - ceil(2^64 S): exact for the rationals; for the transcendental values
    (never an integer times 2^-64) the precision decides it (checked at two precisions)."""
    import mpmath

    if survival and isinstance(survival[0], Fraction):
        return [_TWO64 - math.ceil(v * _TWO64) for v in survival]
    with mpmath.workprec(bits):
        return [_TWO64 - int(mpmath.ceil(v * _TWO64)) for v in survival]


def compute_thresholds(family: str, lambd: float, grid: int, clip_steps: int) -> Thresholds:
    """The thresholds, computed now: each the exact floor of 2^64 F((2i+1)/(2G)) (confirmed at two precisions)."""
    count = grid + clip_steps
    floors = _floors(survival_at_half_steps(family, lambd, grid, count, PRECISION_BITS), PRECISION_BITS)
    check = _floors(survival_at_half_steps(family, lambd, grid, count, PRECISION_BITS + 64), PRECISION_BITS + 64)
    if floors != check:
        raise ArithmeticError(f"sound thresholds of {family} (lambda={lambd!r}, G={grid}): the floor differs between "
                              f"{PRECISION_BITS} and {PRECISION_BITS + 64} bits of precision")
    values = tuple(v for v in floors if v < _TWO64)  # F = 1 (the uniform law's end): no mass beyond
    if not values:
        raise ValueError(f"sound noise: lambda={lambd!r} is below half a grid step 1/(2 G) = {1 / (2 * grid):g}: "
                         "the discretised law is a point mass at 0")
    if values[0] < _TWO64 >> 1 or any(b < a for a, b in zip(values, values[1:])):
        raise ArithmeticError(f"sound thresholds of {family} (lambda={lambd!r}, G={grid}) are not increasing from 2^63")
    return Thresholds(family, float(lambd), grid, clip_steps, values)


def _header(family: str, lambd: float, grid: int, clip_steps: int) -> dict:
    return {"format": FORMAT_VERSION, "family": family, "lambd": float(lambd).hex(), "grid": grid,
            "clip_steps": clip_steps}


def file_name(family: str, lambd: float, grid: int, clip_steps: int) -> str:
    """The cache file of one (family, lambda, G, C)."""
    return f"{family}_lambd{float(lambd).hex()}_grid{grid}_clip{clip_steps}.npz"


@lru_cache(maxsize=64)
def get_thresholds(family: str, lambd: float, grid: int, clip_steps: int) -> Thresholds:
    """The thresholds of (family, lambda, G, C): from memory, the user cache, or computed now (and cached)."""
    header = _header(family, lambd, grid, clip_steps)
    path = os.path.join(cache_dir(), "sound", file_name(family, lambd, grid, clip_steps))
    loaded = _load(path, header)
    if loaded is not None:
        return Thresholds(family, float(lambd), grid, clip_steps, loaded)
    thresholds = compute_thresholds(family, lambd, grid, clip_steps)
    _save(path, header, thresholds.values)
    return thresholds


def _load(path: str, header: dict) -> tuple[int, ...] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if json.loads(str(f["header"])) != header:
                return None
            values = f["thresholds"]
    except (OSError, KeyError, ValueError):
        return None
    return tuple(int(v) for v in values.astype(np.uint64))


def _save(path: str, header: dict, values: tuple[int, ...]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, header=np.array(json.dumps(header, sort_keys=True)),
                        thresholds=np.array(values, dtype=np.uint64))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


GUIDE_BITS = 12  # csrc/rsmooth/grid_noise.h kGuideBits


OFFSET_BITS = 31 - GUIDE_BITS  # grid_noise.h kOffsetBits
COUNT_LIMIT = 1 << (31 - OFFSET_BITS)  # grid_noise.h: k0 < 2^kCountBits


def table_words(thresholds: Thresholds) -> np.ndarray:
    """The kernel's table (csrc/rsmooth/grid_noise.h), int32 words (uint32 bit patterns):
    [guide: 2^GUIDE_BITS][high words: L][low words: L], L = 2^depth - 1 > M, the thresholds padded with
    2^64 - 1. Bucket b holds the high words 2^31 + b 2^OFFSET_BITS + [0, 2^OFFSET_BITS); its entry is
    mark << 31 | k0 << OFFSET_BITS | o with k0 = #{i : hi[i] below the bucket}, o the offset of its one high word
    (2^OFFSET_BITS - 1 if none), mark set for two or more (or for all buckets when M >= 2^(31 - OFFSET_BITS))."""
    m = thresholds.entries
    length = (1 << math.ceil(math.log2(m + 2))) - 1
    values = np.full(length, np.uint64(_TWO64 - 1), dtype=np.uint64)
    values[:m] = np.array(thresholds.values, dtype=np.uint64)
    hi = (values >> np.uint64(32)).astype(np.uint32)
    lo = (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    width = 1 << OFFSET_BITS
    starts = (1 << 31) + width * np.arange(1 << GUIDE_BITS, dtype=np.int64)
    wide = hi.astype(np.int64)
    below_start = np.searchsorted(wide, starts, side="left")
    inside = np.searchsorted(wide, starts + width, side="left") - below_start
    first = wide[np.minimum(below_start, length - 1)] - starts
    offset = np.where(inside == 1, first, width - 1)
    mark = (inside >= 2) | (m >= COUNT_LIMIT)
    count = np.where(m >= COUNT_LIMIT, 0, below_start)
    guide = (mark.astype(np.int64) << 31) | (count << OFFSET_BITS) | offset
    return np.concatenate([guide.astype(np.uint32), hi, lo]).view(np.int32)


# ---- the grid -----------------------------------------------------------------------------------------


def _divide_by_grid(values: torch.Tensor, grid: int) -> torch.Tensor:
    """float32 values / G, correctly rounded on every device. The divisor is a tensor on the values' device:
    CUDA divides by a Python number as a multiplication by its rounded reciprocal, which is one ulp off for
    some i / G (117 / 255, say)."""
    return values / torch.full((), float(grid), dtype=torch.float32, device=values.device)  # filled there: no copy


def grid_values(indices: torch.Tensor, grid: int, dtype: torch.dtype) -> torch.Tensor:
    """Grid index i -> the grid value i / G as the kernels write it: float32(i) / G (correctly rounded), then
    rounded to ``dtype``."""
    return _divide_by_grid(indices.to(torch.float32), grid).to(dtype)


def grid_indices(x: torch.Tensor, grid: int) -> torch.Tensor:
    """The nearest grid index round(x G) (int64) of each element, computed as the kernels do (float32)."""
    return torch.round(x.to(torch.float32) * grid).to(torch.int64)


def quantize(x: torch.Tensor, grid: int) -> torch.Tensor:
    """x rounded to the nearest grid value of [0, 1] (indices clamped to [0, G]), in x's dtype."""
    return grid_values(grid_indices(x, grid).clamp(0, grid), grid, x.dtype)


def check_on_grid(x: torch.Tensor, grid: int, owner: str) -> None:
    """Raise a ValueError naming the first element of x that is not a grid value i / G, i in [0, G]."""
    # out-of-range indices are clamped, so they fail the comparison; NaN fails it too
    snapped = _divide_by_grid(torch.round(x.to(torch.float32) * grid).clamp_(0, grid), grid).to(x.dtype)
    bad = snapped != x
    if bool(bad.any()):
        first = int(torch.nonzero(bad.reshape(-1))[0, 0])
        value = float(x.reshape(-1)[first])
        raise ValueError(f"{owner}: x must lie on the grid {{i / {grid} : i = 0 .. {grid}}} (as {x.dtype} stores it); "
                         f"x.flatten()[{first}] = {value!r} is not. Quantise x first (quantize=True) or pass grid "
                         "values")


def check_output_dtype(dtype: torch.dtype, grid: int, clip_steps: int, index: bool, owner: str) -> None:
    """Raise unless ``dtype`` writes every output grid point (indices -C .. G + C) as a distinct value."""
    indices = torch.arange(-clip_steps, grid + clip_steps + 1)
    values = indices.to(dtype) if index else grid_values(indices, grid, dtype)
    if index and not bool((values.to(torch.float64) == indices.to(torch.float64)).all()):
        raise ValueError(f"{owner}: out_dtype {dtype} cannot hold the grid indices {-clip_steps} .. "
                         f"{grid + clip_steps} exactly; use torch.float32")
    if not index and bool((values[1:].to(torch.float64) <= values[:-1].to(torch.float64)).any()):
        raise ValueError(f"{owner}: out_dtype {dtype} cannot tell the grid values {-clip_steps}/{grid} .. "
                         f"{grid + clip_steps}/{grid} apart; use torch.float32 or float16, a smaller clip, or "
                         "index=True")
