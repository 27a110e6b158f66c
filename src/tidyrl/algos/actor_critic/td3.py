"""TD3: Twin Delayed DDPG (Fujimoto, van Hoof & Meger 2018, "Addressing Function Approximation
Error in Actor-Critic Methods"); lecture seed 004 places it beside DDPG and SAC.

DDPG (see ddpg.py, this file's sibling: `diff ddpg.py td3.py` shows exactly the three ideas) with

1. clipped double-Q learning: two critics, and the target takes the smaller of the two,
       y = r + gamma * (1 - terminated) * min_k Q'_k(s', a');
2. target policy smoothing: a' = clip(mu'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma~^2);
3. delayed policy updates: the actor and the targets move once every `policy_delay` critic
   updates.

    critic loss  = sum_k (y - Q_k(s, a))^2
    actor loss   = -Q_1(s, mu(s))
    targets      theta' <- tau * theta + (1 - tau) * theta'

with DDPG's `td_target`, `critic_loss` and `actor_loss` (`algos/actor_critic/common.py`) and this
file's `smoothed_actions` and the minimum over the critics in the target.

Exploration adds Gaussian noise N(0, 0.1^2) (or, as in DDPG, a decaying-variance Gaussian or an
Ornstein-Uhlenbeck process) to mu(s). A truncated episode still bootstraps from its final
observation s'. Defaults are the authors' repository (256-256 ReLU, lr 3e-4, batch 256, tau 0.005,
sigma~ 0.2, c 0.5, delay 2); `--preset mujoco` adds their 25k random start steps.

With a bonus reward plug-in (`reward=curiosity|count|rnd|icm`, `tidyrl.rewards`), as in DQN, each
sampled minibatch first trains the plug-in, which then scores it, C [B], and the target learns
from r + beta C in place of r (beta the plug-in's `intrinsic_coef`; C carries no gradient); every
new transition reaches the plug-in's `observe` once, as it is collected. The plug-in sees the
actions as the replay stores them, in [-1, 1].
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
class TD3Config:
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
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""
    target_noise: float = 0.2
    """Standard deviation sigma~ of the target policy smoothing noise."""
    target_noise_clip: float = 0.5
    """Clip c of the target policy smoothing noise."""
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
        check_range(self, "policy_delay", 1)
        check_range(self, "target_noise", 0.0)
        check_range(self, "target_noise_clip", 0.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "gradient_steps", 1)


def smoothed_actions(actions: torch.Tensor, std: float, clip: float) -> torch.Tensor:
    """a' = clip(mu'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, std^2): target policy smoothing."""
    noise = (torch.randn_like(actions) * std).clamp(-clip, clip)
    return (actions + noise).clamp(-1.0, 1.0)


class TD3(Agent):
    """Twin Delayed DDPG for Box action spaces."""

    Config = TD3Config
    algo_id = "td3"
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 20_000
    ENV_PRESETS = ZOO_DETERMINISTIC_ENV_PRESETS
    PRESETS = {
        # RL-Zoo's per-env settings (hyperparams/td3.yml; common.py says what each holds)
        "mountaincar": ZOO_DETERMINISTIC_MOUNTAINCAR,
        "box2d": ZOO_DETERMINISTIC_BOX2D,
        # Fujimoto et al. (2018) on MuJoCo: 25k steps of uniformly random actions first
        "mujoco": {"learning_starts": 25_000},
        # RL-Zoo's TD3 on the MuJoCo tasks (hyperparams/td3.yml: lr 1e-3, 400-300, 10k random
        # steps, Gaussian noise std 0.1): SB3's update (tests/algos/test_matches_sb3.py)
        "sb3-mujoco": {
            "learning_starts": 10_000,
            "actor_lr": 1e-3,
            "critic_lr": 1e-3,
            "hidden": (400, 300),
            "noise": "gaussian",
            "noise_variance_start": 0.01,
            "noise_variance_end": 0.01,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        act_dim = int(np.prod(self.action_space.shape))
        self.actor = make_actor(self.observation_space, act_dim, cfg)
        self.critic = make_critic(self.observation_space, act_dim, cfg, n_critics=2)
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
        """y = r + gamma * (1 - terminated) * min_k Q'_k(s', a'), a' the smoothed mu'(s')."""
        cfg = self.config
        next_actions = self.actor_target(batch.next_obs)
        next_actions = smoothed_actions(next_actions, cfg.target_noise, cfg.target_noise_clip)
        q_next = self.critic_target(batch.next_obs, next_actions)[..., 0].min(0).values
        return td_target(
            batch.rewards if rewards is None else rewards,
            batch.bootstrap_mask,
            self.config.gamma,
            q_next,
        )

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One critic step; on every `policy_delay`-th update (the 2nd, 4th, ... with delay 2,
        as the authors' `total_it % policy_freq == 0` after counting this update, and
        Stable-Baselines3), one actor step and the targets track."""
        cfg = self.config
        rewards, reward_metrics = bonus_rewards(self.reward_plugin, batch)  # r (+ beta C)
        y = self.target_q(batch, rewards)
        q = self.critic(batch.obs, batch.actions)[..., 0]
        loss_q = critic_loss(q, y)
        backward_step(self.critic_opt, loss_q)
        metrics = {"critic_loss": loss_q.detach(), "q": q.mean().detach(), **reward_metrics}
        if (self.counters["updates"] + 1) % cfg.policy_delay == 0:  # this update's number
            loss_pi = actor_loss(self.critic(batch.obs, self.actor(batch.obs))[0, :, 0])
            backward_step(self.actor_opt, loss_pi)
            polyak_update(self.actor, self.actor_target, cfg.tau)
            polyak_update(self.critic, self.critic_target, cfg.tau)
            metrics["actor_loss"] = loss_pi.detach()
        return metrics

    def learn(self, total_steps: int) -> TD3:
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
