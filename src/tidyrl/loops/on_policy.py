"""Rollout collection shared by the on-policy algorithms (actor-critic, A2C, TRPO, PPO).

`collect_rollout` steps the agent's vector env for `rollout.n_steps` steps with the current
policy and fills a `tidyrl.data.rollout.Rollout`. Per step it does one forward pass of actor and
critic together without autograd, stores whole-step tensors (no per-env Python loop),
and evaluates the critic on the true final observation of truncated episodes only, so returns
bootstrap correctly across time limits. Where the environment gives action masks, actions are
drawn under the mask in force (masked logits are -inf) and the masks are stored with the step.
It reports every vector step to the agent's bookkeeping with `agent.tick(step, metrics)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tidyrl.core.distributions import Distribution
from tidyrl.data.rollout import Rollout
from tidyrl.envs.make import Step, VecEnv
from tidyrl.envs.spaces import take
from tidyrl.nets.inference import fast_policy


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
    def fused(self) -> nn.Module: ...

    def head(self, out: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution: ...


class _Adapter(Protocol):
    def to_env(self, actions: torch.Tensor) -> np.ndarray: ...


ObsFn = Callable[[Any, bool], Any]
"""(raw observations [N, ...], update statistics?) -> float tensor [N, obs_dim] (or a dict of
tensors for Dict observations)."""
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

    The parameters do not change during collection, so the policy acts through its fused copy
    (`nets.policy.ActorCritic.fused`: one network whose output is [actor output | V(s)], half
    the ops of two) run by the inference seam (`tidyrl.nets.inference.fast_policy`). Actions and
    their log-probabilities come from the policy's distribution (`policy.head`), drawn with the
    agent's own generator (`agent.rng`)."""
    env = agent.env
    fused = policy.fused()  # held here: fast_policy keeps no reference to it
    forward = fast_policy(fused)
    obs = obs_fn(env.obs, False)
    report = dict(metrics) if metrics else None
    for t in range(rollout.n_steps):
        out = forward(obs)
        values = out[:, -1]
        masks = None
        if env.masks is not None and rollout.masks is not None:
            masks = rollout.masks[t]
            masks.copy_(torch.from_numpy(env.masks))
        with torch.inference_mode():
            actions, logprobs = policy.head(out[:, :-1], masks).sample_and_log_prob(agent.rng)
        step = env.step(adapter.to_env(actions))
        rewards = step.rewards if reward_fn is None else reward_fn(step.rewards, step.dones)
        rollout.store(t, obs, actions, logprobs, values, rewards, step.terminated, step.truncated)
        if step.truncated.any():
            cut = np.flatnonzero(step.truncated)
            final = forward(obs_fn(take(step.next_obs, cut), False))[:, -1]
            rollout.final_values[t] = 0.0
            rollout.final_values[t, torch.from_numpy(cut)] = final
        obs = obs_fn(step.obs, True)
        agent.tick(step, report)
    rollout.last_values.copy_(forward(obs)[:, -1])
    return rollout
