"""Model-based II (issue 25): Dreamer (DreamerV3) learning records on a CPU.

* ``dreamer-cartpole``: Dreamer's ``cpu`` preset (a 128-unit RSSM with 16 x 16 latents, 1000
  random prefill steps) with batches of 8 x 32 and train ratio 64 (one update every 4 env
  steps) on CartPole-v1, 8k steps, threshold 475; tidyrl's PPO reaches 475 at 25k steps and DQN
  at 20k-40k (RESULTS.md: pg-cartpole, value-cartpole, defaults-dqn).
* ``dreamer-dmc``: dm_control cartpole-swingup from proprioception (``dmc/cartpole-swingup-v0``,
  action repeat 2, so 12k agent steps are 24k simulator steps), Dreamer's ``cpu`` preset with
  batches of 8 x 32 and train ratio 32 (one update every 8 env steps) beside tidyrl's SAC (64-64,
  its defaults otherwise) and PPO (its defaults) at the same steps. DreamerV3's published score
  at 100k simulator steps is 517 (5 seeds; PPO there: 117).

* ``dreamer-dmc-100k``: the same three learners on cartpole-swingup at the budget of the
  published score and of issue 25's target (>= 400): 50k agent steps = 100k simulator steps.

* ``dreamer-dmc-pixels``: cartpole-swingup from 64x64 pixels (``dmc/cartpole-swingup-pixels-v0``,
  action repeat 2), Dreamer's ``cpu`` preset with batches of 8 x 32 and train ratio 32, 20k agent
  steps (40k simulator steps), 3 greedy episodes every 4k agent steps (8k simulator steps: the
  points of the published curve). The published curve (``PIXELS_REFERENCE``) is read from
  DreamerV3's ``scores/dmc_vision-*.json.gz``. Beside it, at the same steps: tidyrl's SAC with a
  CNN per network (batch 64, to fit the CPU budget) and PPO (a CNN each for actor and critic).

* ``dreamer-speed``: env steps/s and updates/s (and the bare update rate of `update_probe`) of
  the ``xs`` preset (the paper's hyper-parameters: batch 16 x 64, train ratio 512, one update
  every 2 env steps) on CartPole-v1: 1000 prefill steps, then 200 steps (100 updates) of
  training. Speed only; 1,200 steps learn nothing. The ``cpu`` preset's rates are in the two
  learning suites.

The budgets (steps, seeds, batch 8 instead of 16) are what a 2-core machine shared with about
six other jobs could run in the hour available: each Dreamer run had about a tenth of a core.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task


def published(score: int, ppo: int) -> str:
    """DreamerV3's published score at 100k simulator steps, and PPO's there."""
    return (
        "DreamerV3 (Hafner et al. 2023, scores/dmc_proprio-dreamerv3.json.gz of its repository, "
        f"5 seeds): {score} at 100k simulator steps (50k agent steps with action repeat 2); PPO "
        f"there {ppo}"
    )


def _dmc(env: str, reference: str, steps: int = 12_000) -> tuple[Task, ...]:
    """Dreamer's cpu preset (batch 8, train ratio 32) beside SAC (64-64) and PPO, `steps` agent
    steps, 3 greedy episodes at each quarter of the budget."""
    every = steps // 4
    return (
        Task(
            "dreamer",
            env,
            steps,
            preset="cpu",
            overrides={"batch_size": 8, "train_ratio": 32.0},
            eval_every=every,
            eval_episodes=3,
            reference=reference,
        ),
        Task("sac", env, steps, overrides={"hidden": (64, 64)}, eval_every=every, eval_episodes=3),
        Task("ppo", env, steps, eval_every=every, eval_episodes=3),
    )


DMC_REFERENCE = published(517, 117)
PIXELS_ENV = "dmc/cartpole-swingup-pixels-v0"
PIXELS_REFERENCE = (
    "DreamerV3 from pixels (Hafner et al. 2023, scores/dmc_vision-dreamerv3.json.gz of its "
    "repository, mean of 10 seeds): 82 / 150 / 187 / 230 / 290 at 8k / 16k / 24k / 32k / 40k "
    "simulator steps (4k-20k agent steps); SAC from pixels there (dmc_vision-sac, 10 seeds) 196 "
    "at 20k and 246 at 40k simulator steps; PPO (dmc_vision-ppo_fixhp, 5 seeds) 27-54 at 8k-40k"
)


SUITES = [
    Suite(
        "dreamer-cartpole",
        "dreamer",
        (
            Task(
                "dreamer",
                "CartPole-v1",
                8_000,
                threshold=475,
                preset="cpu",
                overrides={"batch_size": 8},
                eval_every=2_000,
                reference="tidyrl PPO reaches 475 at 25k steps, DQN at 20k-40k (RESULTS.md)",
            ),
        ),
        description="Dreamer (cpu preset, batch 8) on CartPole-v1 at 8k steps; solved at 475.",
    ),
    Suite(
        "dreamer-dmc",
        "dreamer",
        _dmc("dmc/cartpole-swingup-v0", DMC_REFERENCE),
        description="dm_control cartpole-swingup (proprio, action repeat 2) at 12k agent steps.",
    ),
    Suite(
        "dreamer-dmc-more",
        "dreamer",
        (
            *_dmc("dmc/reacher-easy-v0", published(781, 109)),
            *_dmc("dmc/pendulum-swingup-v0", published(744, 0)),
        ),
        description="dm_control reacher-easy and pendulum-swingup (proprio, action repeat 2) at "
        "12k agent steps.",
    ),
    Suite(
        "dreamer-dmc-100k",
        "dreamer",
        _dmc("dmc/cartpole-swingup-v0", DMC_REFERENCE, steps=50_000),
        seeds=(0,),
        description="dm_control cartpole-swingup at the published budget: 50k agent steps = 100k "
        "simulator steps (action repeat 2); seed 0 first.",
    ),
    Suite(
        "dreamer-dmc-pixels",
        "dreamer",
        (
            Task(
                "dreamer",
                PIXELS_ENV,
                20_000,
                preset="cpu",
                overrides={"batch_size": 8, "train_ratio": 32.0},
                eval_every=4_000,
                eval_episodes=3,
                reference=PIXELS_REFERENCE,
            ),
            # SAC with a CNN per network (since the fix of image Box observations), batch 64
            # instead of 256 to fit the CPU budget (update times: docs/algorithms/dreamer.md)
            Task(
                "sac",
                PIXELS_ENV,
                20_000,
                overrides={"batch_size": 64},
                eval_every=4_000,
                eval_episodes=3,
            ),
            # PPO with a CNN each for the actor and the critic (an image Box since the fix)
            Task("ppo", PIXELS_ENV, 20_000, eval_every=4_000, eval_episodes=3),
        ),
        description="dm_control cartpole-swingup from 64x64 pixels (action repeat 2) at 20k agent "
        "steps = 40k simulator steps, beside DreamerV3's published pixel curve.",
    ),
    Suite(
        "dreamer-speed",
        "dreamer",
        (
            Task(
                "dreamer",
                "CartPole-v1",
                1_200,
                preset="xs",
                overrides={"learning_starts": 1000},
                eval_every=1_200,
                eval_episodes=2,
            ),
        ),
        seeds=(0,),
        description="Dreamer xs preset: env steps/s and updates/s on CartPole-v1.",
    ),
]
