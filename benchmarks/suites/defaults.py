"""Defaults that generalise (issue 27, item 5): algorithms as a new user runs them.

Each task names no preset and no overrides, so the algorithm's settings are what `tidyrl train
ALGO ENV` chooses: its per-env preset (`Agent.ENV_PRESETS`, RL-Zoo's hyper-parameters) where it
keeps one for the env, its defaults elsewhere. Budgets and references are RL-Zoo's
(rl-baselines3-zoo benchmark.md: mean and std of the final agents' returns over about 150k
evaluation steps; LunarLander's reference is for v2, the zoo's table has no v3 row).

- `defaults-dqn`: DQN on CartPole-v1, Acrobot-v1, MountainCar-v0 and LunarLander-v3.
- `defaults-ppo`, `defaults-a2c`: PPO and A2C on the same four tasks, at RL-Zoo's budgets for
  each (its benchmark.md's `n_timesteps` column).
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

ZOO = "RL-Zoo benchmark.md (SB3 DQN, tuned hyper-parameters)"
ZOO_PPO = "RL-Zoo benchmark.md (SB3 PPO, tuned hyper-parameters)"
ZOO_A2C = "RL-Zoo benchmark.md (SB3 A2C, tuned hyper-parameters)"

DQN = (
    Task("dqn", "CartPole-v1", 50_000, threshold=475, reference=f"{ZOO}: 500.0 ± 0.0 at 50k"),
    Task("dqn", "Acrobot-v1", 100_000, threshold=-100, reference=f"{ZOO}: -76.6 ± 11.8 at 100k"),
    Task(
        "dqn", "MountainCar-v0", 120_000, threshold=-110, reference=f"{ZOO}: -100.8 ± 9.9 at 120k"
    ),
    Task(
        "dqn",
        "LunarLander-v3",
        100_000,
        threshold=100,
        reference=f"{ZOO}: 154.4 ± 79.2 at 100k (LunarLander-v2)",
    ),
)


def _discrete(algo: str, zoo: str, cells: tuple[tuple[int, float, str], ...]) -> tuple[Task, ...]:
    """One algorithm on the four discrete tasks: (RL-Zoo's budget, threshold, RL-Zoo's score)."""
    envs = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")
    return tuple(
        Task(algo, env, steps, threshold=threshold, reference=f"{zoo}: {score}")
        for env, (steps, threshold, score) in zip(envs, cells, strict=True)
    )


PPO = _discrete(
    "ppo",
    ZOO_PPO,
    (
        (100_000, 475, "500.0 ± 0.0 at 100k"),
        (1_000_000, -100, "-73.5 ± 18.2 at 1M"),
        (1_000_000, -120, "-110.4 ± 19.5 at 1M"),
        (1_000_000, 200, "242.1 ± 31.8 at 1M (LunarLander-v2)"),
    ),
)
A2C = _discrete(
    "a2c",
    ZOO_A2C,
    (
        (500_000, 475, "500.0 ± 0.0 at 500k"),
        (500_000, -100, "-83.4 ± 17.2 at 500k"),
        (1_000_000, -120, "-111.3 ± 24.1 at 1M"),
        (200_000, 100, "155.8 ± 80.4 at 200k (LunarLander-v2)"),
    ),
)

SUITES = [
    Suite(
        "defaults-dqn",
        "value",
        DQN,
        description="DQN with the settings `tidyrl train dqn ENV` chooses, four classic tasks.",
    ),
    Suite(
        "defaults-ppo",
        "policy_gradient",
        PPO,
        description="PPO with the settings `tidyrl train ppo ENV` chooses, four classic tasks.",
    ),
    Suite(
        "defaults-a2c",
        "policy_gradient",
        A2C,
        description="A2C with the settings `tidyrl train a2c ENV` chooses, four classic tasks.",
    ),
]
