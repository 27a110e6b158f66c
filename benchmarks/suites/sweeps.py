"""Sweeps (issue 26): the best configuration a `tidyrl sweep` found against the defaults it
started from, on seeds the sweep never saw.

* `sweep-ppo-cartpole`: PPO on CartPole-v1, 30k steps (a budget at which the default config,
  RL-Zoo's, is not yet at the 500 cap on every seed). The sweep that chose the "best" task's
  learning rate is recorded in `benchmarks/sweeps/ppo-cartpole.csv` (docs/sweeps.md):

      tidyrl sweep ppo CartPole-v1 --param 'lr=loguniform(1e-4,3e-3)'
          'n_steps=choice(16,32,64,128)' --trials 12 --seeds 2 --steps 30000 --cpus 2 --seed 0

  12 trials of 2 seeds (0 and 1), ASHA with eta 3; three trials ended at the 500 cap, and the
  sweep ranks them by their curve mean (the mean of their evaluations). Its best, lr 2.586e-3
  with the default n_steps 32, runs here beside the default (lr 1e-3) on seeds 10-14.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

SWEPT_LR = 0.002586
"""The learning rate of the sweep's best trial (benchmarks/sweeps/ppo-cartpole.csv, rank 1),
rounded to 4 digits."""

BUDGET = {"threshold": 475, "eval_every": 3_000}

SUITES = [
    Suite(
        "sweep-ppo-cartpole",
        "sweeps",
        (
            Task("ppo", "CartPole-v1", 30_000, label="ppo defaults", **BUDGET),
            Task(
                "ppo",
                "CartPole-v1",
                30_000,
                overrides={"lr": SWEPT_LR},
                label="ppo sweep best (lr 2.586e-3)",
                **BUDGET,
            ),
        ),
        seeds=(10, 11, 12, 13, 14),
        description="the best config of a 12-trial sweep against the defaults, on unseen seeds",
    )
]
