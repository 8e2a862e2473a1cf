"""Certified radii: for each (noise family, adversary) pair with a guaranteed certificate, the radius
within which the smoothed classifier's prediction cannot change, given a lower bound p on the top-class
probability. All math in float64; p <= 1/2 gives 0.

Closed forms (lambda is the spec's scale, d the number of elements per input):

* Gaussian, l2: lambda * Phi^-1(p) (Cohen et al. 2019). l1: the same value (an l1 ball of radius R lies in
  the l2 ball of radius R). linf: the l2 radius / sqrt(d) (an linf ball of radius R lies in the l2 ball of
  radius R sqrt(d)).
* Laplace, l1: -lambda * log(2 (1 - p)) (Teng et al. 2020; Yang et al. 2020).
* Uniform (cube), l1: 2 lambda (p - 1/2); linf: 2 lambda (1 - (3/2 - p)^(1/d)) (Yang et al. 2020).
* Lomax(k), l1: lambda (2p - 1)/k * 2F1(1, k/(k+1); k/(k+1) + 1; (2p - 1)^(1 + 1/k)) (Yang et al. 2020).
* UniformBall, l2: the distance delta at which two l2 balls of radius lambda overlap in a fraction
  3/2 - p of their volume: the overlap fraction is I_{1 - (delta / 2 lambda)^2}((d+1)/2, 1/2), so
  delta = 2 lambda sqrt(1 - I^-1((d+1)/2, 1/2; 3/2 - p)).
* Masking(keep), l0: an adversary changing R coordinates changes the noisy input only when one of them
  is kept, which moves at most Delta(R) = 1 - (1 - keep)^R of the probability mass; the certified l0
  radius is the largest integer R with p > 1/2 + Delta(R). (The spec's union bound Delta(R) <= R * keep
  gives the smaller ``masking_l0_union_bound``.)

Conversions between norms are offered only where they are themselves valid bounds (the Gaussian's l1 and
linf radii above). Table-based certificates (ExpInf, Exp1, Exp2, and Laplace against linf) are not yet
available; asking for them raises an error that lists the supported pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import special, stats

ADVERSARIES = ("l0", "l1", "l2", "linf")


def _gaussian_l2(noise, p, d):
    return noise.lambd * stats.norm.ppf(p)


def _gaussian_linf(noise, p, d):
    return _gaussian_l2(noise, p, d) / math.sqrt(d)


def _laplace_l1(noise, p, d):
    return -noise.lambd * np.log(2.0 * (1.0 - p))


def _uniform_l1(noise, p, d):
    return 2.0 * noise.lambd * (p - 0.5)


def _uniform_linf(noise, p, d):
    return 2.0 * noise.lambd * (1.0 - (1.5 - p) ** (1.0 / d))


def _lomax_l1(noise, p, d):
    k = noise.k
    q = 2.0 * p - 1.0
    return noise.lambd * q / k * special.hyp2f1(1.0, k / (k + 1.0), k / (k + 1.0) + 1.0, q ** (1.0 + 1.0 / k))


def _uniform_ball_l2(noise, p, d):
    x = special.betaincinv((d + 1) / 2.0, 0.5, 1.5 - p)
    return 2.0 * noise.lambd * np.sqrt(np.clip(1.0 - x, 0.0, 1.0))


def masking_l0_union_bound(keep: float, p) -> np.ndarray:
    """The spec's looser l0 certificate for Masking: the largest integer R with p > 1/2 + R * keep."""
    p = np.asarray(p, dtype=np.float64)
    r = np.ceil((p - 0.5) / keep) - 1.0
    return np.maximum(r, 0.0)


def _masking_l0(noise, p, d):
    keep = noise.keep
    if keep >= 1.0:
        return np.zeros_like(p)
    # largest integer R with (1 - keep)^R > 3/2 - p; solve in logs, then correct the float rounding
    with np.errstate(divide="ignore"):
        r = np.floor(np.log(1.5 - p) / math.log1p(-keep))
    r = np.maximum(r, 0.0)
    for _ in range(2):
        too_big = (r > 0) & ~(p > 1.5 - (1.0 - keep) ** r)
        r = np.where(too_big, r - 1.0, r)
        fits_more = p > 1.5 - (1.0 - keep) ** (r + 1.0)
        r = np.where(fits_more, r + 1.0, r)
    return r


# (family, adversary) -> (radius function, needs d)
CERTIFICATES: dict[tuple[str, str], tuple[Callable, bool]] = {
    ("gaussian", "l2"): (_gaussian_l2, False),
    ("gaussian", "l1"): (_gaussian_l2, False),
    ("gaussian", "linf"): (_gaussian_linf, True),
    ("laplace", "l1"): (_laplace_l1, False),
    ("uniform", "l1"): (_uniform_l1, False),
    ("uniform", "linf"): (_uniform_linf, True),
    ("lomax", "l1"): (_lomax_l1, False),
    ("uniformball", "l2"): (_uniform_ball_l2, True),
    ("masking", "l0"): (_masking_l0, False),
}


def supported_pairs() -> list[str]:
    return [f"{family}/{adversary}" for family, adversary in CERTIFICATES]


def certify(noise, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius of ``noise`` against ``adversary`` ('l0', 'l1', 'l2', 'linf'; default the noise's
    natural one) at top-class probability lower bound(s) ``p_lower`` (float or tensor, in [0, 1]).
    ``dim`` (elements per input) is required where the radius depends on it, and must equal the spec's
    own ``dim`` where it has one. Returns a float for a float, a float64 tensor for a tensor (on its
    device); 0 wherever p_lower <= 1/2."""
    adversary = noise.natural_adversary if adversary is None else adversary
    if adversary not in ADVERSARIES:
        raise ValueError(f"adversary must be one of {', '.join(ADVERSARIES)}, got {adversary!r}")
    key = (noise.family, adversary)
    if key not in CERTIFICATES:
        raise ValueError(
            f"no guaranteed certificate for {type(noise).__name__} against {adversary}; supported pairs: "
            + ", ".join(supported_pairs())
        )
    function, needs_dim = CERTIFICATES[key]
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if noise.dim is not None:
        if dim is not None and dim != noise.dim:
            raise ValueError(f"dim={dim} does not match the noise's own dim={noise.dim}")
        dim = noise.dim
    if needs_dim and dim is None:
        raise ValueError(f"the {noise.family}/{adversary} certificate depends on the input size: pass dim=")
    is_tensor = isinstance(p_lower, torch.Tensor)
    p = p_lower.detach().double().cpu().numpy() if is_tensor else np.asarray(p_lower, dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p_lower must lie in [0, 1], got values in [{np.nanmin(p)}, {np.nanmax(p)}]"
                         if not np.isnan(p).all() else "p_lower must lie in [0, 1], got NaN")
    above = p > 0.5
    radius = np.zeros_like(p)
    if above.any():
        with np.errstate(divide="ignore"):
            radius[above] = function(noise, p[above], dim)
    if is_tensor:
        return torch.from_numpy(radius).to(p_lower.device)
    return float(radius) if radius.ndim == 0 else radius
