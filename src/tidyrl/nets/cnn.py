"""Convolutional encoders for pixel observations (channels first, uint8 scaled by 1/255).

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


def pixel_encoder(space: gym.Space[Any]) -> NatureCNN | MinAtarCNN:
    """The encoder for a channels-first image space: Nature CNN from 36x36 up, else MinAtar's."""
    shape = tuple(space.shape or ())
    if len(shape) != 3:
        raise ValueError(f"pixel_encoder needs a (C, H, W) space, got shape {shape}")
    c, h, w = shape
    if min(h, w) >= 36:
        return NatureCNN(c, h, w)
    return MinAtarCNN(c, h, w)
