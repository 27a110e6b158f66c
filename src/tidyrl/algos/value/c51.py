"""C51: categorical distributional DQN (Bellemare, Dabney & Munos 2017, "A Distributional
Perspective on Reinforcement Learning", Algorithm 1). Lecture seed 003 (Rainbow's C51 part).

Instead of E[Z(s, a)], the network outputs a categorical distribution p_j(s, a) over the fixed
returns z_j = v_min + j dz (j = 0..N-1, N = `n_atoms`), Q(s, a) = sum_j z_j p_j(s, a):

    a*      = argmax_a sum_j z_j p'_j(s', a)                    (target network p')
              (the argmax over the actions valid in s' where the env gives an action mask)
    m       = Phi( r + gamma_m (1 - terminated) z,  p'(s', a*) )  (categorical projection onto z)
    L       = - sum_j m_j log p_j(s, a)                         (cross-entropy = KL up to const.)

Phi is `tidyrl.core.distributional.categorical_projection`. Acting is ε-greedy on Q. Training
phases, target updates and exploration follow DQN (see dqn.py); each update computes its own
projected target m. Under an action mask (`tidyrl.core.masking`) masked actions have Q = -inf in
the greedy choice and in the target's argmax, and exploring draws are uniform over the valid
actions.
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
    distributional_presets,
    epsilon_greedy_act,
    epsilon_greedy_learn,
)
from tidyrl.config import check_hidden, check_range
from tidyrl.core.distributional import categorical_projection, make_support
from tidyrl.core.losses import categorical_cross_entropy
from tidyrl.core.masking import mask_invalid, masked_argmax
from tidyrl.data.batch import Transition
from tidyrl.errors import ConfigError
from tidyrl.nets.heads import QNetwork, categorical_q
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import make_optimizer


@dataclass(frozen=True)
class C51Config:
    n_atoms: int = 51
    """Number of atoms N of the return distribution."""
    v_min: float = -100.0
    """Smallest representable return z_0."""
    v_max: float = 100.0
    """Largest representable return z_{N-1}."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths (the last one is the per-stream layer)."""
    lr: float = 2.3e-3
    """Adam learning rate."""
    adam_eps: float = 3.125e-4
    """Adam epsilon (0.01 / batch 32 in the paper)."""
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
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm (0: no clipping)."""
    n_envs: int = 1
    """Parallel environments."""

    def __post_init__(self) -> None:
        check_range(self, "n_atoms", 2)
        if not self.v_max > self.v_min:
            raise ConfigError(f"C51Config: v_max={self.v_max} must exceed v_min={self.v_min}")
        check_hidden(self)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "buffer_size", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "train_freq", 1)
        check_range(self, "gradient_steps", 1)
        check_range(self, "target_update_every", 1)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "n_envs", 1)
        check_range(self, "adam_eps", 0.0, low_open=True)
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "exploration_fraction", 0.0, 1.0)


def c51_target(batch: Transition, next_logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """m = Phi(r + gamma_m (1 - terminated) z, p'(s', a*)), a* greedy under the target net
    (among the actions valid in s', `batch.next_masks`, when the env gives a mask)."""
    next_probs = torch.softmax(next_logits, dim=-1)
    best = mask_invalid((next_probs * support).sum(-1), batch.next_masks).argmax(dim=1)
    chosen = next_probs[torch.arange(len(best)), best]
    return categorical_projection(
        chosen, batch.rewards, batch.discounts, batch.bootstrap_mask, support
    )


def compute_loss_z(
    logits: torch.Tensor, actions: torch.Tensor, target_probs: torch.Tensor
) -> torch.Tensor:
    """Per-row cross-entropy -sum_j m_j log p_j(s, a)."""
    log_probs = torch.log_softmax(logits[torch.arange(len(actions)), actions], dim=-1)
    return categorical_cross_entropy(log_probs, target_probs)


class C51(Agent):
    """Categorical DQN with ε-greedy exploration and a hard-copied target network."""

    Config = C51Config
    algo_id = "c51"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    uses_action_mask = True
    default_steps = 50_000
    ENV_PRESETS = CLASSIC_ENV_PRESETS
    PRESETS = {
        # CartPole-v1 (RL-Zoo's DQN settings, the defaults), Acrobot-v1, MountainCar-v0 and
        # LunarLander-v3: DQN's RL-Zoo settings and each task's return support (common.py)
        **distributional_presets({f.name for f in fields(C51Config)}),
        # Bellemare et al. 2017: Nature DQN settings, Adam lr 2.5e-4 eps 0.01/32, V in [-10, 10]
        "atari": {
            "torch_threads": 0,  # the Nature CNN gains from every core (docs/performance.md)
            "v_min": -10.0,
            "v_max": 10.0,
            "hidden": (512,),
            "lr": 2.5e-4,
            "adam_eps": 3.125e-4,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 50_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 40_000,
            "epsilon_end": 0.01,
            "exploration_fraction": 0.025,
            "max_grad_norm": 0.0,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        self.support = make_support(cfg.v_min, cfg.v_max, cfg.n_atoms).to(self.device)
        args = (self.observation_space, self.n_actions, cfg.hidden)
        self.z = QNetwork(*args, n_atoms=cfg.n_atoms).to(self.device)
        self.z_target = QNetwork(*args, n_atoms=cfg.n_atoms).to(self.device)
        self.z_target.load_state_dict(self.z.state_dict())
        self.z_target.requires_grad_(False)
        self.optimizer = make_optimizer(
            "adam", self.z.parameters(), cfg.lr, cfg.adam_eps, cfg.max_grad_norm
        )
        mask_width = None if self.env.masks is None else self.n_actions
        self.replay = replay_for(self, device=self.device, mask_width=mask_width)
        self.epsilon = cfg.epsilon_start
        self.register_state("z", "z_target", "optimizer")
        self.register_run_state("replay")

    def act(self, obs, deterministic: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
        return epsilon_greedy_act(self, obs, deterministic, mask)

    def greedy(self, obs, mask: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a) = argmax_a sum_j z_j p_j(s, a) per row (over the valid actions of
        `mask`)."""
        q = categorical_q(fast_policy(self.z)(obs), self.support)
        return masked_argmax(q, mask)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One gradient step on the cross-entropy to the projected target m."""
        with torch.no_grad():
            target_probs = c51_target(batch, self.z_target(batch.next_obs), self.support)
        loss = compute_loss_z(self.z(batch.obs), batch.actions, target_probs).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        return {"loss": loss.detach()}

    def learn(self, total_steps: int) -> C51:
        epsilon_greedy_learn(self, self.z, self.z_target, total_steps)
        return self
