"""Certified radii: ``certify(noise, p_lower, adversary, dim)`` for every (noise family, adversary) pair with a
guaranteed certificate, and ``certify_top2`` where a bound on the runner-up is known too.

One module per method: :mod:`.closed_forms`, :mod:`.differential` (the engine and its growth functions),
:mod:`.levelset` (the Neyman-Pearson engine and its families), :mod:`.tables` (shipped, cached and computed
tables, and the certificates read from them); :mod:`.registry` maps (family, adversary) to the certificates
declared in those modules, :mod:`.routes` takes the best route (direct or by a norm conversion), :mod:`.margins`
is the rounding policy and :mod:`.top2` the top-2 engine.
"""

# the method modules declare their certificates in the registry when imported: all of them, before any lookup
from . import closed_forms, tables  # noqa: F401
from .routes import ADVERSARIES, certify, supported_pairs
from .top2 import certify_top2

__all__ = ["ADVERSARIES", "certify", "certify_top2", "supported_pairs"]
