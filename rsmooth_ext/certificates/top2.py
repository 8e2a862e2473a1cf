"""Top-2 certificates: the radius certified by a lower bound p_A on the top class's probability together with an
upper bound p_B on the largest probability among ALL the other classes (docs/certificates.md, "Top-2
certificates"). The bounds themselves come from :func:`rsmooth_ext.stats.top2_bounds`.

The smoothed classifier keeps predicting A at x + delta while the worst-case probability of A there exceeds the
best-case probability of every other class. The pA/pB forms are registered beside their single-bound
counterparts (:func:`.registry.top2_certificate`), each for the exact shape parameters it is derived for
(Gaussian; Laplace; Exp2 with k = 2 and j = 0 only); besides those, every total-variation certificate
("TV(delta) < p - 1/2", marked ``total_variation`` in the registry) has a generic form: a shift delta moves at
most TV(delta) of any class's mass, so A stays on top while TV(delta) < (p_A - p_B) / 2, i.e. its pA/pB radius
is the single-bound radius at p = 1/2 + (p_A - p_B) / 2 (>= p_A since p_B <= 1 - p_A).

The other pairs use the single-bound certificate at p_A (valid on the same event). Every pA/pB radius is also
converted to the other norms like the single-bound ones, and the best route is returned.
"""

from __future__ import annotations

import numpy as np

from . import registry
from .margins import ELEMENTARY_MARGIN, round_down
from .routes import certificate_routes, certify, norm_ratio


def _total_variation_radius(noise, p_a, p_b, adversary: str, d):
    # 1/2 + (p_A - p_B)/2, rounded down by two ulp (the subtraction and the sum each round once)
    p = np.nextafter(np.nextafter(0.5 + 0.5 * (p_a - p_b), 0.0), 0.0)
    return np.asarray(certify(noise, p, adversary, d), dtype=np.float64)


def _top2_forms(noise, source: str) -> list:
    """The pA/pB radius functions of ``noise`` against ``source``: the registered forms, then the total-variation
    form where a total-variation certificate is registered."""
    forms = [entry.radius for entry in registry.top2_forms(noise, source)]
    if any(entry.total_variation for entry in registry.certificates(noise, source)):
        forms.append(lambda noise, p_a, p_b, d: _total_variation_radius(noise, p_a, p_b, source, d))
    return forms


def certify_top2(noise, p_a, p_b, adversary: str | None = None, dim: int | None = None) -> np.ndarray:
    """Certified radius of ``noise`` against ``adversary`` from a lower bound ``p_a`` on the top class's
    probability and an upper bound ``p_b`` on every other class's (float64 arrays of one shape, or floats):
    the best of the single-bound certificate at p_a and every pA/pB form reachable by a valid conversion.
    0 wherever p_a <= p_b. Argument checks as in :func:`rsmooth_ext.certificates.certify`."""
    adversary = noise.natural_adversary if adversary is None else adversary
    p_a = np.asarray(p_a, dtype=np.float64)
    p_b = np.asarray(p_b, dtype=np.float64)
    if p_a.shape != p_b.shape:
        raise ValueError(f"p_a and p_b must have one shape, got {p_a.shape} and {p_b.shape}")
    if np.isnan(p_b).any() or (p_b < 0).any() or (p_b > 1).any():
        raise ValueError("p_b must lie in [0, 1]")
    best = np.asarray(certify(noise, p_a, adversary, dim), dtype=np.float64)  # takes the law error itself
    if noise.dim is not None:
        dim = noise.dim
    error = noise.law_error  # a sound spec's table rounding (docs/sound.md): both bounds move by 2 error
    if error:
        p_a = np.maximum(np.nextafter(p_a - 2 * error, 0.0), 0.0)  # each rounded away from the claim
        p_b = np.minimum(np.nextafter(p_b + 2 * error, 1.0), 1.0)
    ahead = p_a > p_b
    if not ahead.any():
        return best
    pa, pb = p_a[ahead], p_b[ahead]
    found = np.zeros_like(pa)
    for route in certificate_routes(noise, adversary):
        if route.needs_dim and dim is None:
            continue
        ratio = norm_ratio(route.source, adversary, dim or 1) if route.source != "l0" else 1.0
        for form in _top2_forms(noise, route.source):
            with np.errstate(divide="ignore"):
                value = form(noise, pa, pb, dim)
            found = np.maximum(found, np.asarray(value, dtype=np.float64) / ratio)
    if adversary != "l0":
        found = round_down(found, ELEMENTARY_MARGIN)
    best = np.array(best, dtype=np.float64, copy=True)
    best[ahead] = np.maximum(best[ahead], found)
    return best
