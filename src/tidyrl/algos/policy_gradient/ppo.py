"""Proximal Policy Optimization with the clipped surrogate (PPO-clip).

Schulman et al. (2017), "Proximal policy optimization algorithms"; lecture seed 004 ("PPO clip:
clipped importance weights between old and new policy"). With r_t(theta) = pi_theta(a_t|s_t) /
pi_old(a_t|s_t) and A_t the GAE(gamma, lambda) advantage (Schulman et al. 2016), one minibatch
minimizes

    L = - E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]        clipped surrogate (eq. 7)
        + c_v E[(V(s_t) - R_t)^2]                                 value loss (eq. 9)
        - c_e E[H(pi_theta(.|s_t))]                               entropy bonus

R_t = A_t + V_old(s_t) are the lambda-returns. The two losses are `clipped_surrogate` and
`value_loss` of `policy_gradient/common.py` (shared, unchanged, with the multi-agent MAPPO);
`ppo_step` there composes L and takes the gradient step (shared with recurrent PPO).
Options, each a documented implementation detail (Engstrom et al. 2020; Huang et al. 2022,
"The 37 implementation details of PPO"): advantages normalized per minibatch; value clipping
V_old + clip(V - V_old, -eps_v, eps_v) with the larger of the two squared errors; learning rate
and clip range annealed linearly to 0; early stop of the epochs when the approximate KL
E[(r - 1) - log r] exceeds 1.5 * target_kl; global gradient norm clipping; running observation
normalization and reward scaling for continuous control.

Defaults are RL-Zoo's CartPole-v1 settings (8 envs x 32 steps, 20 epochs of one minibatch: the
whole 256-step rollout, gamma 0.98, lambda 0.8, lr 1e-3 -> 0, clip 0.2 -> 0); the `mujoco`
preset is the paper's MuJoCo setting (2048 steps, 10 epochs of 64, lr 3e-4, lambda 0.95,
gamma 0.99).

A reward plug-in (`reward=`, `tidyrl.rewards`) is trained on each rollout and scores it in
`relabel_rollout`, before GAE: GAIL's discriminator reward replaces the env's (which is then only
reported, as episode_return and eval_return, never learned from; the registry's `gail` id is this
learner with `reward=gail` fixed, Ho & Ermon 2016); curiosity, count, RND and ICM add their bonus
beta C to it.

With `two_value_heads` (and a bonus plug-in) the critic has an extrinsic and an intrinsic value
head, as in random network distillation (Burda et al. 2018, section 2.3 and appendix A.2). The
env's rewards r and the bonus C stay apart, each with its own discount and GAE,

    A_E, R_E = GAE(r, V_E; gamma, lambda)        episodic: termination and episode ends cut it
    A_I, R_I = GAE(C, V_I; intrinsic_gamma, lambda)   non-episodic: no termination, no cut
    A        = c_E A_E + c_I A_I                 c_E = extrinsic_coef, c_I = the plug-in's beta
    value loss = E[(V_E - R_E)^2] + E[(V_I - R_I)^2]

(the paper: gamma_E = 0.999, gamma_I = 0.99, c_E = 2, c_I = 1); the clipped surrogate takes
A. The intrinsic return runs on across episode ends: novel states count whether they lie in this
episode or the next, and an episode end costs only the novelty lost by going back to the start,
so the bonus does not make the agent averse to ending episodes (the paper's argument). The
env-reward scaling of `normalize_reward` applies to r only. `value_loss` and
`clipped_surrogate` are the same shared functions (the value loss sums over heads); the
default, one-head path is unchanged.
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
    ZOO_PPO,
    ZOO_PPO_CLASSIC,
    act,
    build_policy,
    check_sde_sample_freq,
    new_rollout,
    ppo_epochs,
    ppo_schedules,
    ppo_step,
)
from tidyrl.config import check_range
from tidyrl.core.normalize import RewardScaler, RunningMeanStd
from tidyrl.core.returns import normalize
from tidyrl.data.rollout import RolloutBatch
from tidyrl.envs import MUJOCO_ENVS
from tidyrl.errors import ConfigError
from tidyrl.loops.on_policy import collect_rollout, relabel_rollout
from tidyrl.nets.mlp import Activation
from tidyrl.nets.optim import Adam
from tidyrl.rewards import attach, bonus_plugins, check_reward


@dataclass(frozen=True)
class PPOConfig:
    n_envs: int = 8
    """Parallel environments."""
    n_steps: int = 32
    """Steps per env per rollout (rollout size = n_envs * n_steps)."""
    batch_size: int = 0
    """Minibatch size, a divisor of n_envs * n_steps (0: the whole rollout, one minibatch)."""
    n_epochs: int = 20
    """Passes over each rollout."""
    gamma: float = 0.98
    """Discount factor."""
    gae_lambda: float = 0.8
    """GAE lambda."""
    lr: float = 1e-3
    """Adam learning rate (annealed linearly to 0 when anneal_lr)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    clip_range: float = 0.2
    """Clip range eps of the probability ratio."""
    anneal_clip: bool = True
    """Decay the clip range linearly to 0 over the run (RL-Zoo's CartPole setting)."""
    clip_value: float = 0.0
    """Clip the value update to +-clip_value around the old value (0: no value clipping)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient c_e."""
    vf_coef: float = 0.5
    """Value-loss coefficient c_v."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0: off)."""
    normalize_advantages: bool = True
    """Normalize advantages per minibatch."""
    target_kl: float = 0.0
    """Stop the epochs early when approx. KL > 1.5 * target_kl (0: never)."""
    normalize_obs: bool = False
    """Running mean/std observation normalization (continuous control)."""
    normalize_reward: bool = False
    """Scale rewards by the std of a running discounted return (continuous control)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and of the critic."""
    activation: Activation = "tanh"
    """Hidden activation."""
    log_std_init: float = 0.0
    """Initial log std of the Gaussian policy (Box actions); with use_sde, of every noise scale
    sigma_ij."""
    use_sde: bool = False
    """Generalised state-dependent exploration for Box actions (Raffin et al. 2022): noise
    phi(s)^T E from the actor's last hidden features and a matrix E held for sde_sample_freq
    steps, in place of independent Gaussian noise at every step."""
    sde_sample_freq: int = -1
    """Rollout steps between new gSDE exploration matrices (-1: one per rollout)."""
    ortho_init: bool = True
    """Orthogonal initialisation (gains sqrt 2, 0.01 on the policy output, 1 on the value's);
    false: PyTorch's default initialisation."""
    reward: str = "env"
    """Reward to learn from: env (the environment's), a plug-in that replaces it before GAE (gail),
    or a bonus added to it as r + beta C: curiosity, count, rnd, icm (tidyrl.rewards)."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """The reward plug-in's settings (its config fields; --set accepts them by name too, e.g.
    --set reward=gail demos=FILE)."""
    two_value_heads: bool = False
    """Separate extrinsic and intrinsic value heads and GAEs for a bonus plug-in (Burda et al.
    2018); off: one head learns r + beta C."""
    intrinsic_gamma: float = 0.99
    """Discount gamma_I of the intrinsic stream (two_value_heads; the paper: 0.99)."""
    extrinsic_coef: float = 2.0
    """Weight c_E of the extrinsic advantage, A = c_E A_E + beta A_I (two_value_heads; the
    paper: 2, beside beta = 1)."""

    def __post_init__(self) -> None:
        check_reward(self)
        if self.two_value_heads and self.reward not in bonus_plugins():
            raise ConfigError(
                f"PPOConfig.two_value_heads=True needs a bonus reward plug-in for its intrinsic "
                f"head, got reward={self.reward}; set reward to one of: "
                f"{', '.join(bonus_plugins())} (or two_value_heads=false)"
            )
        check_range(self, "intrinsic_gamma", 0.0, 1.0)
        check_range(self, "extrinsic_coef", 0.0)
        check_range(self, "n_envs", 1)
        check_range(self, "n_steps", 1)
        check_sde_sample_freq(self)
        check_range(self, "batch_size", 0)
        size = self.n_envs * self.n_steps
        if self.batch_size > size or (self.batch_size and size % self.batch_size):
            fits = max(d for d in range(1, min(self.batch_size, size) + 1) if size % d == 0)
            raise ConfigError(
                f"PPOConfig.batch_size={self.batch_size} does not split the rollout of n_envs * "
                f"n_steps = {self.n_envs} * {self.n_steps} = {size} steps into whole minibatches; "
                f"set batch_size to a divisor of {size} (e.g. batch_size={fits}) or batch_size=0 "
                "(the whole rollout)"
            )
        check_range(self, "n_epochs", 1)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "clip_range", 0.0, low_open=True)
        check_range(self, "clip_value", 0.0)
        check_range(self, "ent_coef", 0.0)
        check_range(self, "vf_coef", 0.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "target_kl", 0.0)

    @property
    def minibatch_size(self) -> int:
        """The batch_size in use: the whole rollout when batch_size is 0."""
        return self.batch_size or self.n_envs * self.n_steps


def combined_advantage(
    adv_ext: torch.Tensor, adv_int: torch.Tensor, ext_coef: float, int_coef: float
) -> torch.Tensor:
    """A = c_E A_E + c_I A_I: the policy's advantage with two value heads (Burda et al. 2018,
    section 2.3)."""
    return ext_coef * adv_ext + int_coef * adv_int


class PPO(Agent):
    Config = PPOConfig
    algo_id = "ppo"
    action_spaces = ACTION_SPACES
    observation_spaces = OBSERVATION_SPACES
    uses_action_mask = True
    default_torch_threads = 1
    default_steps = 100_000
    ENV_PRESETS = {
        "Acrobot-v1": "acrobot",
        "MountainCar-v0": "mountaincar",
        "LunarLander-v3": "lunarlander",
        "LunarLanderContinuous-v3": "lunarlander",
        "BipedalWalker-v3": "bipedalwalker",
        "Pendulum-v1": "pendulum-sde",
        "MountainCarContinuous-v0": "mountaincar-continuous",
        **dict.fromkeys(MUJOCO_ENVS, "mujoco"),
    }
    PRESETS = {
        "cartpole": {},
        # RL-Zoo's classic-control and Box2D settings (hyperparams/ppo.yml) over SB3's PPO
        # defaults (lr 3e-4 and clip 0.2 held constant, minibatch 64, 10 epochs, lambda 0.95)
        "acrobot": ZOO_PPO_CLASSIC["acrobot"],
        "mountaincar": ZOO_PPO_CLASSIC["mountaincar"],
        "lunarlander": ZOO_PPO_CLASSIC["lunarlander"],
        "bipedalwalker": {
            **ZOO_PPO,
            "n_envs": 32,
            "n_steps": 2048,
            "gamma": 0.999,
            "clip_range": 0.18,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        # Schulman et al. 2017, table 3 (MuJoCo), with the observation/reward normalization of
        # their baselines implementation
        "mujoco": {
            "n_envs": 1,
            "n_steps": 2048,
            "batch_size": 64,
            "n_epochs": 10,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "lr": 3e-4,
            "anneal_clip": False,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        # RL-Zoo's Pendulum-v1 setting (without gSDE), with normalization
        "pendulum": {
            "n_envs": 4,
            "n_steps": 1024,
            "batch_size": 64,
            "n_epochs": 10,
            "gamma": 0.9,
            "gae_lambda": 0.95,
            "lr": 1e-3,
            "anneal_clip": False,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        # RL-Zoo's Pendulum-v1 setting: gSDE with a new matrix every 4 steps, no normalization;
        # log sigma -0.69 = log 1/2 is SB3's initial sigma 1 in Pendulum's action units (tidyrl's
        # Gaussian lives in [-1, 1], the env's torque in [-2, 2])
        "pendulum-sde": {
            **ZOO_PPO,
            "n_envs": 4,
            "n_steps": 1024,
            "gamma": 0.9,
            "lr": 1e-3,
            "use_sde": True,
            "sde_sample_freq": 4,
            "log_std_init": -0.69,
        },
        # RL-Zoo's MountainCarContinuous-v0 setting: one env, 8-step rollouts (its batch of 256
        # is larger than the rollout, so each epoch is the whole rollout), gSDE from log sigma
        # -3.29, PyTorch's default initialisation
        "mountaincar-continuous": {
            **ZOO_PPO,
            "n_envs": 1,
            "n_steps": 8,
            "batch_size": 0,
            "gamma": 0.9999,
            "gae_lambda": 0.9,
            "lr": 7.77e-5,
            "ent_coef": 0.00429,
            "clip_range": 0.1,
            "max_grad_norm": 5.0,
            "vf_coef": 0.19,
            "use_sde": True,
            "log_std_init": -3.29,
            "ortho_init": False,
            "normalize_obs": True,
            "normalize_reward": True,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.io, self.policy = build_policy(self, cfg, images=True)
        self.optimizer = Adam(
            self.policy.parameters(), lr=cfg.lr, eps=1e-5, max_grad_norm=cfg.max_grad_norm
        )
        self.obs_norm = self.io.obs_norm
        self.reward_norm = RunningMeanStd(())
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma, self.reward_norm)
        self.reward_plugin = attach(self, on_policy=True)  # None: the env's reward
        self.rollout = new_rollout(
            self, cfg.n_steps, cfg.n_envs, self.reward_plugin is not None, cfg.two_value_heads
        )
        self.register_state("policy", "optimizer", "obs_norm", "reward_norm")
        self.register_run_state("reward_scaler")

    def act(self, obs, deterministic=False, mask=None):
        return act(self.policy, self.io, obs, deterministic, mask)

    def update(
        self,
        batch: RolloutBatch,
        clip: float,
        normalize_adv: bool | None = None,
        diagnostics: bool = True,
    ) -> dict[str, torch.Tensor]:
        """One gradient step on one minibatch; returns the losses as tensors (no .item()).

        `normalize_adv=False` when the caller normalized the advantages already (one minibatch
        per rollout); without `diagnostics` the approximate KL, clip fraction and entropy are
        not computed (unless the loss needs them): `learn` asks for them only where they are
        read, at a KL early-stop check and for the logged last minibatch."""
        cfg = self.config
        if normalize_adv is None:
            normalize_adv = cfg.normalize_advantages
        dist, values = self.policy(batch.obs, batch.masks)
        return ppo_step(self, dist, values, batch, clip, normalize_adv, diagnostics)

    def learn(self, total_steps: int) -> PPO:
        cfg = self.config
        size = cfg.n_envs * cfg.n_steps
        reward_fn = self.reward_scaler if cfg.normalize_reward else None
        metrics: dict[str, torch.Tensor | float] = {}
        with self.training(total_steps):
            while not self.finished:
                lr, clip = ppo_schedules(self)
                plugin = self.reward_plugin  # replaces or adds to the env's reward
                env_fn = None if plugin else reward_fn
                collect_rollout(
                    self, self.policy, self.rollout, self.io, self.io.obs, env_fn, metrics
                )
                reward_metrics = (
                    relabel_rollout(
                        plugin, self.rollout, reward_fn, cfg.n_epochs, cfg.minibatch_size
                    )
                    if plugin
                    else {}
                )
                advantages, returns, return_metrics = self.advantages()
                if cfg.minibatch_size >= size and cfg.normalize_advantages:
                    advantages = normalize(advantages)  # the same minibatch every epoch
                data = self.rollout.flatten(advantages, returns)
                out = ppo_epochs(
                    self,
                    size,
                    cfg.minibatch_size,
                    lambda idx, data=data: data if idx is None else data.index(idx),
                    clip,
                )
                metrics = {**out, **reward_metrics, **return_metrics, "lr": lr, "clip_range": clip}
        return self

    def advantages(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(A, R, metrics) of the rollout: GAE over one stream; or with two value heads, A =
        c_E A_E + beta A_I and R = (R_E, R_I) [T, N, 2], logging each stream's mean
        lambda-return (`extrinsic_return`, `intrinsic_return`)."""
        cfg = self.config
        if not cfg.two_value_heads:
            advantages, returns = self.rollout.advantages(cfg.gamma, cfg.gae_lambda)
            return advantages, returns, {}
        assert self.reward_plugin is not None
        (adv_e, ret_e), (adv_i, ret_i) = self.rollout.stream_advantages(
            cfg.gamma, cfg.intrinsic_gamma, cfg.gae_lambda
        )
        advantages = combined_advantage(
            adv_e, adv_i, cfg.extrinsic_coef, self.reward_plugin.intrinsic_coef
        )
        metrics = {"extrinsic_return": ret_e.mean(), "intrinsic_return": ret_i.mean()}
        return advantages, torch.stack([ret_e, ret_i], dim=-1), metrics

    def update_probe(self) -> Callable[[], object]:
        advantages, returns, _ = self.advantages()
        data = self.rollout.flatten(advantages, returns)
        batch = data.index(torch.arange(self.config.minibatch_size))
        return lambda: self.update(batch, self.config.clip_range)
