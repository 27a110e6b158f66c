"""Trust Region Policy Optimization.

Schulman et al. (2015), "Trust region policy optimization"; lecture seed 004 ("TRPO uses natural
gradient: rescale the gradient by the Fisher information matrix, optimized using conjugate
gradient"). Each iteration solves

    maximize_theta  L(theta) = E[ pi_theta(a|s) / pi_old(a|s) * A ]
    subject to      KLbar(theta) = E_s[ KL(pi_old(.|s) || pi_theta(.|s)) ] <= delta

by a linear/quadratic approximation around theta_old (appendix C):

    g = grad L,   F = Hessian of KLbar (the Fisher matrix),
    s = F^-1 g by conjugate gradient using only Fisher-vector products,
    full step  beta s  with  beta = sqrt(2 delta / (s^T F s)),
    backtracking line search theta_old + alpha^j beta s, accepting the first j with
    KLbar <= delta and L(theta) - L(theta_old) > 0 (else keep theta_old).

The critic V(s) is fitted separately by Adam on the lambda-returns (GAE, Schulman et al. 2016),
as in their GAE paper's TRPO experiments.

Reward plug-ins (`tidyrl.rewards`) enter as in PPO, through `relabel_rollout` before GAE:
`--set reward=gail demos=FILE` is GAIL as Ho & Ermon (2016) trained it, with TRPO; curiosity,
count, RND and ICM add their bonus to the env's reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from tidyrl.agent import Agent
from tidyrl.algos.policy_gradient.common import (
    ACTION_SPACES,
    OBSERVATION_SPACES,
    act,
    build_policy,
    check_sde_sample_freq,
    new_rollout,
)
from tidyrl.config import check_range
from tidyrl.core.conjugate_gradient import (
    conjugate_gradient,
    fisher_vector_product,
    flat_grad,
    get_flat_params,
    set_flat_params,
)
from tidyrl.core.distributions import Distribution
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.core.returns import normalize
from tidyrl.data.rollout import RolloutBatch
from tidyrl.loops.on_policy import collect_rollout, relabel_rollout
from tidyrl.nets.mlp import Activation
from tidyrl.rewards import attach, check_reward


@dataclass(frozen=True)
class TRPOConfig:
    n_envs: int = 4
    """Parallel environments."""
    n_steps: int = 256
    """Steps per env per iteration (batch = n_envs * n_steps)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    max_kl: float = 0.01
    """Trust-region size delta (mean KL per state)."""
    cg_iters: int = 10
    """Conjugate-gradient iterations."""
    cg_damping: float = 0.1
    """Damping beta added to the Fisher matrix (F + beta I)."""
    backtrack_iters: int = 10
    """Line-search halvings tried before the step is rejected."""
    backtrack_coef: float = 0.8
    """Step shrink factor per line-search iteration."""
    vf_lr: float = 1e-3
    """Adam learning rate of the critic."""
    vf_epochs: int = 10
    """Critic epochs per iteration."""
    vf_batch_size: int = 128
    """Critic minibatch size."""
    normalize_advantages: bool = True
    """Normalize advantages over each batch."""
    normalize_obs: bool = False
    """Running observation normalization."""
    normalize_reward: bool = False
    """Scale rewards by the std of a running discounted return."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and of the critic."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions); with use_sde, of every noise scale
    sigma_ij."""
    use_sde: bool = False
    """Generalised state-dependent exploration for Box actions (Raffin et al. 2022; as in PPO):
    noise phi(s)^T E from the actor's last hidden features and a matrix E held for
    sde_sample_freq steps. The trust region is then on the KL between these state-dependent
    Gaussians."""
    sde_sample_freq: int = -1
    """Rollout steps between new gSDE exploration matrices (-1: one per rollout)."""
    reward: str = "env"
    """Reward to learn from: env (the environment's), a plug-in that replaces it before GAE (gail),
    or a bonus added to it as r + beta C: curiosity, count, rnd, icm (tidyrl.rewards)."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """The reward plug-in's settings (its config fields; --set accepts them by name too, e.g.
    --set reward=gail demos=FILE)."""

    def __post_init__(self) -> None:
        check_reward(self)
        check_range(self, "n_envs", 1)
        check_range(self, "n_steps", 1)
        check_sde_sample_freq(self)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "max_kl", 0.0, low_open=True)
        check_range(self, "cg_iters", 1)
        check_range(self, "cg_damping", 0.0)
        check_range(self, "backtrack_iters", 1)
        check_range(self, "backtrack_coef", 0.0, 1.0, low_open=True, high_open=True)
        check_range(self, "vf_lr", 0.0, low_open=True)
        check_range(self, "vf_epochs", 0)
        check_range(self, "vf_batch_size", 1)


def surrogate(dist: Distribution, batch: RolloutBatch, advantages: torch.Tensor) -> torch.Tensor:
    """L = E[pi_theta(a|s) / pi_old(a|s) * A] (eq. 14)."""
    return (torch.exp(dist.log_prob(batch.actions) - batch.logprobs) * advantages).mean()


def natural_gradient_step(
    policy_dist: Callable[[], Distribution],
    params: list[torch.nn.Parameter],
    batch: RolloutBatch,
    advantages: torch.Tensor,
    cfg: TRPOConfig,
) -> dict[str, torch.Tensor]:
    """One TRPO policy update in place (CG direction + KL-constrained backtracking line search)."""
    dist = policy_dist()
    old = dist.detach()
    loss = surrogate(dist, batch, advantages)
    g = flat_grad(loss, params, retain_graph=True)
    fvp = fisher_vector_product(old.kl(dist).mean(), params, cfg.cg_damping)
    direction = conjugate_gradient(fvp, g, cfg.cg_iters)
    shs = direction @ fvp(direction)
    full_step = direction * torch.sqrt(2.0 * cfg.max_kl / (shs + 1e-12))
    theta_old = get_flat_params(params)
    loss_old = loss.detach()
    accepted = torch.tensor(0.0)
    kl = torch.tensor(0.0)
    improvement = torch.tensor(0.0)
    with torch.no_grad():
        fraction = 1.0
        for _ in range(cfg.backtrack_iters):
            set_flat_params(params, theta_old + fraction * full_step)
            new = policy_dist()
            kl = old.kl(new).mean()
            improvement = surrogate(new, batch, advantages) - loss_old
            if kl <= cfg.max_kl and improvement > 0:
                accepted = torch.tensor(fraction)
                break
            fraction *= cfg.backtrack_coef
        else:
            set_flat_params(params, theta_old)
    return {"kl": kl, "surrogate_gain": improvement, "step_fraction": accepted}


ZOO_TRPO: dict[str, Any] = {
    "n_envs": 2,
    "n_steps": 2048,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "max_kl": 0.01,
    "cg_iters": 15,
    "cg_damping": 0.1,
    "backtrack_iters": 10,
    "backtrack_coef": 0.8,
    "vf_lr": 1e-3,
    "vf_epochs": 10,
    "vf_batch_size": 128,
}
"""SB3-contrib's TRPO defaults (target_kl, cg_max_steps, line_search_shrinking_factor and
_max_iter, learning_rate and n_critic_updates are max_kl, cg_iters, backtrack_coef and _iters,
vf_lr and vf_epochs here), on which RL-Zoo writes its per-env settings, with the two envs RL-Zoo
runs on every classic task."""

ZOO_NORMALIZE = {"normalize_obs": True, "normalize_reward": True}
"""RL-Zoo's `normalize: true` (VecNormalize: running observation and return normalization)."""


class TRPO(Agent):
    Config = TRPOConfig
    algo_id = "trpo"
    action_spaces = ACTION_SPACES
    observation_spaces = OBSERVATION_SPACES
    uses_action_mask = True
    default_torch_threads = 1
    default_steps = 200_000
    ENV_PRESETS = {
        "CartPole-v1": "cartpole",
        "Acrobot-v1": "acrobot",
        "MountainCar-v0": "mountaincar",
        "LunarLander-v3": "lunarlander",
        "Pendulum-v1": "pendulum-sde",
        "MountainCarContinuous-v0": "mountaincar-continuous",
        "LunarLanderContinuous-v3": "lunarlander-continuous",
        "BipedalWalker-v3": "bipedalwalker",
    }
    PRESETS = {
        # tidyrl's defaults: CartPole-v1 solved in 100k steps (benchmarks/RESULTS.md)
        "cartpole": {},
        # Schulman et al. 2016 (GAE) MuJoCo-style setting with normalization
        "mujoco": {
            "n_envs": 1,
            "n_steps": 2048,
            "gae_lambda": 0.97,
            "max_kl": 0.01,
            "vf_batch_size": 64,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        # RL-Zoo's classic-control and Box2D settings (hyperparams/trpo.yml) over
        # SB3-contrib's TRPO defaults (ZOO_TRPO); RL-Zoo's `normalize` is ZOO_NORMALIZE
        "acrobot": {**ZOO_TRPO, **ZOO_NORMALIZE, "n_steps": 1024},
        "mountaincar": {**ZOO_TRPO, **ZOO_NORMALIZE, "n_steps": 1024, "vf_epochs": 20},
        "lunarlander": {
            **ZOO_TRPO,
            "n_steps": 512,
            "cg_damping": 0.01,
            "gae_lambda": 0.98,
            "vf_epochs": 15,
        },
        # gSDE with a new matrix every 4 steps; log sigma -0.69 = log 1/2 is SB3's initial
        # sigma 1 in Pendulum's torque units (tidyrl's Gaussian lives in [-1, 1], the torque in
        # [-2, 2])
        "pendulum-sde": {
            **ZOO_TRPO,
            "n_steps": 1024,
            "gamma": 0.9,
            "vf_epochs": 15,
            "use_sde": True,
            "sde_sample_freq": 4,
            "log_std_init": -0.69,
        },
        "mountaincar-continuous": {
            **ZOO_TRPO,
            **ZOO_NORMALIZE,
            "use_sde": True,
            "sde_sample_freq": 4,
        },
        "lunarlander-continuous": {
            **ZOO_TRPO,
            **ZOO_NORMALIZE,
            "n_steps": 1024,
            "vf_epochs": 20,
        },
        # RL-Zoo's MuJoCo and PyBullet setting, which it also runs on BipedalWalker-v3
        "bipedalwalker": {
            **ZOO_TRPO,
            **ZOO_NORMALIZE,
            "n_steps": 1024,
            "cg_iters": 25,
            "vf_epochs": 20,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, images=True)
        assert self.policy.critic is not None
        self.vf_optimizer = torch.optim.Adam(
            self.policy.critic_parameters(), lr=cfg.vf_lr, foreach=True
        )
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, self.reward_norm)
        self.reward_plugin = attach(self, on_policy=True)  # None: the env's reward
        self.rollout = new_rollout(self, cfg.n_steps, cfg.n_envs, self.reward_plugin is not None)
        self.register_state("policy", "vf_optimizer", "obs_norm", "reward_norm")
        self.register_run_state("reward_scaler")

    def act(self, obs, deterministic=False, mask=None):
        return act(self.policy, self.io, obs, deterministic, mask)

    def update_critic(self, batch: RolloutBatch) -> torch.Tensor:
        loss = ((self.policy.value(batch.obs) - batch.returns) ** 2).mean()
        self.vf_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.vf_optimizer.step()
        return loss.detach()

    def update(self, data: RolloutBatch) -> dict[str, torch.Tensor]:
        cfg = self.config
        adv = normalize(data.advantages) if cfg.normalize_advantages else data.advantages
        out = natural_gradient_step(
            lambda: self.policy.distribution(data.obs, data.masks),
            self.policy.actor_parameters(),
            data,
            adv,
            cfg,
        )
        v_loss = torch.tensor(0.0)
        for _ in range(cfg.vf_epochs):
            order = torch.randperm(len(data))
            for start in range(0, len(data), cfg.vf_batch_size):
                v_loss = self.update_critic(data.index(order[start : start + cfg.vf_batch_size]))
        return {**out, "value_loss": v_loss}

    def learn(self, total_steps: int) -> TRPO:
        cfg = self.config
        reward_fn = self.reward_scaler if cfg.normalize_reward else None
        metrics: dict[str, torch.Tensor] = {}
        with self.training(total_steps):
            while not self.finished:
                plugin = self.reward_plugin  # replaces or adds to the env's reward
                env_fn = None if plugin else reward_fn
                collect_rollout(
                    self, self.policy, self.rollout, self.io, self.io.obs, env_fn, metrics
                )
                reward_metrics = relabel_rollout(plugin, self.rollout, reward_fn) if plugin else {}
                advantages, returns = self.rollout.advantages(cfg.gamma, cfg.gae_lambda)
                metrics = {
                    **self.update(self.rollout.flatten(advantages, returns)),
                    **reward_metrics,
                }
                self.counters["updates"] += 1
        return self

    def update_probe(self) -> Callable[[], object]:
        advantages, returns = self.rollout.advantages(self.config.gamma, self.config.gae_lambda)
        batch = self.rollout.flatten(advantages, returns)
        return lambda: self.update(batch)
