"""Rollout collection vs raw vector-env stepping (issue 4, speed): CartPole-v1 x 8.

raw:      gymnasium SyncVectorEnv (SAME_STEP autoreset) stepped with random actions, nothing else
vecenv:   tidyrl's VecEnv (final observations, episode stats, finiteness checks), random actions
rollout:  tidyrl.loops.on_policy.collect_rollout with PPO's actor-critic (sampling, storage,
          bootstrap values of truncated episodes), no learning

    .venv/bin/python benchmarks/rollout_speed.py [--steps 50000] [--repeats 3]

Prints steps/s (medians over repeats) and the ratios to raw stepping. One torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import tidyrl
from tidyrl.loops.on_policy import collect_rollout


def raw(steps: int, n_envs: int) -> float:
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    envs = SyncVectorEnv(
        [lambda: gym.make("CartPole-v1") for _ in range(n_envs)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=0)
    envs.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        envs.step(envs.action_space.sample())
    return steps / (time.perf_counter() - start)


def vecenv(steps: int, n_envs: int) -> float:
    agent = tidyrl.make("ppo", "CartPole-v1", seed=0, n_envs=n_envs)
    env = agent.env
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        env.step(env.envs.action_space.sample())
    return steps / (time.perf_counter() - start)


def rollout(steps: int, n_envs: int) -> float:
    agent = tidyrl.make("ppo", "CartPole-v1", seed=0, n_envs=n_envs)
    n_rollouts = steps // (n_envs * agent.config.n_steps)
    with agent.training(n_rollouts * n_envs * agent.config.n_steps):
        start = time.perf_counter()
        for _ in range(n_rollouts):
            collect_rollout(agent, agent.policy, agent.rollout, agent.io, agent.io.obs)
        elapsed = time.perf_counter() - start
    return n_rollouts * n_envs * agent.config.n_steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name, fn in (("raw", raw), ("vecenv", vecenv), ("rollout", rollout)):
        results[name] = statistics.median(fn(args.steps, args.n_envs) for _ in range(args.repeats))
    for name, value in results.items():
        print(f"{name:8s} {value:10,.0f} steps/s   {value / results['raw']:.2f}x raw")


if __name__ == "__main__":
    main()
