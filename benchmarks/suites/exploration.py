"""Exploration (issue 22): reward plug-ins (`tidyrl.rewards`) against the bare learner.

- `exploration-mountaincar`: DQN with lecture seed 000's curiosity bonus (reward=curiosity, the
  vector environment model's squared prediction error on standardized states) against plain
  DQN, MountainCar-v0, 100k steps, 3 seeds, the same seeds and budget. Both use DQN's plain
  defaults (`--preset none`, RL-Zoo's CartPole settings), not the MountainCar preset DQN picks
  by itself, so that the bonus is the only difference; threshold -150 (the issue's bar: at
  least 2 of 3 seeds with curiosity, while plain DQN should stay near -200; the records show
  the plain learner crossing -150 late on 2 of 3 seeds, see docs/exploration/curiosity.md).

  beta = 1e5: MountainCar's dynamics are smooth and the model learns them within the first
  updates, so C falls to about 1e-6 per step (standardized units squared) and beta C must be
  scaled up to about 0.1 to shape the Q-values at all. With beta = 1 (this suite's first
  record) every evaluation of seed 0 stayed at -200 over 100k steps; on seed 0 at 50k steps
  beta = 1e3 and 1e4 also stayed at -200 by 30k steps, beta = 1e5 reached -154.6 at 20k and
  -114.4 at 30k (exploratory runs, not records).

- `exploration-chain`: PPO on the 20-state chain with a 0.1 distractor (`tidyrl/Chain-v0`, the
  CI test's task for DQN), plain against the SimHash count bonus (beta 0.1) with one value head
  and with the RND paper's two heads (`two_value_heads`: extrinsic and non-episodic intrinsic
  streams), 30k steps, 3 seeds, PPO's plain defaults. Leaving at once earns 0.1; walking the
  chain earns 1 (threshold 0.9).
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task


def _mountaincar(label: str, **overrides: object) -> Task:
    return Task(
        "dqn",
        "MountainCar-v0",
        100_000,
        threshold=-150.0,
        preset="none",
        overrides=overrides,
        label=label,
        eval_every=20_000,
        eval_episodes=10,
    )


CHAIN_ENV = {"env_kwargs": {"n": 20, "distractor": 0.1}}


def _chain(label: str, **overrides: object) -> Task:
    return Task(
        "ppo",
        "tidyrl/Chain-v0",
        30_000,
        threshold=0.9,
        preset="none",
        overrides={**CHAIN_ENV, **overrides},
        label=label,
        eval_every=5_000,
        eval_episodes=2,
    )


SUITES = [
    Suite(
        "exploration-mountaincar",
        "exploration",
        (
            _mountaincar("dqn + curiosity", reward="curiosity", intrinsic_coef=1e5),
            _mountaincar("dqn"),
        ),
        description="DQN + seed 000 curiosity vs plain DQN on MountainCar-v0, 100k steps",
    ),
    Suite(
        "exploration-chain",
        "exploration",
        (
            _chain("ppo"),
            _chain("ppo + count", reward="count", intrinsic_coef=0.1),
            _chain(
                "ppo + count, two value heads",
                reward="count",
                intrinsic_coef=0.1,
                two_value_heads=True,
            ),
        ),
        description="PPO, PPO + count bonus, and PPO + count with two value heads on a chain",
    ),
]
