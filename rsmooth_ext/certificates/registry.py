"""The registry: (noise family, adversary) -> the certificates that hold for it.

Each certificate is declared where it is computed, with the :func:`certificate` decorator::

    @certificate("somefamily", "l1", needs_dim=False)
    def laplace_l1(noise, p, d): ...

A certificate is a function ``(noise, p, d) -> radius``: ``p`` a float64 array with 1/2 < p <= 1, ``d`` the
number of elements per input (None when unknown and ``needs_dim`` is False), the noise's scale applied. Several
certificates may be declared for one pair (a closed form, a table, a level set); each is a valid lower bound on
the exact radius, so the router takes their maximum. ``when`` (a predicate on the noise spec) says for which
parameters one applies; a certificate may also return None where it does not apply (a condition on d).
``total_variation=True`` marks a certificate of the form "TV(delta) < p - 1/2", whose top-2 form is derived by
:mod:`rsmooth_ext.certificates.top2`.

Top-2 formulas (``(noise, p_a, p_b, d) -> radius``) are declared with :func:`top2_certificate` beside their
single-bound counterparts, with the exact parameter values they are derived for (``parameters``): a form
applies only to a spec whose every shape parameter (all but the input size ``dim`` and the scale) is declared
and equal, so a family parameter the derivation did not consider (Exp2's ``j``, or one added later) makes the
top-2 engine fall back to the single-bound certificate at p_A instead of using a form derived for other noise.

The method modules declare their certificates when imported; the package's ``__init__`` imports all of them,
so the registry is complete before any certificate is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RadiusFunction = Callable[..., "np.ndarray | None"]
Predicate = Callable[[object], bool]


@dataclass(frozen=True)
class Certificate:
    """One registered certificate of ``family`` against ``adversary``."""

    family: str
    adversary: str
    radius: RadiusFunction
    needs_dim: bool
    when: Predicate | None = None
    total_variation: bool = False

    def applies(self, noise) -> bool:
        """Whether this certificate holds for the parameters of ``noise``."""
        return self.when is None or bool(self.when(noise))


# Families whose noise has bounded support (its shifted copy is not absolutely continuous with respect to it).
# Every other family has a positive density everywhere: p_lower = 1 then certifies every radius (the top class's
# complement is null under the noise, hence under every shift of it), and the router returns inf; these return
# their formula's (finite) value at p = 1, the radius where the supports stop overlapping enough.
SUPPORT_LIMITED = frozenset({"uniform", "uniformball", "masking"})


def full_support(noise) -> bool:
    """Whether ``noise`` has a positive density on all of R^d (every family but :data:`SUPPORT_LIMITED`)."""
    return noise.family not in SUPPORT_LIMITED


# family -> adversary -> certificates, in declaration order (families keep the order they were first declared in)
_SINGLE: dict[str, dict[str, list[Certificate]]] = {}
_TOP2: dict[str, dict[str, list[Certificate]]] = {}


def certificate(family: str, adversary: str, *, needs_dim: bool, when: Predicate | None = None,
                total_variation: bool = False) -> Callable[[RadiusFunction], RadiusFunction]:
    """Decorator: register the decorated ``(noise, p, d) -> radius`` as a certificate of (family, adversary)."""

    def register(function: RadiusFunction) -> RadiusFunction:
        entry = Certificate(family, adversary, function, needs_dim, when, total_variation)
        _SINGLE.setdefault(family, {}).setdefault(adversary, []).append(entry)
        return function

    return register


def shape_parameters(noise) -> dict[str, float]:
    """The spec's shape parameters: every declared parameter but the input size (``dim``); the scale is not one."""
    return {p.name: float(getattr(noise, p.name)) for p in type(noise).parameters if not p.from_input}


def exactly(parameters: dict[str, float]) -> Predicate:
    """The predicate "the spec's shape parameters are exactly ``parameters``" (no more, no fewer, equal values)."""
    expected = {name: float(value) for name, value in parameters.items()}
    return lambda noise: shape_parameters(noise) == expected


def top2_certificate(family: str, adversary: str, *, parameters: dict[str, float]
                     ) -> Callable[[RadiusFunction], RadiusFunction]:
    """Decorator: register the decorated ``(noise, p_a, p_b, d) -> radius`` as a top-2 form of (family, adversary),
    derived for the spec whose shape parameters are exactly ``parameters`` (see :func:`exactly`)."""

    def register(function: RadiusFunction) -> RadiusFunction:
        entry = Certificate(family, adversary, function, False, exactly(parameters))
        _TOP2.setdefault(family, {}).setdefault(adversary, []).append(entry)
        return function

    return register


def families() -> list[str]:
    """Every family with a registered certificate, in declaration order."""
    return list(_SINGLE)


def direct_adversaries(family: str) -> list[str]:
    """The adversaries ``family`` has a direct (registered) certificate against, in declaration order."""
    return list(_SINGLE.get(family, {}))


def certificates(noise, adversary: str) -> list[Certificate]:
    """The registered certificates of ``noise``'s family against ``adversary`` that apply to its parameters."""
    return [c for c in _SINGLE.get(noise.family, {}).get(adversary, []) if c.applies(noise)]


def needs_dim(family: str, adversary: str) -> bool:
    """Whether the (family, adversary) certificate depends on the input size (any declared one does)."""
    return any(c.needs_dim for c in _SINGLE[family][adversary])


def top2_forms(noise, adversary: str) -> list[Certificate]:
    """The top-2 forms of ``noise``'s family against ``adversary`` that apply to its parameters."""
    return [c for c in _TOP2.get(noise.family, {}).get(adversary, []) if c.applies(noise)]


def best_radius(found: list[Certificate], noise, p, d) -> np.ndarray:
    """The max over the certificates ``found`` at ``p`` (those returning None do not apply; 0 if none does)."""
    best = None
    for entry in found:
        value = entry.radius(noise, p, d)
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        best = value if best is None else np.maximum(best, value)
    return np.zeros_like(np.asarray(p, dtype=np.float64)) if best is None else best
