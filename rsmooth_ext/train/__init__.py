"""Training smoothed classifiers: the field's losses (functions of the model's outputs on noisy copies), the
registry of training methods, and the training loop behind ``rsmooth train``."""

from . import adversarial  # noqa: F401  (registers smoothadv and smoothmix with register_method)
from .copies import NoisyCopies, epoch_seed
from .loop import CertifyEvery, Schedule, TrainError, TrainResult, train
from .losses import (
    consistency_loss,
    gaussian_augmentation_loss,
    macer_loss,
    smoothed_log_likelihood,
    smoothed_nll_loss,
    stability_loss,
)
from .methods import METHODS, Hyperparameter, Method, get_method, register_method

__all__ = [
    "METHODS",
    "CertifyEvery",
    "Schedule",
    "TrainError",
    "TrainResult",
    "train",
    "Hyperparameter",
    "Method",
    "NoisyCopies",
    "consistency_loss",
    "epoch_seed",
    "gaussian_augmentation_loss",
    "get_method",
    "macer_loss",
    "register_method",
    "smoothed_log_likelihood",
    "smoothed_nll_loss",
    "stability_loss",
]
