"""Advantage actor-critic, synchronous (A2C): n-step returns over several parallel envs.

Mnih et al. (2016), "Asynchronous methods for deep reinforcement learning" -- A2C is the
synchronous, batched variant of their A3C (Wu et al. 2017, OpenAI Baselines); lecture seeds 003
("Actor-critic", "A3C") and 004 ("A2C: multiple online agents ... collect experiences at each step
for minibatch"). Each update uses n_steps steps of n_envs envs:

    R_t = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k})    (n-step return)
    A_t = R_t - V(s_t)       (or GAE(gamma, lambda) when gae_lambda < 1; lambda = 1 is R_t - V)
    L   = -E[log pi(a_t|s_t) A_t] + c_v E[(V(s_t) - R_t)^2] - c_e E[H(pi(.|s_t))]

one gradient step per rollout, RMSprop as in the paper. Episode ends inside the n steps stop the
return; truncation bootstraps from the final observation's value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    OBSERVATION_SPACES,
    act,
    actor_critic_loss,
    build_policy,
    new_rollout,
)
from tidyrl.config import check_choice, check_range
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.core.schedules import remaining_fraction
from tidyrl.data.rollout import RolloutBatch
from tidyrl.loops.on_policy import collect_rollout
from tidyrl.nets.mlp import Activation
from tidyrl.nets.optim import a2c_rmsprop


@dataclass(frozen=True)
class A2CConfig:
    n_envs: int = 8
    """Parallel environments (the batch of 'online agents')."""
    n_steps: int = 5
    """Steps per env before each update (the n of the n-step return)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda (1.0: plain n-step returns)."""
    lr: float = 7e-4
    """Learning rate (annealed linearly to 0 over the run when anneal_lr)."""
    anneal_lr: bool = False
    """Anneal the learning rate linearly to 0 (OpenAI Baselines' A2C default; SB3 keeps it
    constant)."""
    optimizer: str = "rmsprop"
    """rmsprop (the paper's, alpha 0.99, eps 1e-5, torch's form), rmsprop-tf (the same in
    TensorFlow's form: mean square started at 1, eps inside the root; SB3's RMSpropTFLike) or
    adam."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0: off)."""
    normalize_advantages: bool = False
    """Normalize advantages over each rollout."""
    normalize_obs: bool = False
    """Running observation normalization."""
    normalize_reward: bool = False
    """Scale rewards by the std of a running discounted return."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and of the critic."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "n_steps", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_choice(self, "optimizer", ("rmsprop", "rmsprop-tf", "adam"))
        check_range(self, "ent_coef", 0.0)
        check_range(self, "vf_coef", 0.0)
        check_range(self, "max_grad_norm", 0.0)


class A2C(Agent):
    Config = A2CConfig
    algo_id = "a2c"
    action_spaces = ACTION_SPACES
    observation_spaces = OBSERVATION_SPACES
    uses_action_mask = True
    default_torch_threads = 1
    default_steps = 200_000
    ENV_PRESETS = {
        "Acrobot-v1": "acrobot",
        "MountainCar-v0": "acrobot",  # RL-Zoo's MountainCar-v0 A2C is its Acrobot-v1 one
        "LunarLander-v3": "lunarlander",
        "Pendulum-v1": "pendulum",
    }
    PRESETS = {
        "cartpole": {},
        # RL-Zoo's classic-control and Box2D settings (hyperparams/a2c.yml)
        "acrobot": {"n_envs": 16, "normalize_obs": True, "normalize_reward": True},
        "lunarlander": {"gamma": 0.995, "lr": 8.3e-4, "anneal_lr": True, "ent_coef": 1e-5},
        # RL-Zoo's Pendulum-v1 A2C flavour: GAE, normalization, longer rollouts
        "pendulum": {
            "n_steps": 8,
            "gamma": 0.9,
            "gae_lambda": 0.9,
            "optimizer": "adam",
            "lr": 1e-3,
            "normalize_obs": True,
            "normalize_reward": True,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, images=True)
        if cfg.optimizer.startswith("rmsprop"):
            tf_like = cfg.optimizer == "rmsprop-tf"
            self.optimizer = a2c_rmsprop(self.policy.parameters(), cfg.lr, tf_like)
        else:
            self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr, foreach=True)
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, self.reward_norm)
        self.rollout = new_rollout(self, cfg.n_steps, cfg.n_envs)
        self.register_state("policy", "optimizer", "obs_norm", "reward_norm")
        self.register_run_state("reward_scaler")

    def act(self, obs, deterministic=False, mask=None):
        return act(self.policy, self.io, obs, deterministic, mask)

    def update(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        cfg = self.config
        dist, values = self.policy(batch.obs, batch.masks)
        policy_loss, v_loss, entropy = actor_critic_loss(
            dist, values, batch, cfg.normalize_advantages
        )
        loss = policy_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm, foreach=True)
        self.optimizer.step()
        return {
            "policy_loss": policy_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": entropy.detach(),
        }

    def learn(self, total_steps: int) -> A2C:
        cfg = self.config
        reward_fn = self.reward_scaler if cfg.normalize_reward else None
        metrics: dict[str, torch.Tensor] = {}
        with self.training(total_steps):
            while not self.finished:
                if cfg.anneal_lr:
                    remaining = remaining_fraction(self.counters["steps"], self.counters["target"])
                    for group in self.optimizer.param_groups:
                        group["lr"] = cfg.lr * remaining
                collect_rollout(
                    self, self.policy, self.rollout, self.io, self.io.obs, reward_fn, metrics
                )
                advantages, returns = self.rollout.advantages(cfg.gamma, cfg.gae_lambda)
                metrics = self.update(self.rollout.flatten(advantages, returns))
                self.counters["updates"] += 1
        return self

    def update_probe(self) -> Callable[[], object]:
        advantages, returns = self.rollout.advantages(self.config.gamma, self.config.gae_lambda)
        batch = self.rollout.flatten(advantages, returns)
        return lambda: self.update(batch)
