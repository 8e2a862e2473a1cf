"""Input normalization as the first layer of a classifier, so that noise is added in [0, 1] pixel space and
the certified radius is measured there (Cohen et al. 2019, section on certifying in input coordinates).

The constants are the ones the field's code bases use; none of these layers stores them in a state dict
except ``LogScaleNormalization`` (rs4a), which keeps them as parameters."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# (channel means, channel standard deviations) of the training sets, as locuslab/smoothing,
# Hadisalman/smoothing-adversarial and tonyduan/rs4a define them.
DATASET_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "mnist": ((0.1307,), (0.3081,)),
}
NORMALIZATIONS = ("normalize", "center", "none")


def _channel_tensor(name: str, values: Sequence[float]) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty sequence of per-channel floats, got {values!r}")
    return t.reshape(-1, 1, 1)


class NormalizeLayer(nn.Module):
    """(x - mean) / std per channel of (N, C, H, W) inputs (Cohen et al.; nothing in the state dict)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t, std_t = _channel_tensor("mean", mean), _channel_tensor("std", std)
        if mean_t.shape != std_t.shape:
            raise ValueError(f"mean and std must have one value per channel each, got {len(mean)} and {len(std)}")
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class InputCenterLayer(nn.Module):
    """x - mean per channel, no division (Salman et al., SmoothAdv; nothing in the state dict)."""

    def __init__(self, mean: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", _channel_tensor("mean", mean), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}"


class LogScaleNormalization(nn.Module):
    """(x - mu) / exp(log_sig), with ``mu`` and ``log_sig`` frozen parameters of shape ``shape`` (rs4a:
    the state dict holds them, so the statistics travel with the checkpoint)."""

    def __init__(self, shape: Sequence[int] = (3, 1, 1)):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(tuple(shape)), requires_grad=False)
        self.log_sig = nn.Parameter(torch.zeros(tuple(shape)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mu) / torch.exp(self.log_sig)


def normalization_layer(kind: str, dataset: str | None) -> nn.Module:
    """The first layer for ``kind`` in NORMALIZATIONS with the statistics of ``dataset`` (a DATASET_STATS key;
    not needed for "none")."""
    if kind not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {kind!r}")
    if kind == "none":
        return nn.Identity()
    if dataset not in DATASET_STATS:
        raise ValueError(f"normalization {kind!r} needs the dataset whose statistics it uses: one of "
                         f"{', '.join(DATASET_STATS)}, got {dataset!r}")
    mean, std = DATASET_STATS[dataset]
    return NormalizeLayer(mean, std) if kind == "normalize" else InputCenterLayer(mean)
