"""SDDPG: Sampled DDPG, DDPG with a distributional critic trained by a Wasserstein loss.

Lecture seed 000 names "SDDPG - sampled DDPG, based on Wasserstein loss" beside D4PG. Built here
as DDPG (Lillicrap et al. 2016) whose critic outputs N samples of the return distribution Z(s, a)
instead of its mean: the values theta_1..theta_N at the quantile midpoints tau_i = (2i + 1) / (2N)
(quantile regression, Dabney et al. 2018). Each target sample is

    z_j          = r + gamma * (1 - terminated) * theta'_j(s', mu'(s'))      j = 1..N
    critic loss  = sum_i mean_j rho^kappa_{tau_i}(z_j - theta_i(s, a))    (quantile Huber)
    actor loss   = -mean_i theta_i(s, mu(s))      (the mean of Z is Q: DDPG's policy gradient)
    targets      theta' <- tau * theta + (1 - tau) * theta'   (Polyak, as DDPG)

Minimising the quantile regression loss moves the N samples to the quantiles of the target
distribution, which minimises the 1-Wasserstein distance between the two (Dabney et al. 2018,
Lemma 2), a metric under which the distributional Bellman operator is a contraction (Bellemare
et al. 2017) - unlike the KL that C51/D4PG's projection relies on. The same architecture trained
this way is also known as QR-DDPG. Exploration, replay and defaults are DDPG's (see ddpg.py).
A truncated episode still bootstraps from its final observation s'.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    ZOO_DETERMINISTIC_BOX2D,
    ZOO_DETERMINISTIC_ENV_PRESETS,
    ZOO_DETERMINISTIC_MOUNTAINCAR,
    backward_step,
    box_bounds,
    make_actor,
    make_critic,
    replay_for,
)
from tidyrl.config import check_range
from tidyrl.core.noise import ExplorationNoise
from tidyrl.core.quantile import quantile_huber_loss, quantile_midpoints
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.envs.spaces import rows
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam


@dataclass(frozen=True)
class SDDPGConfig:
    n_envs: int = 1
    """Parallel environment copies (one update per copy per vector step)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    batch_size: int = 256
    """Transitions per gradient update."""
    learning_starts: int = 1000
    """Steps of uniformly random actions before learning starts."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target networks (the spell chart: 0.001)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of actor and critic (ignored when hidden_scale > 0)."""
    hidden_scale: float = 0.0
    """If > 0: two hidden layers of hidden_scale x state size and half that (spell chart: 10)."""
    init: Literal["default", "spellchart"] = "default"
    """Weight init: PyTorch's default, or Xavier hidden layers with U(-0.3, 0.3) actor and
    U(-0.003, 0.003) critic output layers."""
    batch_norm: bool = False
    """Batch-normalise the state input and hidden layers of actor and critic."""
    noise: Literal["gaussian", "ou"] = "gaussian"
    """Exploration noise: Gaussian, or an Ornstein-Uhlenbeck process."""
    noise_variance_start: float = 0.01
    """Variance of the Gaussian noise (sigma^2 of the OU process) at step 0."""
    noise_variance_end: float = 0.01
    """Variance after noise_decay_steps (linear decay in between)."""
    noise_decay_steps: int = 1_000_000
    """Steps over which the noise variance decays."""
    ou_theta: float = 0.15
    """Mean-reversion rate of the OU process."""
    n_quantiles: int = 32
    """Number N of return samples (quantiles) the critic outputs."""
    kappa: float = 1.0
    """Huber threshold of the quantile loss (0: the plain quantile loss)."""
    max_grad_norm: float = 0.0
    """Clip actor and critic gradients to this global norm (0: no clipping)."""
    gradient_steps: int = 1
    """Gradient updates per environment step."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_range(self, "actor_lr", 0.0, low_open=True)
        check_range(self, "critic_lr", 0.0, low_open=True)
        check_range(self, "hidden_scale", 0.0)
        check_range(self, "noise_variance_start", 0.0)
        check_range(self, "noise_variance_end", 0.0)
        check_range(self, "noise_decay_steps", 0)
        check_range(self, "ou_theta", 0.0, low_open=True)
        check_range(self, "n_quantiles", 1)
        check_range(self, "kappa", 0.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "gradient_steps", 1)


def td_target(
    rewards: torch.Tensor, bootstrap_mask: torch.Tensor, gamma: float, z_next: torch.Tensor
) -> torch.Tensor:
    """z_j = r + gamma * (1 - terminated) * theta'_j(s', a') for each target sample j
    (rows of `z_next` are samples); truncation keeps the bootstrap."""
    return rewards[:, None] + gamma * bootstrap_mask[:, None] * z_next


def critic_loss(
    quantiles: torch.Tensor, z: torch.Tensor, taus: torch.Tensor, kappa: float
) -> torch.Tensor:
    """Quantile Huber loss of the predicted quantiles (B, N) against target samples z (B, N)."""
    return quantile_huber_loss(quantiles, z, taus, kappa)


def actor_loss(quantiles_pi: torch.Tensor) -> torch.Tensor:
    """-mean_i theta_i(s, mu(s)): ascend the mean of the return distribution, i.e. Q."""
    return -quantiles_pi.mean()


class SDDPG(Agent):
    """Sampled (quantile) DDPG for Box action spaces."""

    Config = SDDPGConfig
    algo_id = "sddpg"
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 50_000
    # DDPG's RL-Zoo settings on the classic-control and Box2D tasks (RL-Zoo keeps no SDDPG):
    # the quantile critic needs no return range, so they carry over unchanged
    ENV_PRESETS = ZOO_DETERMINISTIC_ENV_PRESETS
    PRESETS = {"mountaincar": ZOO_DETERMINISTIC_MOUNTAINCAR, "box2d": ZOO_DETERMINISTIC_BOX2D}

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        act_dim = int(np.prod(self.action_space.shape))
        self.actor = make_actor(self.observation_space, act_dim, cfg)
        self.critic = make_critic(
            self.observation_space, act_dim, cfg, n_critics=1, out_dim=cfg.n_quantiles
        )
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = Adam(
            self.actor.parameters(), cfg.actor_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.critic_opt = Adam(
            self.critic.parameters(), cfg.critic_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.taus = quantile_midpoints(cfg.n_quantiles)
        self.replay = replay_for(self)
        self.noise = ExplorationNoise(
            cfg.noise,
            (cfg.n_envs, act_dim),
            self.rng,
            cfg.noise_variance_start,
            cfg.noise_variance_end,
            cfg.noise_decay_steps,
            cfg.ou_theta,
        )
        self.register_state(
            "actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"
        )
        self.register_run_state("replay", "noise")

    def policy(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) in the unit box, for a batch of observations."""
        return fast_policy(self.actor)(obs).cpu().numpy()

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) plus exploration noise, clipped to the unit box."""
        noise = self.noise.sample(self.counters["steps"], rows(obs))
        return np.clip(self.policy(obs) + noise, -1.0, 1.0).astype(np.float32)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        unit = self.policy(obs) if deterministic else self.explore(obs)
        return scale_action(unit, self.low, self.high)

    @torch.no_grad()
    def target_q(self, batch: Transition) -> torch.Tensor:
        """Target samples z_j = r + gamma * (1 - terminated) * theta'_j(s', mu'(s')), (B, N)."""
        next_actions = self.actor_target(batch.next_obs)
        z_next = self.critic_target(batch.next_obs, next_actions)[0]
        return td_target(batch.rewards, batch.bootstrap_mask, self.config.gamma, z_next)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One critic step and one actor step on `batch`; then the targets track."""
        cfg = self.config
        y = self.target_q(batch)
        q = self.critic(batch.obs, batch.actions)[0]
        loss_q = critic_loss(q, y, self.taus, cfg.kappa)
        backward_step(self.critic_opt, loss_q)
        loss_pi = actor_loss(self.critic(batch.obs, self.actor(batch.obs))[0])
        backward_step(self.actor_opt, loss_pi)
        polyak_update(self.actor, self.actor_target, cfg.tau)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "q": q.mean().detach(),
        }

    def learn(self, total_steps: int) -> SDDPG:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                if self.counters["steps"] < cfg.learning_starts:
                    unit = unscale_action(self.env.sample_actions(), self.low, self.high)
                else:
                    unit = self.explore(obs)
                step = self.env.step(scale_action(unit, self.low, self.high))
                self.replay.add(obs, unit, step)
                self.noise.reset(step.dones)
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts:
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
