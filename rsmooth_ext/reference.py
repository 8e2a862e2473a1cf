"""Pure-PyTorch (and NumPy) references of every kernel, written the way a PyTorch user would.

* ``perturb_reference`` draws each family with torch's own generators (repeat, randn/rand/distributions,
  mul, add): the baseline of the benchmarks, and a second, independent sampler of the same laws for the
  statistical tests. It does not reproduce our counter-based stream, only its distribution.
* ``philox4x32_10_numpy`` and ``noise_words`` re-implement the RNG contract in NumPy, so tests can
  check the kernels' uint32 streams (and the noise built from them) exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from .noises import Noise

# ---- the RNG contract in NumPy ---------------------------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
PURPOSE_ELEMENTS, PURPOSE_RADIUS, PURPOSE_CHOICE = 0, 1, 2
PHASE_SHIFT = 4


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


def noise_words(seed: int, input_id: int, sample: int, num_blocks: int, *, purpose: int = PURPOSE_ELEMENTS,
                phase: int = 0, first_block: int = 0) -> np.ndarray:
    """The uint32 words of blocks first_block .. first_block+num_blocks-1 of one sample's stream, flattened
    (4 words per block; element j of an i.i.d. family uses word j)."""
    blocks = np.arange(first_block, first_block + num_blocks, dtype=np.uint64)
    counters = np.stack(
        [
            blocks,
            np.full_like(blocks, sample),
            np.full_like(blocks, input_id),
            np.full_like(blocks, (phase << PHASE_SHIFT) | purpose),
        ],
        axis=1,
    )
    return philox4x32_10_numpy(counters, (seed & 0xFFFFFFFF, seed >> 32)).reshape(-1)


def u01_float32(words: np.ndarray) -> np.ndarray:
    """The kernels' uniform in (0, 1]: (w >> 1) * 2^-31 + 2^-32, in float32."""
    return (words >> np.uint32(1)).astype(np.int32).astype(np.float32) * np.float32(2.0**-31) + np.float32(2.0**-32)


# ---- the pure-PyTorch sampling path ---------------------------------------------------------------


def _signs(shape, generator, device) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=generator, device=device).float() * 2 - 1


def sample_noise_reference(noise: Noise, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                           device="cpu") -> torch.Tensor:
    """Draw noise of ``shape`` = (rows, *input_shape) with torch's samplers (not our stream).
    For Masking this returns the keep mask (1 = kept)."""
    rows, d = shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1
    lam = noise.lambd
    family = noise.family
    g = generator
    if family == "gaussian":
        return torch.randn(shape, generator=g, device=device) * lam
    if family == "laplace":
        u = torch.rand(shape, generator=g, device=device) - 0.5
        return -lam * torch.sign(u) * torch.log1p(-2 * u.abs())
    if family == "uniform":
        return (torch.rand(shape, generator=g, device=device) * 2 - 1) * lam
    if family == "lomax":
        u = 1 - torch.rand(shape, generator=g, device=device)  # (0, 1]
        return _signs(shape, g, device) * lam * (u.pow(-1.0 / noise.k) - 1)
    if family == "masking":
        return (torch.rand(shape, generator=g, device=device) < noise.keep).float()
    if family == "expp":  # |eps| = lambda * Gamma(1/p)^(1/p), random sign
        with _fork(g):
            magnitude = _gamma(1.0 / noise.p, shape, device).pow(1.0 / noise.p)
        return (_signs(shape, g, device) * lam * magnitude).float()
    # radial families: radius, then a point on the unit sphere
    if family == "uniformball":
        radius = lam * torch.rand(rows, generator=g, device=device).pow(1.0 / d)
    elif family in ("powinf", "pow2"):  # (r / lambda)^k ~ BetaPrime(d/k, a - d/k) = Gamma(d/k) / Gamma(a - d/k)
        with _fork(g):
            t = _gamma(d / noise.k, (rows,), device) / _gamma(noise.a - d / noise.k, (rows,), device)
        radius = (lam * t.pow(1.0 / noise.k)).float()
    else:
        shape_j = (d - getattr(noise, "j", 0.0)) / noise.k
        gamma = torch.distributions.Gamma(torch.tensor(shape_j, device=device), torch.tensor(1.0, device=device))
        with _fork(g):
            z = gamma.sample((rows,))
        radius = lam * z.pow(1.0 / noise.k)
    if family in ("expinf", "powinf"):
        direction = torch.rand(rows, d, generator=g, device=device) * 2 - 1
        chosen = torch.randint(0, d, (rows, 1), generator=g, device=device)
        direction.scatter_(1, chosen, _signs((rows, 1), g, device))
    elif family == "exp1":
        dirichlet = torch.distributions.Dirichlet(torch.ones(d, device=device))
        with _fork(g):
            direction = dirichlet.sample((rows,))
        direction = direction * _signs((rows, d), g, device)
    else:  # exp2, uniformball, pow2
        direction = torch.randn(rows, d, generator=g, device=device)
        direction = direction / direction.norm(dim=1, keepdim=True)
    return (radius[:, None] * direction).reshape(shape)


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
            self._saved = torch.random.get_rng_state()
            torch.random.manual_seed(int(torch.randint(0, 2**62, (), generator=self.generator)))

    def __exit__(self, *exc):
        if self.generator is not None:
            torch.random.set_rng_state(self._saved)


def perturb_reference(x: torch.Tensor, noise: Noise, num_samples: int, *,
                      generator: torch.Generator | None = None, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """What a user writes without rsmooth_ext: repeat each input num_samples times, draw noise with torch,
    add, cast. Input-major like ``rsmooth_ext.perturb``."""
    batch = x.repeat_interleave(num_samples, dim=0).float()
    eps = sample_noise_reference(noise, tuple(batch.shape), generator=generator, device=x.device)
    out = batch * eps if noise.family == "masking" else batch + eps
    return out.to(out_dtype or x.dtype)
