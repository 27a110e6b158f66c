"""Experts and demonstrations of the imitation suite (`benchmarks/suites/imitation.py`).

    python benchmarks/imitation_data.py            # from the repository root

Trains each expert that `benchmarks/imitation/experts/` lacks (the commands below, seed 0),
collects each demonstrations file that `benchmarks/imitation/demos/` lacks (mode actions,
env seed 0), then prints every expert's return and a uniformly random policy's return over
100 evaluation episodes (the normalisers of `benchmarks/imitation_scores.py`) as JSON.
The committed experts were trained exactly so (`tidyrl train ALGO ENV --steps N --seed 0`, with
the config values listed: SAC on HalfCheetah-v5 with `--preset mujoco`, learning_starts 10,000).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import tidyrl
from tidyrl.data.demos import agent_policy, collect
from tidyrl.envs.make import make_env

ROOT = Path(__file__).resolve().parent / "imitation"
EXPERTS = {
    # name: (algorithm, env, steps, config values)
    "ppo-cartpole": ("ppo", "CartPole-v1", 60_000, {}),
    "sac-pendulum": ("sac", "Pendulum-v1", 15_000, {}),
    # SAC's `mujoco` preset (learning_starts 10,000), as the ac-mujoco suite runs it
    "sac-halfcheetah": ("sac", "HalfCheetah-v5", 100_000, {"learning_starts": 10_000}),
    "vi-gridworld4": ("value-iteration", "tidyrl/GridWorld-v0", 1000, {"gamma": 0.95}),
    "vi-gridworld8": (
        "value-iteration",
        "tidyrl/GridWorld-v0",
        1000,
        {"gamma": 0.95, "env_kwargs": {"size": 8}},
    ),
}
DEMOS = {
    # file: (expert, episodes)
    "cartpole-10.safetensors": ("ppo-cartpole", 10),
    "pendulum-10.safetensors": ("sac-pendulum", 10),
    "halfcheetah-10.safetensors": ("sac-halfcheetah", 10),
    "gridworld4-10.safetensors": ("vi-gridworld4", 10),
    "gridworld8-10.safetensors": ("vi-gridworld8", 10),
}
EVAL_EPISODES = 100


def random_return(agent, episodes: int, seed: int = 0) -> float:
    """Mean return of uniformly random actions, episode i reset with seed + i."""
    env = make_env(agent.env_cfg, seed=seed)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def main() -> None:
    summary = {}
    for name, (algo, env, steps, values) in EXPERTS.items():
        path = ROOT / "experts" / name
        if not (path / "checkpoint").exists():
            tidyrl.make(algo, env, seed=0, **values).learn(steps).save(path)
        expert = tidyrl.load(path)
        summary[name] = {
            "env": expert.env_cfg.id,
            "env_kwargs": expert.env_cfg.kwargs,
            "expert_return": expert.evaluate(episodes=EVAL_EPISODES)["mean_return"],
            "random_return": random_return(expert, EVAL_EPISODES),
        }
    for file, (name, episodes) in DEMOS.items():
        path = ROOT / "demos" / file
        if not path.exists():
            expert = tidyrl.load(ROOT / "experts" / name)
            source = {"expert": f"benchmarks/imitation/experts/{name}", "algo": expert.algo}
            demos = collect(agent_policy(expert), expert.env_cfg, episodes, 0, source)
            demos.save(path)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
