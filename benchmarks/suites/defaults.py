"""Defaults that generalise (issue 27, item 5): algorithms as a new user runs them.

Each task names no preset and no overrides, so the algorithm's settings are what `tidyrl train
ALGO ENV` chooses: its per-env preset (`Agent.ENV_PRESETS`, RL-Zoo's hyper-parameters) where it
keeps one for the env, its defaults elsewhere. Budgets and references are RL-Zoo's
(rl-baselines3-zoo benchmark.md: mean and std of the final agents' returns over about 150k
evaluation steps; LunarLander's reference is for v2, the zoo's table has no v3 row).

- `defaults-dqn`: DQN on CartPole-v1, Acrobot-v1, MountainCar-v0 and LunarLander-v3.
- `defaults-soft-q`: soft Q-learning on DQN's four tasks and budgets with DQN's RL-Zoo settings
  (temperatures for MountainCar's and LunarLander's action gaps, src/tidyrl/algos/value/
  soft_q.py), beside RL-Zoo's DQN.
- `defaults-ppo`, `defaults-a2c`: PPO and A2C on the same four tasks, at RL-Zoo's budgets for
  each (its benchmark.md's `n_timesteps` column).
- `defaults-rainbow`, `defaults-c51`: the distributional agents on DQN's four tasks and budgets.
  RL-Zoo keeps no C51 or Rainbow, so their per-env presets take DQN's RL-Zoo settings and add
  each task's return support (src/tidyrl/algos/value/common.py). The references are RL-Zoo's
  QR-DQN (its one distributional DQN) and DQN at the same budgets.
- `defaults-qr-dqn`: QR-DQN on the same four tasks and budgets, its per-env presets DQN's RL-Zoo
  settings with RL-Zoo's QR-DQN quantile counts, beside RL-Zoo's QR-DQN itself.
- `defaults-pg`: REINFORCE, the one-step actor-critic and A3C on the four discrete tasks. RL-Zoo
  keeps none of them, so the reference is its A2C (the synchronous A3C, and the n-step form of
  the other two) at A2C's budget. They run A2C's budget or less, except on LunarLander, where
  Monte Carlo and one-step methods need more steps (`PG_BUDGETS`, `REINFORCE_BUDGETS`,
  `A3C_BUDGETS`).
- `defaults-recurrent`: recurrent PPO (LSTM) on the four discrete tasks with RL-Zoo's
  `ppo_lstm.yml` settings, beside RL-Zoo's feed-forward PPO (the zoo reports no recurrent score
  for these envs), and R2D2 with its defaults on DQN's tasks and budgets beside RL-Zoo's DQN.
- `defaults-trpo`: TRPO on the four discrete tasks and the four continuous ones below, at
  RL-Zoo's TRPO budgets (gSDE on Pendulum and MountainCarContinuous, as RL-Zoo's setting).
- `defaults-ars`: ARS (a linear policy searched by random directions) on CartPole, Acrobot,
  MountainCar, MountainCarContinuous, LunarLanderContinuous and Swimmer, where RL-Zoo keeps
  settings for its linear policy and a score, at RL-Zoo's budgets.
- `defaults-continuous`: SAC, TD3, DDPG, TQC, D4PG, SDDPG and PPO on the four continuous-action
  classic-control and Box2D tasks (Pendulum-v1, MountainCarContinuous-v0, LunarLanderContinuous-v3,
  BipedalWalker-v3), at RL-Zoo's budgets. Where the zoo's setting explores with gSDE
  (state-dependent exploration: SAC and PPO on MountainCarContinuous, PPO on Pendulum, SAC on
  BipedalWalker; TQC on MountainCarContinuous and BipedalWalker), tidyrl's preset does too
  (`use_sde`); on Pendulum, where the zoo's TQC uses it too, tidyrl's does not: the policy's own
  Gaussian reaches the zoo's score there.
"""

from __future__ import annotations

from dataclasses import replace

from tidyrl.bench.suite import Suite, Task

ZOO = "RL-Zoo benchmark.md (SB3 DQN, tuned hyper-parameters)"
ZOO_PPO = "RL-Zoo benchmark.md (SB3 PPO, tuned hyper-parameters)"
ZOO_A2C = "RL-Zoo benchmark.md (SB3 A2C, tuned hyper-parameters)"
ZOO_SAC = "RL-Zoo benchmark.md (SB3 SAC, tuned hyper-parameters)"
ZOO_TD3 = "RL-Zoo benchmark.md (SB3 TD3, tuned hyper-parameters)"
ZOO_DDPG = "RL-Zoo benchmark.md (SB3 DDPG, tuned hyper-parameters)"
ZOO_TRPO = "RL-Zoo benchmark.md (SB3-contrib TRPO, tuned hyper-parameters)"
ZOO_TQC = "RL-Zoo benchmark.md (SB3-contrib TQC, tuned hyper-parameters)"
ZOO_ARS = "RL-Zoo benchmark.md (SB3-contrib ARS, tuned hyper-parameters)"
ZOO_QRDQN = "RL-Zoo benchmark.md (SB3-contrib QR-DQN; DQN in brackets)"

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

QRDQN_SCORES = (
    "500.0 ± 0.0 at 50k (DQN 500.0 ± 0.0)",
    "-69.1 ± 10.0 at 100k (DQN -76.6 ± 11.8)",
    "-106.0 ± 15.5 at 120k (DQN -100.8 ± 9.9)",
    "70.2 ± 225.5 at 100k, LunarLander-v2 (DQN 154.4 ± 79.2)",
)
"""RL-Zoo's QR-DQN and DQN on DQN's four tasks, at DQN's budgets."""


def _distributional(algo: str) -> tuple[Task, ...]:
    """A distributional agent on DQN's four tasks, at DQN's budgets and thresholds."""
    return tuple(
        replace(task, algo=algo, reference=f"{ZOO_QRDQN}: {score}")
        for task, score in zip(DQN, QRDQN_SCORES, strict=True)
    )


SOFT_Q = tuple(
    replace(task, algo="soft-q", reference=f"{task.reference}, DQN; RL-Zoo keeps no soft Q")
    for task in DQN
)
"""Soft Q-learning on DQN's tasks and budgets, beside RL-Zoo's DQN."""

DISCRETE = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")
CONTINUOUS = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "LunarLanderContinuous-v3",
    "BipedalWalker-v3",
)


def _four(
    algo: str,
    zoo: str,
    cells: tuple[tuple[int, float, str], ...],
    envs: tuple[str, ...] = DISCRETE,
    eval_episodes: tuple[int, ...] = (10, 10, 10, 10),
) -> tuple[Task, ...]:
    """One algorithm on four tasks: (RL-Zoo's budget, threshold, RL-Zoo's score) per env."""
    return tuple(
        Task(
            algo,
            env,
            steps,
            threshold=threshold,
            reference=f"{zoo}: {score}",
            eval_episodes=episodes,
        )
        for env, (steps, threshold, score), episodes in zip(envs, cells, eval_episodes, strict=True)
    )


PPO = _four(
    "ppo",
    ZOO_PPO,
    (
        (100_000, 475, "500.0 ± 0.0 at 100k"),
        (1_000_000, -100, "-73.5 ± 18.2 at 1M"),
        (1_000_000, -120, "-110.4 ± 19.5 at 1M"),
        (1_000_000, 200, "242.1 ± 31.8 at 1M (LunarLander-v2)"),
    ),
)
A2C = _four(
    "a2c",
    ZOO_A2C,
    (
        (500_000, 475, "500.0 ± 0.0 at 500k"),
        (500_000, -100, "-83.4 ± 17.2 at 500k"),
        (1_000_000, -120, "-111.3 ± 24.1 at 1M"),
        (200_000, 100, "155.8 ± 80.4 at 200k (LunarLander-v2)"),
    ),
)
A2C_SCORES = tuple(reference.split(": ", 1)[1] for reference in (t.reference for t in A2C))
PG_BUDGETS = ((100_000, 475), (100_000, -100), (200_000, -120), (300_000, 100))
"""REINFORCE's, one-step actor-critic's and A3C's budgets: within A2C's (their nearest RL-Zoo
relative) except on LunarLander, where Monte Carlo and one-step methods need more steps."""
REINFORCE_BUDGETS = ((100_000, 475), (500_000, -100), (1_000_000, -120), PG_BUDGETS[3])
"""REINFORCE runs Acrobot and MountainCar for A2C's 500k and 1M, the steps of the scores it is
set beside: its updates carry no signal until episodes reach the goal, and under the
near-uniform starting policy seed 1's Acrobot training return stayed at -500 until 240k steps
(-500 at 100k; -88.7 at 500k); on MountainCar one seed of three ended above -120 at 200k,
every seed at 1M."""
A3C_BUDGETS = (PG_BUDGETS[0], PG_BUDGETS[1], REINFORCE_BUDGETS[2], PG_BUDGETS[3])
"""A3C runs MountainCar for A2C's 1M, the steps of the score it is set beside: at 200k its
greedy returns sat at the threshold's edge (-128.2 / -118.9 / -122.0, one seed of three above
-120)."""


def _pg(algo: str, budgets: tuple[tuple[int, float], ...] = PG_BUDGETS) -> tuple[Task, ...]:
    """A policy-gradient method RL-Zoo keeps no settings for, beside RL-Zoo's A2C."""
    return _four(
        algo,
        f"{ZOO_A2C}; RL-Zoo keeps no {algo}",
        tuple(
            (steps, threshold, score)
            for (steps, threshold), score in zip(budgets, A2C_SCORES, strict=True)
        ),
    )


RECURRENT_PPO = _four(
    "recurrent-ppo",
    f"{ZOO_PPO}; RL-Zoo keeps recurrent-PPO settings (ppo_lstm.yml) but no score on these envs",
    (
        (100_000, 475, "500.0 ± 0.0 at 100k"),
        (1_000_000, -100, "-73.5 ± 18.2 at 1M"),
        (400_000, -120, "-110.4 ± 19.5 at 1M"),
        (1_000_000, 200, "242.1 ± 31.8 at 1M (LunarLander-v2)"),
    ),
)
"""Recurrent PPO on the four discrete tasks beside RL-Zoo's feed-forward PPO. Acrobot runs
RL-Zoo's 1M, the steps of the score beside it (seed 2's greedy policy fails one of its ten
evaluation episodes at 200k and at 1M; the mean over seeds is -98.3 at 200k, -92.0 at 1M). On
MountainCar the budget is two fifths of RL-Zoo's (PPO crosses the threshold by 200k
there): at 1M the seeds did worse (-200 / -142.4 / -136.7 against -125.8 / -123.7 / -128.0 at
400k)."""

R2D2 = tuple(
    replace(task, algo="r2d2", reference=f"{task.reference}, DQN; RL-Zoo keeps no R2D2")
    for task in DQN
)
"""Recurrent DQN (R2D2, its defaults: no per-env settings) on DQN's tasks and budgets, beside
RL-Zoo's DQN."""

TRPO_DISCRETE = _four(
    "trpo",
    ZOO_TRPO,
    (
        (100_000, 475, "500.0 ± 0.0 at 100k"),
        (100_000, -100, "-83.1 ± 18.6 at 100k"),
        (100_000, -120, "-107.3 ± 13.2 at 100k"),
        (200_000, 100, "133.2 ± 112.2 at 200k (LunarLander-v2)"),
    ),
)
CONTINUOUS_THRESHOLDS = (-200, 90, 200, 250)
"""Solved on Pendulum, MountainCarContinuous, LunarLanderContinuous and BipedalWalker."""
CONTINUOUS_EVAL_EPISODES = (50, 10, 10, 10)
"""Evaluation episodes on each: Pendulum's return depends on the random starting angle (ten
episodes of one policy spread by about +-100), so its evaluations take 50 (RL-Zoo's figures
average about 750 episodes there)."""

ZOO_CONTINUOUS = {
    ("sac", ZOO_SAC): (
        (20_000, "-157.0 ± 88.7 at 20k"),
        (50_000, "94.7 ± 1.1 at 50k (gSDE)"),
        (500_000, "260.4 ± 65.5 at 500k (LunarLanderContinuous-v2)"),
        (500_000, "297.7 ± 33.1 at 500k (gSDE)"),
    ),
    ("td3", ZOO_TD3): (
        (20_000, "-151.9 ± 90.2 at 20k"),
        (300_000, "93.5 ± 0.1 at 300k"),
        (300_000, "207.5 ± 67.6 at 300k (LunarLanderContinuous-v2)"),
        (1_000_000, "306.0 ± 56.9 at 1M"),
    ),
    ("ddpg", ZOO_DDPG): (
        (20_000, "-152.1 ± 94.3 at 20k"),
        (300_000, "93.5 ± 0.0 at 300k"),
        (300_000, "230.2 ± 92.4 at 300k (LunarLanderContinuous-v2)"),
        (1_000_000, "197.5 ± 141.6 at 1M"),
    ),
    ("tqc", ZOO_TQC): (
        (20_000, "-151.3 ± 87.9 at 20k (gSDE)"),
        (50_000, "63.6 ± 45.3 at 50k (gSDE)"),
        (500_000, "278.0 ± 25.5 at 500k (LunarLanderContinuous-v2)"),
        (500_000, "329.8 ± 45.1 at 500k (gSDE)"),
    ),
    ("trpo", ZOO_TRPO): (
        (100_000, "-174.6 ± 127.6 at 100k (gSDE)"),
        (50_000, "92.5 ± 0.4 at 50k (gSDE)"),
        (200_000, "262.4 ± 21.4 at 200k (LunarLanderContinuous-v2)"),
        (1_000_000, "182.3 ± 145.6 at 1M"),
    ),
    ("ppo", ZOO_PPO): (
        (100_000, "-172.2 ± 104.2 at 100k (gSDE)"),
        (20_000, "88.3 ± 2.6 at 20k (gSDE)"),
        (1_000_000, "270.9 ± 32.1 at 1M (LunarLanderContinuous-v2)"),
        (5_000_000, "287.9 ± 2.4 at 5M"),
    ),
}
"""(algorithm, source) -> RL-Zoo's (budget, score) on each of the `CONTINUOUS` tasks."""
for _algo in ("d4pg", "sddpg"):
    # DDPG's distributional forms take DDPG's RL-Zoo settings (and D4PG a support per task)
    ZOO_CONTINUOUS[_algo, f"{ZOO_DDPG}; RL-Zoo keeps no {_algo}"] = ZOO_CONTINUOUS["ddpg", ZOO_DDPG]


def _continuous(algo: str, zoo: str) -> tuple[Task, ...]:
    """One algorithm on the four `CONTINUOUS` tasks at RL-Zoo's budgets."""
    return _four(
        algo,
        zoo,
        tuple(
            (steps, threshold, score)
            for (steps, score), threshold in zip(
                ZOO_CONTINUOUS[algo, zoo], CONTINUOUS_THRESHOLDS, strict=True
            )
        ),
        CONTINUOUS,
        CONTINUOUS_EVAL_EPISODES,
    )


ARS = tuple(
    Task("ars", env, steps, threshold=threshold, reference=f"{ZOO_ARS}: {score}")
    for env, steps, threshold, score in (
        ("CartPole-v1", 50_000, 475, "500.0 ± 0.0 at 50k"),
        ("Acrobot-v1", 500_000, -100, "-82.9 ± 23.8 at 500k"),
        ("MountainCar-v0", 500_000, -120, "-122.0 ± 33.5 at 500k"),
        ("MountainCarContinuous-v0", 500_000, 90, "96.7 ± 0.8 at 500k"),
        (
            "LunarLanderContinuous-v3",
            2_000_000,
            200,
            "168.0 ± 147.1 at 2M (LunarLanderContinuous-v2)",
        ),
        ("Swimmer-v5", 2_000_000, 325, "355.3 ± 12.8 at 2M (Swimmer-v3)"),
    )
)
"""ARS (a linear policy) where RL-Zoo keeps its LinearPolicy settings and a score, and on
Swimmer, the MuJoCo task where the paper's settings are cheapest (Hopper's 7M steps would take
hours here); 325 is the paper's Swimmer threshold (Table 1)."""

CONTINUOUS_TASKS = tuple(
    # TRPO's continuous tasks run in its own suite, `defaults-trpo`, beside its discrete ones
    task
    for algo, zoo in ZOO_CONTINUOUS
    if algo != "trpo"
    for task in _continuous(algo, zoo)
)

SUITES = [
    Suite(
        "defaults-dqn",
        "value",
        DQN,
        description="DQN with the settings `tidyrl train dqn ENV` chooses, four classic tasks.",
    ),
    Suite(
        "defaults-rainbow",
        "value",
        _distributional("rainbow"),
        description="Rainbow with the settings `tidyrl train rainbow ENV` chooses, DQN's four "
        "tasks.",
    ),
    Suite(
        "defaults-c51",
        "value",
        _distributional("c51"),
        description="C51 with the settings `tidyrl train c51 ENV` chooses, DQN's four tasks.",
    ),
    Suite(
        "defaults-qr-dqn",
        "value",
        _distributional("qr-dqn"),
        description="QR-DQN with the settings `tidyrl train qr-dqn ENV` chooses, DQN's four "
        "tasks, beside RL-Zoo's QR-DQN.",
    ),
    Suite(
        "defaults-soft-q",
        "value",
        SOFT_Q,
        description="Soft Q-learning with the settings `tidyrl train soft-q ENV` chooses, DQN's "
        "four tasks.",
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
    Suite(
        "defaults-pg",
        "policy_gradient",
        _pg("reinforce", REINFORCE_BUDGETS) + _pg("actor-critic") + _pg("a3c", A3C_BUDGETS),
        description="REINFORCE, one-step actor-critic and A3C with the settings `tidyrl train "
        "ALGO ENV` chooses, four classic tasks, beside RL-Zoo's A2C.",
    ),
    Suite(
        "defaults-ars",
        "policy_gradient",
        ARS,
        description="ARS with the settings `tidyrl train ars ENV` chooses, five classic tasks and "
        "Swimmer, beside RL-Zoo's ARS.",
    ),
    Suite(
        "defaults-recurrent",
        "policy_gradient",
        RECURRENT_PPO + R2D2,
        description="Recurrent PPO and R2D2 with the settings `tidyrl train ALGO ENV` chooses, "
        "four classic tasks, beside RL-Zoo's PPO and DQN.",
    ),
    Suite(
        "defaults-trpo",
        "policy_gradient",
        TRPO_DISCRETE + _continuous("trpo", ZOO_TRPO),
        description="TRPO with the settings `tidyrl train trpo ENV` chooses, four discrete and "
        "four continuous-action classic-control and Box2D tasks.",
    ),
    Suite(
        "defaults-continuous",
        "actor_critic",
        CONTINUOUS_TASKS,
        description="SAC, TD3, DDPG, TQC, D4PG, SDDPG and PPO with the settings `tidyrl train ALGO "
        "ENV` chooses, four continuous-action classic-control and Box2D tasks.",
    ),
]
