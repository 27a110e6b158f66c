"""Defaults that generalise (issue 27, item 5): algorithms as a new user runs them.

Each task names no preset and no overrides, so the algorithm's settings are what `tidyrl train
ALGO ENV` chooses: its per-env preset (`Agent.ENV_PRESETS`, RL-Zoo's hyper-parameters) where it
keeps one for the env, its defaults elsewhere. Budgets and references are RL-Zoo's
(rl-baselines3-zoo benchmark.md: mean and std of the final agents' returns over about 150k
evaluation steps; LunarLander's reference is for v2, the zoo's table has no v3 row).

- `defaults-dqn`: DQN on CartPole-v1, Acrobot-v1, MountainCar-v0 and LunarLander-v3.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

ZOO = "RL-Zoo benchmark.md (SB3 DQN, tuned hyper-parameters)"

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

SUITES = [
    Suite(
        "defaults-dqn",
        "value",
        DQN,
        description="DQN with the settings `tidyrl train dqn ENV` chooses, four classic tasks.",
    ),
]
