"""The quick suite: a few minutes of small learning runs that CI uses to catch regressions.

`tidyrl bench run quick --check` exits non-zero when a task is solved by fewer than
`min_solved` seeds. Budgets are small on purpose; the full suites run on demand.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

DET_LAKE = {"env_kwargs": {"is_slippery": False}}

SUITES = [
    Suite(
        "quick",
        "quick",
        (
            Task(
                "q-learning",
                "FrozenLake-v1",
                20_000,
                threshold=1.0,
                overrides=DET_LAKE,
                label="q-learning 4x4-det",
                eval_every=5_000,
                min_solved=2,
            ),
            Task(
                "value-iteration",
                "Taxi-v4",
                1000,
                threshold=7.5,
                eval_episodes=100,
                label="value-iteration taxi",
                eval_every=1000,
                min_solved=2,
            ),
        ),
        seeds=(0, 1),
        description="CI regression gate: small budgets, two seeds.",
    )
]
