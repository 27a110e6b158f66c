"""Online one-step advantage actor-critic.

Lecture seed 004 ("Online actor-critic"); Sutton & Barto (2018), section 13.5 ("One-step
actor-critic"). After every environment step (s, a, r, s'):

    delta = r + gamma (1 - terminated) V_phi(s') - V_phi(s)      TD error = advantage estimate
    phi   <- phi - lr_critic grad_phi (r + gamma V_phi(s') - V_phi(s))^2 / 2   (target fixed)
    theta <- theta + lr_actor delta grad_theta log pi_theta(a|s)

A truncated episode bootstraps from V(final observation); a terminated one does not. With
n_envs > 1 each update averages over one step of every env ("multiple online agents", the bridge
to A2C). The defaults use 8 envs and running observation normalization, one set of settings for
the classic-control and Box2D tasks (benchmarks: `defaults-pg`); the `lecture` preset is the
single-sample online method of the lecture exactly (1 env, raw observations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    act,
    build_policy,
    new_rollout,
)
from tidyrl.config import check_range
from tidyrl.core.distributions import Distribution
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.data.rollout import RolloutBatch
from tidyrl.loops.on_policy import collect_rollout
from tidyrl.nets.mlp import Activation


@dataclass(frozen=True)
class ActorCriticConfig:
    n_envs: int = 8
    """Parallel environments (1: the single-sample online method)."""
    gamma: float = 0.99
    """Discount factor."""
    lr_actor: float = 3e-4
    """Adam learning rate of the actor."""
    lr_critic: float = 1e-3
    """Adam learning rate of the critic."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    normalize_obs: bool | None = None
    """Running observation normalization (None: on for vector observations, off for an image,
    which the CNNs scale)."""
    normalize_reward: bool = True
    """Scale rewards by the std of a running discounted return (Engstrom et al. 2020). On: it
    took the Acrobot and LunarLander seeds that failed without it to -78 and 201
    (docs/algorithms/actor-critic.md)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and of the critic."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "lr_actor", 0.0, low_open=True)
        check_range(self, "lr_critic", 0.0, low_open=True)
        check_range(self, "ent_coef", 0.0)


def one_step_losses(
    dist: Distribution, values: torch.Tensor, batch: RolloutBatch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Actor loss -delta log pi(a|s), critic loss (r + gamma V(s') - V(s))^2 / 2, entropy.

    `batch.advantages` holds delta (a constant) and `batch.returns` the TD target
    r + gamma V(s'), both computed with the critic before this update."""
    actor_loss = -(batch.advantages * dist.log_prob(batch.actions)).mean()
    critic_loss = 0.5 * ((batch.returns - values) ** 2).mean()
    return actor_loss, critic_loss, dist.entropy().mean()


class ActorCritic(Agent):
    Config = ActorCriticConfig
    algo_id = "actor-critic"
    action_spaces = ACTION_SPACES
    default_torch_threads = 1
    default_steps = 200_000
    # the defaults take one step of 8 envs per update: 8x fewer (and less noisy) updates per env
    # step than the lecture's single-sample method, which is what makes a CPU benchmark affordable
    PRESETS = {
        "cartpole": {},
        "lecture": {"n_envs": 1, "normalize_obs": False, "normalize_reward": False},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, images=True)
        assert self.policy.critic is not None
        self.actor_optimizer = torch.optim.Adam(
            self.policy.actor_parameters(), lr=cfg.lr_actor, foreach=True
        )
        self.critic_optimizer = torch.optim.Adam(
            self.policy.critic_parameters(), lr=cfg.lr_critic, foreach=True
        )
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, self.reward_norm)
        self.rollout = new_rollout(self, 1, cfg.n_envs)
        self.register_state(
            "policy", "actor_optimizer", "critic_optimizer", "obs_norm", "reward_norm"
        )
        self.register_run_state("reward_scaler")

    def act(self, obs, deterministic=False):
        return act(self.policy, self.io, obs, deterministic)

    def update(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        dist, values = self.policy(batch.obs, batch.masks)
        actor_loss, critic_loss, entropy = one_step_losses(dist, values, batch)
        loss = actor_loss - self.config.ent_coef * entropy + critic_loss
        self.actor_optimizer.zero_grad(set_to_none=True)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()  # the actor and critic share no parameters: one backward serves both
        self.actor_optimizer.step()
        self.critic_optimizer.step()
        return {
            "actor_loss": actor_loss.detach(),
            "critic_loss": critic_loss.detach(),
            "entropy": entropy.detach(),
        }

    def learn(self, total_steps: int) -> ActorCritic:
        cfg = self.config
        metrics: dict[str, torch.Tensor] = {}
        reward_fn = self.reward_scaler if cfg.normalize_reward else None
        with self.training(total_steps):
            while not self.finished:
                collect_rollout(
                    self, self.policy, self.rollout, self.io, self.io.obs, reward_fn, metrics
                )
                # GAE with lambda = 0 over one step is exactly the TD error delta
                delta, target = self.rollout.advantages(cfg.gamma, 0.0)
                metrics = self.update(self.rollout.flatten(delta, target))
                self.counters["updates"] += 1
        return self

    def update_probe(self) -> Callable[[], object]:
        delta, target = self.rollout.advantages(self.config.gamma, 0.0)
        batch = self.rollout.flatten(delta, target)
        return lambda: self.update(batch)
