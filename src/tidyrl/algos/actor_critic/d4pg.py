"""D4PG: Distributed Distributional Deep Deterministic Policy Gradient (Barth-Maron et al. 2018,
"Distributed Distributional Deterministic Policy Gradients"); named in lecture seed 000.

DDPG (see ddpg.py) with four changes:

1. a categorical distributional critic: Z(s, a) has probabilities p_j(s, a) = softmax(logits)_j on
   the fixed support z_j = v_min + j * dz (C51, Bellemare et al. 2017), and Q = sum_j p_j z_j;
2. n-step returns: R^(n) = sum_{k<m} gamma^k r_{t+k}, discount gamma^m (m <= n, shorter at an
   episode end), from the kernel's n-step accumulator;
3. the target distribution is projected onto the support (`tidyrl.core.distributional`):

       m            = Phi(R^(n) + gamma^m * (1 - terminated) * z,  p'(s_{t+m}, mu'(s_{t+m})))
       critic loss  = -sum_j m_j log p_j(s, a)   (weighted by importance weights under PER)
       actor loss   = -sum_j p_j(s, mu(s)) z_j   (ascend the mean of Z)

4. optional prioritized replay (Schaul et al. 2016, priority = the per-sample critic loss) and
   several actor environments (`n_envs`, stepped together; the paper's K distributed actors).

With Ray workers (`--workers N`) the rows come from Ape-X-style actors (Horgan et al. 2018;
Barth-Maron et al. 2018 collect with K actors and a prioritised replay): each acts with its copy
of mu plus Gaussian noise of its own, builds its n-step rows with an accumulator of its own and
sends each row with its first priority, the critic loss `critic_row_losses` computes on its
copy of the networks (docs/distributed.md).

Targets track by Polyak averaging (the paper copies every 100 steps; both are standard). A
truncated episode still bootstraps from its final observation. The support defaults to Pendulum's
return range; set `v_min`/`v_max` to the discounted returns your environment can reach. The
per-env presets take DDPG's RL-Zoo settings and set the support of each task:

- MountainCarContinuous-v0 costs 0.1 a^2 <= 0.1 per step and pays +100 at the flag, so a return
  discounted by gamma 0.99 lies in [-0.1 / (1 - gamma), 100] = [-10, 100].
- LunarLanderContinuous-v3 shapes its reward by distance, speed and tilt and ends with +100 or
  -100: [-200, 200], the discrete LunarLander's support (tidyrl.algos.value.common).
- BipedalWalker-v3 pays at most about 0.3 per step for forward progress and -100 for a fall: at
  gamma 0.98, [-120, 30].
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    ZOO_DETERMINISTIC_BOX2D,
    ZOO_DETERMINISTIC_MOUNTAINCAR,
    backward_step,
    box_bounds,
    make_actor,
    make_critic,
    replay_for,
)
from tidyrl.config import check_range
from tidyrl.core.distributional import categorical_projection, make_support
from tidyrl.core.noise import ExplorationNoise
from tidyrl.core.schedules import linear_schedule
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.envs.spaces import rows
from tidyrl.errors import ConfigError
from tidyrl.loops.off_policy import collect_step
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam


@dataclass(frozen=True)
class D4PGConfig:
    n_envs: int = 4
    """Actor environments stepped together (one update per copy per vector step)."""
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
    n_step: int = 5
    """Steps n of the n-step return."""
    n_atoms: int = 51
    """Atoms of the categorical return distribution."""
    v_min: float = -1200.0
    """Lowest atom of the support (Pendulum's discounted returns lie in about [-1200, 0])."""
    v_max: float = 100.0
    """Highest atom of the support."""
    prioritized: bool = False
    """Prioritized replay (proportional, priority = per-sample critic loss)."""
    per_alpha: float = 0.6
    """Priority exponent alpha of prioritized replay."""
    per_beta_start: float = 0.4
    """Initial importance-sampling exponent beta, annealed linearly to 1 over the run."""
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
        check_range(self, "n_step", 1)
        check_range(self, "n_atoms", 2)
        if not self.v_max > self.v_min:
            raise ConfigError(f"D4PGConfig: need v_max > v_min, got {self.v_min}, {self.v_max}")
        check_range(self, "per_alpha", 0.0)
        check_range(self, "per_beta_start", 0.0, 1.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "gradient_steps", 1)


def critic_loss(logits: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Cross-entropy -sum_j m_j log p_j(s, a) per sample (B,): the KL to the projected target
    up to a constant."""
    return -(m * torch.log_softmax(logits, -1)).sum(-1)


@torch.no_grad()
def d4pg_target(
    actor_target: nn.Module, critic_target: nn.Module, batch: Transition, support: torch.Tensor
) -> torch.Tensor:
    """m = Phi(R^(n) + gamma^m (1 - terminated) z, p'(s', mu'(s'))), (B, n_atoms)."""
    next_probs = torch.softmax(critic_target(batch.next_obs, actor_target(batch.next_obs))[0], -1)
    return categorical_projection(
        next_probs, batch.rewards, batch.discounts, batch.bootstrap_mask, support
    )


def critic_row_losses(
    critic: nn.Module,
    actor_target: nn.Module,
    critic_target: nn.Module,
    batch: Transition,
    support: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(critic logits of (s, a), -sum_j m_j log p_j(s, a) per row): `update` weights and
    averages the losses; they are the rows' new priorities under PER, and an Ape-X actor's
    first priorities of the rows it sends."""
    logits = critic(batch.obs, batch.actions)[0]
    return logits, critic_loss(logits, d4pg_target(actor_target, critic_target, batch, support))


def actor_loss(logits_pi: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """-E[Z(s, mu(s))] = -sum_j p_j z_j: ascend the mean of the return distribution."""
    return -(torch.softmax(logits_pi, -1) * support).sum(-1).mean()


class D4PG(Agent):
    """Distributional DDPG with n-step returns and optional prioritized replay."""

    Config = D4PGConfig
    algo_id = "d4pg"
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 50_000
    ENV_PRESETS = {
        "MountainCarContinuous-v0": "mountaincar",
        "LunarLanderContinuous-v3": "lunarlander",
        "BipedalWalker-v3": "bipedalwalker",
    }
    PRESETS = {
        # DDPG's RL-Zoo settings (RL-Zoo keeps no D4PG) and each task's return support
        "mountaincar": {**ZOO_DETERMINISTIC_MOUNTAINCAR, "v_min": -10.0, "v_max": 100.0},
        "lunarlander": {**ZOO_DETERMINISTIC_BOX2D, "v_min": -200.0, "v_max": 200.0},
        "bipedalwalker": {**ZOO_DETERMINISTIC_BOX2D, "v_min": -120.0, "v_max": 30.0},
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        act_dim = int(np.prod(self.action_space.shape))
        self.actor = make_actor(self.observation_space, act_dim, cfg)
        self.critic = make_critic(
            self.observation_space, act_dim, cfg, n_critics=1, out_dim=cfg.n_atoms
        )
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = Adam(
            self.actor.parameters(), cfg.actor_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.critic_opt = Adam(
            self.critic.parameters(), cfg.critic_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.support = make_support(cfg.v_min, cfg.v_max, cfg.n_atoms)
        self.replay = replay_for(
            self, n_step=cfg.n_step, prioritized=cfg.prioritized, alpha=cfg.per_alpha
        )
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

    def random_unit(self, obs: np.ndarray, mask: Any = None) -> np.ndarray:
        """Uniformly random actions of every env copy, in the unit box."""
        return unscale_action(self.env.sample_actions(), self.low, self.high)

    def to_env(self, unit: np.ndarray) -> np.ndarray:
        """A unit-box action in the env's bounds."""
        return scale_action(unit, self.low, self.high)

    def explore(self, obs: np.ndarray, mask: Any = None) -> np.ndarray:
        """mu(s) plus exploration noise, clipped to the unit box."""
        noise = self.noise.sample(self.counters["steps"], rows(obs))
        return np.clip(self.policy(obs) + noise, -1.0, 1.0).astype(np.float32)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.to_env(self.policy(obs) if deterministic else self.explore(obs))

    def target_q(self, batch: Transition) -> torch.Tensor:
        """m = Phi(R^(n) + gamma^m (1 - terminated) z, p'(s', mu'(s'))), (B, n_atoms)."""
        return d4pg_target(self.actor_target, self.critic_target, batch, self.support)

    def sample(self) -> Transition:
        """A minibatch with its n-step discounts, importance weights and row indices."""
        cfg = self.config
        beta = linear_schedule(
            cfg.per_beta_start, 1.0, self.counters["target"], self.counters["steps"]
        )
        return self.replay.sample(cfg.batch_size, self.rng, beta)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One critic step and one actor step on `batch`; then the targets track. Returns the
        per-sample critic losses too (the new priorities under PER)."""
        cfg = self.config
        logits, per_sample = critic_row_losses(
            self.critic, self.actor_target, self.critic_target, batch, self.support
        )
        loss_q = (batch.weights * per_sample).mean()
        backward_step(self.critic_opt, loss_q)
        loss_pi = actor_loss(self.critic(batch.obs, self.actor(batch.obs))[0], self.support)
        backward_step(self.actor_opt, loss_pi)
        polyak_update(self.actor, self.actor_target, cfg.tau)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        q = (torch.softmax(logits.detach(), -1) * self.support).sum(-1)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "q": q.mean(),
            "priorities": per_sample.detach(),
        }

    def learn(self, total_steps: int) -> D4PG:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                early = self.counters["steps"] < cfg.learning_starts
                behave = self.random_unit if early else self.explore
                # the replay keeps unit-box actions; the env is stepped with them scaled
                obs, _, step = collect_step(self, obs, behave, self.to_env)
                self.noise.reset(step.dones)
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts and len(self.replay):
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        batch = self.sample()
                        metrics = self.update(batch)
                        self.replay.update_priorities(batch.index, metrics.pop("priorities"))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
