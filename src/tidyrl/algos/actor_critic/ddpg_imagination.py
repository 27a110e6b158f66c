"""DDPG with imagination: an environment model's imagined rollouts drive exploration; lecture
seed 000 ("imagination in RL - model detail with meta-actor") and the code the deck links to
(michalnand/imagination_reinforcement_learning, `AgentDDPGImaginationEntropy`).

DDPG (Lillicrap et al. 2016) with a deterministic actor mu(s) in [-1, 1]^d, one critic Q(s, a)
and slowly tracking targets (mu', Q'), plus an environment model EM(s, a; kappa) trained from the
replay (`tidyrl.models.env_model`, seed 000's residual vector model), in standardized state units
z = (s - mean) / std:

    L_m          = (z' - EM(z, a))^2                                      `model_loss`
    imagination  z_0 = z;  z_{t+1} = EM(z_t, clip(mu(s_t) + sigma eps, -1, 1)),  t < rollout_steps,
                 for `rollouts` copies of every batch state (sigma: the exploration noise's
                 current standard deviation)

and one of two uses of the imagined states (`entropy_in`):

* "actor", the slide: the actor also maximises the entropy of the imagined states,

      y            = r + gamma * (1 - terminated) * Q'(s', mu'(s'))
      critic loss  = (y - Q(s, a))^2
      actor loss   = -Q(s, mu(s)) - beta * H({z_0, z_1^im .. z_k^im})      `imagination_actor_loss`
      H            = mean_d 1/2 ln(2 pi e sigma_d^2)                       `gaussian_entropy`

  with sigma_d^2 the variance of coordinate d over the imagined set of each batch state (the
  slide's L_entropy = -1/2 ln(2 pi e sigma^2)); the gradient reaches the actor through the
  imagined actions and the model (whose own weights this loss does not move).

* "critic", the linked code: the imagined states become a reward bonus in the critic's target,

      entropy      = mean_d Var_rollouts(z_k^im - z_0)                     `rollout_spread`
      curiosity    = mean_d (z' - EM(z, a))^2                              `curiosity`
      y            = r + tanh(beta * entropy) + tanh(beta_cur * curiosity)
                       + gamma * (1 - terminated) * Q'(s', mu'(s'))        `intrinsic_bonus`
      actor loss   = -Q(s, mu(s))                                          as DDPG

A truncated episode (time limit) still bootstraps from its final observation s'. DDPG's
`td_target`, `critic_loss` and `actor_loss` come from `algos/actor_critic/common.py`, unchanged.

Defaults are DDPG's (the "OurDDPG" re-tuning of Fujimoto et al. 2018) with the linked code's 16
imagined rollouts of one step and beta = beta_cur = 1; `--preset spellchart` is seed 000's DDPG
spell chart with the linked code's batch 64 and model learning rate 2e-4.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch

from tidyrl.agent import Agent
from tidyrl.algos.actor_critic.common import (
    actor_loss,
    backward_step,
    box_bounds,
    critic_loss,
    make_actor,
    make_critic,
    replay_for,
    td_target,
)
from tidyrl.config import check_hidden, check_range
from tidyrl.core.noise import ExplorationNoise, decayed_std
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.core.squashed import scale_action, unscale_action
from tidyrl.core.targets import polyak_update
from tidyrl.data.batch import Transition
from tidyrl.envs.spaces import rows
from tidyrl.errors import EnvError
from tidyrl.models.env_model import VectorEnvModel, model_loss
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam


@dataclass(frozen=True)
class DDPGImaginationConfig:
    n_envs: int = 1
    """Parallel environment copies (one update per copy per vector step)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    batch_size: int = 256
    """Transitions per gradient update."""
    learning_starts: int = 1000
    """Steps of uniformly random actions before learning starts."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak rate of the target networks (the spell chart: 0.001)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of actor and critic (ignored when hidden_scale > 0)."""
    hidden_scale: float = 0.0
    """If > 0: two hidden layers of hidden_scale x state size and half that (spell chart: 10)."""
    init: Literal["default", "spellchart"] = "default"
    """Weight init: PyTorch's default, or Xavier hidden layers with U(-0.3, 0.3) actor and
    U(-0.003, 0.003) critic output layers."""
    batch_norm: bool = False
    """Batch-normalise the state input and hidden layers of actor and critic."""
    noise: Literal["gaussian", "ou"] = "gaussian"
    """Exploration noise: Gaussian, or an Ornstein-Uhlenbeck process."""
    noise_variance_start: float = 0.01
    """Variance of the Gaussian noise (sigma^2 of the OU process) at step 0."""
    noise_variance_end: float = 0.01
    """Variance after noise_decay_steps (linear decay in between)."""
    noise_decay_steps: int = 1_000_000
    """Steps over which the noise variance decays."""
    ou_theta: float = 0.15
    """Mean-reversion rate of the OU process."""
    max_grad_norm: float = 0.0
    """Clip actor and critic gradients to this global norm (0: no clipping)."""
    gradient_steps: int = 1
    """Gradient updates per environment step."""
    entropy_in: Literal["actor", "critic"] = "actor"
    """Where the imagined states act: "actor" (the slide: -beta H in the actor loss) or
    "critic" (the linked code: tanh bonuses of spread and curiosity in the critic's target)."""
    rollouts: int = 16
    """Imagined rollouts from every batch state."""
    rollout_steps: int = 1
    """Model steps of every imagined rollout."""
    entropy_coef: float = 1.0
    """beta: weight of the imagined states' entropy (actor) or the scale inside its tanh bonus
    (critic)."""
    curiosity_coef: float = 1.0
    """beta_cur: the scale inside the curiosity bonus's tanh (entropy_in="critic" only)."""
    model_lr: float = 3e-4
    """Adam learning rate of the environment model."""
    model_hidden: tuple[int, ...] = (256, 128)
    """Hidden widths of the environment model (the last is its feature width)."""
    normalize_obs: bool = True
    """Model, entropy and curiosity in states standardized by running statistics (else raw)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "buffer_size", 1)
        check_range(self, "batch_size", 1)
        check_range(self, "learning_starts", 0)
        check_range(self, "gamma", 0.0, 1.0)
        check_range(self, "tau", 0.0, 1.0, low_open=True)
        check_range(self, "actor_lr", 0.0, low_open=True)
        check_range(self, "critic_lr", 0.0, low_open=True)
        check_range(self, "hidden_scale", 0.0)
        check_range(self, "noise_variance_start", 0.0)
        check_range(self, "noise_variance_end", 0.0)
        check_range(self, "noise_decay_steps", 0)
        check_range(self, "ou_theta", 0.0, low_open=True)
        check_range(self, "max_grad_norm", 0.0)
        check_range(self, "gradient_steps", 1)
        check_range(self, "rollouts", 1)
        check_range(self, "rollout_steps", 1)
        check_range(self, "entropy_coef", 0.0)
        check_range(self, "curiosity_coef", 0.0)
        check_range(self, "model_lr", 0.0, low_open=True)
        check_hidden(self, "model_hidden")


ENTROPY_EPS = 1e-6
"""Added to each variance inside the log, so that a set of identical states has finite entropy."""


def imagination_step(model: torch.nn.Module, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """z_{t+1} = EM(z_t, a_t), differentiable along the whole rollout.

    The seed's model adds its input back detached (a residual that is data, for fitting
    L_m); adding z_t - sg(z_t) (zero in value) gives the identity path its gradient back, so
    that z_k depends on every earlier imagined action, as the rollout does."""
    next_z, _ = model(z, a)
    step: torch.Tensor = next_z + (z - z.detach())
    return step


def gaussian_entropy(states: torch.Tensor) -> torch.Tensor:
    """H [B] of each batch state's imagined set `states` [N, B, D]: the entropy of a Gaussian
    with each coordinate's variance over the N states, mean_d 1/2 ln(2 pi e (sigma_d^2 + eps))."""
    var = states.var(dim=0, unbiased=False)
    return (0.5 * torch.log(2 * math.pi * math.e * (var + ENTROPY_EPS))).mean(dim=-1)


def imagination_actor_loss(q_pi: torch.Tensor, entropy: torch.Tensor, beta: float) -> torch.Tensor:
    """L_a = -Q(s, mu(s)) - beta * H({z_0 .. z_k^im}), averaged over the batch."""
    return -(q_pi + beta * entropy).mean()


def rollout_spread(final_states: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """The linked code's entropy proxy [B]: the variance over rollouts of z_k^im - z_0
    (`final_states` [R, B, D], `start` [B, D]), averaged over coordinates. (The linked code
    takes torch's unbiased variance; the population variance here is that times (R - 1) / R and
    stays defined for one rollout.)"""
    return (final_states - start).var(dim=0, unbiased=False).mean(dim=-1)


def curiosity(next_pred: torch.Tensor, next_z: torch.Tensor) -> torch.Tensor:
    """mean_d (z' - EM(z, a))^2 [B]: the model's one-step error on the real transition."""
    return (next_z - next_pred).square().mean(dim=-1)


def intrinsic_bonus(
    entropy: torch.Tensor, curiosity: torch.Tensor, beta: float, beta_cur: float
) -> torch.Tensor:
    """tanh(beta * entropy) + tanh(beta_cur * curiosity): the reward the critic's target adds."""
    return torch.tanh(beta * entropy) + torch.tanh(beta_cur * curiosity)


class DDPGImagination(Agent):
    """DDPG whose exploration is driven by rollouts imagined in a learned environment model."""

    Config = DDPGImaginationConfig
    algo_id = "ddpg-imagination"
    action_spaces = (gym.spaces.Box,)
    observation_spaces = (gym.spaces.Box,)
    default_steps = 50_000
    PRESETS = {
        # seed 000, "wise Wizard's DDPG spell chart", with the linked code's batch 64 and
        # environment-model learning rate 2e-4 (its other imagination values are the defaults)
        "spellchart": {
            "hidden_scale": 10.0,
            "init": "spellchart",
            "noise": "gaussian",
            "noise_variance_start": 1.0,
            "noise_variance_end": 0.3,
            "noise_decay_steps": 1_000_000,
            "tau": 0.001,
            "actor_lr": 1e-4,
            "critic_lr": 2e-4,
            "batch_size": 64,
            "model_lr": 2e-4,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        self.low, self.high = box_bounds(self.action_space, self.algo)
        act_dim = int(np.prod(self.action_space.shape))
        obs_shape = tuple(self.observation_space.shape or ())
        if len(obs_shape) != 1:
            raise EnvError(
                f"{self.algo}: takes flat Box observations (the vector environment model), "
                f"not shape {obs_shape}"
            )
        self.actor = make_actor(self.observation_space, act_dim, cfg)
        self.critic = make_critic(self.observation_space, act_dim, cfg, n_critics=1)
        self.model = VectorEnvModel(obs_shape[0], act_dim, cfg.model_hidden)
        self.obs_norm = RunningMeanStd(obs_shape)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = Adam(
            self.actor.parameters(), cfg.actor_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.critic_opt = Adam(
            self.critic.parameters(), cfg.critic_lr, max_grad_norm=cfg.max_grad_norm
        )
        self.model_opt = Adam(self.model.parameters(), cfg.model_lr)
        self.replay = replay_for(self)
        self.noise = ExplorationNoise(
            cfg.noise,
            (cfg.n_envs, act_dim),
            self.rng,
            cfg.noise_variance_start,
            cfg.noise_variance_end,
            cfg.noise_decay_steps,
            cfg.ou_theta,
        )
        self.register_state(
            "actor",
            "critic",
            "model",
            "obs_norm",
            "actor_target",
            "critic_target",
            "actor_opt",
            "critic_opt",
            "model_opt",
        )
        self.register_run_state("replay", "noise")

    def policy(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) in the unit box, for a batch of observations."""
        return fast_policy(self.actor)(obs).cpu().numpy()

    def explore(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) plus exploration noise, clipped to the unit box."""
        noise = self.noise.sample(self.counters["steps"], rows(obs))
        return np.clip(self.policy(obs) + noise, -1.0, 1.0).astype(np.float32)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        unit = self.policy(obs) if deterministic else self.explore(obs)
        return scale_action(unit, self.low, self.high)

    def states(self, obs: torch.Tensor) -> torch.Tensor:
        """z: the states the model works in (standardized, or raw when normalize_obs is off)."""
        return self.obs_norm.normalize(obs) if self.config.normalize_obs else obs

    def observations(self, z: torch.Tensor) -> torch.Tensor:
        """s from z: what the actor reads in imagination."""
        return self.obs_norm.denormalize(z) if self.config.normalize_obs else z

    def imagine(self, z0: torch.Tensor) -> torch.Tensor:
        """Imagined states [rollout_steps, rollouts, B, D] from the batch states z0 [B, D]: every
        rollout acts with the noisy actor (the exploration noise's current scale)."""
        cfg = self.config
        sigma = decayed_std(
            cfg.noise_variance_start,
            cfg.noise_variance_end,
            cfg.noise_decay_steps,
            self.counters["steps"],
        )
        z = z0.repeat(cfg.rollouts, 1)
        imagined = []
        for _ in range(cfg.rollout_steps):
            mu = self.actor(self.observations(z))
            a = (mu + sigma * torch.randn_like(mu)).clamp(-1.0, 1.0)
            z = imagination_step(self.model, z, a)
            imagined.append(z)
        return torch.stack(imagined).reshape(cfg.rollout_steps, cfg.rollouts, *z0.shape)

    @torch.no_grad()
    def target_q(self, batch: Transition, bonus: torch.Tensor) -> torch.Tensor:
        """y = r + bonus + gamma * (1 - terminated) * Q'(s', mu'(s'))."""
        next_actions = self.actor_target(batch.next_obs)
        q_next = self.critic_target(batch.next_obs, next_actions)[0, :, 0]
        return td_target(batch.rewards + bonus, batch.bootstrap_mask, self.config.gamma, q_next)

    def update(self, batch: Transition) -> dict[str, torch.Tensor]:
        """One model step on L_m, one critic step and one actor step on `batch` (the imagined
        states in the actor's loss or the critic's target); then the targets track."""
        cfg = self.config
        z, next_z = self.states(batch.obs), self.states(batch.next_obs)
        next_pred, _ = self.model(z, batch.actions)
        loss_m = model_loss(next_pred, next_z)
        backward_step(self.model_opt, loss_m)
        metrics: dict[str, torch.Tensor] = {"model_loss": loss_m.detach()}
        bonus = torch.zeros_like(batch.rewards)
        if cfg.entropy_in == "critic":
            with torch.no_grad():
                spread = rollout_spread(self.imagine(z)[-1], z)
                surprise = curiosity(next_pred, next_z)
                bonus = intrinsic_bonus(spread, surprise, cfg.entropy_coef, cfg.curiosity_coef)
            metrics |= {"entropy": spread.mean(), "curiosity": surprise.mean()}
            metrics["bonus"] = bonus.mean()
        y = self.target_q(batch, bonus)
        q = self.critic(batch.obs, batch.actions)[..., 0]
        loss_q = critic_loss(q, y)
        backward_step(self.critic_opt, loss_q)
        q_pi = self.critic(batch.obs, self.actor(batch.obs))[0, :, 0]
        if cfg.entropy_in == "actor":
            imagined = self.imagine(z).flatten(0, 1)
            entropy = gaussian_entropy(torch.cat([z.unsqueeze(0), imagined]))
            loss_pi = imagination_actor_loss(q_pi, entropy, cfg.entropy_coef)
            metrics["entropy"] = entropy.mean().detach()
        else:
            loss_pi = actor_loss(q_pi)
        backward_step(self.actor_opt, loss_pi)
        polyak_update(self.actor, self.actor_target, cfg.tau)
        polyak_update(self.critic, self.critic_target, cfg.tau)
        return {
            "critic_loss": loss_q.detach(),
            "actor_loss": loss_pi.detach(),
            "q": q.mean().detach(),
            **metrics,
        }

    def learn(self, total_steps: int) -> DDPGImagination:
        cfg = self.config
        obs = self.env.obs
        with self.training(total_steps):
            while not self.finished:
                if self.counters["steps"] < cfg.learning_starts:
                    unit = unscale_action(self.env.sample_actions(), self.low, self.high)
                else:
                    unit = self.explore(obs)
                step = self.env.step(scale_action(unit, self.low, self.high))
                self.replay.add(obs, unit, step)
                self.obs_norm.update(step.obs)
                self.noise.reset(step.dones)
                obs = step.obs
                metrics = None
                if self.counters["steps"] >= cfg.learning_starts:
                    for _ in range(cfg.gradient_steps * self.env.n_envs):
                        metrics = self.update(self.replay.sample(cfg.batch_size, self.rng))
                        self.counters["updates"] += 1
                self.tick(step, metrics)
        return self
