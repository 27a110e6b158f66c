"""REINFORCE: the Monte Carlo policy gradient.

Williams (1992), "Simple statistical gradient-following algorithms for connectionist
reinforcement learning"; lecture seeds 003 ("Policy gradient", "Causality trick") and 004
("Deriving REINFORCE", "Baselines"). From complete episodes tau ~ pi_theta,

    grad J = E[ sum_t grad log pi_theta(a_t|s_t) (Psi_t - b_t) ]

    Psi_t = G_0 = sum_t' gamma^t' r_t'                 reward_to_go = false (the whole return)
    Psi_t = G_t = sum_{t' >= t} gamma^(t'-t) r_t'      reward_to_go = true (causality)
    b_t   = 0                                          baseline = none
    b_t   = running mean of Psi over past batches      baseline = mean
    b_t   = V_phi(s_t), fitted to G_t by regression    baseline = value

A baseline that does not depend on a_t leaves the gradient unbiased and lowers its variance.
With `normalize_advantages` (the default; the `lecture` preset turns it off) the weights
A_t = Psi_t - b_t are standardised over the batch, A_t <- (A_t - mean A) / std A, inside
`policy_gradient_loss`: the direction within the batch is kept, the step no longer scales with
the size of the returns.
Episodes cut by a time limit are pure Monte Carlo with baseline none/mean; with a learned value
they bootstrap G from V_phi(final observation). The loss averages over all steps of the batch.

Updates fall on episode boundaries: after every `batch_episodes` completed episodes. With the
default single env this is exactly on-policy; with n_envs > 1 an episode still running at an update
finishes under the new policy (its early steps were drawn by the previous one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    act,
    build_policy,
)
from tidyrl.config import check_choice, check_range
from tidyrl.core.returns import discounted_return, normalize, reward_to_go
from tidyrl.nets.mlp import Activation


@dataclass(frozen=True)
class REINFORCEConfig:
    n_envs: int = 1
    """Parallel environments (1 keeps every update exactly on-policy)."""
    batch_episodes: int = 1
    """Complete episodes per gradient step: one, the textbook's update after every episode
    (Sutton & Barto 2018, sec. 13.3). With four, MountainCar's policy stayed near uniform and
    never reached the flag in 200k steps (docs/algorithms/reinforce.md)."""
    gamma: float = 0.99
    """Discount factor."""
    reward_to_go: bool = True
    """Weight log pi(a_t|s_t) by the return from t (causality) instead of the whole return."""
    baseline: str = "value"
    """none, mean (running mean of the returns) or value (learned V(s))."""
    lr: float = 1e-3
    """Adam learning rate of the policy."""
    lr_critic: float = 1e-3
    """Adam learning rate of the value baseline."""
    critic_iters: int = 5
    """Critic regression steps per batch (baseline = value)."""
    baseline_momentum: float = 0.9
    """Exponential averaging of the running-mean baseline."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the policy (and of the critic)."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions)."""
    normalize_obs: bool | None = None
    """Running observation normalization (None: on for vector observations, off for an image,
    which the policy's CNN scales)."""
    normalize_advantages: bool = True
    """Standardise Psi_t - b_t over each batch (mean 0, std 1), as Spinning Up's VPG does: the
    step size then no longer scales with the size of the returns."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "batch_episodes", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_choice(self, "baseline", ("none", "mean", "value"))
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "lr_critic", 0.0, low_open=True)
        check_range(self, "critic_iters", 0)
        check_range(self, "baseline_momentum", 0.0, 1.0)


@dataclass
class Episode:
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: np.ndarray
    final_obs: torch.Tensor | None
    """The last observation when the episode was truncated (to bootstrap from), else None."""


def episode_weights(
    episode: Episode, gamma: float, rtg: bool, bootstrap: float = 0.0
) -> np.ndarray:
    """Psi_t for every step: G_t (reward-to-go) or G_0 repeated (the whole return)."""
    if rtg:
        return reward_to_go(episode.rewards, gamma, bootstrap)
    total = discounted_return(episode.rewards, gamma, bootstrap)
    return np.full(len(episode.rewards), total)


def policy_gradient_loss(
    logprobs: torch.Tensor,
    weights: torch.Tensor,
    baseline: torch.Tensor,
    standardise: bool = False,
) -> torch.Tensor:
    """-mean_t log pi(a_t|s_t) A_t with A_t = Psi_t - b_t: its gradient is the REINFORCE
    estimator. With `standardise`, A_t is first rescaled to mean 0 and std 1 over the batch."""
    advantages = (weights - baseline).detach()
    if standardise:
        advantages = normalize(advantages)
    return -(logprobs * advantages).mean()


class REINFORCE(Agent):
    Config = REINFORCEConfig
    algo_id = "reinforce"
    action_spaces = ACTION_SPACES
    default_torch_threads = 1
    default_steps = 300_000
    ENV_PRESETS = {"LunarLander-v3": "lunarlander"}
    PRESETS = {
        "cartpole": {},
        # LunarLander's long, noisy episodes: four per update, at a larger step
        # (docs/algorithms/reinforce.md)
        "lunarlander": {"batch_episodes": 4, "lr": 3e-3},
        # the textbook estimator of seeds 003/004 exactly: raw observations, raw Psi_t - b_t
        "lecture": {"normalize_obs": False, "normalize_advantages": False},
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, critic=cfg.baseline == "value", images=True)
        self.optimizer = torch.optim.Adam(self.policy.actor_parameters(), lr=cfg.lr, foreach=True)
        self.obs_norm = self.io.obs_norm
        self.baseline_mean = torch.zeros(())
        self.register_state("policy", "optimizer", "obs_norm", "baseline_mean")
        if self.policy.critic is not None:
            self.critic_optimizer = torch.optim.Adam(
                self.policy.critic_parameters(), lr=cfg.lr_critic, foreach=True
            )
            self.register_state("critic_optimizer")
        n = cfg.n_envs
        self._steps: list[list[tuple[torch.Tensor, torch.Tensor, float]]] = [[] for _ in range(n)]
        self._episodes: list[Episode] = []

    def act(self, obs, deterministic=False):
        return act(self.policy, self.io, obs, deterministic)

    def update(self, episodes: list[Episode]) -> dict[str, torch.Tensor]:
        cfg = self.config
        critic = self.policy.critic
        weights = []
        for ep in episodes:
            bootstrap = 0.0
            if ep.final_obs is not None and critic is not None:
                with torch.no_grad():
                    bootstrap = float(self.policy.value(ep.final_obs.unsqueeze(0)))
            weights.append(episode_weights(ep, cfg.gamma, cfg.reward_to_go, bootstrap))
        obs = torch.cat([ep.obs for ep in episodes])
        actions = torch.cat([ep.actions for ep in episodes])
        psi = torch.as_tensor(np.concatenate(weights), dtype=torch.float32)
        if cfg.baseline == "value":
            with torch.no_grad():
                baseline = self.policy.value(obs)
        elif cfg.baseline == "mean":
            baseline = self.baseline_mean.expand_as(psi)
        else:
            baseline = torch.zeros_like(psi)
        dist = self.policy.distribution(obs)
        loss = policy_gradient_loss(dist.log_prob(actions), psi, baseline, cfg.normalize_advantages)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        out = {
            "policy_loss": loss.detach(),
            "return_mean": psi.mean(),
            # logged only, not in the loss: how random the policy that drew the batch still is
            "entropy": dist.entropy().mean().detach(),
        }
        if cfg.baseline == "mean":
            m = cfg.baseline_momentum
            self.baseline_mean.mul_(m).add_((1 - m) * psi.mean())
        if critic is not None:
            for _ in range(cfg.critic_iters):
                v_loss = ((self.policy.value(obs) - psi) ** 2).mean()
                self.critic_optimizer.zero_grad(set_to_none=True)
                v_loss.backward()
                self.critic_optimizer.step()
                out["value_loss"] = v_loss.detach()
        return out

    def learn(self, total_steps: int) -> REINFORCE:
        cfg = self.config
        metrics: dict[str, torch.Tensor] = {}
        with self.training(total_steps):
            while not self.finished:
                obs = self.io.obs(self.env.obs, True)
                with torch.inference_mode():
                    actions = self.policy.act_distribution(obs).sample()
                step = self.env.step(self.io.to_env(actions))
                for i in range(cfg.n_envs):
                    self._steps[i].append((obs[i], actions[i], float(step.rewards[i])))
                    if step.dones[i]:
                        cut = bool(step.truncated[i] and not step.terminated[i])
                        final = self.io.obs(step.next_obs[i : i + 1])[0] if cut else None
                        self._episodes.append(self._finish(self._steps[i], final))
                        self._steps[i] = []
                if len(self._episodes) >= cfg.batch_episodes:
                    metrics = self.update(self._episodes)
                    self._episodes = []
                    self.counters["updates"] += 1
                self.tick(step, metrics)
        return self

    @staticmethod
    def _finish(
        steps: list[tuple[torch.Tensor, torch.Tensor, float]], final: torch.Tensor | None
    ) -> Episode:
        obs, actions, rewards = zip(*steps)
        return Episode(
            torch.stack(obs).clone(),
            torch.stack(actions).clone(),
            np.asarray(rewards, dtype=np.float64),
            final,
        )

    def update_probe(self) -> Callable[[], object]:
        obs = self.io.obs(self.env.obs)
        with torch.no_grad():
            acts = self.policy.distribution(obs.expand(200, *obs.shape[1:])).sample()
        episode = Episode(obs.expand(200, *obs.shape[1:]).clone(), acts, np.ones(200), None)
        return lambda: self.update([episode])
