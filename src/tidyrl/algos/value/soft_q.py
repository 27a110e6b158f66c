"""Soft Q-learning for discrete actions (Haarnoja et al. 2017, "Reinforcement Learning with Deep
Energy-Based Policies", eq. 2-3 and 10; Schulman, Chen & Abbeel 2017, "Equivalence Between Policy
Gradients and Soft Q-Learning"). Lecture seed 003, slide "Soft Q-Learning".

Maximum-entropy RL with temperature alpha replaces the hard max of DQN by a soft maximum:

    V_soft(s)  = alpha * log sum_a exp(Q(s, a) / alpha)              (log-sum-exp backup)
    pi(a | s)  = exp((Q(s, a) - V_soft(s)) / alpha) = softmax_a(Q(s, .) / alpha)   (Boltzmann)
    y          = r + gamma_m (1 - terminated) V_soft'(s')             (target network Q')
    L          = mean_i huber(y_i - Q(s_i, a_i))   (or mse)

As alpha -> 0 the backup becomes max_a Q (DQN) and the policy greedy. Acting samples from the
Boltzmann policy (no ε); deterministic acting is argmax_a Q. Training phases and target updates
follow DQN (see dqn.py); each update computes its own soft target.

Under an action mask (`tidyrl.core.masking`) the sums over a run over the valid actions only:
masked Q-values are -inf, so V_soft(s') is the log-sum-exp over the actions valid in s', the
Boltzmann policy gives a masked action probability 0 and argmax_a Q keeps to the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.value.common import CLASSIC_ENV_PRESETS, zoo_presets
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.losses import mean_td_loss
from tidyrl.core.masking import mask_invalid, masked_argmax
from tidyrl.core.schedules import crossed
from tidyrl.core.targets import update_target
from tidyrl.data.batch import Transition
from tidyrl.data.replay import Replay
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import make_optimizer


@dataclass(frozen=True)
class SoftQConfig:
    alpha: float = 0.01
    """Temperature: weight of the policy entropy in the objective."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths (the last one is the per-stream layer)."""
    lr: float = 2.3e-3
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Minibatch size."""
    learning_starts: int = 1_000
    """Env steps of uniformly random actions before the first update."""
    train_freq: int = 256
    """Env steps between training phases."""
    gradient_steps: int = 128
    """Gradient updates per training phase."""
    target_update_every: int = 10
    """Env steps between target-network updates."""
    tau: float = 1.0
    """Target update rate: 1 = hard copy, < 1 = Polyak averaging."""
    loss: Literal["huber", "mse"] = "huber"
    """TD-error loss."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm (0: no clipping)."""
    n_envs: int = 1
    """Parallel environments."""

    def __post_init__(self) -> None:
        check_range(self, "alpha", 0.0, low_open=True)
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
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_choice(self, "loss", ("huber", "mse"))


def soft_value(q: torch.Tensor, alpha: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """V_soft = alpha * logsumexp(Q / alpha) over actions (dim 1), over the valid ones of `mask`."""
    return alpha * torch.logsumexp(mask_invalid(q, mask) / alpha, dim=1)


def soft_q_target(batch: Transition, next_q_target: torch.Tensor, alpha: float) -> torch.Tensor:
    """y = r + gamma_m (1 - terminated) V_soft'(s'), V_soft' over the actions valid in s'
    (`batch.next_masks`) when the env gives a mask."""
    next_value = soft_value(next_q_target, alpha, batch.next_masks)
    return batch.rewards + batch.discounts * batch.bootstrap_mask * next_value


def boltzmann(
    q: torch.Tensor,
    alpha: float,
    generator: torch.Generator | None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """a ~ softmax(Q / alpha) per row, over the valid actions of `mask`."""
    probs = torch.softmax(mask_invalid(q, mask) / alpha, dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class SoftQ(Agent):
    """Discrete soft Q-learning with a Boltzmann policy and a target network."""

    Config = SoftQConfig
    algo_id = "soft-q"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    uses_action_mask = True
    default_steps = 50_000
    ENV_PRESETS = CLASSIC_ENV_PRESETS
    PRESETS = {
        # RL-Zoo's DQN settings on the classic tasks (value/common.py; CartPole's are the
        # defaults), and a temperature for the task's action gaps (docs/algorithms/soft-q.md):
        # MountainCar pays -1 on every step until the goal is first reached, so its Q values
        # differ by ~1e-3 between actions and alpha 0.01 leaves the Boltzmann policy uniform, a
        # random walk that never builds the swing; on LunarLander, whose rewards are larger,
        # alpha 0.01 leaves the policy nearly greedy and 0.1 explores enough to land
        **zoo_presets(
            {f.name for f in fields(SoftQConfig)},
            {"mountaincar": {"alpha": 1e-3}, "lunarlander": {"alpha": 0.1}},
        ),
        # Nature DQN settings with the soft backup (temperature on clipped rewards)
        "atari": {
            "torch_threads": 0,  # the Nature CNN gains from every core (docs/performance.md)
            "alpha": 0.01,
            "hidden": (512,),
            "lr": 1e-4,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 50_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 40_000,
            "max_grad_norm": 0.0,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        self.q = QNetwork(self.observation_space, self.n_actions, cfg.hidden).to(self.device)
        self.q_target = QNetwork(self.observation_space, self.n_actions, cfg.hidden)
        self.q_target.to(self.device).load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optimizer = make_optimizer(
            "adam", self.q.parameters(), cfg.lr, max_grad_norm=cfg.max_grad_norm
        )
        self.replay = Replay(
            cfg.buffer_size,
            self.observation_space,
            self.action_space,
            cfg.n_envs,
            gamma=cfg.gamma,
            device=self.device,
            mask_width=None if self.env.masks is None else self.n_actions,
            frame_stack=self.env.frame_stacked,
        )
        # acting draws from its own torch generator, seeded from the agent's NumPy generator
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        self.register_state("q", "q_target", "optimizer", "generator")
        self.register_run_state("replay")

    def act(
        self, obs: np.ndarray, deterministic: bool = False, mask: np.ndarray | None = None
    ) -> np.ndarray:
        q = fast_policy(self.q)(obs)
        if deterministic:
            return masked_argmax(q, mask)
        valid = None if mask is None else torch.as_tensor(mask, dtype=torch.bool)
        return boltzmann(q.cpu(), self.config.alpha, self.generator, valid).numpy()

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One gradient step towards the soft target."""
        cfg = self.config
        with torch.no_grad():
            target = soft_q_target(batch, self.q_target(batch.next_obs), cfg.alpha)
        q_all = self.q(batch.obs)
        q_taken = q_all.gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        loss = mean_td_loss(q_taken, target, cfg.loss)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        with torch.no_grad():
            log_pi = torch.log_softmax(q_all / cfg.alpha, dim=1)
            entropy = -(log_pi.exp() * log_pi).sum(1).mean()
        return {"loss": loss.detach(), "q_mean": q_taken.detach().mean(), "entropy": entropy}

    def learn(self, total_steps: int) -> SoftQ:
        cfg = self.config
        obs = self.env.obs
        metrics: dict[str, object] = self.last_metrics
        with self.training(total_steps):
            while not self.finished:
                before = self.counters["steps"]
                if before < cfg.learning_starts:
                    actions = self.env.sample_actions()
                else:
                    actions = self.act(obs, mask=self.env.masks)
                step = self.env.step(actions)
                self.replay.add(obs, actions, step)
                obs = step.obs
                after = before + cfg.n_envs
                if after > cfg.learning_starts:
                    if crossed(before, after, cfg.train_freq):
                        for _ in range(cfg.gradient_steps):
                            metrics = dict(
                                self.update(self.replay.sample(cfg.batch_size, self.rng))
                            )
                        self.counters["updates"] += cfg.gradient_steps
                    if crossed(before, after, cfg.target_update_every):
                        update_target(self.q, self.q_target, cfg.tau)
                self.tick(step, metrics)
        return self
