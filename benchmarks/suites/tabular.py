"""Tabular chapter (issue 2): every tabular method on the toy-text tasks, 3 seeds.

Thresholds are the DP optimum of each task (value iteration's greedy return) or, for slippery
FrozenLake 4x4, a little under it (0.70 vs 0.729 over 1,000 episodes). Learners evaluate only at
the end (eval_every = the budget); planners stop at convergence, so their "steps" are iterations.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

LEARNERS = ("mc-control", "sarsa", "q-learning", "expected-sarsa")
TD = ("sarsa", "q-learning", "expected-sarsa")
PLANNERS = ("policy-iteration", "value-iteration")
DET_LAKE = {"env_kwargs": {"is_slippery": False}}


def _task(algo: str, env: str, steps: int, label: str, **kw: object) -> Task:
    return Task(algo, env, steps, label=f"{algo} {label}", eval_every=steps, **kw)  # type: ignore[arg-type]


TASKS = (
    *[
        _task(a, "FrozenLake-v1", 20_000, "4x4-det", threshold=1.0, overrides=DET_LAKE)
        for a in LEARNERS
    ],
    *[
        _task(a, "FrozenLake-v1", 100, "4x4-det", threshold=1.0, overrides=DET_LAKE)
        for a in PLANNERS
    ],
    *[
        _task(
            a,
            "FrozenLake-v1",
            300_000,
            "4x4-slippery",
            threshold=0.7,
            eval_episodes=1000,
            overrides={"alpha": 0.05},
        )
        for a in TD
    ],
    _task(
        "mc-control", "FrozenLake-v1", 300_000, "4x4-slippery", threshold=0.7, eval_episodes=1000
    ),
    *[
        _task(a, "FrozenLake-v1", 1000, "4x4-slippery", threshold=0.7, eval_episodes=1000)
        for a in PLANNERS
    ],
    *[
        _task(
            a,
            "FrozenLake-v1",
            1000,
            "8x8-slippery",
            eval_episodes=1000,
            overrides={"env_kwargs": {"map_name": "8x8"}},
        )
        for a in PLANNERS
    ],
    # Sutton & Barto Example 6.6: SARSA learns the safe path (-17), Q-learning the optimal (-13)
    *[
        _task(a, "CliffWalking-v1", 30_000, "cliff", threshold=-17, eval_episodes=1, preset="cliff")
        for a in TD
    ],
    _task(
        "sarsa",
        "CliffWalking-v1",
        30_000,
        "cliff alpha=0.2",
        threshold=-17,
        eval_episodes=1,
        preset="cliff",
        overrides={"alpha": 0.2},
    ),
    *[_task(a, "CliffWalking-v1", 1000, "cliff", threshold=-13, eval_episodes=1) for a in PLANNERS],
    *[
        _task(
            a,
            "Taxi-v4",
            200_000,
            "taxi",
            threshold=7.5,
            eval_episodes=100,
            overrides={"alpha": 0.1},
        )
        for a in TD
    ],
    _task("mc-control", "Taxi-v4", 500_000, "taxi", threshold=7.5, eval_episodes=100),
    *[_task(a, "Taxi-v4", 1000, "taxi", threshold=7.5, eval_episodes=100) for a in PLANNERS],
    *[_task(a, "tidyrl/GridWorld-v0", 10_000, "gridworld", threshold=1.0) for a in LEARNERS],
    *[_task(a, "tidyrl/GridWorld-v0", 100, "gridworld", threshold=1.0) for a in PLANNERS],
)

SUITES = [
    Suite(
        "tabular",
        "tabular",
        TASKS,
        description="Every tabular method on FrozenLake, CliffWalking, Taxi and the gridworld.",
    )
]
