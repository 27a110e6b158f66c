"""Exploration noise for deterministic policies (DDPG, TD3, D4PG).

* Ornstein-Uhlenbeck process (Uhlenbeck & Ornstein 1930; used by DDPG, Lillicrap et al. 2016,
  with theta = 0.15, sigma = 0.2): temporally correlated noise, the Euler-Maruyama step

      x <- x + theta * (mu - x) * dt + sigma * sqrt(dt) * N(0, I)

  reverts to the mean mu at rate theta; its stationary variance is sigma^2 / (2 theta) (for small
  dt; exactly sigma^2 dt / (1 - (1 - theta dt)^2) for the discrete recursion).
* Gaussian noise N(0, sigma_t^2) whose *variance* decays linearly, as in the lecture's spell chart
  (variance 1 -> 0.3 over 1M steps), or constant (TD3's N(0, 0.1^2), Fujimoto et al. 2018).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tidyrl.core.schedules import linear_schedule


class OrnsteinUhlenbeck:
    """`n` independent OU processes of dimension `dim`, one per environment copy."""

    def __init__(
        self,
        shape: tuple[int, ...],
        rng: np.random.Generator,
        theta: float = 0.15,
        sigma: float = 0.2,
        mu: float = 0.0,
        dt: float = 1.0,
    ) -> None:
        if theta <= 0 or sigma < 0 or dt <= 0:
            raise ValueError(f"OU needs theta > 0, sigma >= 0, dt > 0; got {theta}, {sigma}, {dt}")
        self.theta, self.sigma, self.mu, self.dt = theta, sigma, mu, dt
        self.rng = rng
        self.state = np.full(shape, mu, dtype=np.float64)

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Restart the process at mu (for the rows where `mask` is true, or all rows)."""
        if mask is None:
            self.state[...] = self.mu
        else:
            self.state[np.asarray(mask, dtype=bool)] = self.mu

    def sample(self) -> np.ndarray:
        """Advance one step and return the new state."""
        drift = self.theta * (self.mu - self.state) * self.dt
        diffusion = self.sigma * math.sqrt(self.dt) * self.rng.standard_normal(self.state.shape)
        self.state = self.state + drift + diffusion
        sample: np.ndarray = self.state.copy()
        return sample

    @property
    def stationary_variance(self) -> float:
        """Variance of the discrete recursion's stationary distribution."""
        a = 1.0 - self.theta * self.dt
        return self.sigma**2 * self.dt / (1.0 - a * a)


def decayed_std(variance_start: float, variance_end: float, decay_steps: int, step: int) -> float:
    """Standard deviation whose variance moves linearly from start to end over `decay_steps`."""
    return math.sqrt(max(linear_schedule(variance_start, variance_end, decay_steps, step), 0.0))


class ExplorationNoise:
    """Additive action noise for `n_envs` x `dim` actions: Gaussian or OU, with the variance
    decaying linearly from `variance_start` to `variance_end` over `decay_steps` steps."""

    def __init__(
        self,
        kind: str,
        shape: tuple[int, int],
        rng: np.random.Generator,
        variance_start: float,
        variance_end: float,
        decay_steps: int,
        ou_theta: float = 0.15,
    ) -> None:
        if kind not in ("gaussian", "ou"):
            raise ValueError(f"noise kind must be 'gaussian' or 'ou', got {kind!r}")
        self.kind, self.shape, self.rng = kind, shape, rng
        self.variance_start, self.variance_end = variance_start, variance_end
        self.decay_steps = decay_steps
        self.ou = OrnsteinUhlenbeck(shape, rng, theta=ou_theta)

    def sample(self, step: int, n: int | None = None) -> np.ndarray:
        """Noise for `n` rows (default: every env) at training step `step` (the schedule's
        clock). The OU process is per env; any other batch size gets Gaussian noise."""
        std = decayed_std(self.variance_start, self.variance_end, self.decay_steps, step)
        n = self.shape[0] if n is None else n
        if self.kind == "ou" and n == self.shape[0]:
            self.ou.sigma = std
            return self.ou.sample()
        return std * self.rng.standard_normal((n, *self.shape[1:]))

    def reset(self, mask: np.ndarray) -> None:
        """Restart the OU process of the envs whose episode ended."""
        if self.kind == "ou":
            self.ou.reset(mask)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The OU process's state (its scale follows from the step; the draws come from the
        agent's generator, saved with the agent)."""
        return {"ou_state": self.ou.state}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`."""
        self.ou.state = np.array(arrays["ou_state"], dtype=np.float64)
