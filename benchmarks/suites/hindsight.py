"""Hindsight experience replay on bit flipping (Andrychowicz et al. 2017, section 3.1, Fig. 1).

- `hindsight-bitflip`: DQN with its default settings (what `tidyrl train dqn tidyrl/BitFlip-v0`
  chooses) beside the same DQN with `her_future_goals=4` (the paper's k = 4, strategy
  "future"), on 15 bits (50k steps) and 25 bits (100k steps), 3 seeds each. The paper's
  Fig. 1: DQN alone fails from about 13 bits on, DQN with HER solves up to 50. Each record's
  `metrics` hold the greedy success rate over 100 episodes from the reset (`success_rate`):
  an episode that reaches the goal after L flips returns -(L - 1) and one that does not
  returns -n after n flips, so return + length is 1 for a success and 0 for a failure, and
  the success rate is the mean return plus the mean length. These four tasks keep DQN's
  defaults (`preset="none"`: RL-Zoo's CartPole settings); the two `paper-settings` tasks run 25
  bits with the `bitflip` preset, the paper's gamma 0.98, Adam lr 1e-3 and batch 128, which
  `tidyrl train dqn tidyrl/BitFlip-v0` now chooses. Two more 15-bit tasks relabel with the
  paper's other strategies, `her_strategy="final"` and `"episode"` (section 4.5, Fig. 6).
- `hindsight-pointmaze`: SAC, TD3, DDPG (the paper's learner) and TQC (RL-Zoo's learner for its
  goal-conditioned robotics tasks), each beside itself with `her_future_goals=4`, on
  Gymnasium-Robotics' `PointMaze_UMaze-v3` (``pip install -c constraints.txt
  'tidyrl[robotics]'``): a ball pushed by forces to a goal in a U-shaped maze, sparse reward (1
  on each step within 0.45 of the goal, 0 elsewhere), 300-step episodes that never terminate
  (the return counts the steps spent at the goal), 15k steps, 3 seeds, each algorithm's
  defaults but 1,000 random steps. No published curve at this budget: the plain algorithm
  beside each is its baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidyrl.bench.suite import Suite, Task

SUCCESS_EPISODES = 100
BUDGETS = {15: 50_000, 25: 100_000}
"""Bits -> env steps."""
POINTMAZE_ALGOS = ("sac", "td3", "ddpg", "tqc")


def success_rate(agent: Any) -> Mapping[str, float]:
    """Greedy success rate over SUCCESS_EPISODES episodes (module docstring)."""
    stats = agent.evaluate(episodes=SUCCESS_EPISODES, seed=0, deterministic=True)
    return {"success_rate": float(stats["mean_return"] + stats["mean_length"])}


def _bitflip(bits: int, her: bool, preset: str = "none", strategy: str = "future") -> Task:
    settings = "" if preset == "none" else " paper-settings"
    her_settings = {"her_future_goals": 4} if her else {}
    if strategy != "future":
        her_settings["her_strategy"] = strategy
    name = f" her-{strategy}" if strategy != "future" else " her" if her else ""
    return Task(
        "dqn",
        "tidyrl/BitFlip-v0",
        BUDGETS[bits],
        threshold=-bits / 2,
        preset=preset,
        overrides={"env_kwargs": {"n_bits": bits}, **her_settings},
        label=f"dqn{name} bitflip-{bits}{settings}",
        eval_episodes=20,
        reference=(
            "Andrychowicz et al. 2017, Fig. 1: success near 1.0 with HER up to 50 bits"
            if her
            else "Andrychowicz et al. 2017, Fig. 1: DQN alone fails from about 13 bits"
        ),
        metrics=success_rate,
    )


def _pointmaze(algo: str, her: bool) -> Task:
    return Task(
        algo,
        "gymnasium_robotics:PointMaze_UMaze-v3",
        15_000,
        threshold=100.0,
        overrides={"learning_starts": 1_000, **({"her_future_goals": 4} if her else {})},
        label=f"{algo}{' her' if her else ''} pointmaze-umaze",
        eval_every=3_000,
        reference=f"no published curve at 15k steps; plain {algo.upper()} is the baseline",
    )


SUITES = [
    Suite(
        "hindsight-bitflip",
        "value",
        (
            *(_bitflip(bits, her) for bits in BUDGETS for her in (False, True)),
            *(_bitflip(25, her, "bitflip") for her in (False, True)),
            *(_bitflip(15, True, strategy=strategy) for strategy in ("final", "episode")),
        ),
        description="DQN with and without hindsight experience replay on 15 and 25 bits",
    )
]
SUITES.append(
    Suite(
        "hindsight-pointmaze",
        "actor_critic",
        tuple(_pointmaze(algo, her) for algo in POINTMAZE_ALGOS for her in (False, True)),
        description="SAC, TD3, DDPG and TQC with and without hindsight experience replay on "
        "PointMaze_UMaze",
    )
)
