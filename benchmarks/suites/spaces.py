"""Spaces and masking (docs/environments/spaces.md): PPO on a Dict-observation MiniGrid task
through the combined encoder, and PPO with and without the action mask on tidyrl/MaskedChoice-v0.

MiniGrid-Empty-5x5-v0 (pip install 'tidyrl[minigrid]') observes {image (7, 7, 3) uint8,
direction Discrete(4)} (its mission string is dropped); the reward of reaching the goal in L steps
is 1 - 0.9 L / 100, so the 4-step shortest path is worth 0.964. Hyper-parameters follow the
rl-starter-files MiniGrid PPO (Willems; 2.5e-4 there with 16 processes, 1e-3 here with 8 envs),
entropy 0.01, no clip annealing. The harness evaluates greedily; a greedy MiniGrid policy can
loop in place where the sampled one reaches the goal (docs/environments/spaces.md).

MaskedChoice: a uniformly random valid action earns about 10 per episode, the best valid one
about 16; an invalid action costs -1 and ends the episode.
"""

from __future__ import annotations

from tidyrl.bench.suite import Suite, Task

MINIGRID_PPO = {
    "n_envs": 8,
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "lr": 1e-3,
    "ent_coef": 0.01,
    "anneal_clip": False,
}

SUITES = [
    Suite(
        "spaces",
        "spaces",
        (
            Task(
                "ppo",
                "MiniGrid-Empty-5x5-v0",
                150_000,
                threshold=0.9,
                overrides=MINIGRID_PPO,
                label="ppo minigrid dict-obs",
                eval_every=25_000,
                reference="optimum 0.964 (4-step shortest path); not a published run",
            ),
            Task(
                "ppo",
                "tidyrl/MaskedChoice-v0",
                20_000,
                threshold=14.0,
                label="ppo masked",
                eval_every=4_000,
            ),
            Task(
                "ppo",
                "tidyrl/MaskedChoiceUnmasked-v0",
                20_000,
                threshold=14.0,
                label="ppo unmasked",
                eval_every=4_000,
            ),
        ),
        seeds=(0, 1, 2),
        description="Dict observations (MiniGrid) and action masking (masked vs unmasked PPO).",
    )
]
