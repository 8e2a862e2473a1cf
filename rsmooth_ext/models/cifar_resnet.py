"""The CIFAR ResNet of bearpaw/pytorch-classification, as locuslab/smoothing (cifar_resnet20,
cifar_resnet110) and RuntianZ/macer (resnet110) use it: the same module names, so their state dicts load
with strict key matching.

Keys: conv1, bn1, layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}, layer{2,3}.0.downsample.{0 (1x1 conv), 1 (bn)},
fc. Depth is 6n + 2 with n basic blocks per stage."""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; the shortcut is a 1x1 convolution + bn where the shape changes."""

    expansion = 1

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inputs, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class CifarResNet(nn.Module):
    """ResNet(depth, BasicBlock) for 3 x 32 x 32 inputs: stages of 16, 32 and 64 channels.

    The final pooling averages the whole feature map; on 32 x 32 inputs that is the original 8 x 8 average."""

    def __init__(self, depth: int, num_classes: int = 10):
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth!r}")
        blocks = (depth - 2) // 6
        self._inputs = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(16, blocks, stride=1)
        self.layer2 = self._stage(32, blocks, stride=2)
        self.layer3 = self._stage(64, blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64 * BasicBlock.expansion, num_classes)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inputs != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self._inputs, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers = [BasicBlock(self._inputs, planes, stride, downsample)]
        self._inputs = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
