"""``load_checkpoint``: the checkpoints of the field's code bases as an nn.Module from [0, 1] inputs to logits.

Formats (how each repository saves its models):

- ``cohen`` (locuslab/smoothing): ``{'epoch', 'arch', 'state_dict', 'optimizer'}``, the model being
  ``Sequential(NormalizeLayer, net)``: keys ``1.module.*`` for ImageNet (net = DataParallel(torchvision
  resnet50)), ``1.*`` for CIFAR (net = bearpaw ResNet). The normalization constants are not stored.
- ``smoothadv`` (Hadisalman/smoothing-adversarial): the same dict and archs, first layer InputCenterLayer.
- ``macer`` (RuntianZ/macer): ``{'net': state_dict, 'epoch'}`` of the bare ResNet-110 or LeNet.
- ``rs4a`` (tonyduan/rs4a): a state dict with ``norm.module.{mu,log_sig}`` and ``model.module.*``
  (WRN-40-2 for CIFAR-10, torchvision ResNet-50 for ImageNet).
- ``plain``: a state dict of ``arch`` (or of ``nn.DataParallel(arch)``: every key prefixed ``module.``).

Checkpoints are read with ``torch.load(weights_only=True)`` and matched key for key (strict); a mismatch
names the missing and unexpected keys and, from the keys it sees, the format the file probably is."""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from .architectures import DataParallelLayout, build_architecture
from .normalization import DATASET_STATS, NORMALIZATIONS, LogScaleNormalization, normalization_layer

FORMATS = ("cohen", "smoothadv", "macer", "rs4a", "plain")
COHEN_ARCHS = ("resnet50", "cifar_resnet20", "cifar_resnet110")
_DEFAULT_NORMALIZATION = {"cohen": "normalize", "smoothadv": "center", "macer": "none", "plain": "none"}
_SHOWN_KEYS = 4


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the requested format and architecture."""


def read_checkpoint(path: str):
    """``torch.load(path, map_location='cpu', weights_only=True)`` with errors that say what went wrong."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported as one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(f"checkpoint {path} holds pickled Python objects, not only tensors and plain "
                                  f"data ({first}); rsmooth loads with weights_only=True: save the model's "
                                  "state_dict() instead of the model") from None
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {first}") from None


def load_checkpoint(path: str, format: str, arch: str | None = None, normalization: str | None = None,
                    dataset: str | None = None) -> nn.Module:
    """The classifier saved in ``path`` by one of the field's code bases, in eval mode, mapping inputs in
    [0, 1] (N, C, H, W) to logits (N, classes), with its input normalization as the first layer.

    ``format``: one of FORMATS (see the module docstring). ``arch``: the architecture; read from the
    checkpoint (cohen, smoothadv) or from its keys (macer, rs4a, and plain state dicts of our own
    architectures) when None: ``cifar_resnet110``, ``wrn40_2``, ``lenet``, ``resnet50``, ``torchvision:NAME``,
    ``timm:NAME``.
    ``normalization``: ``normalize`` (x - mean) / std, ``center`` x - mean, or ``none``; default: what the
    format's code base uses (cohen normalize, smoothadv center, macer and plain none; rs4a's is in the file).
    ``dataset``: whose mean and std the normalization uses (cifar10, imagenet, mnist); default from arch.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if normalization is not None and normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    if dataset is not None and dataset not in DATASET_STATS:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_STATS)}, got {dataset!r}")
    if arch is not None and not isinstance(arch, str):
        raise TypeError(f"arch must be a string or None, got {type(arch).__name__}")
    content = read_checkpoint(path)
    if format in ("cohen", "smoothadv"):
        model = _load_cohen_style(path, content, format, arch, normalization, dataset)
    elif format == "rs4a":
        model = _load_rs4a(path, content, arch, normalization, dataset)
    else:
        state = _macer_state(path, content) if format == "macer" else _plain_state(path, content)
        if arch is None:
            arch = _infer_arch(path, state, format)
        net = _build(arch, state, path, format, prefix="")
        if _all_prefixed(state, "module.") and format == "plain":
            net = DataParallelLayout(net)
        _load_strict(net, state, path, format, arch)
        model = _with_normalization(net, normalization or _DEFAULT_NORMALIZATION[format], dataset, arch)
    return model.eval()


# ---- formats --------------------------------------------------------------------------------------


def _load_cohen_style(path, content, format, arch, normalization, dataset) -> nn.Module:
    if not isinstance(content, dict) or not isinstance(content.get("state_dict"), dict):
        raise CheckpointError(f"{path} is not a {format} checkpoint: expected a dict with 'arch' and 'state_dict'"
                              f"{_found(content)}{_hint(content, format)}")
    saved_arch = content.get("arch")
    if arch is not None and saved_arch is not None and arch != saved_arch:
        raise CheckpointError(f"{path} was saved with arch {saved_arch!r}, but arch {arch!r} was asked for")
    arch = arch or saved_arch
    if arch not in COHEN_ARCHS:
        raise CheckpointError(f"{path}: {format} checkpoints use arch {', '.join(COHEN_ARCHS)}, got {arch!r}")
    state = content["state_dict"]
    dataset = dataset or ("imagenet" if arch == "resnet50" else "cifar10")
    net = _build(arch, state, path, format, prefix="1.module." if arch == "resnet50" else "1.")
    if arch == "resnet50":
        net = DataParallelLayout(net)
    model = nn.Sequential(_first_layer(normalization or _DEFAULT_NORMALIZATION[format], dataset), net)
    _load_strict(model, state, path, format, arch)
    return model


class Rs4aClassifier(nn.Module):
    """rs4a's classifier layout: ``norm`` (mu, log_sig) then ``model``, each wrapped in DataParallel."""

    def __init__(self, net: nn.Module, norm_shape: tuple[int, ...]):
        super().__init__()
        self.norm = DataParallelLayout(LogScaleNormalization(norm_shape))
        self.model = DataParallelLayout(net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.norm(x))


def _load_rs4a(path, content, arch, normalization, dataset) -> nn.Module:
    if normalization is not None or dataset is not None:
        raise CheckpointError("rs4a checkpoints carry their own normalization (norm.module.mu, norm.module.log_sig): "
                              "normalization and dataset do not apply to them")
    state = _plain_state(path, content, format="rs4a")
    mu = state.get("norm.module.mu")
    if not isinstance(mu, torch.Tensor) or "norm.module.log_sig" not in state:
        raise CheckpointError(f"{path} is not an rs4a checkpoint: no norm.module.mu / norm.module.log_sig keys"
                              f"{_found(content)}{_hint(content, 'rs4a')}")
    if arch is None:
        arch = _infer_arch(path, state, "rs4a")
    model = Rs4aClassifier(_build(arch, state, path, "rs4a", prefix="model.module."), tuple(mu.shape))
    _load_strict(model, state, path, "rs4a", arch)
    return model


def _macer_state(path, content) -> dict:
    if not isinstance(content, dict) or not isinstance(content.get("net"), dict):
        raise CheckpointError(f"{path} is not a macer checkpoint: expected a dict with 'net' (a state dict) and "
                              f"'epoch'{_found(content)}{_hint(content, 'macer')}")
    return content["net"]


def _plain_state(path, content, format: str = "plain") -> dict:
    if not _is_state_dict(content):
        article = "an" if format == "rs4a" else "a"
        raise CheckpointError(f"{path} is not {article} {format} checkpoint: expected a state dict (parameter names -> "
                              f"tensors){_found(content)}{_hint(content, format)}")
    return content


def _with_normalization(net: nn.Module, kind: str, dataset: str | None, arch: str) -> nn.Module:
    if kind == "none":
        return net
    return nn.Sequential(_first_layer(kind, dataset or _dataset_of(arch)), net)


def _first_layer(kind: str, dataset: str | None) -> nn.Module:
    try:
        return normalization_layer(kind, dataset)
    except ValueError as e:
        raise CheckpointError(str(e)) from None


def _dataset_of(arch: str) -> str | None:
    if arch.startswith(("cifar_resnet", "wrn")):
        return "cifar10"
    if arch == "lenet":
        return "mnist"
    if arch == "resnet50":
        return "imagenet"
    return None  # torchvision / timm networks: the caller must say which statistics


# ---- architecture from keys -----------------------------------------------------------------------


def _blocks(state: dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in state if (m := pattern.match(k))})


def _infer_arch(path, state: dict, format: str) -> str:
    """The architecture a macer / rs4a / DataParallel state dict was saved from, read off its keys."""
    p = "model.module." if format == "rs4a" else ("module." if _all_prefixed(state, "module.") else "")
    conv1 = state.get(p + "conv1.weight")
    if isinstance(conv1, torch.Tensor) and tuple(conv1.shape) == (20, 1, 5, 5) and p + "fc2.weight" in state:
        return "lenet"
    if p + "layer1.0.conv3.weight" in state and p + "layer4.0.conv1.weight" in state:
        counts = tuple(_blocks(state, f"{p}layer{i}.") for i in range(1, 5))
        if counts == (3, 4, 6, 3):
            return "resnet50"
    if p + "layer1.0.conv1.weight" in state and p + "layer4.0.conv1.weight" not in state:
        return f"cifar_resnet{6 * _blocks(state, p + 'layer1.') + 2}"
    first = state.get(p + "block1.layer.0.conv1.weight")
    if isinstance(first, torch.Tensor):
        return f"wrn{6 * _blocks(state, p + 'block1.layer.') + 4}_{first.shape[0] // 16}"
    raise CheckpointError(f"{path}: cannot tell the architecture of this {format} state dict from its keys "
                          f"({_sample(sorted(state))}); pass arch{_hint(state, format)}")


def _build(arch: str, state: dict, path, format: str, prefix: str) -> nn.Module:
    """``arch`` with as many outputs as the checkpoint's classifier layer (the network's last 2-d weight) has
    rows."""
    if format == "plain" and _all_prefixed(state, "module."):
        prefix = "module."
    try:
        net = build_architecture(arch)
        weights = [(k, v) for k, v in net.state_dict().items() if k.endswith("weight") and v.dim() == 2]
        saved = state.get(prefix + weights[-1][0]) if weights else None
        if isinstance(saved, torch.Tensor) and saved.dim() == 2 and saved.shape[0] != weights[-1][1].shape[0]:
            net = build_architecture(arch, int(saved.shape[0]))
    except (ValueError, TypeError, ImportError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    return net


# ---- strict matching and hints --------------------------------------------------------------------


def _load_strict(model: nn.Module, state: dict, path, format: str, arch: str) -> None:
    """Every key of the model in the file and no other, with the same shapes; the missing and unexpected
    keys are torch's own (so BatchNorm's upgrade of pre-0.4.1 state dicts without num_batches_tracked
    still applies)."""
    expected = model.state_dict()
    reshaped = [k for k in expected if isinstance(state.get(k), torch.Tensor)
                and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if reshaped:
        k = reshaped[0]
        parts.append(f"{len(reshaped)} keys of another shape ({k}: {tuple(state[k].shape)} in the file, "
                     f"{tuple(expected[k].shape)} in {arch})")
    else:
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys:
            parts.append(f"{len(result.missing_keys)} missing keys ({_sample(result.missing_keys)})")
        if result.unexpected_keys:
            parts.append(f"{len(result.unexpected_keys)} unexpected keys ({_sample(result.unexpected_keys)})")
    if parts:
        raise CheckpointError(f"{path} does not match the {format} layout of {arch}: {'; '.join(parts)}"
                              f"{_hint(state, format)}")


def _sample(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:_SHOWN_KEYS])
    return shown + (", ..." if len(keys) > _SHOWN_KEYS else "")


def _found(content) -> str:
    if isinstance(content, dict):
        return f"; found keys {_sample([str(k) for k in content])}"
    return f"; found a {type(content).__name__}"


def _is_state_dict(content) -> bool:
    return (isinstance(content, dict) and len(content) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items()))


def _all_prefixed(state: dict, prefix: str) -> bool:
    return len(state) > 0 and all(isinstance(k, str) and k.startswith(prefix) for k in state)


def _guess(content) -> tuple[tuple[str, ...], str] | None:
    """(the formats the checkpoint's structure fits, a phrase saying why), or None if nothing fits."""
    if isinstance(content, dict) and isinstance(content.get("net"), dict):
        return ("macer",), "macer ({'net': state_dict, 'epoch'})"
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        arch = f" and arch {content['arch']!r}" if "arch" in content else ""
        return ("cohen", "smoothadv"), ("cohen (NormalizeLayer) or smoothadv (InputCenterLayer): a dict with "
                                        f"'state_dict'{arch}")
    if not _is_state_dict(content):
        return None
    if all(k.startswith(("norm.module.", "model.module.")) for k in content):
        return ("rs4a",), "rs4a (keys norm.module.* and model.module.*)"
    if all(k.startswith(("0.", "1.")) for k in content):
        # the keys of Sequential(normalization, net): what cohen / smoothadv hold under 'state_dict'
        return ("cohen", "smoothadv"), ("the 'state_dict' entry of a cohen / smoothadv checkpoint (keys '1.*'): "
                                        "those formats read the whole checkpoint dict {'arch', 'state_dict', ...}, "
                                        "not the state dict alone")
    if _all_prefixed(content, "module."):
        return ("plain",), "plain with arch (a state dict saved from nn.DataParallel: keys 'module.*')"
    return ("plain",), "plain with arch (a state dict of the bare network)"


def suggest_format(content) -> str | None:
    """From the structure and keys of a loaded checkpoint, the format it most probably is, as a phrase
    (None if it fits none)."""
    guess = _guess(content)
    return None if guess is None else guess[1]


def _hint(content, asked: str) -> str:
    guess = _guess(content)
    if guess is None or asked in guess[0]:
        return ""
    return f"; this looks like {guess[1]}"


# ---- saving ---------------------------------------------------------------------------------------


def cohen_model(arch: str, num_classes: int | None = None, dataset: str | None = None,
                normalization: str = "normalize") -> nn.Module:
    """A fresh network ``arch`` in Cohen et al.'s layout, ``Sequential(NormalizeLayer, net)`` (net wrapped as
    DataParallel for resnet50), the model whose ``state_dict`` a ``cohen`` checkpoint holds. For other archs
    the same layout (normalization, then the network)."""
    net = build_architecture(arch, num_classes)
    if arch == "resnet50":
        net = DataParallelLayout(net)
    return nn.Sequential(_first_layer(normalization, dataset or _dataset_of(arch)), net)


def save_cohen_checkpoint(path: str, model: nn.Module, arch: str | None, epoch: int,
                          optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None) -> None:
    """Write ``{'epoch', 'arch', 'state_dict', 'optimizer'}`` (Cohen et al.'s train.py), plus ``extra`` under
    'rsmooth', atomically: a crash leaves the previous checkpoint in place."""
    from ..cache import atomic_write

    content = {"epoch": int(epoch), "arch": arch, "state_dict": model.state_dict(),
               "optimizer": None if optimizer is None else optimizer.state_dict()}
    if extra:
        content["rsmooth"] = extra
    atomic_write(os.fspath(path), lambda f: torch.save(content, f))
