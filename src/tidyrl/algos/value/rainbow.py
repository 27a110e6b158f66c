"""Rainbow (Hessel et al. 2018, "Rainbow: Combining Improvements in Deep Reinforcement Learning"):
DQN + Double + Dueling + NoisyNets + n-step returns + prioritized replay + C51, each a flag so
that any component can be switched off for an ablation. Lecture seed 003.

Composed from kernel pieces only: `QNetwork` (dueling streams, `NoisyLinear` layers, categorical
atoms), `Replay` (PER sum-tree sampler + n-step accumulator), `categorical_projection`.

With every component on (eq. 2-4 of the paper), for an n-step row (s, a, R^(m), s', gamma^m):

    a*   = argmax_a sum_j z_j p_j(s', a; theta)           online net selects (Double)
    m    = Phi( R^(m) + gamma^m (1 - terminated) z,  p(s', a*; theta') )    target net evaluates
    L_i  = -sum_j m_j log p_j(s_i, a_i; theta)            cross-entropy
    loss = mean_i w_i L_i,   w_i = (N P(i))^-beta / max w  (PER importance weights)
    p_i <- L_i                                             (the KL as the new priority)

Exploration comes from the noisy layers (fresh noise before every update, kept between updates;
`deterministic` acting uses the mean weights), with a constant ε-greedy on top when
`noisy_epsilon` > 0. Switches: distributional=false uses scalar Q with
y = R^(m) + gamma^m (1 - terminated) Q'(s', a*), Huber loss and p_i = |delta_i|; noisy=false
uses ε-greedy; n_step=1, prioritized=false, double=false, dueling=false as named.

Under an action mask (`tidyrl.core.masking`) masked actions have Q = -inf in the greedy choice
and in the selection of a* (the actions valid in s'), and ε-greedy's exploring draws (noisy=false)
and the random actions before `learning_starts` are uniform over the valid actions.

With Ray workers (`--workers N`) the rows come from Ape-X actors (Horgan et al. 2018,
docs/distributed.md): each builds its n-step rows with an accumulator of its own, acts
ε-greedily on its network copy with Ape-X's fixed ε per env copy (on top of the noisy layers),
and sends each row with its first priority L_i, computed by `row_losses` below on its copy of
the networks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.algos.value.common import CLASSIC_ENV_PRESETS, distributional_presets
from tidyrl.config import check_hidden, check_range
from tidyrl.core.distributional import categorical_projection, make_support
from tidyrl.core.exploration import epsilon_greedy
from tidyrl.core.losses import categorical_cross_entropy, huber
from tidyrl.core.masking import mask_invalid, masked_argmax
from tidyrl.core.schedules import crossed, linear_schedule
from tidyrl.core.targets import update_target
from tidyrl.data.batch import Transition
from tidyrl.data.replay import Replay
from tidyrl.envs.spaces import rows
from tidyrl.errors import ConfigError
from tidyrl.loops.off_policy import collect_step
from tidyrl.nets.heads import QNetwork, categorical_q
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.noisy import reset_noise, set_noise
from tidyrl.nets.optim import make_optimizer


@dataclass(frozen=True)
class RainbowConfig:
    distributional: bool = True
    """C51 return distribution (else scalar Q with a Huber loss)."""
    double: bool = True
    """The online network selects a*, the target network evaluates it."""
    dueling: bool = True
    """Dueling value/advantage streams."""
    noisy: bool = True
    """NoisyNet layers for exploration (else ε-greedy)."""
    prioritized: bool = True
    """Prioritized replay (else uniform)."""
    n_step: int = 3
    """Multi-step return horizon n (1 switches n-step returns off)."""
    n_atoms: int = 51
    """Atoms N of the return distribution."""
    v_min: float = -100.0
    """Smallest representable return."""
    v_max: float = 100.0
    """Largest representable return."""
    sigma0: float = 0.5
    """Initial noise scale sigma_0 of the noisy layers."""
    alpha: float = 0.5
    """Priority exponent omega of PER."""
    beta_start: float = 0.4
    """Initial importance-sampling exponent beta (annealed to `beta_end` over the budget)."""
    beta_end: float = 1.0
    """Final importance-sampling exponent beta (= beta_start: a constant exponent)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths (the last one is the per-stream layer; none: the output layers
    straight on the encoder's features)."""
    lr: float = 1e-3
    """Adam learning rate."""
    adam_eps: float = 1.5e-4
    """Adam epsilon."""
    gamma: float = 0.99
    """Discount factor."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Minibatch size."""
    learning_starts: int = 1_000
    """Env steps of collection (uniform random actions) before the first update."""
    train_freq: int = 256
    """Env steps between training phases."""
    gradient_steps: int = 128
    """Gradient updates per training phase."""
    target_update_every: int = 10
    """Env steps between hard target-network copies."""
    epsilon_end: float = 0.04
    """ε after the decay (only with noisy=false; decays from 1 over 16% of the budget)."""
    noisy_epsilon: float = 0.0
    """Constant ε of ε-greedy acting on top of the noisy layers (noisy=true; Dopamine's Rainbow
    keeps its epsilon_train, 0.01, there)."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm (0: no clipping)."""
    n_envs: int = 1
    """Parallel environments."""

    def __post_init__(self) -> None:
        check_range(self, "n_step", 1)
        check_range(self, "n_atoms", 2)
        if not self.v_max > self.v_min:
            raise ConfigError(f"RainbowConfig: v_max={self.v_max} must exceed v_min={self.v_min}")
        check_range(self, "sigma0", 0.0)
        check_range(self, "alpha", 0.0)
        check_range(self, "beta_start", 0.0, 1.0)
        check_range(self, "beta_end", 0.0, 1.0)
        check_hidden(self, allow_empty=True)
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
        check_range(self, "epsilon_end", 0.0, 1.0)
        check_range(self, "noisy_epsilon", 0.0, 1.0)


def rainbow_target(
    batch: Transition,
    next_target: torch.Tensor,
    next_online: torch.Tensor | None,
    support: torch.Tensor | None,
) -> torch.Tensor:
    """Projected distribution m (B, N) when `support` is given (outputs are logits), else the
    scalar target y (B,). a* from `next_online` (Double) or from `next_target`, among the
    actions valid in s' (`batch.next_masks`) when the env gives a mask."""
    selector = next_online if next_online is not None else next_target
    if support is None:
        best = mask_invalid(selector, batch.next_masks).argmax(dim=1, keepdim=True)
        next_value = next_target.gather(1, best).squeeze(1)
        return batch.rewards + batch.discounts * batch.bootstrap_mask * next_value
    best = mask_invalid(categorical_q(selector, support), batch.next_masks).argmax(dim=1)
    next_probs = torch.softmax(next_target[torch.arange(len(best)), best], dim=-1)
    return categorical_projection(
        next_probs, batch.rewards, batch.discounts, batch.bootstrap_mask, support
    )


def compute_loss(
    out: torch.Tensor, actions: torch.Tensor, target: torch.Tensor, distributional: bool
) -> torch.Tensor:
    """Per-row loss: cross-entropy to m (distributional) or Huber of y - Q(s, a)."""
    taken = out[torch.arange(len(actions)), actions]
    if distributional:
        return categorical_cross_entropy(torch.log_softmax(taken, dim=-1), target)
    return huber(target - taken)


def row_losses(
    q: nn.Module,
    q_target: nn.Module,
    batch: Transition,
    support: torch.Tensor | None,
    double: bool,
) -> torch.Tensor:
    """L_i of every row of a minibatch (the target without gradient): `update` weights and
    averages them; they are also the rows' new priorities p_i, and an Ape-X actor's first
    priorities of the rows it sends."""
    if double:  # s and s' through the online network
        out, next_online = q.with_next(batch.obs, batch.next_obs)
    else:
        out, next_online = q(batch.obs), None
    with torch.no_grad():
        target = rainbow_target(batch, q_target(batch.next_obs), next_online, support)
    return compute_loss(out, batch.actions, target, support is not None)


def expected_q(out: torch.Tensor, support: torch.Tensor | None) -> torch.Tensor:
    """Q(s, a) from the network's output: itself (scalar head) or sum_j z_j p_j (atoms)."""
    return out if support is None else categorical_q(out, support)


class Rainbow(Agent):
    """Rainbow DQN; every component is a config flag (see the module docstring)."""

    Config = RainbowConfig
    algo_id = "rainbow"
    default_torch_threads = 1
    action_spaces = (gym.spaces.Discrete,)
    observation_spaces = (gym.spaces.Box, gym.spaces.Dict)
    uses_action_mask = True
    default_steps = 50_000
    ENV_PRESETS = CLASSIC_ENV_PRESETS
    PRESETS = {
        # CartPole-v1 (RL-Zoo's DQN settings, the defaults), Acrobot-v1, MountainCar-v0 and
        # LunarLander-v3: DQN's RL-Zoo settings for the fields Rainbow shares (its exploration
        # is the noisy layers') and each task's return support (common.py)
        **distributional_presets({f.name for f in fields(RainbowConfig)}),
        # Hessel et al. 2018, Table 1 (Atari): lr 6.25e-5, Adam eps 1.5e-4, n = 3, omega 0.5,
        # beta 0.4 -> 1, sigma_0 0.5, V in [-10, 10], target every 32k frames = 8k steps,
        # replay starts at 80k frames = 20k steps
        "atari": {
            "torch_threads": 0,  # the Nature CNN gains from every core (docs/performance.md)
            "v_min": -10.0,
            "v_max": 10.0,
            "hidden": (512,),
            "lr": 6.25e-5,
            "adam_eps": 1.5e-4,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 20_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 8_000,
            "max_grad_norm": 10.0,
        },
        # MinAtar: Revisiting Rainbow (Obando-Ceron & Castro 2021), its code's
        # Configs/rainbow_breakout.gin and networks_new.py (github.com/JohanSamir/
        # revisiting_rainbow): the conv layer, then the noisy dueling output layers (no hidden
        # layer), 51 atoms on [-100, 100], n = 3, Adam lr 1e-4 / eps 3.125e-4, batch 32, one
        # update every 4 steps after 1,000, target copied every 1,000 steps, 100k replay,
        # noise scale 0.1 / sqrt(fan_in), ε = 0.01 on top of the noise (Dopamine's
        # epsilon_train), a constant IS exponent 0.5 (Dopamine's), no gradient clipping;
        # docs/algorithms/rainbow.md lists what still differs
        "minatar": {
            "v_min": -100.0,
            "v_max": 100.0,
            "hidden": (),
            "sigma0": 0.1,
            "noisy_epsilon": 0.01,
            "beta_start": 0.5,
            "beta_end": 0.5,
            "lr": 1e-4,
            "adam_eps": 3.125e-4,
            "buffer_size": 100_000,
            "batch_size": 32,
            "learning_starts": 1_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_every": 1_000,
            "max_grad_norm": 0.0,
        },
    }

    def __init__(self, env, config=None, run=None, *, algo=None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.n_actions = int(self.action_space.n)
        atoms = cfg.n_atoms if cfg.distributional else 1
        self.support = (
            make_support(cfg.v_min, cfg.v_max, cfg.n_atoms).to(self.device)
            if cfg.distributional
            else None
        )

        def network() -> QNetwork:
            return QNetwork(
                self.observation_space,
                self.n_actions,
                cfg.hidden,
                dueling=cfg.dueling,
                noisy=cfg.noisy,
                n_atoms=atoms,
                sigma0=cfg.sigma0,
            ).to(self.device)

        self.q, self.q_target = network(), network()
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optimizer = make_optimizer(
            "adam", self.q.parameters(), cfg.lr, cfg.adam_eps, cfg.max_grad_norm
        )
        self.replay = Replay(
            cfg.buffer_size,
            self.observation_space,
            self.action_space,
            cfg.n_envs,
            gamma=cfg.gamma,
            n_step=cfg.n_step,
            prioritized=cfg.prioritized,
            alpha=cfg.alpha,
            device=self.device,
            mask_width=None if self.env.masks is None else self.n_actions,
            frame_stack=self.env.frame_stacked,
        )
        self.epsilon = cfg.noisy_epsilon if cfg.noisy else 1.0
        self.beta = cfg.beta_start
        self.register_state("q", "q_target", "optimizer")
        self.register_run_state("replay")

    def act(self, obs, deterministic: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
        if deterministic:
            set_noise(self.q, False)  # the mean network
            try:
                return self.greedy(obs, mask)
            finally:
                set_noise(self.q, True)
        return epsilon_greedy(
            lambda: self.greedy(obs, mask), rows(obs), self.epsilon, self.n_actions, self.rng, mask
        )

    def random_actions(self, obs, mask: np.ndarray | None = None) -> np.ndarray:
        """Uniform (valid) actions of every env copy, before `learning_starts`."""
        return self.env.sample_actions()

    def greedy(self, obs, mask: np.ndarray | None = None) -> np.ndarray:
        """argmax_a Q(s, a) per row (the expected return under the distributional head), over
        the valid actions of `mask`."""
        return masked_argmax(expected_q(fast_policy(self.q)(obs), self.support), mask)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One gradient step on the weighted loss; returns per-row losses as new priorities."""
        cfg = self.config
        if cfg.noisy:
            reset_noise(self.q, self.q_target)
        losses = row_losses(self.q, self.q_target, batch, self.support, cfg.double)
        loss = (batch.weights * losses).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()  # clips the gradient norm to max_grad_norm first
        return {"loss": loss.detach(), "priorities": losses.detach()}

    def learn(self, total_steps: int) -> Rainbow:
        cfg = self.config
        obs = self.env.obs
        metrics: dict[str, object] = self.last_metrics
        with self.training(total_steps):
            target_steps = self.counters["target"]
            while not self.finished:
                before = self.counters["steps"]
                self.beta = linear_schedule(cfg.beta_start, cfg.beta_end, target_steps, before)
                if not cfg.noisy:
                    self.epsilon = linear_schedule(1.0, cfg.epsilon_end, target_steps // 6, before)
                act = self.random_actions if before < cfg.learning_starts else self.act
                obs, actions, step = collect_step(self, obs, act)  # into the replay
                obs = step.obs
                after = before + cfg.n_envs
                if after > cfg.learning_starts and len(self.replay) >= cfg.batch_size:
                    if crossed(before, after, cfg.train_freq):
                        for _ in range(cfg.gradient_steps):
                            batch = self.replay.sample(cfg.batch_size, self.rng, self.beta)
                            out = self.update(batch)
                            self.replay.update_priorities(batch.index, out.pop("priorities"))
                        self.counters["updates"] += cfg.gradient_steps
                        metrics = dict(out)
                    if crossed(before, after, cfg.target_update_every):
                        update_target(self.q, self.q_target, 1.0)
                metrics["beta"] = self.beta
                self.tick(step, metrics)
        return self
