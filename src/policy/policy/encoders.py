"""Image encoders ACT can use, chosen by the config's `vision_backbone` through a small registry.

Every encoder is an nn.Module with `out_channels` and `forward_features(x) -> (B, C, h, w)`: ACT
projects each of the h*w cells to one transformer token (1x1 conv + 2D sinusoidal position).

- `resnet18`: LeRobot's backbone (torchvision parameter names, stride 32), so LeRobot checkpoints
  keep loading; at 48x64 it leaves a 2x2 map.
- `spatial_softmax`: a CPU-sized encoder in the style of robomimic / Diffusion Policy: a few 3x3
  convolutions with GroupNorm (total stride 4), then a spatial soft-argmax over K feature maps gives
  K expected (x, y) image positions ("keypoints"), flattened and projected to one feature vector,
  i.e. one token per camera. Keypoints are what a pick-and-place policy needs from a camera (where
  the cube and the gripper are), and the map stays fine-grained (24x32 at 96x128 input).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from policy.base import register_backbone


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) feature maps -> (B, C, 2) expected (x, y) in [-1, 1] under softmax(map / T),
    with a learnable temperature T (robomimic's SpatialSoftmax, without its extra conv)."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        attn = F.softmax(x.reshape(b, c, h * w) / self.log_temperature.exp(), dim=-1).reshape(b, c, h, w)
        ex = (attn.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, then E[x]
        ey = (attn.sum(dim=3) * ys).sum(dim=-1)
        return torch.stack((ex, ey), dim=-1)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.GroupNorm(min(8, cout // 4), cout), nn.ReLU(inplace=True))


class SpatialSoftmaxEncoder(nn.Module):
    """Conv stack (stride `2 ** n_down`) -> 1x1 conv to K maps -> spatial soft-argmax -> linear.

    Output: (B, out_channels, 1, 1), one token per camera."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), strides: tuple[int, ...] = (2, 2, 1),
                 num_keypoints: int = 16, out_channels: int = 64) -> None:
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError("channels and strides need one entry per conv layer")
        layers, cin = [], 3
        for cout, s in zip(channels, strides):
            layers.append(_conv(cin, cout, s))
            cin = cout
        self.convs = nn.Sequential(*layers)
        self.keypoint_maps = nn.Conv2d(cin, num_keypoints, 1)
        self.softmax = SpatialSoftmax()
        self.proj = nn.Linear(2 * num_keypoints, out_channels)
        self.out_channels = out_channels
        self.stride = int(torch.tensor(strides).prod())

    def keypoints(self, x: Tensor) -> Tensor:
        """(B, K, 2) expected image positions of the K keypoint maps."""
        return self.softmax(self.keypoint_maps(self.convs(x)))

    def forward_features(self, x: Tensor) -> Tensor:
        feats = self.proj(self.keypoints(x).flatten(1))
        return feats[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


# resnet18 (LeRobot's, policy/resnet.py) registers itself; the small encoder takes no norm or
# dilation choice (GroupNorm inside, stride 4)
register_backbone("spatial_softmax", lambda norm="frozen", dilate_last=False: SpatialSoftmaxEncoder())
