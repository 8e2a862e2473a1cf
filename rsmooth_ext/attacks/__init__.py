"""Attacks on smoothed classifiers: PGD (l2, l_inf, l1) and DDN (l2) on the soft smoothed classifier's
cross-entropy, or on the mean cross-entropy of the copies (expectation over transformation), through m fixed
noisy copies drawn by the fused ``perturb``."""

from .norms import NORMS, lp_norm, project, steepest_direction
from .objective import GRADIENTS, SmoothedObjective
from .smoothed import METHODS, attack

__all__ = ["GRADIENTS", "METHODS", "NORMS", "SmoothedObjective", "attack", "lp_norm", "project",
           "steepest_direction"]
