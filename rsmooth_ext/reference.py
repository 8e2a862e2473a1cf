"""Pure-PyTorch (and NumPy) references of every kernel, written the way a PyTorch user would.

* ``perturb_reference`` draws each family with torch's own generators (repeat, randn/rand/distributions,
  mul, add): the baseline of the benchmarks, and a second, independent sampler of the same laws for the
  statistical tests. It does not reproduce our counter-based stream, only its distribution. Each family's
  sampler is registered beside it with ``@reference_sampler(SpecClass)``.
* ``philox4x32_10_numpy`` and ``noise_words`` re-implement the RNG contract in NumPy, so tests can
  check the kernels' uint32 streams (and the noise built from them) exactly.
* ``perturb_sound_reference`` re-implements the sound (grid) kernel in PyTorch from those words: a sorted search
  of the 64-bit words in the thresholds, integer arithmetic only, bit-identical to the kernels.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import numpy as np
import torch

from . import noises
from .noises import Noise

# ---- the RNG contract in NumPy ---------------------------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)


class Purpose(enum.IntEnum):
    """The purpose tags of the Philox counter's last word (csrc/rsmooth/counter.h: Purpose, kPurpose*): the
    one place in Python that mirrors them. The phase (rsmooth_ext.seeding.Phase) sits above them."""

    ELEMENTS = 0  # per-element noise words
    RADIUS = 1  # radial families: the radius sampler, one block per attempt
    CHOICE = 2  # radial families: per-sample extras (l_inf coordinate, sign, gamma boosts)
    RADIUS_DENOMINATOR = 3  # beta-prime radii: the second gamma, one block per attempt
    ELEMENT_GAMMA = 4  # per-element gamma attempts, block = (attempt pair << 28) | element
    GRID_LOW = 5  # grid (sound) noise: the low 32 bits of an element's 64-bit word, same layout as ELEMENTS


PURPOSE_ELEMENTS, PURPOSE_RADIUS, PURPOSE_CHOICE = Purpose.ELEMENTS, Purpose.RADIUS, Purpose.CHOICE
PHASE_SHIFT = 4  # counter.h kPhaseShift: tag = (phase << PHASE_SHIFT) | purpose
MAX_PHASE = (1 << (32 - PHASE_SHIFT)) - 1  # counter.h kMaxPhase


def philox4x32_10_numpy(counters: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of counters (N, 4) under key (k0, k1), in uint64 arithmetic (exact 32x32->64)."""
    c = [np.asarray(counters, dtype=np.uint64)[:, i] & _MASK32 for i in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for _ in range(10):
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        k0, k1 = (k0 + _W0) & _MASK32, (k1 + _W1) & _MASK32
    return np.stack(c, axis=1).astype(np.uint32)


def noise_words(seed: int, input_id: int, sample: int, num_blocks: int, *, purpose: int = Purpose.ELEMENTS,
                phase: int = 0, first_block: int = 0) -> np.ndarray:
    """The uint32 words of blocks first_block .. first_block+num_blocks-1 of one sample's stream, flattened
    (4 words per block; element j of an i.i.d. family uses word j). ``phase`` is a seeding.Phase or an int
    in [0, MAX_PHASE]."""
    if not 0 <= phase <= MAX_PHASE:
        raise ValueError(f"phase must be in [0, {MAX_PHASE}], got {phase}")
    blocks = np.arange(first_block, first_block + num_blocks, dtype=np.uint64)
    counters = np.stack(
        [
            blocks,
            np.full_like(blocks, sample),
            np.full_like(blocks, input_id),
            np.full_like(blocks, (int(phase) << PHASE_SHIFT) | int(purpose)),
        ],
        axis=1,
    )
    return philox4x32_10_numpy(counters, (seed & 0xFFFFFFFF, seed >> 32)).reshape(-1)


def u01_float32(words: np.ndarray) -> np.ndarray:
    """The kernels' uniform in (0, 1]: (w >> 1) * 2^-31 + 2^-32, in float32."""
    return (words >> np.uint32(1)).astype(np.int32).astype(np.float32) * np.float32(2.0**-31) + np.float32(2.0**-32)


# ---- the pure-PyTorch sampling path ---------------------------------------------------------------

# noise, shape (rows, *input_shape), generator, device -> the noise of that shape
Sampler = Callable[[Noise, tuple, "torch.Generator | None", object], torch.Tensor]
_SAMPLERS: dict[type[Noise], Sampler] = {}
_COMBINE: dict[type[Noise], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {}


def reference_sampler(spec: type[Noise], *, combine: Callable = torch.add) -> Callable[[Sampler], Sampler]:
    """Register the decorated function as the reference sampler of ``spec`` (and its subclasses);
    ``combine(x, eps)`` applies its draws to the inputs (default: x + eps)."""

    def register(sampler: Sampler) -> Sampler:
        _SAMPLERS[spec] = sampler
        _COMBINE[spec] = combine
        return sampler

    return register


def _registered(noise: Noise) -> type[Noise]:
    for cls in type(noise).__mro__:
        if cls in _SAMPLERS:
            return cls
    raise TypeError(f"no reference sampler for {type(noise).__name__}; registered: "
                    f"{', '.join(cls.__name__ for cls in _SAMPLERS)}")


def sample_noise_reference(noise: Noise, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                           device="cpu") -> torch.Tensor:
    """Draw noise of ``shape`` = (rows, *input_shape) with torch's samplers (not our stream).
    For Masking this returns the keep mask (1 = kept)."""
    return _SAMPLERS[_registered(noise)](noise, shape, generator, device)


def perturb_reference(x: torch.Tensor, noise: Noise, num_samples: int, *,
                      generator: torch.Generator | None = None, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """What a user writes without rsmooth_ext: repeat each input num_samples times, draw noise with torch,
    add, cast. Input-major like ``rsmooth_ext.perturb``."""
    batch = x.repeat_interleave(num_samples, dim=0).float()
    combine = _COMBINE[_registered(noise)]
    eps = sample_noise_reference(noise, tuple(batch.shape), generator=generator, device=x.device)
    combined = combine(batch, eps, noise) if getattr(combine, "takes_noise", False) else combine(batch, eps)
    return combined.to(out_dtype or x.dtype)


def _signs(shape, generator, device) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=generator, device=device).float() * 2 - 1


def _rows_and_dim(shape) -> tuple[int, int]:
    return shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1


# -- i.i.d. families

@reference_sampler(noises.Gaussian)
def _gaussian(noise, shape, g, device):
    return torch.randn(shape, generator=g, device=device) * noise.lambd


@reference_sampler(noises.Laplace)
def _laplace(noise, shape, g, device):
    u = torch.rand(shape, generator=g, device=device) - 0.5
    return -noise.lambd * torch.sign(u) * torch.log1p(-2 * u.abs())


@reference_sampler(noises.Uniform)
def _uniform(noise, shape, g, device):
    return (torch.rand(shape, generator=g, device=device) * 2 - 1) * noise.lambd


@reference_sampler(noises.Lomax)
def _lomax(noise, shape, g, device):
    u = 1 - torch.rand(shape, generator=g, device=device)  # (0, 1]
    return _signs(shape, g, device) * noise.lambd * (u.pow(-1.0 / noise.k) - 1)


@reference_sampler(noises.Masking, combine=torch.mul)
def _masking(noise, shape, g, device):  # the keep mask: x * mask
    return (torch.rand(shape, generator=g, device=device) < noise.keep).float()


@reference_sampler(noises.Expp)
def _expp(noise, shape, g, device):  # |eps| = lambda * Gamma(1/p)^(1/p), random sign
    with _fork(g):
        magnitude = _gamma(1.0 / noise.p, shape, device).pow(1.0 / noise.p)
    return (_signs(shape, g, device) * noise.lambd * magnitude).float()


# -- sound (grid) families: the thresholds' law, from torch's 64-bit words

_HALF64 = 1 << 63


def _sound_magnitudes(noise, reflected: torch.Tensor) -> torch.Tensor:
    """k = min(#{i : T[i] <= u'}, M) for reflected words u' in [2^63, 2^64), given as int64 u' - 2^63."""
    values = noise.thresholds().values
    shifted = torch.tensor([v - _HALF64 for v in values], dtype=torch.int64, device=reflected.device)
    return torch.searchsorted(shifted, reflected.contiguous(), right=True).clamp(max=len(values))


def _sound_output(noise, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """clamp(round(x G) + delta, -C, G + C) as the kernels write it (float32 values i / G, or the indices)."""
    from .grid import grid_indices, grid_values

    out = (grid_indices(x, noise.grid) + delta).clamp(-noise.clip_steps, noise.grid + noise.clip_steps)
    return out.to(torch.float32) if noise.index else grid_values(out, noise.grid, torch.float32)


def _sound_combine(x, delta, noise):
    return _sound_output(noise, x, delta)


_sound_combine.takes_noise = True


@reference_sampler(noises._Sound, combine=_sound_combine)
def _sound(noise, shape, g, device):  # the signed grid-step deltas (int64), from torch's random words
    sign = torch.randint(0, 2, shape, generator=g, device=device)
    # a 63-bit word (the reflected word less 2^63; randint's exclusive bound costs 2^-64 of uniformity)
    reflected = torch.randint(-_HALF64, _HALF64 - 1, shape, generator=g, device=device, dtype=torch.int64)
    reflected = reflected & (_HALF64 - 1)
    magnitude = _sound_magnitudes(noise, reflected)
    return torch.where(sign == 1, magnitude, -magnitude)


def perturb_sound_reference(x: torch.Tensor, noise, num_samples: int, *, seed: int, offset: int = 0,
                            input_ids=None, phase: int = 0, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """The sound kernel re-implemented: element j of sample s of input id uses the 64-bit word
    u = (hi << 32) | lo, hi = word j of the ELEMENTS stream, lo = word j of the GRID_LOW stream
    (``noise_words``); sign = top bit of u, u' = u or ~u, k = min(#{T <= u'}, M), out = clamp(round(x G) +- k,
    -C, G + C) written as i / G (or i). x must be on the grid (not checked here). Input-major like the op."""
    rows, d = x.shape[0], math.prod(x.shape[1:])
    ids = range(rows) if input_ids is None else [int(i) for i in input_ids]
    blocks = (d + 3) // 4
    out = []
    for i, input_id in enumerate(ids):
        for s in range(offset, offset + num_samples):
            hi = noise_words(seed, input_id, s, blocks, phase=phase)[:d].astype(np.uint64)
            lo = noise_words(seed, input_id, s, blocks, phase=phase, purpose=Purpose.GRID_LOW)[:d].astype(np.uint64)
            word = (hi << np.uint64(32)) | lo
            negative = (hi >> np.uint64(31)) == 0
            reflected = np.where(negative, ~word, word) - np.uint64(_HALF64)
            magnitude = _sound_magnitudes(noise, torch.from_numpy(reflected.astype(np.int64)))
            delta = torch.where(torch.from_numpy(negative), -magnitude, magnitude)
            out.append(_sound_output(noise, x[i].reshape(-1).cpu(), delta))
    result = torch.stack(out) if out else torch.empty((0, d))
    return result.reshape(rows * num_samples, *x.shape[1:]).to(out_dtype or x.dtype)


# -- radial families: a radius per row (drawn first), then a point on the unit sphere

def _radial(radius: torch.Tensor, direction: torch.Tensor, shape) -> torch.Tensor:
    return (radius[:, None] * direction).reshape(shape)


def _gamma_radius(noise, rows, d, g, device, j: float = 0.0) -> torch.Tensor:
    """r = lambda Z^(1/k), Z ~ Gamma((d - j)/k, 1)."""
    shape_j = (d - j) / noise.k
    gamma = torch.distributions.Gamma(torch.tensor(shape_j, device=device), torch.tensor(1.0, device=device))
    with _fork(g):
        z = gamma.sample((rows,))
    return noise.lambd * z.pow(1.0 / noise.k)


def _beta_prime_radius(noise, rows, d, g, device) -> torch.Tensor:
    """(r / lambda)^k ~ BetaPrime(d/k, a - d/k) = Gamma(d/k) / Gamma(a - d/k)."""
    with _fork(g):
        t = _gamma(d / noise.k, (rows,), device) / _gamma(noise.a - d / noise.k, (rows,), device)
    return (noise.lambd * t.pow(1.0 / noise.k)).float()


def _linf_direction(rows, d, g, device) -> torch.Tensor:
    """On the unit l_inf sphere: one uniformly chosen coordinate +-1, the others uniform on (-1, 1)."""
    direction = torch.rand(rows, d, generator=g, device=device) * 2 - 1
    chosen = torch.randint(0, d, (rows, 1), generator=g, device=device)
    direction.scatter_(1, chosen, _signs((rows, 1), g, device))
    return direction


def _l1_direction(rows, d, g, device) -> torch.Tensor:
    """Uniform on the unit l1 sphere: Dirichlet(1) with random signs."""
    dirichlet = torch.distributions.Dirichlet(torch.ones(d, device=device))
    with _fork(g):
        direction = dirichlet.sample((rows,))
    return direction * _signs((rows, d), g, device)


def _l2_direction(rows, d, g, device) -> torch.Tensor:
    """Uniform on the unit l2 sphere: a normalised standard normal vector."""
    direction = torch.randn(rows, d, generator=g, device=device)
    return direction / direction.norm(dim=1, keepdim=True)


@reference_sampler(noises.ExpInf)
def _expinf(noise, shape, g, device):
    rows, d = _rows_and_dim(shape)
    return _radial(_gamma_radius(noise, rows, d, g, device, noise.j), _linf_direction(rows, d, g, device), shape)


@reference_sampler(noises.Exp1)
def _exp1(noise, shape, g, device):
    rows, d = _rows_and_dim(shape)
    return _radial(_gamma_radius(noise, rows, d, g, device), _l1_direction(rows, d, g, device), shape)


@reference_sampler(noises.Exp2)
def _exp2(noise, shape, g, device):
    rows, d = _rows_and_dim(shape)
    return _radial(_gamma_radius(noise, rows, d, g, device, noise.j), _l2_direction(rows, d, g, device), shape)


@reference_sampler(noises.UniformBall)
def _uniformball(noise, shape, g, device):  # r = lambda U^(1/d)
    rows, d = _rows_and_dim(shape)
    radius = noise.lambd * torch.rand(rows, generator=g, device=device).pow(1.0 / d)
    return _radial(radius, _l2_direction(rows, d, g, device), shape)


@reference_sampler(noises.PowInf)
def _powinf(noise, shape, g, device):
    rows, d = _rows_and_dim(shape)
    return _radial(_beta_prime_radius(noise, rows, d, g, device), _linf_direction(rows, d, g, device), shape)


@reference_sampler(noises.Pow2)
def _pow2(noise, shape, g, device):
    rows, d = _rows_and_dim(shape)
    return _radial(_beta_prime_radius(noise, rows, d, g, device), _l2_direction(rows, d, g, device), shape)


def _gamma(shape: float, size, device) -> torch.Tensor:
    """Gamma(shape, 1) draws of ``size`` in float64 (torch.distributions; the caller forks the generator)."""
    concentration = torch.tensor(shape, dtype=torch.float64, device=device)
    return torch.distributions.Gamma(concentration, torch.ones_like(concentration)).sample(tuple(size))


class _fork:
    """torch.distributions samplers take no generator: run them under the generator's state."""

    def __init__(self, generator: torch.Generator | None):
        self.generator = generator

    def __enter__(self):
        if self.generator is not None:
            device = self.generator.device
            seed = int(torch.randint(0, 2**62, (), generator=self.generator, device=device))
            # the default generators (CPU and, for a CUDA generator, its device's) are restored on exit
            self._fork = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
            self._fork.__enter__()
            torch.random.manual_seed(seed)

    def __exit__(self, *exc):
        if self.generator is not None:
            self._fork.__exit__(*exc)
