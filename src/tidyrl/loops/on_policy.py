"""Rollout collection shared by the on-policy algorithms (actor-critic, A2C, TRPO, PPO).

`collect_rollout` steps the agent's vector env for `rollout.n_steps` steps with the current
policy and fills a `tidyrl.data.rollout.Rollout`. Per step it does one forward pass of actor and
critic together under `torch.inference_mode`, stores whole-step tensors (no per-env Python loop),
and evaluates the critic on the true final observation of truncated episodes only, so returns
bootstrap correctly across time limits. It reports every vector step to the agent's bookkeeping
with `agent.tick(step, metrics)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import numpy as np
import torch

from tidyrl.core.distributions import Distribution
from tidyrl.data.rollout import Rollout
from tidyrl.envs.make import Step, VecEnv


class _Agent(Protocol):
    env: VecEnv
    rng: np.random.Generator

    def tick(
        self,
        step: Step | None = None,
        metrics: dict[str, Any] | None = None,
        n_steps: int | None = None,
    ) -> None: ...


class _Policy(Protocol):
    def __call__(self, obs: torch.Tensor) -> tuple[Distribution, torch.Tensor]: ...

    def value(self, obs: torch.Tensor) -> torch.Tensor: ...


class _Fusable(_Policy, Protocol):
    def fused(self) -> _Policy: ...


class _Adapter(Protocol):
    def to_env(self, actions: torch.Tensor) -> np.ndarray: ...


ObsFn = Callable[[np.ndarray, bool], torch.Tensor]
"""(raw observations [N, ...], update statistics?) -> float tensor [N, obs_dim]."""
RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(rewards [N], dones [N]) -> rewards to learn from (e.g. scaled)."""


def flat_obs(obs: np.ndarray, update: bool = False) -> torch.Tensor:
    """Observations as a float32 tensor [N, obs_dim] (no copy when already float32)."""
    return torch.as_tensor(obs, dtype=torch.float32).reshape(len(obs), -1)


def collect_rollout(
    agent: _Agent,
    policy: _Policy,
    rollout: Rollout,
    adapter: _Adapter,
    obs_fn: ObsFn = flat_obs,
    reward_fn: RewardFn | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Rollout:
    """Fill `rollout` from the agent's env, starting at `agent.env.obs`; return it.

    A policy with a `fused()` method (`nets.policy.ActorCritic`) acts through its fused
    inference copy: the parameters do not change during collection, and it halves the ops of
    the per-step forward; its `act_sample` runs forward pass and draw in NumPy. Actions are
    drawn with the agent's own generator (`agent.rng`)."""
    env = agent.env
    if hasattr(policy, "fused"):
        policy = cast(_Fusable, policy).fused()
    act_sample = getattr(policy, "act_sample", None)
    obs = obs_fn(env.obs, False)
    report = dict(metrics) if metrics else None
    for t in range(rollout.n_steps):
        with torch.inference_mode():
            if act_sample is not None:
                actions, logprobs, values = act_sample(obs, agent.rng)
            else:
                dist, values = policy(obs)
                actions, logprobs = dist.sample_and_log_prob(agent.rng)
        step = env.step(adapter.to_env(actions))
        rewards = step.rewards if reward_fn is None else reward_fn(step.rewards, step.dones)
        rollout.store(t, obs, actions, logprobs, values, rewards, step.terminated, step.truncated)
        if step.truncated.any():
            cut = np.flatnonzero(step.truncated)
            with torch.inference_mode():
                final = policy.value(obs_fn(step.next_obs[cut], False))
            rollout.final_values[t] = 0.0
            rollout.final_values[t, torch.from_numpy(cut)] = final
        obs = obs_fn(step.obs, True)
        agent.tick(step, report)
    with torch.inference_mode():
        rollout.last_values.copy_(policy.value(obs))
    return rollout
