"""Rollout collection shared by the on-policy algorithms (actor-critic, A2C, TRPO, PPO).

`collect_rollout` steps the agent's vector env for `rollout.n_steps` steps with the current
policy and fills a `tidyrl.data.rollout.Rollout`. Per step it does one forward pass of actor and
critic together without autograd, stores whole-step tensors (no per-env Python loop),
and evaluates the critic on the true final observation of truncated episodes only, so returns
bootstrap correctly across time limits. Where the environment gives action masks, actions are
drawn under the mask in force (masked logits are -inf) and the masks are stored with the step.
It reports every vector step to the agent's bookkeeping with `agent.tick(step, metrics)`,
inside `agent.collecting()`, so that checkpoints fall between rollouts. With Ray workers
(`RunConfig.workers`) the agent's env collects the rollout on them (`tidyrl.distributed`).

`relabel_rollout` is the one place where a reward plug-in (`tidyrl.rewards`) enters an
on-policy learner: after collection and before GAE it trains the plug-in on the rollout's
reward-free experience and overwrites every stored reward with the plug-in's (or, for a bonus,
with r + beta * C, or keeps C apart for a second value head).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tidyrl.core.distributions import Distribution
from tidyrl.data.rollout import Rollout
from tidyrl.envs.make import Step, VecEnv
from tidyrl.envs.spaces import take
from tidyrl.nets.inference import fast_policy
from tidyrl.rewards.base import RewardPlugin, learn_and_score, score_then_train


class _Agent(Protocol):
    env: VecEnv
    rng: np.random.Generator

    def tick(
        self,
        step: Step | None = None,
        metrics: dict[str, Any] | None = None,
        n_steps: int | None = None,
    ) -> None: ...

    def collecting(self, metrics: dict[str, Any] | None = None) -> AbstractContextManager[None]: ...


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
    agent's own generator (`agent.rng`).

    An env that collects rollouts itself (`tidyrl.distributed.RayVecEnv`, the agent's env when
    it runs with Ray workers) is handed the call: the distribution of collection is this seam,
    not a change to the learners."""
    env = agent.env
    heads = getattr(policy, "n_values", 1)  # V(s) is the fused output's last `heads` columns
    remote = getattr(env, "collect_rollout", None)
    if remote is not None:
        result: Rollout = remote(agent, policy, rollout, adapter, obs_fn, reward_fn, metrics)
        return result
    # a checkpoint that fell due during the last rollout is written on entry (its update is
    # done); none is written inside, where the rollout is partial
    report = dict(metrics) if metrics else None
    with agent.collecting(report):
        fused = policy.fused()  # held here: fast_policy keeps no reference to it
        forward = fast_policy(fused)
        obs = obs_fn(env.obs, False)
        for t in range(rollout.n_steps):
            _refresh_noise(policy, t, rollout.n_envs, agent.rng)
            out = forward(obs)
            values = _values(out, heads)
            masks = None
            if env.masks is not None and rollout.masks is not None:
                masks = rollout.masks[t]
                masks.copy_(torch.from_numpy(env.masks))
            with torch.inference_mode():
                head = policy.head(out[:, :-heads], masks)
                actions, logprobs = head.sample_and_log_prob(agent.rng)
            raw_obs, env_actions = env.obs, adapter.to_env(actions)
            step = env.step(env_actions)
            rewards = step.rewards if reward_fn is None else reward_fn(step.rewards, step.dones)
            rollout.store(
                t, obs, actions, logprobs, values, rewards, step.terminated, step.truncated
            )
            if rollout.env_obs is not None:  # a reward plug-in will score these steps
                rollout.store_experience(t, raw_obs, env_actions, step.next_obs)
            if step.truncated.any():
                cut = np.flatnonzero(step.truncated)
                final = _values(forward(obs_fn(take(step.next_obs, cut), False)), heads)
                rollout.final_values[t] = 0.0
                rollout.final_values[t, torch.from_numpy(cut)] = final
            obs = obs_fn(step.obs, True)
            agent.tick(step, report)
        rollout.last_values.copy_(_values(forward(obs), heads))
    return rollout


def _refresh_noise(policy: Any, t: int, n_envs: int, rng: np.random.Generator) -> None:
    """A gSDE policy (`nets.policy.ActorCritic` with `sde`) draws new exploration matrices for
    the `n_envs` copies at step `t`: at the rollout's start, and every `sde_sample_freq` steps
    when that is positive."""
    if getattr(policy, "sde", False):
        freq: int = policy.sde_sample_freq
        if t == 0 or (freq > 0 and t % freq == 0):
            policy.resample_noise(n_envs, rng)


def _values(out: torch.Tensor, heads: int) -> torch.Tensor:
    """V(s) from the fused network's output: its last column [N], or last `heads` columns
    [N, heads] for a critic with several value heads."""
    return out[:, -1] if heads == 1 else out[:, -heads:]


def relabel_rollout(
    plugin: RewardPlugin,
    rollout: Rollout,
    reward_fn: RewardFn | None = None,
    epochs: int = 1,
    minibatch_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Hand the rollout's experience to `plugin` (`observe`, then `update`), then replace every
    reward in the rollout with the updated plug-in's, scaled step by step by `reward_fn` (e.g.
    the running return scaler) when given. Returns the plug-in's metrics, the mean plug-in
    reward (`<name>_reward`) and, for a bonus, the mean env reward (`extrinsic_reward`).
    A plug-in that `trains_on_minibatches` (RND, ICM) scores the rollout first and then trains
    on it for the learner's `epochs` over minibatches of `minibatch_size` rows (the whole
    rollout when None): `tidyrl.rewards.base.score_then_train`.

    A rollout with an intrinsic stream (`Rollout.intrinsic_rewards`: PPO's two value heads)
    keeps the bonus apart instead: C goes to `intrinsic_rewards` unweighted (beta weighs the
    intrinsic advantage there), and `rewards` keep the env's, scaled by `reward_fn`.

    The plug-in sees an `Experience`, which has no reward field. A plug-in that replaces the
    env's reward (`replaces_env_reward`, e.g. GAIL) overwrites the stored env rewards whole, so
    none of them reaches GAE or the losses; a bonus C is added to them as r + beta * C
    (beta = `plugin.intrinsic_coef`). Collect with ``reward_fn=None``: the scaling happens
    here, on the rewards that are learned from."""
    batch = rollout.experience()
    plugin.observe(batch, rollout.n_envs)
    if plugin.trains_on_minibatches:
        rewards, metrics = score_then_train(plugin, batch, epochs, minibatch_size or len(batch))
    else:
        rewards, metrics = learn_and_score(plugin, batch)
    rewards = rewards.reshape(rollout.n_steps, rollout.n_envs)
    if not plugin.replaces_env_reward:  # a bonus (curiosity) adds to the env's reward
        metrics["extrinsic_reward"] = rollout.rewards.mean()
        if rollout.intrinsic_rewards is not None:  # a stream and value head of its own
            rollout.intrinsic_rewards.copy_(rewards)
            rewards = rollout.rewards.clone()
        else:
            rewards = rollout.rewards + plugin.intrinsic_coef * rewards
    if reward_fn is not None:
        dones = (rollout.terminated + rollout.truncated).bool().numpy()
        rewards = torch.stack(
            [torch.as_tensor(reward_fn(rewards[t].numpy(), dones[t])) for t in range(len(dones))]
        )
    rollout.rewards.copy_(rewards)
    return metrics
