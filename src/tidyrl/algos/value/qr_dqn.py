"""QR-DQN: distributional DQN by quantile regression (Dabney, Rowland, Bellemare & Munos 2018,
"Distributional Reinforcement Learning with Quantile Regression", Algorithm 1). C51's sibling
(lecture seed 003's distributional RL): where C51 fixes the returns z_j and learns their
probabilities, QR-DQN fixes the probabilities and learns the returns.

The network outputs N values theta_i(s, a), the quantiles of Z(s, a) at the midpoints
tau_hat_i = (2i + 1) / (2N) (each carries probability 1/N), and Q(s, a) = 1/N sum_i theta_i(s, a):

    a*         = argmax_a 1/N sum_j theta'_j(s', a)                 (target network theta')
                 (over the actions valid in s' where the env gives an action mask)
    T theta_j  = r + gamma_m (1 - terminated) theta'_j(s', a*),  j = 1..N   (target samples)
    L          = sum_i 1/N sum_j rho^kappa_{tau_hat_i}(T theta_j - theta_i(s, a))
    rho^kappa_tau(u) = |tau - 1{u < 0}| L_kappa(u) / kappa              (quantile Huber, kappa = 1)

`tidyrl.core.quantile` holds rho and the midpoints (SDDPG's critic uses the same loss). There is
no support [v_min, v_max] to choose: the quantiles go wherever the returns are, so a task whose
returns C51's support misses cannot fail silently here. Acting is ε-greedy on Q; the training
loop (ε schedule, training phases, hard target copies) is C51's (`epsilon_greedy_learn`).

Defaults are RL-Zoo's CartPole-v1 DQN settings, like every value agent's, with the paper's
N = 200 quantiles, kappa = 1 and Adam's epsilon 0.01 / batch (Dabney et al. 2018, as
Stable-Baselines3-contrib's QR-DQN), and no gradient clipping (SB3-contrib's). On CartPole,
Acrobot, MountainCar and LunarLander the agent takes RL-Zoo's QR-DQN quantile counts
(hyperparams/qrdqn.yml: 10, 25, 25, 170) with DQN's settings for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import replay_for
from tidyrl.algos.value.common import (
    CLASSIC_ENV_PRESETS,
    epsilon_greedy_act,
    epsilon_greedy_learn,
    zoo_presets,
)
from tidyrl.config import check_hidden, check_range
from tidyrl.core.masking import mask_invalid, masked_argmax
from tidyrl.core.quantile import quantile_huber_loss, quantile_midpoints
from tidyrl.data.batch import Transition
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import make_optimizer


@dataclass(frozen=True)
class QRDQNConfig:
    n_quantiles: int = 200
    """Number N (>= 2) of quantiles of the return distribution (the paper's Atari value)."""
    kappa: float = 1.0
    """Huber threshold of the quantile loss (0: the plain quantile loss)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths."""
    lr: float = 2.3e-3
    """Adam learning rate."""
    adam_eps: float | None = None
    """Adam epsilon (None: 0.01 / batch_size, the paper's)."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Minibatch size."""
    learning_starts: int = 1_000
    """Env steps of pure ε-greedy collection before the first update."""
    train_freq: int = 256
    """Env steps between training phases."""
    gradient_steps: int = 128
    """Gradient updates per training phase."""
    target_update_every: int = 10
    """Env steps between target-network updates (hard copies)."""
    epsilon_start: float = 1.0
    """ε at the start of training."""
    epsilon_end: float = 0.04
    """ε after the decay."""
    exploration_fraction: float = 0.16
    """Fraction of the training budget over which ε decays."""
    max_grad_norm: float = 0.0
    """Clip the gradient's global norm (0: no clipping)."""
    n_envs: int = 1
    """Parallel environments."""

    def __post_init__(self) -> None:
        check_range(self, "n_quantiles", 2)
        check_range(self, "kappa", 0.0)
        check_hidden(self)
        check_range(self, "lr", 0.0, low_open=True)
        if self.adam_eps is not None:
            check_range(self, "adam_eps", 0.0, low_open=True)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "buffer_size", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "train_freq", 1)
        check_range(self, "gradient_steps", 1)
        check_range(self, "target_update_every", 1)
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "exploration_fraction", 0.0, 1.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "n_envs", 1)


def quantile_q(quantiles: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = 1/N sum_i theta_i(s, a): the mean over the last axis of (B, A, N) quantiles."""
    return quantiles.mean(dim=-1)


def qr_target(batch: Transition, next_quantiles: torch.Tensor) -> torch.Tensor:
    """T theta_j = r + gamma_m (1 - terminated) theta'_j(s', a*) (B, N), a* greedy under the
    target net's Q (among the actions valid in s', `batch.next_masks`, when the env gives a
    mask)."""
    best = mask_invalid(quantile_q(next_quantiles), batch.next_masks).argmax(dim=1)
    chosen = next_quantiles[torch.arange(len(best)), best]
    scale = (batch.discounts * batch.bootstrap_mask).unsqueeze(-1)
    return batch.rewards.unsqueeze(-1) + scale * chosen


def qr_loss(
    quantiles: torch.Tensor,
    actions: torch.Tensor,
    targets: torch.Tensor,
    taus: torch.Tensor,
    kappa: float,
) -> torch.Tensor:
    """L = sum_i 1/N sum_j rho^kappa_{tau_hat_i}(T theta_j - theta_i(s, a)), averaged over the
    batch: the quantile Huber loss of the taken actions' quantiles against the target samples."""
    taken = quantiles[torch.arange(len(actions)), actions]
    return quantile_huber_loss(taken, targets, taus, kappa)


class QRDQN(Agent):
    """Quantile-regression DQN with ε-greedy exploration and a hard-copied target network."""

    Config = QRDQNConfig
    algo_id = "qr-dqn"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    uses_action_mask = True
    default_steps = 50_000
    ENV_PRESETS = CLASSIC_ENV_PRESETS
    PRESETS = {
        # CartPole-v1, Acrobot-v1, MountainCar-v0 and LunarLander-v3: DQN's RL-Zoo settings
        # (common.py) and RL-Zoo's QR-DQN quantile counts (hyperparams/qrdqn.yml)
        **zoo_presets(
            {f.name for f in fields(QRDQNConfig)},
            {
                "cartpole": {"n_quantiles": 10},
                "acrobot": {"n_quantiles": 25},
                "mountaincar": {"n_quantiles": 25},
                "lunarlander": {"n_quantiles": 170},
            },
        ),
        # Atari: SB3-contrib's QR-DQN defaults, taken from Dabney et al. 2018 (the Nature DQN's
        # settings with Adam lr 5e-5, epsilon 0.01 / 32, N = 200)
        "atari": {
            "torch_threads": 0,  # the Nature CNN gains from every core (docs/performance.md)
            "hidden": (512,),
            "lr": 5e-5,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 50_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 10_000,
            "epsilon_end": 0.01,
            "exploration_fraction": 0.005,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        self.taus = quantile_midpoints(cfg.n_quantiles, self.device)
        args = (self.observation_space, self.n_actions, cfg.hidden)
        self.z = QNetwork(*args, n_atoms=cfg.n_quantiles).to(self.device)
        self.z_target = QNetwork(*args, n_atoms=cfg.n_quantiles).to(self.device)
        self.z_target.load_state_dict(self.z.state_dict())
        self.z_target.requires_grad_(False)
        eps = cfg.adam_eps if cfg.adam_eps is not None else 0.01 / cfg.batch_size
        self.optimizer = make_optimizer("adam", self.z.parameters(), cfg.lr, eps, cfg.max_grad_norm)
        mask_width = None if self.env.masks is None else self.n_actions
        self.replay = replay_for(self, device=self.device, mask_width=mask_width)
        self.epsilon = cfg.epsilon_start
        self.register_state("z", "z_target", "optimizer")
        self.register_run_state("replay")

    def act(self, obs, deterministic: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
        return epsilon_greedy_act(self, obs, deterministic, mask)

    def greedy(self, obs, mask: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a) = argmax_a 1/N sum_i theta_i(s, a) per row (over the valid actions of
        `mask`)."""
        return masked_argmax(quantile_q(fast_policy(self.z)(obs)), mask)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One gradient step on the quantile Huber loss to the target samples T theta."""
        with torch.no_grad():
            targets = qr_target(batch, self.z_target(batch.next_obs))
        quantiles = self.z(batch.obs)
        loss = qr_loss(quantiles, batch.actions, targets, self.taus, self.config.kappa)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        q_taken = quantile_q(quantiles.detach())[torch.arange(len(batch.actions)), batch.actions]
        return {"loss": loss.detach(), "q_mean": q_taken.mean()}

    def learn(self, total_steps: int) -> QRDQN:
        epsilon_greedy_learn(self, self.z, self.z_target, total_steps)
        return self
