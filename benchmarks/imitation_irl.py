"""MaxEnt IRL on the lectures' gridworld (4x4) and an 8x8 one: the numbers the bench records
cannot hold, over seeds 0, 1, 2.

    python benchmarks/imitation_irl.py            # from the repository root, after
                                                  # benchmarks/imitation_data.py

For each grid and reward model (linear, deep preset) it trains `maxent-irl` on the committed
value-iteration demonstrations (10 episodes; tolerance 1e-3, at most 5,000 iterations) and
prints one Markdown row per run: iterations, wall seconds, the visitation error
max_s |mu_D(s) - mu(s)| recomputed from the stored reward, the greedy return over 100 episodes
against the expert's and a random policy's (expert-normalised score), and the Pearson
correlation of the learned reward table with the true one (1 for entering the goal, else 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import tidyrl
from tidyrl.algos.imitation.maxent_irl import soft_value_iteration, state_visitation

ROOT = Path(__file__).resolve().parent / "imitation"
GRIDS = {4: "gridworld4-10.safetensors", 8: "gridworld8-10.safetensors"}
EPISODES = 100


def random_return(env_kwargs: dict[str, int], episodes: int) -> float:
    agent = tidyrl.make("value-iteration", "tidyrl/GridWorld-v0", env_kwargs=env_kwargs)
    rng = np.random.default_rng(0)
    agent.act = lambda obs, deterministic=False: rng.integers(0, 4, size=len(np.ravel(obs)))
    return tidyrl.evaluate(agent, episodes=episodes)["mean_return"]


def main() -> None:
    print(
        "| grid | reward | seed | iterations | wall s | visitation error | return | expert "
        "| random | normalised | reward corr. |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, demos in GRIDS.items():
        kwargs = {"size": size}
        expert = tidyrl.load(ROOT / "experts" / f"vi-gridworld{size}")
        expert_return = expert.evaluate(episodes=EPISODES)["mean_return"]
        random = random_return(kwargs, EPISODES)
        true_reward = np.eye(size * size)[-1]
        for preset in (None, "deep"):
            for seed in (0, 1, 2):
                agent = tidyrl.make(
                    "maxent-irl",
                    "tidyrl/GridWorld-v0",
                    seed=seed,
                    preset=preset,
                    demos=str(ROOT / "demos" / demos),
                    env_kwargs=kwargs,
                )
                start = time.perf_counter()
                agent.learn(5000)
                wall = time.perf_counter() - start
                mu_demo, p0 = agent.demos
                model, gamma = agent.model, agent.config.gamma
                _, _, policy = soft_value_iteration(agent.reward, model.p, model.p_end, gamma)
                mu = state_visitation(policy, model.p, model.p_end, p0, gamma)
                ret = agent.evaluate(episodes=EPISODES)["mean_return"]
                score = (ret - random) / (expert_return - random)
                corr = np.corrcoef(agent.reward, true_reward)[0, 1]
                print(
                    f"| {size}x{size} | {'deep' if preset else 'linear'} | {seed} "
                    f"| {agent.counters['steps']} | {wall:.2f} | {np.abs(mu - mu_demo).max():.3e} "
                    f"| {ret:.2f} | {expert_return:.2f} | {random:.2f} | {score:.2f} | {corr:.3f} |"
                )


if __name__ == "__main__":
    main()
