"""Training smoothed classifiers: the losses (functions of the model's outputs on noisy copies)."""

from .losses import smoothed_log_likelihood

__all__ = ["smoothed_log_likelihood"]
