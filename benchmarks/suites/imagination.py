"""Model-based I (issue 24): DDPG with imagination against plain DDPG.

- `imagination-mountaincar`: `ddpg-imagination` (entropy_in=actor, the slide's loss: the actor
  also maximises the entropy of its imagined states; 4 rollouts of 8 model steps from every batch
  state; a 64-64 model) against plain `ddpg`, MountainCarContinuous-v0, the same seeds and
  budget. Both run seed 000's spell chart (`--preset spellchart`: 10x/5x state-size layers,
  Xavier init, Gaussian noise of variance 1 -> 0.3 over 1M steps, tau 0.001, actor lr 1e-4,
  critic lr 2e-4) with the linked code's batch 64, so that the imagination is the only
  difference. Threshold 90 (the issue's bar, at least 2 of 3 seeds; Gymnasium counts 90 as
  solved). The linked code's variant (entropy_in=critic: 16 one-step rollouts, tanh bonuses of
  the rollout spread and the model's curiosity in the critic's target, beta = beta_cur = 1) is a
  third task.

  Budget: 20k steps, a fifth of the issue's 100k, and a 64-64 model instead of seed 000's
  256-128: on the 2-core machine shared with other jobs, attempts at 50k (256-128 model) and
  30k (64-64) ran the imagination at 10-16 steps/s, and six 100k runs did not fit the time
  available.

- `imagination-lunarlander`: the same two agents (the MountainCar settings: spell chart, batch
  64, 4 x 8 rollouts in a 64-64 model) on LunarLanderContinuous-v3 for the issue's 300k steps,
  where the issue asks for the imagination to stay within 5 % of plain DDPG or better.
  Threshold 200 (Gymnasium's "solved"). A third task, `ddpg-imagination actor beta 0.1`, sets
  `entropy_coef` to 0.1: in a 12k-step probe on seed 0 (not a record) the gradient of beta H
  on the actor's parameters was as large as that of Q at beta 1, and a tenth of it at 0.1.
  Recorded: 197.7 / -109.9 / -116.0 against plain DDPG's 8.4 / 242.5 / 54.6
  (docs/algorithms/ddpg-imagination.md).

- `imagination-mountaincar-100k`: the slide's variant and plain DDPG of the suite above at the
  issue's 100k steps, 3 seeds (the linked code's critic variant, which stayed near 0 at 20k
  like plain DDPG, is left out for time). The 64-64 model is kept so that the two records
  differ only in budget.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

STEPS = 20_000
LONG_STEPS = 100_000


def _task(
    algo: str,
    env: str,
    steps: int,
    threshold: float,
    eval_every: int,
    label: str,
    **overrides: object,
) -> Task:
    """Seed 000's spell chart with the linked code's batch 64, greedy evaluation of 10 episodes."""
    return Task(
        algo,
        env,
        steps,
        threshold=threshold,
        preset="spellchart",
        overrides={"batch_size": 64, **overrides},
        label=label,
        eval_every=eval_every,
        eval_episodes=10,
    )


def _lunarlander(algo: str, label: str, **overrides: object) -> Task:
    return _task(algo, "LunarLanderContinuous-v3", 300_000, 200.0, 30_000, label, **overrides)


def _mountaincar(algo: str, label: str, steps: int = STEPS, **overrides: object) -> Task:
    return _task(algo, "MountainCarContinuous-v0", steps, 90.0, 10_000, label, **overrides)


ACTOR_4X8 = {"entropy_in": "actor", "rollouts": 4, "rollout_steps": 8, "model_hidden": (64, 64)}
"""The slide's variant as every record runs it: 4 imagined rollouts of 8 model steps from each
batch state, in a 64-64 model."""


SUITES = [
    Suite(
        "imagination-mountaincar",
        "model-based",
        (
            _mountaincar(
                "ddpg-imagination",
                "ddpg-imagination actor",
                **ACTOR_4X8,
            ),
            _mountaincar("ddpg", "ddpg"),
            _mountaincar(
                "ddpg-imagination",
                "ddpg-imagination critic",
                entropy_in="critic",
                rollouts=16,
                rollout_steps=1,
                model_hidden=(64, 64),
            ),
        ),
        description="DDPG + imagined-state entropy vs plain DDPG on MountainCarContinuous-v0",
    ),
    Suite(
        "imagination-mountaincar-100k",
        "model-based",
        (
            _mountaincar(
                "ddpg-imagination",
                "ddpg-imagination actor 100k",
                LONG_STEPS,
                **ACTOR_4X8,
            ),
            _mountaincar("ddpg", "ddpg 100k", LONG_STEPS),
        ),
        description="DDPG + imagined-state entropy (the slide's variant) vs plain DDPG on "
        "MountainCarContinuous-v0 at the issue's 100k steps",
    ),
    Suite(
        "imagination-lunarlander",
        "model-based",
        (
            _lunarlander(
                "ddpg-imagination",
                "ddpg-imagination actor",
                **ACTOR_4X8,
            ),
            _lunarlander("ddpg", "plain ddpg"),
            _lunarlander(
                "ddpg-imagination",
                "ddpg-imagination actor beta 0.1",
                **ACTOR_4X8,
                entropy_coef=0.1,
            ),
        ),
        description="DDPG + imagined-state entropy (the slide's variant) vs plain DDPG on "
        "LunarLanderContinuous-v3, 300k steps",
    ),
]
