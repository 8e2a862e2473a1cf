"""The wide ResNet (Zagoruyko & Komodakis) with the module names of tonyduan/rs4a's WRN-40-2, so its state
dicts load with strict key matching.

Keys: conv1, block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2}, block{k}.layer.0.convShortcut where the width
changes, bn1, fc. Pre-activation blocks; depth is 6n + 4 with n blocks per stage."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WideBasicBlock(nn.Module):
    """bn-relu-conv twice; where the width changes, the shortcut is a 1x1 convolution of the activated input."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inputs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(inputs, outputs, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(outputs, outputs, kernel_size=3, stride=1, padding=1, bias=False)
        self.same_width = inputs == outputs
        # the attribute name is part of the checkpoint layout
        self.convShortcut = (
            None if self.same_width else nn.Conv2d(inputs, outputs, kernel_size=1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(activated))))
        shortcut = x if self.same_width else self.convShortcut(activated)
        return shortcut + out


class _Stage(nn.Module):
    def __init__(self, blocks: int, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.layer = nn.Sequential(
            *[WideBasicBlock(inputs if i == 0 else outputs, outputs, stride if i == 0 else 1) for i in range(blocks)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-widen for 3 x 32 x 32 inputs (WRN-40-2: depth 40, widen 2)."""

    def __init__(self, depth: int = 40, widen_factor: int = 2, num_classes: int = 10):
        super().__init__()
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth must be 6n + 4 (16, 22, 28, 40, ...), got {depth!r}")
        if not isinstance(widen_factor, int) or widen_factor < 1:
            raise ValueError(f"widen_factor must be a positive integer, got {widen_factor!r}")
        blocks = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = _Stage(blocks, widths[0], widths[1], 1)
        self.block2 = _Stage(blocks, widths[1], widths[2], 2)
        self.block3 = _Stage(blocks, widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = self.relu(self.bn1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
