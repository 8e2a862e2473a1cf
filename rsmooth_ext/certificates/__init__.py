"""Certified radii: ``certify(noise, p_lower, adversary, dim)`` for every (noise family, adversary) pair with a
guaranteed certificate, and ``certify_top2`` where a bound on the runner-up is known too."""

from .routes import ADVERSARIES, certify, supported_pairs
from .top2 import certify_top2

__all__ = ["ADVERSARIES", "certify", "certify_top2", "supported_pairs"]
