"""DDPG: Deep Deterministic Policy Gradient (Lillicrap et al. 2016, "Continuous control with deep
reinforcement learning"); lecture seed 000 ("from DQN to DDPG") and seed 001 (OU noise, batch
norm, gradient clipping).

A deterministic actor mu(s) in [-1, 1]^d (rescaled to the env's Box bounds) and one critic
Q(s, a), each with a slowly tracking target copy (mu', Q'):

    y            = r + gamma * (1 - terminated) * Q'(s', mu'(s'))
    critic loss  = (y - Q(s, a))^2
    actor loss   = -Q(s, mu(s))          (the deterministic policy gradient through the critic)
    targets      theta' <- tau * theta + (1 - tau) * theta'

`td_target`, `critic_loss` and `actor_loss` are these three lines as functions; they live in
`algos/actor_critic/common.py` because TD3 and ddpg-imagination differentiate them unchanged.

Exploration adds Gaussian noise whose variance decays linearly (the spell chart: 1 -> 0.3 over 1M
steps) or an Ornstein-Uhlenbeck process (the paper: theta 0.15, sigma 0.2) to mu(s). A truncated
episode (time limit) still bootstraps from its final observation s'.

With a bonus reward plug-in (`reward=curiosity|count|rnd|icm`, `tidyrl.rewards`), as in DQN, each
sampled minibatch first trains the plug-in, which then scores it, C [B], and the target learns
from r + beta C in place of r (beta the plug-in's `intrinsic_coef`; C carries no gradient); every
new transition reaches the plug-in's `observe` once, as it is collected. The plug-in sees the
actions as the replay stores them, in [-1, 1].

Defaults are the "OurDDPG" re-tuning of Fujimoto et al. (2018) (256-256 ReLU, lr 3e-4, batch 256,
tau 0.005, N(0, 0.1^2) noise), which learns Pendulum-v1 out of the box; `--preset spellchart` is
seed 000's chart exactly and `--preset seed001` adds OU noise, batch norm and gradient clipping.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    ZOO_DETERMINISTIC_BOX2D,
    ZOO_DETERMINISTIC_ENV_PRESETS,
    ZOO_DETERMINISTIC_MOUNTAINCAR,
    actor_loss,
    backward_step,
    box_bounds,
    critic_loss,
    make_actor,
    make_critic,
    replay_for,
    td_target,
    unit_box,
)
from tidyrl.config import check_range
from tidyrl.core.noise import ExplorationNoise
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.data.hindsight import check_hindsight
from tidyrl.envs.spaces import rows
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam
from tidyrl.rewards import attach, check_reward
from tidyrl.rewards.base import bonus_rewards, observe_step


@dataclass(frozen=True)
class DDPGConfig:
    n_envs: int = 1
    """Parallel environment copies (one update per copy per vector step)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    her_future_goals: int = 0
    """Hindsight experience replay: k relabelled goals per real goal (4 in the paper; 0: off),
    for goal-conditioned envs (`tidyrl.data.hindsight`)."""
    her_strategy: str = "future"
    """Which achieved goal relabels a row: "future" (later in its episode), "final" or
    "episode" (Andrychowicz et al. 2017, section 4.5)."""
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
    max_grad_norm: float = 0.0
    """Clip actor and critic gradients to this global norm (0: no clipping)."""
    gradient_steps: int = 1
    """Gradient updates per environment step."""
    reward: str = "env"
    """env (the environment's reward), or a bonus plug-in added in the critic's target as
    r + beta C: curiosity, count, rnd, icm (tidyrl.rewards)."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """The reward plug-in's settings (its config fields; --set accepts them by name too, e.g.
    --set reward=rnd intrinsic_coef=0.5)."""

    def __post_init__(self) -> None:
        check_reward(self, bonus_only=True)
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_hindsight(self)
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
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "gradient_steps", 1)


class DDPG(Agent):
    """Deep Deterministic Policy Gradient for Box action spaces."""

    Config = DDPGConfig
    algo_id = "ddpg"
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 50_000
    ENV_PRESETS = ZOO_DETERMINISTIC_ENV_PRESETS
    PRESETS = {
        # RL-Zoo's per-env settings (hyperparams/ddpg.yml; common.py says what each holds)
        "mountaincar": ZOO_DETERMINISTIC_MOUNTAINCAR,
        "box2d": ZOO_DETERMINISTIC_BOX2D,
        # seed 000, "wise Wizard's DDPG spell chart", exactly
        "spellchart": {
            "hidden_scale": 10.0,
            "init": "spellchart",
            "noise": "gaussian",
            "noise_variance_start": 1.0,
            "noise_variance_end": 0.3,
            "noise_decay_steps": 1_000_000,
            "tau": 0.001,
            "actor_lr": 1e-4,
            "critic_lr": 2e-4,
        },
        # seed 001: OU noise (theta 0.15, sigma 0.2), batch-normalised nets, critic clipped at 1
        "seed001": {
            "noise": "ou",
            "noise_variance_start": 0.04,
            "noise_variance_end": 0.04,
            "batch_norm": True,
            "max_grad_norm": 1.0,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        act_dim = int(np.prod(self.action_space.shape))
        self.actor = make_actor(self.observation_space, act_dim, cfg)
        self.critic = make_critic(self.observation_space, act_dim, cfg, n_critics=1)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = Adam(
            self.actor.parameters(), cfg.actor_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.critic_opt = Adam(
            self.critic.parameters(), cfg.critic_lr, max_grad_norm=cfg.max_grad_norm
        )
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
        self.reward_plugin = attach(self, unit_box(self.action_space))  # None: env reward only
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
    def target_q(self, batch: Transition, rewards: torch.Tensor | None = None) -> torch.Tensor:
        """y = r + gamma * (1 - terminated) * Q'(s', mu'(s'))."""
        next_actions = self.actor_target(batch.next_obs)
        q_next = self.critic_target(batch.next_obs, next_actions)[0, :, 0]
        return td_target(
            batch.rewards if rewards is None else rewards,
            batch.bootstrap_mask,
            self.config.gamma,
            q_next,
        )

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One critic step and one actor step on `batch`; then the targets track."""
        cfg = self.config
        rewards, reward_metrics = bonus_rewards(self.reward_plugin, batch)  # r (+ beta C)
        y = self.target_q(batch, rewards)
        q = self.critic(batch.obs, batch.actions)[..., 0]
        loss_q = critic_loss(q, y)
        backward_step(self.critic_opt, loss_q)
        loss_pi = actor_loss(self.critic(batch.obs, self.actor(batch.obs))[0, :, 0])
        backward_step(self.actor_opt, loss_pi)
        polyak_update(self.actor, self.actor_target, cfg.tau)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "q": q.mean().detach(),
            **reward_metrics,
        }

    def learn(self, total_steps: int) -> DDPG:
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
                observe_step(self.reward_plugin, obs, unit, step)  # each new transition, once
                self.noise.reset(step.dones)
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts:
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
