"""ARS: Augmented Random Search (Mania, Guy and Recht 2018, "Simple random search of static
linear policies is competitive for reinforcement learning", NeurIPS; Algorithm 2, V2-t).

A static linear policy pi_M(x) = M (x - mu) / sigma, searched directly in the space of its
parameters M [outputs, obs_dim] with antithetic finite differences. Each iteration draws N
directions delta_k ~ N(0, I) of M's shape, runs one episode with each of the 2N policies
M + nu delta_k and M - nu delta_k, keeps the b directions whose better episode scored highest,
and steps along their estimate of the gradient of the episode return:

    r_k^+, r_k^-  = returns of pi_{M + nu delta_k}, pi_{M - nu delta_k}     one episode each
    top b         = the k with the b largest max(r_k^+, r_k^-)                 top_directions
    sigma_R       = std of the 2b returns r_k^+, r_k^- of the top directions
    M            <- M + alpha / (b sigma_R) sum_{k in top b} (r_k^+ - r_k^-) delta_k   ars_step
    mu, sigma     = mean and std of every state seen so far (V2), updated after each
                    iteration, so that its 2N episodes share one normalisation

No gradient is taken and no value is learned: the returns are the episodes' undiscounted sums
(plus `alive_bonus_offset` per step: the paper's removal of MuJoCo's survival bonus). The policy's
output u = M x~ is an action in the unit box for a Box space (clipped to [-1, 1], then rescaled
to the bounds, which is the paper's linear action clipped by the env in other units) and one
score per action for a Discrete one (the argmax acts). M starts at zero, as in the paper.

With several env copies, each copy runs the next waiting policy from the start of its next
episode; a copy left without one while the others finish the iteration runs the current M
until its episode ends (an evaluation of M that the update does not use; its steps count).
Defaults are Stable-Baselines3-contrib's: N = 8, b = N, alpha 0.02, nu 0.05. See
docs/algorithms/ars.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.agent import Agent
from tidyrl.config import check_range
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.core.squashed import scale_action
from tidyrl.errors import ConfigError, EnvError


@dataclass(frozen=True)
class ARSConfig:
    n_envs: int = 1
    """Parallel environment copies (each runs one perturbed policy's episode at a time)."""
    n_delta: int = 8
    """N: random directions per iteration (2N episodes)."""
    n_top: int | None = None
    """b: the best directions the step uses (None: all N, the paper's V1/V2 without -t)."""
    lr: float = 0.02
    """alpha: step size."""
    delta_std: float = 0.05
    """nu: scale of the perturbations."""
    normalize_obs: bool = True
    """V2: normalise states by the running mean and std of every state seen (V1: raw states)."""
    alive_bonus_offset: float = 0.0
    """Added to every reward in the search's returns (SB3-contrib's name; RL-Zoo's -1 on Hopper
    cancels its survival bonus of 1 a step, the paper's way of keeping "stand still" from
    being a local optimum)."""

    def __post_init__(self) -> None:
        check_range(self, "n_envs", 1)
        check_range(self, "n_delta", 1)
        check_range(self, "lr", 0.0, low_open=True)
        check_range(self, "delta_std", 0.0, low_open=True)
        if self.n_top is not None and not 1 <= self.n_top <= self.n_delta:
            raise ConfigError(
                f"n_top={self.n_top} must be between 1 and n_delta={self.n_delta} (None: all)"
            )


def top_directions(r_plus: np.ndarray, r_minus: np.ndarray, b: int) -> np.ndarray:
    """Indices of the b directions with the largest max(r_k^+, r_k^-), best first."""
    return np.argsort(-np.maximum(r_plus, r_minus), kind="stable")[:b]


def ars_step(
    deltas: np.ndarray, r_plus: np.ndarray, r_minus: np.ndarray, b: int, lr: float
) -> np.ndarray:
    """The change of M: alpha / (b sigma_R) sum_{k in top b} (r_k^+ - r_k^-) delta_k, sigma_R
    the std of the top directions' 2b returns (zero where they are all equal: no step)."""
    top = top_directions(r_plus, r_minus, b)
    sigma_r = float(np.concatenate([r_plus[top], r_minus[top]]).std())
    if sigma_r == 0.0:
        return np.zeros(deltas.shape[1:])
    weights = r_plus[top] - r_minus[top]
    return lr / (b * sigma_r) * np.tensordot(weights, deltas[top], axes=1)


class LinearPolicy(nn.Module):
    """u = M (x - mu) / sigma (x unnormalised without `obs_norm`): the unit-box action of a
    Box space, or one score per action of a Discrete one."""

    def __init__(self, obs_dim: int, out_dim: int, obs_norm: RunningMeanStd | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_dim, obs_dim, dtype=torch.float64))
        self.obs_norm = obs_norm

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.to(torch.float64)
        if self.obs_norm is not None:
            x = self.obs_norm.normalize(x)
        return x @ self.weight.T


class ARS(Agent):
    """Augmented Random Search for Box observations and Box or Discrete actions."""

    Config = ARSConfig
    algo_id = "ars"
    action_spaces = (gym.spaces.Box, gym.spaces.Discrete)
    observation_spaces = (gym.spaces.Box,)
    default_torch_threads = 1
    default_steps = 500_000
    ENV_PRESETS = {
        "CartPole-v1": "cartpole",
        "Acrobot-v1": "acrobot",
        "MountainCar-v0": "mountaincar",
        "MountainCarContinuous-v0": "mountaincar-continuous",
        "Swimmer-v5": "swimmer",
        "Hopper-v5": "hopper",
        "HalfCheetah-v5": "halfcheetah",
        "Walker2d-v5": "walker2d",
        "Ant-v5": "ant",
    }
    PRESETS = {
        # RL-Zoo's per-env settings (hyperparams/ars.yml: its LinearPolicy, VecNormalize of the
        # observations where it normalises) over SB3-contrib's defaults
        "cartpole": {"n_envs": 2, "normalize_obs": False},
        "acrobot": {"n_envs": 2},
        "mountaincar": {"n_envs": 4},
        "mountaincar-continuous": {"n_envs": 4, "n_delta": 16},
        # the paper's MuJoCo settings as RL-Zoo keeps them (its -v3 tasks; tidyrl's are -v5)
        "swimmer": {"n_delta": 1, "n_top": 1, "delta_std": 0.01, "normalize_obs": False},
        "hopper": {
            "n_delta": 8,
            "n_top": 4,
            "lr": 0.01,
            "delta_std": 0.025,
            "alive_bonus_offset": -1.0,
        },
        "halfcheetah": {"n_delta": 32, "n_top": 4, "delta_std": 0.03},
        "walker2d": {
            "n_delta": 40,
            "n_top": 30,
            "lr": 0.03,
            "delta_std": 0.025,
            "alive_bonus_offset": -1.0,
        },
        "ant": {
            "n_delta": 60,
            "n_top": 20,
            "lr": 0.015,
            "delta_std": 0.025,
            "alive_bonus_offset": -1.0,
        },
    }

    def __init__(self, env: Any, config: Any = None, run: Any = None, *, algo: Any = None) -> None:
        super().__init__(env, config, run, algo=algo)
        cfg = self.config
        space, actions = self.observation_space, self.action_space
        self.obs_dim = int(np.prod(space.shape))
        self.discrete = isinstance(actions, gym.spaces.Discrete)
        out_dim = int(actions.n) if self.discrete else int(np.prod(actions.shape))
        self.obs_norm = RunningMeanStd((self.obs_dim,), epsilon=0.0)
        self.policy = LinearPolicy(
            self.obs_dim, out_dim, self.obs_norm if cfg.normalize_obs else None
        )
        if not self.discrete:
            self.low, self.high = actions.low, actions.high
            if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
                raise EnvError(f"ars needs a bounded Box action space, but the env has {actions}")
        self.n_top = cfg.n_top or cfg.n_delta
        self.register_state("policy", "obs_norm")

    def outputs(self, obs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """u = W_i x~_i for each row i, W [rows, outputs, obs_dim] (one policy per row)."""
        x = np.asarray(obs, dtype=np.float64).reshape(len(weights), -1)
        if self.config.normalize_obs:
            mean = self.obs_norm.mean.numpy()
            std = np.sqrt(self.obs_norm.var.numpy() + 1e-8)
            x = np.clip((x - mean) / std, -10.0, 10.0)
        return np.einsum("roi,ri->ro", weights, x)

    def to_env(self, u: np.ndarray) -> np.ndarray:
        """Env actions from the policy's outputs: argmax (Discrete) or the unit box rescaled."""
        if self.discrete:
            return u.argmax(-1)
        unit = np.clip(u, -1.0, 1.0).reshape(len(u), *self.action_space.shape)
        return scale_action(unit.astype(np.float32), self.low, self.high)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        m = self.policy.weight.detach().numpy()
        return self.to_env(self.outputs(obs, np.broadcast_to(m, (len(obs), *m.shape))))

    def update(self, deltas: np.ndarray, r_plus: np.ndarray, r_minus: np.ndarray) -> dict:
        """M <- M + `ars_step`; the iteration's returns for the log."""
        step = ars_step(deltas, r_plus, r_minus, self.n_top, self.config.lr)
        with torch.no_grad():
            self.policy.weight += torch.as_tensor(step)
        top = top_directions(r_plus, r_minus, self.n_top)
        return {
            "search_return": float(np.mean([r_plus, r_minus])),
            "top_return": float(np.maximum(r_plus, r_minus)[top].mean()),
            "step_norm": float(np.linalg.norm(step)),
        }

    def learn(self, total_steps: int) -> ARS:
        n = self.env.n_envs
        metrics: dict[str, float] = {}
        with self.training(total_steps):
            while not self.finished:
                with self.collecting(metrics):
                    metrics = self._iteration(n)
        return self

    def _iteration(self, n: int) -> dict[str, float]:
        """Run the 2N perturbed policies' episodes (module docstring), then step M."""
        cfg = self.config
        m = self.policy.weight.detach().numpy().copy()
        deltas = self.rng.standard_normal((cfg.n_delta, *m.shape))
        # candidate j: M + nu delta_{j // 2} for even j, M - nu delta_{j // 2} for odd j
        signs = np.where(np.arange(2 * cfg.n_delta) % 2 == 0, 1.0, -1.0)[:, None, None]
        candidates = m + cfg.delta_std * signs * np.repeat(deltas, 2, axis=0)
        returns = np.full(2 * cfg.n_delta, np.nan)
        running = np.full(n, -1)  # the candidate each copy runs (-1: the current M, unused)
        partial = np.zeros(n)
        waiting = 0
        fresh = self.env.episode_steps == 0
        seen = RunningMeanStd((self.obs_dim,), epsilon=0.0)
        obs = self.env.obs
        while np.isnan(returns).any() and not self.finished:
            for i in np.flatnonzero(fresh & (running < 0)):
                if waiting < len(candidates):
                    running[i], partial[i], waiting = waiting, 0.0, waiting + 1
            weights = np.where(running[:, None, None] >= 0, candidates[running], m)
            if (running >= 0).any():  # the states the search's episodes visit (V2)
                seen.update(np.asarray(obs, dtype=np.float64).reshape(n, -1)[running >= 0])
            step = self.env.step(self.to_env(self.outputs(obs, weights)))
            partial += step.rewards + cfg.alive_bonus_offset
            for i in np.flatnonzero(step.dones):
                if running[i] >= 0:
                    returns[running[i]] = partial[i]
                running[i] = -1
            fresh = step.dones
            obs = step.obs
            self.tick(step)
        if np.isnan(returns).any():  # the step budget ran out mid-iteration: no update
            return {}
        if cfg.normalize_obs:
            self.obs_norm.absorb(seen)
        self.counters["updates"] += 1
        return self.update(deltas, returns[0::2], returns[1::2])

    def update_probe(self) -> Callable[[], object]:
        rng = np.random.default_rng(0)
        deltas = rng.standard_normal((self.config.n_delta, *self.policy.weight.shape))
        r = rng.standard_normal((2, self.config.n_delta))
        return lambda: self.update(deltas, r[0], r[1])
