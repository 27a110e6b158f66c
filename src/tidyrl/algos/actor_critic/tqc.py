"""TQC: Truncated Quantile Critics (Kuznetsov et al. 2020, "Controlling Overestimation Bias with
Truncated Mixture of Continuous Distributional Quantile Critics", ICML).

SAC (sac.py: a tanh-squashed Gaussian policy, an automatically tuned temperature alpha) whose
critics are distributional: each of N critics outputs M atoms theta_n^1..theta_n^M(s, a) of the
return distribution, at the quantile midpoints tau_m = (2m - 1) / (2M) (quantile regression,
Dabney et al. 2018; QR-DQN, qr_dqn.py). Where SAC and TD3 fight overestimation with the minimum
over two critics, TQC pools the N * M atoms of the target critics, sorts them and drops the top
d of each critic's share, which sets how pessimistic the target is in steps finer than one
critic:

    Z(s', a')    = sorted {theta'_n^m(s', a') : n = 1..N, m = 1..M},   a' ~ pi(.|s')
    y_i          = r + gamma * (1 - terminated) * (z_(i)(s', a') - alpha * log pi(a'|s')),
                   i = 1..kN, the kN = N * (M - d) smallest atoms                (eq. 10)
    critic loss  = sum_n 1/(kN M) sum_m sum_i rho^kappa_{tau_m}(y_i - theta_n^m(s, a))
                   (quantile Huber, kappa = 1; each critic against the whole pool) (eq. 11)
    actor loss   = alpha * log pi(a~|s) - 1/(N M) sum_n sum_m theta_n^m(s, a~)   (eq. 12)
    alpha loss   = -log(alpha) * (log pi(a~|s) + H_target),   H_target = -dim(A)
                   (SAC's `alpha_loss`, from common.py)

A truncated episode still bootstraps from its final observation s'. The paper's MuJoCo setting
is N = 5, M = 25, d = 2 per critic (d = 5 on Hopper); Stable-Baselines3-contrib's defaults, kept
here, are N = 2, M = 25, d = 2 with SAC's other defaults (lr 3e-4, batch 256, tau 0.005,
256-256 ReLU). Hindsight replay (`her_future_goals`) and gSDE exploration (`use_sde`) work as
in SAC, through the same pieces (actor_critic/common.py); the 2018a value network, bf16 and the
reward plug-ins are SAC's only. See docs/algorithms/tqc.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    alpha_loss,
    box_bounds,
    encoded_critic,
    encoded_mlp,
    replay_for,
    sde_mean,
    sde_parts,
    sde_policy_action,
    sde_squashed_sample,
)
from tidyrl.config import check_range
from tidyrl.core.quantile import quantile_huber_loss, quantile_midpoints
from tidyrl.core.squashed import (
    scale_action,
    squashed_gaussian_action,
    squashed_gaussian_sample,
    unscale_action,
)
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.data.hindsight import check_hindsight
from tidyrl.errors import ConfigError
from tidyrl.nets.critics import QEnsemble
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.mlp import mlp
from tidyrl.nets.optim import Adam


@dataclass(frozen=True)
class TQCConfig:
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
    """Polyak rate of the target critics."""
    lr: float = 3e-4
    """Adam learning rate of actor, critics and temperature."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of every network."""
    alpha: float = 1.0
    """Initial temperature (the fixed temperature when autotune is off)."""
    autotune: bool = True
    """Tune alpha so that the policy's entropy tracks target_entropy."""
    target_entropy: float | None = None
    """Entropy target H_target (None: -dim(A))."""
    n_critics: int = 2
    """N: critics, each a distribution of n_quantiles atoms (the paper's MuJoCo setting: 5)."""
    n_quantiles: int = 25
    """M: atoms per critic."""
    drop_per_net: int = 2
    """d: the top atoms of each critic's share dropped from the pooled target (Stable-Baselines3
    -contrib's top_quantiles_to_drop_per_net; 0 keeps all, which overestimates as SAC's mean
    over critics would)."""
    kappa: float = 1.0
    """Huber threshold of the quantile loss (0: the plain quantile loss)."""
    gradient_steps: int = 1
    """Gradient updates per environment step."""
    use_sde: bool = False
    """Generalised state-dependent exploration, as SAC's (sac.py): noise phi(s)^T E from the
    actor's last hidden features, E held for sde_sample_freq steps while acting."""
    sde_sample_freq: int = 64
    """Env steps between new gSDE exploration matrices while acting."""
    log_std_init: float = -3.0
    """Initial log sigma_ij of gSDE's noise scales (use_sde only)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_hindsight(self)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "alpha", 0.0, low_open=True)
        check_range(self, "n_critics", 1)
        check_range(self, "n_quantiles", 1)
        check_range(self, "drop_per_net", 0)
        check_range(self, "kappa", 0.0)
        check_range(self, "gradient_steps", 1)
        check_range(self, "sde_sample_freq", 1)
        if self.drop_per_net >= self.n_quantiles:
            raise ConfigError(
                f"drop_per_net={self.drop_per_net} leaves no atom of n_quantiles="
                f"{self.n_quantiles}; choose drop_per_net in 0..{self.n_quantiles - 1}"
            )


def truncated_atoms(z_next: torch.Tensor, keep: int) -> torch.Tensor:
    """The `keep` smallest of the pooled atoms: z_next (N, B, M) -> (B, keep), ascending."""
    pooled = z_next.permute(1, 0, 2).reshape(z_next.shape[1], -1)  # (B, N * M)
    return pooled.sort(dim=-1).values[:, :keep]


def td_target(
    rewards: torch.Tensor,
    bootstrap_mask: torch.Tensor,
    gamma: float,
    atoms: torch.Tensor,
    alpha_logp_next: torch.Tensor,
) -> torch.Tensor:
    """y_i = r + gamma * (1 - terminated) * (z_(i) - alpha * log pi(a'|s')) for each kept atom
    (columns of `atoms`, (B, kN)); truncation keeps the bootstrap."""
    soft = atoms - alpha_logp_next[:, None]
    return rewards[:, None] + gamma * bootstrap_mask[:, None] * soft


def critic_loss(
    quantiles: torch.Tensor, y: torch.Tensor, taus: torch.Tensor, kappa: float
) -> torch.Tensor:
    """sum_n 1/(kN M) sum_m sum_i rho^kappa_{tau_m}(y_i - theta_n^m): each critic's M atoms
    (quantiles (N, B, M)) against every target atom y (B, kN)."""
    per_critic = [quantile_huber_loss(theta, y, taus, kappa) for theta in quantiles]
    return torch.stack(per_critic).sum() / quantiles.shape[-1]  # mean over m, not sum


def actor_loss(
    quantiles_pi: torch.Tensor, logp_pi: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """E[alpha * log pi(a~|s) - 1/(N M) sum_n sum_m theta_n^m(s, a~)]: SAC's actor loss with the
    mean of every critic's atoms as Q."""
    q_pi = quantiles_pi.mean(dim=(0, 2))  # (B,)
    return (alpha * logp_pi - q_pi).mean()


class TQC(Agent):
    """Truncated Quantile Critics for Box action spaces."""

    Config = TQCConfig
    algo_id = "tqc"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    default_steps = 20_000
    ENV_PRESETS = {
        "Pendulum-v1": "pendulum",
        "MountainCarContinuous-v0": "mountaincar-continuous",
        "LunarLanderContinuous-v3": "lunarlander",
        "BipedalWalker-v3": "bipedalwalker",
    }
    PRESETS = {
        # RL-Zoo's per-env settings (hyperparams/tqc.yml) over SB3-contrib's TQC defaults, which
        # are tidyrl's but for 100 random steps; its train_freq k with k gradient steps is one
        # update per step here, and gSDE draws new matrices every k steps as SB3 does once per
        # round. On Pendulum the zoo's gSDE is left out: the policy's own Gaussian reaches the
        # zoo's score there (RESULTS.md)
        "pendulum": {"lr": 1e-3, "hidden": (64, 64)},
        "mountaincar-continuous": {
            "learning_starts": 0,
            "buffer_size": 50_000,
            "batch_size": 512,
            "autotune": False,
            "alpha": 0.1,
            "gamma": 0.9999,
            "tau": 0.01,
            "hidden": (64, 64),
            "use_sde": True,
            "sde_sample_freq": 32,
            "log_std_init": -3.67,
        },
        "lunarlander": {
            "learning_starts": 10_000,
            "lr": 7.3e-4,
            "tau": 0.01,
            "hidden": (400, 300),
        },
        "bipedalwalker": {
            "learning_starts": 10_000,
            "lr": 7.3e-4,
            "buffer_size": 300_000,
            "gamma": 0.98,
            "tau": 0.02,
            "hidden": (400, 300),
            "use_sde": True,
            "sde_sample_freq": 64,
        },
        # the paper's MuJoCo setting: five critics of 25 atoms, 2 of each dropped
        "mujoco": {"learning_starts": 10_000, "n_critics": 5},
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        space = self.observation_space
        act_dim = self.act_dim = int(np.prod(self.action_space.shape))
        self.target_entropy = (
            float(-act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        )
        # the actor outputs (mu, log sigma) of the pre-squash Gaussian; with gSDE mu alone
        out = act_dim if cfg.use_sde else 2 * act_dim
        self.actor = encoded_mlp(space, lambda width: mlp(width, cfg.hidden, out))
        self.critic = encoded_critic(
            space,
            cfg.n_critics,
            lambda width: QEnsemble(
                width, act_dim, cfg.hidden, n_critics=cfg.n_critics, out_dim=cfg.n_quantiles
            ),
        )
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(
            torch.tensor(float(np.log(cfg.alpha))), requires_grad=cfg.autotune
        )
        params = [*self.actor.parameters(), *self.critic.parameters(), self.log_alpha]
        if cfg.use_sde:  # log sigma [F, A], F the width of the actor's last hidden layer
            self.actor_body, self.log_sigma, self.held = sde_parts(
                self.actor, act_dim, cfg.log_std_init, cfg.sde_sample_freq
            )
            params.append(self.log_sigma)
        self.optimizer = Adam(params, cfg.lr)
        self.taus = quantile_midpoints(cfg.n_quantiles)
        self.keep = cfg.n_critics * (cfg.n_quantiles - cfg.drop_per_net)
        """kN: the pooled atoms the target keeps."""
        self.replay = replay_for(self)
        self.register_state("actor", "critic", "critic_target", "log_alpha", "optimizer")
        self.register_run_state("replay")
        if cfg.use_sde:
            self.register_state("log_sigma")
            self.register_run_state("held")

    def pi(
        self, obs: torch.Tensor, deterministic: bool = False, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A squashed-Gaussian action in the unit box and its log-probability (noise `eps`
        drawn here unless given; with gSDE one z [F, A] for the batch)."""
        if self.config.use_sde:
            features = self.actor_body(obs)
            mean = sde_mean(self.actor, features)
            return sde_squashed_sample(mean, features, self.log_sigma, deterministic, eps)
        mean, log_std = self.actor(obs).chunk(2, -1)
        return squashed_gaussian_sample(mean, log_std, deterministic, eps)

    def policy(
        self, obs: np.ndarray, deterministic: bool = False, held: bool = False
    ) -> np.ndarray:
        """Actions in the unit box for a batch of observations; with gSDE, `held` acts with
        the training loop's held matrices (one per env copy)."""
        if self.config.use_sde:
            matrices = self.held if held else None
            return sde_policy_action(
                self.actor, self.actor_body, self.log_sigma, obs, deterministic, matrices, self.rng
            )
        mean, log_std = fast_policy(self.actor)(obs).chunk(2, -1)
        return squashed_gaussian_action(mean, log_std, deterministic).cpu().numpy()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return scale_action(self.policy(obs, deterministic), self.low, self.high)

    @torch.no_grad()
    def target_q(self, batch: Transition, eps: torch.Tensor | None = None) -> torch.Tensor:
        """y (B, kN): the kept atoms of the target critics at (s', a'), a' ~ pi(.|s') drawn with
        noise `eps` (drawn here if None), soft and discounted (module docstring, eq. 10)."""
        next_actions, logp_next = self.pi(batch.next_obs, eps=eps)
        z_next = self.critic_target(batch.next_obs, next_actions)  # (N, B, M)
        atoms = truncated_atoms(z_next, self.keep)
        alpha = self.log_alpha.exp()
        return td_target(
            batch.rewards, batch.bootstrap_mask, self.config.gamma, atoms, alpha * logp_next
        )

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One step on the critic, actor and temperature losses of the module docstring, all
        from the same parameters (as SAC's "joint" order); then the target critics track."""
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        # the noise of a~ and a': per row, or gSDE's one z [F, A] per batch
        shape = self.log_sigma.shape if cfg.use_sde else (len(batch), self.act_dim)
        eps_pi = torch.randn(shape, device=batch.actions.device)
        eps_next = torch.randn(shape, device=batch.actions.device)
        y = self.target_q(batch, eps_next)
        quantiles = self.critic(batch.obs, batch.actions)  # (N, B, M)
        loss_q = critic_loss(quantiles, y, self.taus, cfg.kappa)
        actions_pi, logp_pi = self.pi(batch.obs, eps=eps_pi)
        # the critics' weights enter as constants: the actor's loss moves the actor only
        loss_pi = actor_loss(self.critic(batch.obs, actions_pi, frozen=True), logp_pi, alpha)
        total = loss_q + loss_pi
        if cfg.autotune:
            total = total + alpha_loss(self.log_alpha, logp_pi, self.target_entropy)
        self.optimizer.zero_grad()
        total.backward()
        self.optimizer.step()
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "alpha": alpha,
            "entropy": -logp_pi.detach().mean(),
            "q": quantiles.detach().mean(),
        }

    def learn(self, total_steps: int) -> TQC:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                if self.counters["steps"] < cfg.learning_starts:
                    unit = unscale_action(self.env.sample_actions(), self.low, self.high)
                else:
                    unit = self.policy(obs, held=True)
                step = self.env.step(scale_action(unit, self.low, self.high))
                self.replay.add(obs, unit, step)
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts:
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
