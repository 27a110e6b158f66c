"""On-policy rollout storage: time-major tensors [T, N, ...] for T steps of N envs.

A rollout holds what the policy-gradient losses need: observations, actions, their
log-probabilities under the behaviour policy, rewards, the critic's values, the `terminated` and
`truncated` flags kept apart, and for truncated steps the value of the *final* observation
(`final_values`), so that returns bootstrap across a time-limit cut from the right state.
`next_values` assembles V(s'_t) for `tidyrl.core.returns.gae`.

With `experience=True` the rollout also keeps what a reward plug-in (`tidyrl.rewards`) scores:
the raw observation, the action the env received and the true successor observation of every
step (`store_experience`, `experience`); the plug-in's rewards then replace `rewards` before GAE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tidyrl.core.returns import gae
from tidyrl.data.batch import Experience


@dataclass(frozen=True)
class RolloutBatch:
    """A flat minibatch of on-policy samples (leading dimension = samples)."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return int(self.logprobs.shape[0])

    def index(self, idx: torch.Tensor) -> RolloutBatch:
        return RolloutBatch(
            self.obs[idx],
            self.actions[idx],
            self.logprobs[idx],
            self.values[idx],
            self.advantages[idx],
            self.returns[idx],
        )


class Rollout:
    """Preallocated buffers for `n_steps` steps of `n_envs` envs."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        discrete: bool,
        experience: bool = False,
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        t, n = n_steps, n_envs
        self.obs = torch.zeros((t, n, *obs_shape))
        self.actions = torch.zeros((t, n, *action_shape), dtype=torch.long if discrete else None)
        self.logprobs = torch.zeros((t, n))
        self.rewards = torch.zeros((t, n))
        self.values = torch.zeros((t, n))
        self.terminated = torch.zeros((t, n))
        self.truncated = torch.zeros((t, n))
        self.final_values = torch.zeros((t, n))
        """V(final observation) where the step was truncated, else 0."""
        self.last_values = torch.zeros(n)
        """V(s_T): the value of the observation after the last stored step (bootstrap)."""
        self.env_obs: torch.Tensor | None = None
        """Raw observations (before any normalization), with `experience` only."""
        self.env_actions: torch.Tensor | None = None
        """Actions as the env received them, with `experience` only."""
        self.next_obs: torch.Tensor | None = None
        """Raw true successor observations (final observation at episode ends)."""
        if experience:
            self.env_obs = torch.zeros((t, n, *obs_shape))
            self.env_actions = torch.zeros_like(self.actions)
            self.next_obs = torch.zeros((t, n, *obs_shape))
        self._rows = [
            t.numpy()
            for t in (
                self.obs,
                self.actions,
                self.logprobs,
                self.values,
                self.rewards,
                self.terminated,
                self.truncated,
            )
        ]

    def store(self, t: int, *step: torch.Tensor | np.ndarray) -> None:
        """Write row t: obs, actions, logprobs, values, rewards, terminated, truncated
        (tensors or arrays, one entry per env). Through NumPy views of the (CPU) buffers: a
        tensor index-assignment pays torch's per-op dispatch, and a rollout step makes seven
        (docs/performance.md, benchmarks/rollout_speed.py)."""
        for view, value in zip(self._rows, step, strict=True):
            view[t] = value.numpy() if isinstance(value, torch.Tensor) else value

    def store_experience(
        self, t: int, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
    ) -> None:
        """Write row t of the raw observations, env actions and successor observations."""
        assert self.env_obs is not None and self.env_actions is not None
        assert self.next_obs is not None
        n = self.n_envs
        self.env_obs[t] = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(n, -1))
        self.env_actions[t] = torch.as_tensor(np.asarray(actions).reshape(self.actions.shape[1:]))
        self.next_obs[t] = torch.as_tensor(np.asarray(next_obs, dtype=np.float32).reshape(n, -1))

    def experience(self) -> Experience:
        """All T * N steps as one flat, reward-free `Experience` (needs `experience=True`)."""
        assert self.env_obs is not None and self.env_actions is not None
        assert self.next_obs is not None, "this rollout was built without experience=True"
        size = self.n_steps * self.n_envs
        return Experience(
            self.env_obs.reshape(size, -1),
            self.env_actions.reshape(size, *self.env_actions.shape[2:]),
            self.next_obs.reshape(size, -1),
            self.terminated.reshape(size),
            self.truncated.reshape(size),
        )

    def next_values(self) -> torch.Tensor:
        """V(s'_t): V(s_{t+1}) inside an episode, V(final obs) at truncation, and V(s_T) after
        the last row. At terminated steps the value is irrelevant (GAE masks it)."""
        nxt = torch.cat([self.values[1:], self.last_values.unsqueeze(0)])
        return torch.where(self.truncated.bool(), self.final_values, nxt)

    def advantages(self, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, returns) by GAE(gamma, lambda) over this rollout."""
        dones = torch.clamp(self.terminated + self.truncated, max=1.0)
        return gae(
            self.rewards, self.values, self.next_values(), self.terminated, dones, gamma, lam
        )

    def flatten(self, advantages: torch.Tensor, returns: torch.Tensor) -> RolloutBatch:
        """All T * N samples as one flat batch."""
        size = self.n_steps * self.n_envs
        return RolloutBatch(
            self.obs.reshape(size, *self.obs.shape[2:]),
            self.actions.reshape(size, *self.actions.shape[2:]),
            self.logprobs.reshape(size),
            self.values.reshape(size),
            advantages.reshape(size),
            returns.reshape(size),
        )
