"""Environment models EM(s, a) -> (s', r): lecture seed 000 ("model based RL": curiosity,
imagination), after Pathak et al. (2017) and Weber et al. (2018, I2A's environment model).

Both models are residual: they predict the *change* of the state, so that a network that outputs
zero predicts "nothing moves". Their state output layer starts at zero, so EM(s, a) = s at
initialisation (for the visual model: the next frame equals the newest frame), and learning only
has to explain what the action changes. Each also has a reward head r^(s, a).

Vector model (seed 000, "environment model - vector input"):

    h      = features([s, phi(a)])                         an MLP
    s'^    = s + W_s h                                      residual state prediction
    r^     = W_r h                                          reward head

Visual model (seed 000, "environment model - visual input"), on a channels-first frame stack:

    x      = [stack, action planes]                         phi(a) broadcast to H x W planes
    h0     = conv0(x)                                       stride 2
    h      = h0 + conv1(h0)                                 residual connection
    frame^ = newest frame + deconv(h)                       residual frame, back to H x W
    s'^    = [stack without its oldest frame, frame^]       the stack one step on
    r^     = reward(h)                                      reward head

The seed's stacks keep the newest frame first; tidyrl's frame stacks (Gymnasium's
`FrameStackObservation`) keep it last, so here the newest frame is the last `frame_channels`
channels and the predicted frame is appended at the end.

The training loss is the seed's L_em = (s' - EM(s, a))^2 (`model_loss`, mean over elements, plus
the same for the reward head when rewards are given); curiosity's reward is the squared error
C(s, s', a) = ||s' - EM(s, a)||^2 (`prediction_error`, summed over a row). `frame_accuracy`
scores a visual model on binary frames (the share of pixels it gets exactly right).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.nets.mlp import mlp
from tidyrl.nets.policy import ActionAdapter


def action_dim(space: gym.Space[Any]) -> int:
    """Width of `action_features` for `space`: n for Discrete(n), the flat size for a Box."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    return int(np.prod(space.shape or (1,)))


def action_features(actions: torch.Tensor, space: gym.Space[Any]) -> torch.Tensor:
    """phi(a) [B, action_dim]: one-hot for Discrete actions (env numbering), the policy's [-1, 1]
    scale for a bounded Box (`ActionAdapter.from_env`), the raw values otherwise."""
    adapter = ActionAdapter(space)
    a = adapter.from_env(actions.detach().cpu().numpy())
    if adapter.discrete:
        return F.one_hot(a, action_dim(space)).float()
    return a


def prediction_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """C = ||target - prediction||^2 per row [B], summed over every non-batch dimension."""
    return (target - prediction).square().reshape(len(target), -1).sum(dim=1)


def frame_accuracy(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels predicted exactly, for frames [B, C, H, W] whose channels are 0 or 1
    (MiniPacman, MinAtar): a pixel counts when every channel of the prediction, rounded at 0.5,
    equals the target's."""
    hit = ((prediction > 0.5) == (target > 0.5)).all(dim=1)
    return hit.float().mean()


def model_loss(
    next_obs_pred: torch.Tensor,
    next_obs: torch.Tensor,
    reward_pred: torch.Tensor | None = None,
    rewards: torch.Tensor | None = None,
    reward_coef: float = 1.0,
) -> torch.Tensor:
    """L_em = mean (s' - EM(s, a))^2, plus reward_coef * mean (r - r^)^2 when the rewards are
    given (a weight below 1 keeps large rewards from swamping a frame's small per-pixel error)."""
    loss = F.mse_loss(next_obs_pred, next_obs)
    if reward_pred is not None and rewards is not None:
        loss = loss + reward_coef * F.mse_loss(reward_pred, rewards)
    return loss


class VectorEnvModel(nn.Module):
    """EM(s, a) = (s + W_s h, W_r h), h = MLP([s, phi(a)]); W_s starts at zero."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (256, 128)) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("VectorEnvModel needs at least one hidden layer")
        self.features = mlp(obs_dim + action_dim, hidden[:-1], hidden[-1], "relu", "relu")
        self.state_head = nn.Linear(hidden[-1], obs_dim)
        self.reward_head = nn.Linear(hidden[-1], 1)
        nn.init.zeros_(self.state_head.weight)
        nn.init.zeros_(self.state_head.bias)

    def forward(
        self, obs: torch.Tensor, action_feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(s'^ [B, obs_dim], r^ [B]) for states [B, obs_dim] and action features [B, A]."""
        h = self.features(torch.cat([obs, action_feats], dim=1))
        # the seed's `+ state.detach()`: the residual input is data, not a path for gradients
        next_obs: torch.Tensor = obs.detach() + self.state_head(h)
        reward: torch.Tensor = self.reward_head(h).squeeze(-1)
        return next_obs, reward


class VisualEnvModel(nn.Module):
    """The seed's visual model on (C, H, W) stacks whose last `frame_channels` channels are the
    newest frame; the deconvolution starts at zero, so frame^ = newest frame at initialisation."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        action_dim: int,
        frame_channels: int = 1,
        channels: int = 32,
    ) -> None:
        super().__init__()
        c, h, w = (int(x) for x in obs_shape)
        if not 1 <= frame_channels <= c:
            raise ValueError(f"frame_channels={frame_channels} must be in [1, {c}]")
        self.frame_channels = frame_channels
        self.conv0 = nn.Sequential(
            nn.Conv2d(c + action_dim, channels, 4, stride=2, padding=1), nn.ReLU()
        )
        self.conv1 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.deconv0 = nn.ConvTranspose2d(channels, frame_channels, 4, stride=2, padding=1)
        nn.init.zeros_(self.deconv0.weight)
        if self.deconv0.bias is not None:
            nn.init.zeros_(self.deconv0.bias)
        self.reward = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1))
        self.size = (h, w)

    def forward(
        self, obs: torch.Tensor, action_feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(s'^ [B, C, H, W], r^ [B]) for float stacks [B, C, H, W] and action features [B, A]."""
        planes = action_feats[:, :, None, None].expand(-1, -1, *self.size)
        h0 = self.conv0(torch.cat([obs, planes], dim=1))
        h = h0 + self.conv1(h0)
        newest = obs[:, -self.frame_channels :]
        frame = newest.detach() + self.deconv0(h, output_size=self.size)
        next_obs = torch.cat([obs[:, self.frame_channels :], frame], dim=1)
        reward: torch.Tensor = self.reward(h).squeeze(-1)
        return next_obs, reward


def env_model(
    obs_shape: Sequence[int],
    action_dim: int,
    hidden: Sequence[int] = (256, 128),
    frame_channels: int = 1,
    channels: int = 32,
) -> VectorEnvModel | VisualEnvModel:
    """The visual model for (C, H, W) observations, the vector model for flat ones."""
    if len(obs_shape) == 3:
        return VisualEnvModel(obs_shape, action_dim, frame_channels, channels)
    return VectorEnvModel(int(np.prod(obs_shape)), action_dim, hidden)
