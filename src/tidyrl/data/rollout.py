"""On-policy rollout storage: time-major tensors [T, N, ...] for T steps of N envs.

A rollout holds what the policy-gradient losses need: observations, actions, their
log-probabilities under the behaviour policy, rewards, the critic's values, the `terminated` and
`truncated` flags kept apart, and for truncated steps the value of the *final* observation
(`final_values`), so that returns bootstrap across a time-limit cut from the right state.
`next_values` assembles V(s'_t) for `tidyrl.core.returns.gae`.

Dict observations are stored as one preallocated buffer per key, in the key's own dtype (uint8
images stay uint8); environments with action masks get a bool buffer of the masks in force at
each step, so the losses re-evaluate pi under the same mask the behaviour policy acted under.

With `experience=True` the rollout also keeps what a reward plug-in (`tidyrl.rewards`) scores:
the raw observation (flattened; a Dict's keys concatenated in sorted order), the action the env
received and the true successor observation of every step (`store_experience`, `experience`);
the plug-in's rewards then replace `rewards` before GAE.

With `intrinsic=True` (PPO's two value heads, Burda et al. 2018) the values are [T, N, 2]
(extrinsic, intrinsic; likewise `final_values` and `last_values`) and `intrinsic_rewards` keeps
a bonus plug-in's rewards apart from the env's: `stream_advantages` computes one GAE per stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tidyrl.core.returns import gae, non_episodic_gae
from tidyrl.data.batch import Experience, flat_observations

ObsSpec = tuple[int, ...] | dict[str, tuple[tuple[int, ...], np.dtype[Any]]]
"""The shape of one (flattened, float32) observation, or (shape, dtype) per key of a Dict."""


@dataclass(frozen=True)
class RolloutBatch:
    """A flat minibatch of on-policy samples (leading dimension = samples)."""

    obs: Any
    """A tensor, or a dict of tensors (Dict observations)."""
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    masks: torch.Tensor | None = None
    """Valid actions at each sample (None: the environment gives no mask)."""

    def __len__(self) -> int:
        return int(self.logprobs.shape[0])

    def index(self, idx: torch.Tensor) -> RolloutBatch:
        return RolloutBatch(
            _map(self.obs, lambda x: x[idx]),
            self.actions[idx],
            self.logprobs[idx],
            self.values[idx],
            self.advantages[idx],
            self.returns[idx],
            None if self.masks is None else self.masks[idx],
        )


def _map(obs: Any, fn: Any) -> Any:
    """`fn` applied to an observation tensor, or to each tensor of a dict of them."""
    return {k: fn(v) for k, v in obs.items()} if isinstance(obs, dict) else fn(obs)


class Rollout:
    """Preallocated buffers for `n_steps` steps of `n_envs` envs."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: ObsSpec,
        action_shape: tuple[int, ...],
        discrete: bool,
        mask_width: int | None = None,
        experience: bool = False,
        intrinsic: bool = False,
    ) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        t, n = n_steps, n_envs
        heads = (2,) if intrinsic else ()  # values per step: (V_E, V_I), or V
        self.obs: Any
        if isinstance(obs_shape, dict):
            self.obs = {
                k: torch.from_numpy(np.zeros((t, n, *shape), dtype=dtype))
                for k, (shape, dtype) in obs_shape.items()
            }
        else:
            self.obs = torch.zeros((t, n, *obs_shape))
        self.masks = (
            None if mask_width is None else torch.zeros((t, n, mask_width), dtype=torch.bool)
        )
        """The action masks in force at each step (None: the environment gives none)."""
        self.actions = torch.zeros((t, n, *action_shape), dtype=torch.long if discrete else None)
        self.logprobs = torch.zeros((t, n))
        self.rewards = torch.zeros((t, n))
        self.values = torch.zeros((t, n, *heads))
        self.terminated = torch.zeros((t, n))
        self.truncated = torch.zeros((t, n))
        self.final_values = torch.zeros((t, n, *heads))
        """V(final observation) where the step was truncated, else 0."""
        self.last_values = torch.zeros((n, *heads))
        """V(s_T): the value of the observation after the last stored step (bootstrap)."""
        self.intrinsic_rewards = torch.zeros((t, n)) if intrinsic else None
        """A bonus plug-in's rewards C, with `intrinsic` only (None: one reward stream)."""
        self.env_obs: torch.Tensor | None = None
        """Raw observations (before any normalization), with `experience` only."""
        self.env_actions: torch.Tensor | None = None
        """Actions as the env received them, with `experience` only."""
        self.next_obs: torch.Tensor | None = None
        """Raw true successor observations (final observation at episode ends)."""
        if experience:  # raw flat observations (`flat_observations`): D floats per step
            if isinstance(obs_shape, dict):
                width = sum(int(np.prod(shape)) for shape, _ in obs_shape.values())
            else:
                width = int(np.prod(obs_shape))
            self.env_obs = torch.zeros((t, n, width))
            self.env_actions = torch.zeros_like(self.actions)
            self.next_obs = torch.zeros((t, n, width))
        self._rows: list[Any] = [
            {k: v.numpy() for k, v in t.items()} if isinstance(t, dict) else t.numpy()
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

    def resized(self, n_envs: int) -> Rollout:
        """An empty rollout like this one (steps, shapes, dtypes, masks, experience) for
        `n_envs` envs: a worker's share of the run's copies (`tidyrl.distributed`)."""
        obs: ObsSpec
        if isinstance(self.obs, dict):
            obs = {k: (tuple(v.shape[2:]), v.numpy().dtype) for k, v in self.obs.items()}
        else:
            obs = tuple(self.obs.shape[2:])
        return Rollout(
            self.n_steps,
            n_envs,
            obs,
            tuple(self.actions.shape[2:]),
            not self.actions.is_floating_point(),
            mask_width=None if self.masks is None else int(self.masks.shape[2]),
            experience=self.env_obs is not None,
            intrinsic=self.intrinsic_rewards is not None,
        )

    def put(self, first: int, part: Rollout) -> None:
        """Copy `part` (a rollout of the same steps, as `resized` builds) into envs
        first..first + part.n_envs - 1 of this one."""
        cols = slice(first, first + part.n_envs)
        for name, value in vars(self).items():
            other = getattr(part, name)
            if isinstance(value, dict):
                for key, buffer in value.items():
                    buffer[:, cols] = other[key]
            elif isinstance(value, torch.Tensor):
                if name == "last_values":
                    value[cols] = other
                else:
                    value[:, cols] = other

    def store(self, t: int, *step: Any) -> None:
        """Write row t: obs, actions, logprobs, values, rewards, terminated, truncated
        (tensors or arrays, one entry per env; obs a dict of them for Dict observations).
        Through NumPy views of the (CPU) buffers: a tensor index-assignment pays torch's
        per-op dispatch, and a rollout step makes seven (docs/performance.md,
        benchmarks/rollout_speed.py)."""
        for view, value in zip(self._rows, step, strict=True):
            if isinstance(view, dict):
                for k, v in view.items():
                    part = value[k]
                    v[t] = part.numpy() if isinstance(part, torch.Tensor) else part
            else:
                view[t] = value.numpy() if isinstance(value, torch.Tensor) else value

    def store_experience(self, t: int, obs: Any, actions: np.ndarray, next_obs: Any) -> None:
        """Write row t of the raw observations, env actions and successor observations, the
        observations flattened (`flat_observations`: a Dict's keys in sorted order)."""
        assert self.env_obs is not None and self.env_actions is not None
        assert self.next_obs is not None
        n = self.n_envs
        self.env_obs[t] = torch.from_numpy(flat_observations(obs, n))
        self.env_actions[t] = torch.as_tensor(np.asarray(actions).reshape(self.actions.shape[1:]))
        self.next_obs[t] = torch.from_numpy(flat_observations(next_obs, n))

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

    def next_values(self, head: int | None = None) -> torch.Tensor:
        """V(s'_t): V(s_{t+1}) inside an episode, V(final obs) at truncation, and V(s_T) after
        the last row (of value head `head` of an intrinsic rollout). At terminated steps the
        value is irrelevant (GAE masks it)."""
        values, final, last = self.values, self.final_values, self.last_values
        if head is not None:
            values, final, last = values[..., head], final[..., head], last[..., head]
        nxt = torch.cat([values[1:], last.unsqueeze(0)])
        return torch.where(self.truncated.bool(), final, nxt)

    def advantages(self, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, returns) by GAE(gamma, lambda) over this rollout."""
        dones = torch.clamp(self.terminated + self.truncated, max=1.0)
        return gae(
            self.rewards, self.values, self.next_values(), self.terminated, dones, gamma, lam
        )

    def stream_advantages(
        self, gamma: float, gamma_int: float, lam: float
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """((A_E, R_E), (A_I, R_I)) of an intrinsic rollout (Burda et al. 2018, section 2.3):
        the env's rewards by GAE(gamma, lambda) on value head 0 with the episodic masks (as
        `advantages`), the intrinsic rewards by GAE(gamma_int, lambda) on head 1 with none:
        the intrinsic return runs on across episode ends (`non_episodic_gae`)."""
        assert self.intrinsic_rewards is not None, "this rollout was built without intrinsic"
        dones = torch.clamp(self.terminated + self.truncated, max=1.0)
        extrinsic = gae(
            self.rewards,
            self.values[..., 0],
            self.next_values(0),
            self.terminated,
            dones,
            gamma,
            lam,
        )
        intrinsic = non_episodic_gae(
            self.intrinsic_rewards, self.values[..., 1], self.last_values[..., 1], gamma_int, lam
        )
        return extrinsic, intrinsic

    def flatten(self, advantages: torch.Tensor, returns: torch.Tensor) -> RolloutBatch:
        """All T * N samples as one flat batch."""
        size = self.n_steps * self.n_envs

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(size, *x.shape[2:])

        return RolloutBatch(
            _map(self.obs, flat),
            flat(self.actions),
            self.logprobs.reshape(size),
            flat(self.values),
            advantages.reshape(size),
            flat(returns),
            None if self.masks is None else flat(self.masks),
        )
