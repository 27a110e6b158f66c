"""Deep Q-Network (Mnih et al. 2015), with Double (van Hasselt et al. 2016) and Dueling (Wang et
al. 2016) variants as flags. Lecture seeds 001 (DQN, replay, target network, hyper-parameters) and
003 (Double, Dueling).

Q_theta is regressed on a bootstrapped target computed with a frozen copy Q_theta' (the target
network), on minibatches drawn uniformly from a replay buffer D:

    y      = r + gamma_m * (1 - terminated) * Q_theta'(s', a*)
    a*     = argmax_a Q_theta'(s', a)                      (DQN)
    a*     = argmax_a Q_theta(s', a)                       (Double DQN: online net selects)
             (the argmax over the actions valid in s' where the env gives an action mask)
    L      = mean_i huber(y_i - Q_theta(s_i, a_i))         ("error clipping"; or 0.5 * squared)

gamma_m = gamma for one-step rows. With `prioritized=true` the minibatch is drawn by proportional
prioritized replay (Schaul et al. 2016, `tidyrl.data.samplers`) and

    L      = mean_i w_i huber(delta_i),   delta_i = y_i - Q_theta(s_i, a_i),   p_i <- |delta_i|

(w_i the importance weights, beta annealed from `beta_start` to 1 over the budget). With a bonus
reward plug-in (`reward=curiosity|count|rnd|icm`, `tidyrl.rewards`), lecture seed 000's
curiosity target: each sampled minibatch first trains the plug-in (`update`), which then scores
it, C = C(s, s', a), and

    y      = r + beta C + gamma_m * (1 - terminated) * Q_theta'(s', a*)

with beta the plug-in's `intrinsic_coef`; every new transition reaches the plug-in's `observe`
once, as it is collected (visit counts, running statistics).

A *truncated* transition bootstraps from its true final observation s'; only `terminated` zeroes
the future value. The target network is copied every
`target_update_every` environment steps (tau = 1), or Polyak-averaged with rate tau.

Acting is ε-greedy, ε decaying linearly from `epsilon_start` to `epsilon_end` over
`exploration_fraction` of the training budget. Every `train_freq` env steps (after
`learning_starts`) the agent does `gradient_steps` updates, each on a fresh minibatch.
With Ray workers (`--workers N`) the transitions come from Ape-X actors, each env copy with a
fixed ε of its own instead of the schedule (`tidyrl.loops.off_policy`, docs/distributed.md);
with `prioritized=true` each actor gives its transitions their first priority |delta_i|, computed
by `td_errors` below on its copy of the networks (Horgan et al. 2018).
Under an action mask (`tidyrl.core.masking`) masked actions have Q = -inf in the greedy choice
and in the target's argmax, and exploring draws are uniform over the valid actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.value.common import ZOO_ACROBOT, ZOO_MOUNTAINCAR, epsilon_greedy_act
from tidyrl.config import check_choice, check_hidden, check_range
from tidyrl.core.losses import mean_td_loss
from tidyrl.core.masking import mask_invalid, masked_argmax
from tidyrl.core.schedules import crossed, linear_schedule
from tidyrl.core.targets import update_target
from tidyrl.data.batch import Transition
from tidyrl.data.hindsight import check_hindsight, hindsight_for
from tidyrl.data.replay import Replay
from tidyrl.loops.off_policy import collect_step
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import OPTIMIZERS, make_optimizer
from tidyrl.rewards import attach, check_reward
from tidyrl.rewards.base import learn_and_score, observe_step


@dataclass(frozen=True)
class DQNConfig:
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths (the last one is the per-stream layer; (512,) on pixels = Nature)."""
    lr: float = 2.3e-3
    """Learning rate."""
    optimizer: str = "adam"
    """adam, or rmsprop: centered RMSProp with the Nature DQN's constants (squared-gradient and
    gradient momentum 0.95, min squared gradient 0.01), as MinAtar's examples/dqn.py uses."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    her_future_goals: int = 0
    """Hindsight experience replay: k relabelled goals per real goal (4 in the paper; 0: off),
    for goal-conditioned envs (`tidyrl.data.hindsight`)."""
    her_strategy: str = "future"
    """Which achieved goal relabels a row: "future" (later in its episode), "final" or
    "episode" (Andrychowicz et al. 2017, section 4.5)."""
    batch_size: int = 64
    """Minibatch size."""
    learning_starts: int = 1_000
    """Env steps of pure ε-greedy collection before the first update."""
    train_freq: int = 256
    """Env steps between training phases."""
    gradient_steps: int = 128
    """Gradient updates per training phase."""
    target_update_every: int = 10
    """Env steps between target-network updates."""
    tau: float = 1.0
    """Target update rate: 1 = hard copy, < 1 = Polyak averaging."""
    double: bool = False
    """Double DQN: the online network selects a*, the target network evaluates it."""
    dueling: bool = False
    """Dueling streams V(s) + A(s, a) - mean A."""
    loss: Literal["huber", "mse"] = "huber"
    """TD-error loss: huber (error clipping) or mse."""
    epsilon_start: float = 1.0
    """ε at the start of training."""
    epsilon_end: float = 0.04
    """ε after the decay."""
    exploration_fraction: float = 0.16
    """Fraction of the training budget over which ε decays."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm (0: no clipping)."""
    prioritized: bool = False
    """Proportional prioritized replay (Schaul et al. 2016), p_i = |delta_i| (else uniform)."""
    alpha: float = 0.6
    """Priority exponent of prioritized replay (Schaul et al. 2016, Table 3; Ape-X's too)."""
    beta_start: float = 0.4
    """Initial importance-sampling exponent beta, annealed linearly to 1 over the budget."""
    n_envs: int = 1
    """Parallel environments."""
    reward: str = "env"
    """env (the environment's reward), or a bonus plug-in added in the target as r + beta C:
    curiosity, count, rnd, icm (tidyrl.rewards)."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """The reward plug-in's settings (its config fields; --set accepts them by name too, e.g.
    --set reward=curiosity intrinsic_coef=0.5)."""

    def __post_init__(self) -> None:
        check_reward(self, bonus_only=True)
        check_hidden(self)
        check_range(self, "lr", 0.0, low_open=True)
        check_choice(self, "optimizer", OPTIMIZERS)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "buffer_size", 1)
        check_hindsight(self)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "train_freq", 1)
        check_range(self, "gradient_steps", 1)
        check_range(self, "target_update_every", 1)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_choice(self, "loss", ("huber", "mse"))
        check_range(self, "epsilon_start", 0.0, 1.0)
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "exploration_fraction", 0.0, 1.0)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "alpha", 0.0)
        check_range(self, "beta_start", 0.0, 1.0)
        check_range(self, "n_envs", 1)


def dqn_target(
    batch: Transition,
    next_q_target: torch.Tensor,
    next_q_online: torch.Tensor | None,
    bonus: torch.Tensor | None = None,
    beta: float = 0.0,
) -> torch.Tensor:
    """y = r + beta C + gamma_m (1 - terminated) Q'(s', a*), a* from the online net when given
    (Double), among the actions valid in s' (`batch.next_masks`) when the env gives a mask;
    C = `bonus` (none: y = r + gamma_m ...)."""
    selector = next_q_online if next_q_online is not None else next_q_target
    best = mask_invalid(selector, batch.next_masks).argmax(dim=1, keepdim=True)
    next_value = next_q_target.gather(1, best).squeeze(1)
    rewards = batch.rewards if bonus is None else batch.rewards + beta * bonus
    return rewards + batch.discounts * batch.bootstrap_mask * next_value


def td_errors(
    q: nn.Module,
    q_target: nn.Module,
    batch: Transition,
    double: bool,
    bonus: torch.Tensor | None = None,
    beta: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q_theta(s_i, a_i), y_i) for a minibatch: the two sides of delta_i = y_i - Q(s_i, a_i),
    the target without gradient. `update` regresses on them; an Ape-X actor takes |delta_i| as
    the first priority of the rows it sends."""
    if double:  # Q(s, .) and the online Q(s', .)
        q_all, next_q_online = q.with_next(batch.obs, batch.next_obs)
    else:
        q_all, next_q_online = q(batch.obs), None
    with torch.no_grad():
        target = dqn_target(batch, q_target(batch.next_obs), next_q_online, bonus, beta)
    return q_all.gather(1, batch.actions.unsqueeze(1)).squeeze(1), target


def compute_loss_q(
    q_taken: torch.Tensor, target: torch.Tensor, kind: str, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """mean_i w_i loss(y_i - Q(s_i, a_i)) over the minibatch (w = 1: uniformly sampled)."""
    return mean_td_loss(q_taken, target, kind, weights)


class DQN(Agent):
    """DQN with optional Double and Dueling; hard or soft target updates; Huber or MSE."""

    Config = DQNConfig
    algo_id = "dqn"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    uses_action_mask = True
    default_steps = 50_000
    ENV_PRESETS = {
        "Acrobot-v1": "acrobot",
        "LunarLander-v3": "lunarlander",
        "MountainCar-v0": "mountaincar",
        "tidyrl/BitFlip-v0": "bitflip",
    }
    PRESETS = {
        # RL-Zoo's tuned CartPole-v1 DQN (the defaults): 50k steps
        "cartpole": {},
        # lecture seed 001: buffer 1e4, batch 64, Adam 1e-4, every 4 steps, soft tau 1e-3
        "lecture": {
            "buffer_size": 10_000,
            "batch_size": 64,
            "lr": 1e-4,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 4,
            "tau": 1e-3,
            "hidden": (64, 64),
            "learning_starts": 64,
            "epsilon_end": 0.01,
            "exploration_fraction": 0.5,
        },
        # Mnih et al. 2015, Extended Data Table 1 (RMSProp replaced by Adam as in Dopamine);
        # target copied every 10k updates = 40k agent steps
        "atari": {
            "torch_threads": 0,  # the Nature CNN gains from every core (docs/performance.md)
            "hidden": (512,),
            "lr": 1e-4,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 50_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 40_000,
            "epsilon_end": 0.1,
            "exploration_fraction": 0.1,
            "max_grad_norm": 0.0,
        },
        # Andrychowicz et al. 2017 (HER), Appendix A: Adam lr 1e-3, batch 128, gamma 0.98 (with
        # the defaults' 0.99 and lr 2.3e-3, 25 bits stayed below 20 % success at 100k steps)
        "bitflip": {"gamma": 0.98, "lr": 1e-3, "batch_size": 128},
        # RL-Zoo's tuned classic-control and Box2D settings (common.py)
        "acrobot": ZOO_ACROBOT,
        "lunarlander": ZOO_ACROBOT,  # RL-Zoo tunes LunarLander-v3 to Acrobot's values
        "mountaincar": ZOO_MOUNTAINCAR,
        # Young & Tian 2019 (MinAtar DQN): 128 hidden, lr 2.5e-4, batch 32, target every 1000
        "minatar": {
            "hidden": (128,),
            "lr": 2.5e-4,
            "buffer_size": 100_000,
            "batch_size": 32,
            "learning_starts": 5_000,
            "train_freq": 1,
            "gradient_steps": 1,
            "target_update_every": 1_000,
            "epsilon_end": 0.1,
            "exploration_fraction": 0.1,
            "max_grad_norm": 0.0,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        self.q = QNetwork(self.observation_space, self.n_actions, cfg.hidden, cfg.dueling)
        self.q_target = QNetwork(self.observation_space, self.n_actions, cfg.hidden, cfg.dueling)
        self.q.to(self.device)
        self.q_target.to(self.device).load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optimizer = make_optimizer(
            cfg.optimizer, self.q.parameters(), cfg.lr, max_grad_norm=cfg.max_grad_norm
        )
        self.replay = Replay(
            cfg.buffer_size,
            self.observation_space,
            self.action_space,
            cfg.n_envs,
            gamma=cfg.gamma,
            prioritized=cfg.prioritized,
            alpha=cfg.alpha,
            device=self.device,
            mask_width=None if self.env.masks is None else self.n_actions,
            frame_stack=self.env.frame_stacked,
            hindsight=hindsight_for(self),
        )
        self.epsilon = cfg.epsilon_start
        self.beta = cfg.beta_start
        self.reward_plugin = attach(self)  # None: learn from the env's reward alone
        self.register_state("q", "q_target", "optimizer")
        self.register_run_state("replay")

    def act(self, obs, deterministic: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
        return epsilon_greedy_act(self, obs, deterministic, mask)

    def greedy(self, obs, mask: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a) per row (over the valid actions of `mask`)."""
        return masked_argmax(fast_policy(self.q)(obs), mask)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One gradient step on L(theta) for a minibatch."""
        cfg, plugin = self.config, self.reward_plugin
        bonus, metrics, beta = None, {}, 0.0
        if plugin is not None:  # trains on the minibatch, then scores it: C [B]
            bonus, metrics = learn_and_score(plugin, batch)
            beta = plugin.intrinsic_coef
            metrics["extrinsic_reward"] = batch.rewards.mean()
        q_taken, target = td_errors(self.q, self.q_target, batch, cfg.double, bonus, beta)
        weights = batch.weights if cfg.prioritized else None
        loss = compute_loss_q(q_taken, target, cfg.loss, weights)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        if cfg.prioritized:  # p_i <- |delta_i|
            self.replay.update_priorities(batch.index, target - q_taken.detach())
        return {"loss": loss.detach(), "q_mean": q_taken.detach().mean(), **metrics}

    def learn(self, total_steps: int) -> DQN:
        cfg = self.config
        obs = self.env.obs
        metrics: dict[str, object] = self.last_metrics
        with self.training(total_steps):
            decay = int(cfg.exploration_fraction * self.counters["target"])
            while not self.finished:
                before = self.counters["steps"]
                self.epsilon = linear_schedule(cfg.epsilon_start, cfg.epsilon_end, decay, before)
                self.beta = linear_schedule(cfg.beta_start, 1.0, self.counters["target"], before)
                obs, actions, step = collect_step(self, obs, self.act)  # into the replay
                observe_step(self.reward_plugin, obs, actions, step)  # each new one, once
                obs = step.obs
                after = before + cfg.n_envs
                if after > cfg.learning_starts:
                    if crossed(before, after, cfg.train_freq):
                        for _ in range(cfg.gradient_steps):
                            metrics = dict(
                                self.update(self.replay.sample(cfg.batch_size, self.rng, self.beta))
                            )
                        self.counters["updates"] += cfg.gradient_steps
                    if crossed(before, after, cfg.target_update_every):
                        update_target(self.q, self.q_target, cfg.tau)
                metrics["epsilon"] = self.epsilon
                self.tick(step, metrics)
        return self
