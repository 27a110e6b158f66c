"""Intrinsic curiosity module (Pathak et al. 2017, "Curiosity-driven exploration by
self-supervised prediction", section 2).

Curiosity measured in a learned feature space phi(s) instead of the raw state (seed 000's
`tidyrl.rewards.curiosity`): the features are trained by an *inverse* model to be what is needed
to tell which action was taken, so things the agent cannot affect (leaves in the wind, a TV's
noise) do not enter them, and a *forward* model predicts the next features:

    a^          = g(phi(s), phi(s'))                     inverse model
    L_I         = cross-entropy(a^, a)                   (Discrete; squared error for Box)
    phi^(s')    = f(phi(s), a)                           forward model
    L_F         = mean_b 1/2 ||phi^(s') - phi(s')||^2
    min         (1 - beta) L_I + beta L_F                eq. 7, beta = `forward_weight` (0.2)
    C(s, a, s') = 1/2 ||phi^(s') - phi(s')||^2           eq. 6, r_i = eta C, eta = intrinsic_coef

Both losses train the encoder (eq. 7 minimizes over all three networks, as the released code
does). The encoder is the paper's for frames, four ELU convolutions of 32 3x3 filters with
stride 2 over the (scaled) frame stack, and an ELU MLP for vector states; the forward and inverse
models are MLPs with one hidden layer of 256 units (section 3).

In an on-policy learner the module scores each rollout as it stood during the collection, then
takes one Adam step per minibatch of the learner's in each of its epochs (the paper minimizes
eq. 7 jointly with the policy's loss at every update; `RewardPlugin.trains_on_minibatches`).
`episodic_gate` (on-policy learners) multiplies C by a function of the visits to s' within the
current episode (`tidyrl.rewards.count.EpisodicGate`), as RIDE and NovelD gate their bonuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.models.env_model import action_dim, action_features
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam
from tidyrl.nets.policy import ActionAdapter
from tidyrl.rewards.base import ExperienceLike, RewardPlugin
from tidyrl.rewards.count import EPISODIC_GATES, episodic_gate


@dataclass(frozen=True)
class ICMConfig:
    intrinsic_coef: float = 0.01
    """eta: the learner learns from r + eta * C (the released code's prediction beta, 0.01)."""
    forward_weight: float = 0.2
    """beta of (1 - beta) L_I + beta L_F."""
    icm_lr: float = 1e-3
    """Adam learning rate of encoder, inverse and forward models."""
    feature_dim: int = 64
    """Width of phi(s) for vector observations (frames: the conv output, 288 at 42x42)."""
    icm_hidden: tuple[int, ...] = (256,)
    """Hidden widths of the encoder MLP and of the inverse and forward models."""
    episodic_gate: str = "none"
    """none, first_visit (pay C only at a state's first visit in the episode: NovelD),
    inverse_sqrt (C / sqrt(n_episode)) or ngu (1 / sqrt(n_episode) times C's modulation, NGU's
    eq. 1); on-policy learners only (`tidyrl.rewards.count.EpisodicGate`)."""

    def __post_init__(self) -> None:
        check_range(self, "intrinsic_coef", 0.0)
        check_range(self, "forward_weight", 0.0, 1.0)
        check_range(self, "icm_lr", 0.0, low_open=True)
        check_choice(self, "episodic_gate", EPISODIC_GATES)
        check_range(self, "feature_dim", 1)
        check_hidden(self, "icm_hidden")


def forward_loss(next_features_pred: torch.Tensor, next_features: torch.Tensor) -> torch.Tensor:
    """L_F = mean_b 1/2 ||phi^(s') - phi(s')||^2 (the per-row term is the bonus C)."""
    return forward_error(next_features_pred, next_features).mean()


def forward_error(next_features_pred: torch.Tensor, next_features: torch.Tensor) -> torch.Tensor:
    """C = 1/2 ||phi^(s') - phi(s')||^2 per row [B]."""
    return 0.5 * (next_features_pred - next_features).square().sum(dim=1)


def inverse_loss(action_pred: torch.Tensor, actions: torch.Tensor, discrete: bool) -> torch.Tensor:
    """L_I: cross-entropy of the logits against the action index (Discrete), or the mean squared
    error against the [-1, 1]-scaled action (Box)."""
    if discrete:
        return F.cross_entropy(action_pred, actions)
    return F.mse_loss(action_pred, actions)


def icm_loss(l_inverse: torch.Tensor, l_forward: torch.Tensor, beta: float) -> torch.Tensor:
    """(1 - beta) L_I + beta L_F."""
    return (1.0 - beta) * l_inverse + beta * l_forward


def icm_encoder(shape: tuple[int, ...], feature_dim: int, hidden: tuple[int, ...]) -> nn.Module:
    """phi: four ELU convs (32 3x3, stride 2, padding 1) for frames, an ELU MLP for vectors."""
    if len(shape) != 3:
        return mlp(int(np.prod(shape)), hidden, feature_dim, "elu", "elu")
    layers: list[nn.Module] = []
    channels = shape[0]
    for _ in range(4):
        layers += [nn.Conv2d(channels, 32, 3, stride=2, padding=1), nn.ELU()]
        channels = 32
    return nn.Sequential(*layers, nn.Flatten())


class ICM(RewardPlugin):
    """Encoder phi, inverse model g, forward model f; the bonus is f's error in phi-space."""

    Config = ICMConfig
    name = "icm"
    replaces_env_reward = False
    trains_on_minibatches = True

    config: ICMConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # config, spaces, env id, generator, n_envs
        cfg, shape = self.config, tuple(self.observation_space.shape or (1,))
        self.adapter = ActionAdapter(self.action_space)
        n_a = action_dim(self.action_space)
        self.encoder = icm_encoder(shape, cfg.feature_dim, cfg.icm_hidden)
        with torch.no_grad():
            width = int(self.encoder(torch.zeros(1, *shape)).reshape(1, -1).shape[1])
        self.inverse = mlp(2 * width, cfg.icm_hidden, n_a)
        self.forward_model = mlp(width + n_a, cfg.icm_hidden, width)
        params = [
            *self.encoder.parameters(),
            *self.inverse.parameters(),
            *self.forward_model.parameters(),
        ]
        self.optimizer = Adam(params, lr=cfg.icm_lr)
        self.gate = episodic_gate(self)

    def state_objects(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "inverse": self.inverse,
            "forward": self.forward_model,
            "optimizer": self.optimizer,
            **(self.gate.state_objects() if self.gate else {}),
        }

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        if self.gate:
            self.gate.observe(batch, n_envs)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.obs_batch(obs)
        phi: torch.Tensor = self.encoder(x if x.dim() == 4 else x.reshape(len(x), -1))
        return phi.reshape(len(x), -1)

    def predict(self, batch: ExperienceLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(phi^(s'), phi(s'), phi(s))."""
        phi, next_phi = self.features(batch.obs), self.features(batch.next_obs)
        a = action_features(batch.actions, self.action_space)
        return self.forward_model(torch.cat([phi, a], dim=1)), next_phi, phi

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        next_pred, next_phi, _ = self.predict(batch)
        bonus = forward_error(next_pred, next_phi)
        return self.gate(batch, bonus) if self.gate else bonus

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """One Adam step on (1 - beta) L_I + beta L_F."""
        next_pred, next_phi, phi = self.predict(batch)
        action_pred = self.inverse(torch.cat([phi, next_phi], dim=1))
        targets = self.adapter.from_env(batch.actions.detach().cpu().numpy())
        l_inverse = inverse_loss(action_pred, targets, self.adapter.discrete)
        l_forward = forward_loss(next_pred, next_phi)
        loss = icm_loss(l_inverse, l_forward, self.config.forward_weight)
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        return {"inverse_loss": l_inverse.detach(), "forward_loss": l_forward.detach()}
