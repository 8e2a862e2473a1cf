"""Routes: ``certify(noise, p_lower, adversary, dim)``, the best of every valid route to a certified radius.

Given a lower bound p on the top-class probability, the radius is the distance within which the smoothed
classifier's prediction cannot change. All math in float64, in float-safe forms, and every radius is rounded
toward zero by a margin that covers its evaluation error (:mod:`.margins`; docs/certificates.md, "Margin
policy"); p <= 1/2 gives 0.

A route is either the direct certificate of (family, adversary) (the max over the certificates registered for
the pair in :mod:`.registry` that apply to the spec's parameters), or a conversion from the direct certificate
of another norm: a radius R certified in norm a is also certified in norm b at R / C(a, b), with
C(a, b) = max ||delta||_a / ||delta||_b over delta != 0 in R^d: C(l2, l1) = C(linf, l1) = C(linf, l2) = 1,
C(l1, l2) = C(l2, linf) = sqrt(d), C(l1, linf) = d. Every such conversion is itself a valid certificate (the
b-ball of radius R / C(a, b) lies inside the a-ball of radius R); every pair returns the max over its direct
certificate and all conversions (those that need d only when d is known). l0 has no conversions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import registry
from .margins import ELEMENTARY_MARGIN, round_down

ADVERSARIES = ("l0", "l1", "l2", "linf")
NORMED = ("l1", "l2", "linf")


@dataclass(frozen=True)
class Route:
    """A way to a radius against the asked adversary: the direct certificate against ``source`` (the asked
    adversary itself, or another norm converted by :func:`norm_ratio`), and whether it needs the input size."""

    source: str
    radius: Callable  # (noise, p, d) -> radius in the source norm
    needs_dim: bool


def norm_ratio(a: str, b: str, d: int) -> float:
    """C(a, b) = max ||delta||_a / ||delta||_b over R^d (for the normed adversaries 'l1', 'l2', 'linf')."""
    if a == b:
        return 1.0
    pa, pb = _norm_order(a), _norm_order(b)
    if pa >= pb:
        return 1.0
    # ||delta||_a <= d^(1/a - 1/b) ||delta||_b for a < b
    return d ** ((1.0 / pa) - (0.0 if pb == math.inf else 1.0 / pb))


def _norm_order(norm: str) -> float:
    return {"l1": 1.0, "l2": 2.0, "linf": math.inf}[norm]


def _direct(noise, adversary: str) -> Callable:
    found = registry.certificates(noise, adversary)
    return lambda noise, p, d: registry.best_radius(found, noise, p, d)


def certificate_routes(noise, adversary: str) -> list[Route]:
    """Every route of ``noise`` to a radius against ``adversary``: the direct certificate (if registered) and
    the conversion from each other normed direct certificate; the certificate is the max over them."""
    family = noise.family
    direct = registry.direct_adversaries(family)
    routes = [Route(adversary, _direct(noise, adversary), registry.needs_dim(family, adversary))
              ] if adversary in direct else []
    if adversary in NORMED:
        routes += [Route(a, _direct(noise, a), registry.needs_dim(family, a) or _norm_order(a) < _norm_order(adversary))
                   for a in direct if a in NORMED and a != adversary]
    return routes


def supported_pairs() -> list[str]:
    """Every 'family/adversary' pair with a guaranteed certificate (direct or by a conversion)."""
    pairs = []
    for family in registry.families():
        direct = registry.direct_adversaries(family)
        normed = any(a in NORMED for a in direct)
        advs = direct + ([a for a in NORMED if a not in direct] if normed else [])
        pairs += [f"{family}/{a}" for a in sorted(advs, key=ADVERSARIES.index)]
    return pairs


def certify(noise, p_lower, adversary: str | None = None, dim: int | None = None):
    """Certified radius of ``noise`` against ``adversary`` ('l0', 'l1', 'l2', 'linf'; default the noise's
    natural one) at top-class probability lower bound(s) ``p_lower`` (float or tensor, in [0, 1]).
    ``dim`` (elements per input) is required where the radius depends on it, and must equal the spec's
    own ``dim`` where it has one. The result is the max over the direct certificate (if any) and every valid
    conversion from the noise's other direct ones (norm inequalities; see the module docstring), rounded
    toward zero by the margin policy. Returns a float for a float, a float64 tensor for a tensor (on its
    device); 0 wherever p_lower <= 1/2. At p_lower = 1: inf for a noise with a positive density everywhere
    (every family but Uniform, UniformBall and Masking), the finite support-limited radius for those three."""
    adversary = noise.natural_adversary if adversary is None else adversary
    if adversary not in ADVERSARIES:
        raise ValueError(f"adversary must be one of {', '.join(ADVERSARIES)}, got {adversary!r}")
    routes = certificate_routes(noise, adversary)
    if not routes:
        raise ValueError(
            f"no guaranteed certificate for {type(noise).__name__} against {adversary}; supported pairs: "
            + ", ".join(supported_pairs())
        )
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if noise.dim is not None:
        if dim is not None and dim != noise.dim:
            raise ValueError(f"dim={dim} does not match the noise's own dim={noise.dim}")
        dim = noise.dim
    # a direct certificate is required, the conversions to it are optional extras (used when dim is known);
    # without a direct certificate every conversion is required
    required = [route for route in routes if route.source == adversary] or routes
    if any(route.needs_dim for route in required) and dim is None:
        raise ValueError(f"the {noise.family}/{adversary} certificate depends on the input size: pass dim=")
    routes = [route for route in routes if dim is not None or not route.needs_dim]
    is_tensor = isinstance(p_lower, torch.Tensor)
    p = p_lower.detach().double().cpu().numpy() if is_tensor else np.asarray(p_lower, dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p_lower must lie in [0, 1], got " + (
            "NaN" if np.isnan(p).any() else f"values in [{p.min()}, {p.max()}]"))
    error = noise.law_error
    if error:  # the sampled law is within `error` of the certified one in total variation (docs/sound.md)
        p = np.maximum(np.nextafter(p - 2 * error, 0.0), 0.0)  # rounded down: 1 - 2 error is below 1
    radius = np.zeros_like(p)
    if registry.full_support(noise):
        # the top class's complement is null under the noise, hence under every shifted copy of it
        radius[p == 1.0] = math.inf
        above = (p > 0.5) & (p < 1.0)
    else:
        above = p > 0.5
    if above.any():
        pa = p[above]
        best = np.zeros_like(pa)
        with np.errstate(divide="ignore"):
            for route in routes:
                best = np.maximum(best, np.asarray(route.radius(noise, pa, dim), dtype=np.float64)
                                  / norm_ratio(route.source, adversary, dim or 1))
        # l0 radii are integers decided by a float-safe test; real radii are rounded toward zero
        radius[above] = best if adversary == "l0" else round_down(best, ELEMENTARY_MARGIN)
    if is_tensor:
        return torch.from_numpy(radius).to(p_lower.device)
    return float(radius) if radius.ndim == 0 else radius
