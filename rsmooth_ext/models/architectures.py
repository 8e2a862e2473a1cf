"""Architectures by name: ours with the field's key layouts, torchvision's and timm's by ``torchvision:NAME``
and ``timm:NAME``. torchvision and timm are imported only when such a name is asked for."""

from __future__ import annotations

import re

from torch import nn

from .cifar_resnet import CifarResNet
from .lenet import LeNet
from .wide_resnet import WideResNet

# names with a fixed meaning; cifar_resnet<6n+2> and wrn<6n+4>_<k> are parsed for any depth and width
ARCHITECTURES = ("cifar_resnet20", "cifar_resnet110", "wrn40_2", "lenet", "resnet50", "torchvision:NAME", "timm:NAME")
_CIFAR_RESNET = re.compile(r"cifar_resnet(\d+)")
_WIDE_RESNET = re.compile(r"wrn(\d+)_(\d+)")


class DataParallelLayout(nn.Module):
    """Holds a network as ``.module``, the key layout of ``nn.DataParallel`` ('module.' prefixes), without
    DataParallel's scattering across GPUs: the model runs on the device it is moved to."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def _torchvision_model(name: str, num_classes: int | None) -> nn.Module:
    try:
        import torchvision.models
    except ImportError:
        raise ImportError(f"architecture {name!r} needs torchvision: pip install 'rsmooth_ext[vision]'") from None
    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        raise ValueError(f"torchvision has no model {name!r}; see torchvision.models.list_models()") from None
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return builder(weights=None, **kwargs)


def _timm_model(name: str, num_classes: int | None) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise ImportError(f"architecture 'timm:{name}' needs timm (pip install timm)") from None
    if name not in timm.list_models():
        raise ValueError(f"timm has no model {name!r}; see timm.list_models()")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model(name, pretrained=False, **kwargs)


def build_architecture(arch: str, num_classes: int | None = None) -> nn.Module:
    """A randomly initialised network ``arch`` (see ARCHITECTURES) with ``num_classes`` outputs (None: the
    architecture's default: 10 for the CIFAR / MNIST networks, 1000 for ImageNet ones)."""
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a string, got {type(arch).__name__}")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if arch.startswith("torchvision:"):
        return _torchvision_model(arch.split(":", 1)[1], num_classes)
    if arch.startswith("timm:"):
        return _timm_model(arch.split(":", 1)[1], num_classes)
    if arch == "resnet50":
        return _torchvision_model("resnet50", num_classes)
    classes = 10 if num_classes is None else num_classes
    if arch == "lenet":
        return LeNet(classes)
    if m := _CIFAR_RESNET.fullmatch(arch):
        return CifarResNet(int(m.group(1)), classes)
    if m := _WIDE_RESNET.fullmatch(arch):
        return WideResNet(int(m.group(1)), int(m.group(2)), classes)
    raise ValueError(f"unknown architecture {arch!r}: use one of {', '.join(ARCHITECTURES)} "
                     "(cifar_resnet<6n+2> and wrn<6n+4>_<width> for other depths)")
