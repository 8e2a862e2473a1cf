"""Classifiers as the field saves them: architectures with the key layouts of locuslab/smoothing,
Hadisalman/smoothing-adversarial, RuntianZ/macer and tonyduan/rs4a, their input normalizations, and
``load_checkpoint`` for their checkpoint formats."""

from .architectures import ARCHITECTURES, DataParallelLayout, build_architecture
from .checkpoints import COHEN_ARCHS, FORMATS, CheckpointError, load_checkpoint, read_checkpoint, suggest_format
from .cifar_resnet import CifarResNet
from .lenet import LeNet
from .normalization import (
    DATASET_STATS,
    NORMALIZATIONS,
    InputCenterLayer,
    LogScaleNormalization,
    NormalizeLayer,
    normalization_layer,
)
from .wide_resnet import WideResNet

__all__ = [
    "ARCHITECTURES",
    "COHEN_ARCHS",
    "DATASET_STATS",
    "FORMATS",
    "NORMALIZATIONS",
    "CheckpointError",
    "CifarResNet",
    "DataParallelLayout",
    "InputCenterLayer",
    "LeNet",
    "LogScaleNormalization",
    "NormalizeLayer",
    "WideResNet",
    "build_architecture",
    "load_checkpoint",
    "normalization_layer",
    "read_checkpoint",
    "suggest_format",
]
