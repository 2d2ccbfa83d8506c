"""ResNet-18 in plain torch.nn, with torchvision's parameter names (conv1, bn1, layer1.0.conv1, ...,
downsample.0/1, fc), so torchvision and LeRobot backbone weights load by name.

No torchvision exists for the CPU torch here; this is written from the ResNet paper's layout.
"""
from __future__ import annotations

import torch
from torch import nn

from policy.base import register_backbone


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine terms (buffers, as in torchvision.ops)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # noqa: ANN001
        state_dict.pop(prefix + "num_batches_tracked", None)  # a BatchNorm2d checkpoint has it
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


def _norm(kind: str, channels: int) -> nn.Module:
    return FrozenBatchNorm2d(channels) if kind == "frozen" else nn.BatchNorm2d(channels)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = _norm(norm, planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = _norm(norm, planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), _norm(norm, planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18. include_top=False drops avgpool/fc (what ACT uses: the layer4 feature map)."""

    out_channels = 512

    def __init__(self, norm: str = "frozen", include_top: bool = False, num_classes: int = 1000,
                 dilate_last: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = _norm(norm, 64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._inplanes, self._dilation = 64, 1
        self.layer1 = self._make_layer(64, 1, norm, False)
        self.layer2 = self._make_layer(128, 2, norm, False)
        self.layer3 = self._make_layer(256, 2, norm, False)
        self.layer4 = self._make_layer(512, 2, norm, dilate_last)
        self.include_top = include_top
        if include_top:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # trainable norm: zero-init the last norm of each residual branch, so blocks start as
        # identities and training from scratch is stable (frozen norms keep the loaded values)
        for m in self.modules():
            if norm == "batch" and isinstance(m, BasicBlock):
                with torch.no_grad():
                    m.bn2.weight.zero_()

    def _make_layer(self, planes: int, stride: int, norm: str, dilate: bool) -> nn.Sequential:
        dilation = self._dilation
        if dilate:  # replace the stride by dilation (torchvision's replace_stride_with_dilation)
            self._dilation *= stride
            stride = 1
        first = BasicBlock(self._inplanes, planes, stride, dilation, norm)
        self._inplanes = planes
        return nn.Sequential(first, BasicBlock(planes, planes, 1, self._dilation, norm))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        if not self.include_top:
            return x
        return self.fc(torch.flatten(self.avgpool(x), 1))


register_backbone("resnet18", ResNet18)
