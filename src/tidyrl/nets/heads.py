"""Q-value heads and the Q-network every value-based algorithm composes.

- dueling (Wang et al. 2016, eq. 9): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'), two streams
  after a shared encoder;
- categorical (Bellemare et al. 2017, C51): the head outputs logits over `n_atoms` fixed returns
  z_j per action; p_j(s, a) = softmax_j(logits), Q(s, a) = sum_j z_j p_j(s, a). With dueling, the
  streams are combined on the logits before the softmax (Hessel et al. 2018, eq. 5 of Rainbow);
- noisy (Fortunato et al. 2018): every linear layer of the head is a `NoisyLinear`.

`QNetwork` = encoder (Nature/MinAtar CNN for (C, H, W) pixels, the combined encoder of
`tidyrl.nets.encoders` for Dict observations, identity for vectors) + shared
hidden layers `hidden[:-1]` + one stream per output (V and A when dueling, else Q), each
`Linear(hidden[-1]) -> ReLU -> Linear(out)`, or the output layer alone when `hidden` is empty.
So hidden=(512,) on pixels is the Nature DQN, hidden=(256, 256) on vectors is SB3's
`net_arch=[256, 256]`, and hidden=() on MinAtar is Revisiting Rainbow's network (conv, then the
output layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.nets.cnn import pixel_encoder
from tidyrl.nets.encoders import CombinedEncoder
from tidyrl.nets.mlp import run_layers
from tidyrl.nets.noisy import NoisyLinear, composed_once


def dueling_combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """V + A - mean_a A: `value` (B, 1, ...) and `advantage` (B, A, ...) -> (B, A, ...)."""
    return value + advantage - advantage.mean(dim=1, keepdim=True)


def categorical_q(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = sum_j z_j softmax(logits)_j for logits (B, A, N) and support z (N,)."""
    return (torch.softmax(logits, dim=-1) * support).sum(dim=-1)


class QNetwork(nn.Module):
    """Encoder + shared layers + (dueling) streams; outputs (B, A) or logits (B, A, N)."""

    def __init__(
        self,
        observation_space: gym.Space[Any],
        n_actions: int,
        hidden: Sequence[int] = (256, 256),
        dueling: bool = False,
        noisy: bool = False,
        n_atoms: int = 1,
        sigma0: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_actions, self.n_atoms, self.dueling = n_actions, n_atoms, dueling
        shape = tuple(observation_space.shape or ())
        self.encoder: nn.Module
        if isinstance(observation_space, gym.spaces.Dict):
            combined = CombinedEncoder(observation_space)
            self.encoder, width = combined, combined.out_dim
        elif len(shape) == 3:
            cnn = pixel_encoder(observation_space)
            self.encoder, width = cnn, cnn.out_dim
        else:
            self.encoder, width = nn.Flatten(), int(np.prod(shape))
        self.flat_input = len(shape) != 3 and not isinstance(observation_space, gym.spaces.Dict)
        """Vector observations: the encoder is a plain flatten (done inline in `forward`)."""

        def linear(i: int, o: int) -> nn.Module:
            return NoisyLinear(i, o, sigma0) if noisy else nn.Linear(i, o)

        layers: list[nn.Module] = []
        for h in hidden[:-1]:
            layers += [linear(width, h), nn.ReLU()]
            width = h
        self.shared = nn.Sequential(*layers)

        def stream(out: int) -> nn.Sequential:
            if not hidden:  # the output layer straight on the encoder's features
                return nn.Sequential(linear(width, out))
            return nn.Sequential(linear(width, hidden[-1]), nn.ReLU(), linear(hidden[-1], out))

        self.advantage = stream(n_actions * n_atoms)
        self.value = stream(n_atoms) if dueling else None

    def output_layers(self) -> list[nn.Module]:
        """The last layer of the advantage stream and of the value stream (dueling): the heads
        `--freeze encoder` keeps trainable; encoder, shared layers and each stream's hidden
        layer are the encoder."""
        streams = [self.advantage] if self.value is None else [self.advantage, self.value]
        return [stream[-1] for stream in streams]

    def with_next(self, obs: Any, next_obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs for `obs` (with gradients) and, detached, for `next_obs` (Double DQN's
        online selector of a*).

        Vector inputs go through in one pass of 2B rows: for small MLPs one call costs less
        than two. Pixels take a separate no-grad pass for `next_obs`, so that the backward does
        not run over the B rows of s', whose gradient is zero (docs/performance.md); noisy
        layers compose their weights once for both passes (`composed_once`)."""
        if self.flat_input:
            both = self(torch.cat([obs, next_obs]))
            return both[: len(obs)], both[len(obs) :].detach()
        with composed_once(self):
            out = self(obs)
            with torch.no_grad():
                return out, self(next_obs)

    def forward(self, obs: Any) -> torch.Tensor:
        if self.flat_input:
            obs = obs.reshape(obs.shape[0], -1) if obs.dim() != 2 else obs
            features = run_layers(self.shared, obs)
        else:
            features = run_layers(self.shared, self.encoder(obs))
        out: torch.Tensor = run_layers(self.advantage, features)
        if self.n_atoms > 1:
            out = out.view(-1, self.n_actions, self.n_atoms)
        if self.value is not None:
            value = run_layers(self.value, features)
            value = value.view(-1, 1, self.n_atoms) if self.n_atoms > 1 else value
            out = dueling_combine(value, out)
        return out
