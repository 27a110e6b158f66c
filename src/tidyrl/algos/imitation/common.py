"""Helpers shared by the imitation files (kept apart so they never import each other).

`cloning_update` is the one behaviour-cloning gradient step of `bc` and of DAgger's learner: the
loss it differentiates is `tidyrl.core.losses.behaviour_cloning_loss`. The cloned policy is the
actor of `tidyrl.nets.policy.ActorCritic`, with the observation and action handling of the
policy-gradient agents: an image Box observation goes through a CNN (`ImageBranch`), kept in its
shape and dtype (uint8 frames stay uint8 in the demonstrations and in DAgger's dataset), a Dict
observation (Tuple ones arrive as Dicts) goes through the combined encoder, one tensor per key
(`tidyrl.nets.encoders`), and any other Box is flattened into the MLP.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from tidyrl.algos.policy_gradient.common import PolicyIO, build_policy
from tidyrl.core.losses import behaviour_cloning_loss
from tidyrl.data.demos import DemoBatch, Demos, demos_for, require_demos

__all__ = ["build_cloner", "cloning_update", "read_demos", "require_demos"]
from tidyrl.errors import ConfigError
from tidyrl.nets.optim import Adam
from tidyrl.nets.policy import ActorCritic


def read_demos(agent: Any) -> Demos:
    """The agent's demonstrations (`config.demos`, first `config.demo_episodes` episodes),
    checked against its env's spaces."""
    return demos_for(agent.config, agent.observation_space, agent.action_space, agent.env_cfg.id)


def build_cloner(agent: Any) -> tuple[PolicyIO, ActorCritic, Adam]:
    """The cloned policy (no critic), its I/O and its Adam optimizer, from the config fields
    `loss`, `lr`, `hidden`, `activation`, `log_std_init` (a CNN in front of the MLP for an
    image Box, the combined encoder for a Dict)."""
    cfg = agent.config
    if cfg.loss == "mse" and not isinstance(agent.action_space, gym.spaces.Box):
        raise ConfigError(
            f"{agent.algo}: loss=mse needs a Box action space, {agent.env_cfg.id} has "
            f"{agent.action_space}; use loss=log-likelihood"
        )
    io, policy = build_policy(agent, cfg, critic=False, images=True)
    return io, policy, Adam(policy.actor_parameters(), lr=cfg.lr)


def cloning_update(
    policy: ActorCritic, io: PolicyIO, optimizer: Adam, batch: DemoBatch, loss_kind: str
) -> dict[str, torch.Tensor]:
    """One gradient step of the behaviour-cloning loss on one minibatch of (s, a) pairs."""
    obs = batch.obs
    if isinstance(obs, torch.Tensor) and not io.image:
        obs = obs.flatten(1).float()
    dist = policy.distribution(obs)
    actions = io.adapter.from_env(batch.actions)
    loss = behaviour_cloning_loss(dist, actions, loss_kind)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    metrics = {"loss": loss.detach()}
    if io.adapter.discrete:  # how often the policy's mode is the expert's action
        metrics["accuracy"] = (dist.mode() == actions).float().mean().detach()
    return metrics
