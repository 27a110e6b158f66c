"""The combined encoder of Dict observations (Tuple ones arrive as Dicts: `tidyrl.envs.spaces`).

Each key of the Dict goes through its own branch and the features are concatenated, in the
space's key order (the idea of SB3's `CombinedExtractor`, with a small MLP per vector key as the
issue asked for rather than a plain flatten):

- an image key -- a Box of shape (C, H, W) or (H, W, C) with C <= 4 and both sides >= 4 -- through
  a CNN: the Nature DQN's three conv layers (`tidyrl.nets.cnn.NatureCNN`) from 36x36 up, else
  three 2x2 conv layers of 16, 32, 64 filters (the MiniGrid encoder of Willems' rl-starter-files /
  torch-ac, without its max-pool so that 5x5 views still fit); uint8 images are scaled by one
  over their declared bound (1/255 for pixels; MiniGrid's symbolic grid of object, colour and
  state indices is declared with its true bound by `tidyrl.envs.spaces.agent_space`) and
  channels-last images transposed first;
- a Discrete or MultiDiscrete key as one-hot vectors (MultiDiscrete: one per sub-value,
  concatenated), with the space's `start` subtracted;
- every other key (a vector Box, MultiBinary) flattened as float32 through Linear -> ReLU.

The encoder's `out_dim` is the width of the concatenation, the input size of the MLP that follows.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.nets.cnn import NatureCNN, image_layout

VECTOR_FEATURES = 64
"""Width of each vector key's Linear -> ReLU branch."""


def image_scale(space: gym.spaces.Box) -> float:
    """The factor an image's values are read at: one over the declared bound for uint8 (1/255
    for pixels), 1 otherwise."""
    return 1.0 / float(np.max(space.high)) if space.dtype == np.uint8 else 1.0


class ImageBranch(nn.Module):
    """Scale (uint8: `image_scale`), transpose channels-last images, then a CNN. With
    `prescaled`, the inputs arrive already multiplied by `image_scale` (GAIL's discriminator
    input, where its gradient penalty is measured) and are not scaled again."""

    def __init__(self, space: gym.spaces.Box, prescaled: bool = False) -> None:
        super().__init__()
        self.channels_last = image_layout(space) == "hwc"
        shape = tuple(space.shape)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        self.scale = 1.0 if prescaled else image_scale(space)
        if min(h, w) >= 36:
            self.net = NatureCNN(c, h, w).net
        else:
            self.net = nn.Sequential(
                nn.Conv2d(c, 16, 2),
                nn.ReLU(),
                nn.Conv2d(16, 32, 2),
                nn.ReLU(),
                nn.Conv2d(32, 64, 2),
                nn.ReLU(),
                nn.Flatten(),
            )
        with torch.no_grad():
            self.out_dim = int(self.net(torch.zeros(1, c, h, w)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:  # NCHW in memory too: convolutions on a permuted view run slower
            x = x.permute(0, 3, 1, 2).contiguous()
        out: torch.Tensor = self.net(x.float() * self.scale)
        return out


class OneHotBranch(nn.Module):
    """Discrete / MultiDiscrete values as concatenated one-hot vectors (no parameters)."""

    offsets: torch.Tensor
    start: torch.Tensor

    def __init__(self, space: gym.spaces.Discrete | gym.spaces.MultiDiscrete) -> None:
        super().__init__()
        if isinstance(space, gym.spaces.Discrete):
            nvec, start = np.array([int(space.n)]), np.array([int(space.start)])
        else:
            nvec, start = space.nvec.reshape(-1), space.start.reshape(-1)
        self.out_dim = int(nvec.sum())
        offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        self.register_buffer("start", torch.as_tensor(start, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = x.long().reshape(len(x), -1) - self.start + self.offsets
        return F.one_hot(index, self.out_dim).sum(1).float()


class VectorBranch(nn.Module):
    """A flattened vector through Linear -> ReLU."""

    def __init__(self, space: gym.Space[Any], width: int = VECTOR_FEATURES) -> None:
        super().__init__()
        self.linear = nn.Linear(int(np.prod(space.shape or (1,))), width)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x.float().reshape(len(x), -1)))


def branch(space: gym.Space[Any]) -> ImageBranch | OneHotBranch | VectorBranch:
    """The branch for one key's space (module docstring)."""
    if image_layout(space) is not None:
        assert isinstance(space, gym.spaces.Box)
        return ImageBranch(space)
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        return OneHotBranch(space)
    return VectorBranch(space)


class CombinedEncoder(nn.Module):
    """Dict observation -> concatenated features of its keys' branches."""

    def __init__(self, space: gym.spaces.Dict) -> None:
        super().__init__()
        parts = {k: branch(s) for k, s in space.spaces.items()}
        self.branches = nn.ModuleDict(parts)
        self.out_dim = sum(b.out_dim for b in parts.values())

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([b(obs[k]) for k, b in self.branches.items()], -1)


def observation_encoder(space: gym.Space[Any]) -> CombinedEncoder | ImageBranch | None:
    """The encoder a network puts in front of its MLP for `space`: the combined encoder of a
    Dict, an `ImageBranch` CNN for an image Box (uint8 scaled, channels-last transposed), none
    for a vector Box (the MLP reads it flattened)."""
    if isinstance(space, gym.spaces.Dict):
        return CombinedEncoder(space)
    if image_layout(space) is not None:
        assert isinstance(space, gym.spaces.Box)
        return ImageBranch(space)
    return None


def obs_tensors(obs: Any, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """A batch of Dict observations (arrays or tensors per key) as tensors on `device`, each in
    its own dtype (the branches convert)."""
    return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
