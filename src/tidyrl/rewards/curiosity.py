"""Curiosity as the squared prediction error of an environment model (lecture seed 000).

Seed 000, "curiosity in RL" (after Pathak et al. 2017, "Curiosity-driven exploration by
self-supervised prediction"): an environment model EM(s, a; phi) is trained to predict the next
state, and the agent is paid for transitions it cannot yet predict,

    L_em(phi)   = (s' - EM(s, a; phi))^2                        `tidyrl.models.env_model.model_loss`
    C(s, s', a) = ||s' - EM(s, a; phi)||^2                      `prediction_error`
    Q'(s, a)    = R + beta C(s, s', a) + gamma max_a' Q(s', a'; theta^-)   (the learner's target)

so that beta = `intrinsic_coef`. The model is the seed's (`tidyrl.models.env_model`): the vector
model for flat observations (residual state prediction), the visual model for (C, H, W) frames
(action planes, residual conv, deconvolution, residual frame). Its reward head is not trained
here: a plug-in sees no environment reward (`tidyrl.data.batch.Experience`), and curiosity only
needs the state prediction.

Unlike Pathak et al.'s ICM (`tidyrl.rewards.icm`), the error is measured in the state space
itself, so it is only as meaningful as the state's units: vector states are standardized by a
running mean and variance of the observations (`normalize_obs`, updated in `observe` from each
new transition once) before the model sees them, so that no coordinate dominates the error
because of its scale (MountainCar's velocity is 25 times smaller than its position); pixel frames
are scaled to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tidyrl.config import check_hidden, check_range
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.models.env_model import (
    action_dim,
    action_features,
    env_model,
    model_loss,
    prediction_error,
)
from tidyrl.nets.optim import Adam
from tidyrl.rewards.base import ExperienceLike, RewardPlugin, frame_channels


@dataclass(frozen=True)
class CuriosityConfig:
    intrinsic_coef: float = 1.0
    """beta: the learner learns from r + beta * C."""
    model_lr: float = 1e-3
    """Adam learning rate of the environment model."""
    model_hidden: tuple[int, ...] = (256, 128)
    """Hidden widths of the vector model (the last is its feature width)."""
    model_channels: int = 32
    """Conv channels of the visual model."""
    model_steps: int = 1
    """Adam steps on L_em per batch handed to update."""
    normalize_obs: bool = True
    """Standardize vector states by running statistics before the model (pixels: / their bound)."""

    def __post_init__(self) -> None:
        check_range(self, "intrinsic_coef", 0.0)
        check_range(self, "model_lr", 0.0, low_open=True)
        check_hidden(self, "model_hidden")
        check_range(self, "model_channels", 1)
        check_range(self, "model_steps", 1)


class Curiosity(RewardPlugin):
    """Seed 000's curiosity: C = ||s' - EM(s, a)||^2 of a residual environment model."""

    Config = CuriosityConfig
    name = "curiosity"
    replaces_env_reward = False

    config: CuriosityConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # config, spaces, env id, generator, n_envs
        cfg, shape = self.config, tuple(self.observation_space.shape or (1,))
        self.pixels = len(shape) == 3
        channels = frame_channels(self.observation_space, self.env_id)
        self.model = env_model(
            shape, action_dim(self.action_space), cfg.model_hidden, channels, cfg.model_channels
        )
        self.optimizer = Adam(self.model.parameters(), lr=cfg.model_lr)
        self.obs_norm = RunningMeanStd(shape)

    def state_objects(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer, "obs_norm": self.obs_norm}

    def states(self, obs: torch.Tensor) -> torch.Tensor:
        """The states the model works in: standardized vectors, or frames scaled to [0, 1]."""
        x = self.obs_batch(obs)
        if self.pixels or not self.config.normalize_obs:
            return x
        return self.obs_norm.normalize(x)

    def predict(self, batch: ExperienceLike) -> tuple[torch.Tensor, torch.Tensor]:
        """(EM(s, a), s') in the model's state units."""
        a = action_features(batch.actions, self.action_space)
        next_pred, _ = self.model(self.states(batch.obs), a)
        return next_pred, self.states(batch.next_obs)

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        if not self.pixels and self.config.normalize_obs:
            self.obs_norm.update(np.asarray(self.obs_batch(batch.next_obs)))

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        next_pred, next_obs = self.predict(batch)
        return prediction_error(next_pred, next_obs)

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """`model_steps` Adam steps on L_em over the whole batch."""
        for _ in range(self.config.model_steps):
            next_pred, next_obs = self.predict(batch)
            loss = model_loss(next_pred, next_obs)
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
        return {"model_loss": loss.detach()}
