"""Convolutional encoders for pixel observations (channels first, uint8 scaled by 1/255;
`pixel_encoder` transposes channels-last images, such as CarRacing's (96, 96, 3), first).

- `NatureCNN`: Mnih et al. (2015), "Human-level control through deep reinforcement learning",
  Methods / Model architecture: 4x84x84 -> conv 32 8x8 s4 -> conv 64 4x4 s2 -> conv 64 3x3 s1 ->
  3136 features (the 512-unit layer and the output belong to the Q head).
- `MinAtarCNN`: Young & Tian (2019), "MinAtar", section 4: one conv layer of 16 3x3 filters,
  stride 1, on the 10x10xC grid -> 1024 features (the 128-unit layer belongs to the head).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn


def image_layout(space: gym.Space[Any]) -> str | None:
    """'chw' or 'hwc' for a Box that is an image: 3-D, with at most 4 channels first (chw) or
    last (hwc) and both sides >= 4; else None. Channels first wins where both fit."""
    shape = tuple(space.shape or ())
    if not isinstance(space, gym.spaces.Box) or len(shape) != 3:
        return None
    if shape[0] <= 4 and min(shape[1:]) >= 4:
        return "chw"
    if shape[2] <= 4 and min(shape[:2]) >= 4:
        return "hwc"
    return None


class NatureCNN(nn.Module):
    """Three conv layers of the Nature DQN; output `out_dim` = 3136 for 84x84 input."""

    def __init__(self, in_channels: int, height: int = 84, width: int = 84) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            self.out_dim = int(self.net(torch.zeros(1, in_channels, height, width)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net(x.float() / 255.0)
        return features


class MinAtarCNN(nn.Module):
    """One conv layer of 16 3x3 filters (MinAtar's DQN); `out_dim` = 16 * (H-2) * (W-2)."""

    def __init__(self, in_channels: int, height: int = 10, width: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=1), nn.ReLU(), nn.Flatten())
        self.out_dim = 16 * (height - 2) * (width - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # MinAtar frames are 0/1 (stored as uint8 0/1 by tidyrl's MinAtar adapter): no 1/255
        features: torch.Tensor = self.net(x.float())
        return features


class ChannelsLast(nn.Module):
    """A channels-first encoder for (B, H, W, C) input: the images are transposed to (B, C, H,
    W) first (copied, as convolutions on a permuted view run slower)."""

    def __init__(self, inner: NatureCNN | MinAtarCNN) -> None:
        super().__init__()
        self.inner = inner
        self.out_dim = inner.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.inner(x.permute(0, 3, 1, 2).contiguous())
        return features


def pixel_encoder(space: gym.Space[Any]) -> NatureCNN | MinAtarCNN | ChannelsLast:
    """The encoder for an image space: Nature CNN from 36x36 up, else MinAtar's; a channels-last
    image (`image_layout` "hwc") is transposed first. Before, (96, 96, 3) was read as 96
    channels of a 96x3 image."""
    shape = tuple(space.shape or ())
    if len(shape) != 3:
        raise ValueError(f"pixel_encoder needs a (C, H, W) space, got shape {shape}")
    channels_last = image_layout(space) == "hwc"
    c, h, w = (shape[2], shape[0], shape[1]) if channels_last else shape
    cnn = NatureCNN(c, h, w) if min(h, w) >= 36 else MinAtarCNN(c, h, w)
    return ChannelsLast(cnn) if channels_last else cnn
