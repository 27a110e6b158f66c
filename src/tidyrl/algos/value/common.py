"""Settings shared by the value-based methods (DQN, C51, Rainbow, soft Q-learning): RL-Zoo's tuned
DQN settings for the classic-control and Box2D tasks, and the return support a distributional
agent needs on each, so that `tidyrl train c51 Acrobot-v1` (or `rainbow`, `soft-q`) picks
settings that work there, as `tidyrl train dqn Acrobot-v1` does (issue 27, item 5).

RL-Zoo keeps no C51 or Rainbow settings for these tasks. The distributional agents take DQN's
there (the replay, update and target schedule, and ε for the agents that explore with it) and
add the support [v_min, v_max] of the returns the task can produce:

- Acrobot-v1 and MountainCar-v0 pay -1 per step, so a return discounted by gamma lies in
  [-1 / (1 - gamma), 0]: [-100, 0] at gamma 0.99, [-50, 0] at RL-Zoo's MountainCar gamma 0.98.
- CartPole-v1 pays +1 per step: [0, 100] at gamma 0.99.
- LunarLander-v3 shapes its reward by distance, speed and tilt and ends with +100 or -100, so
  its returns take both signs and exceed 100 in size: [-200, 200].

A support that misses the task's returns fails silently. With [0, 100] on Acrobot every target
r + gamma z_j is clamped to z_0 = 0, all actions look alike, and the greedy policy never swings
the pendulum up (docs/algorithms/c51.md). The distributional agents' default support is therefore
symmetric, [-100, 100] (the range CleanRL's C51 uses for classic control), so an unknown task
with per-step rewards in [-1, 1] at gamma 0.99 fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from tidyrl.core.exploration import epsilon_greedy
from tidyrl.core.schedules import crossed, linear_schedule
from tidyrl.core.targets import update_target
from tidyrl.envs.spaces import rows

ZOO_ACROBOT: dict[str, Any] = {
    "lr": 6.3e-4,
    "batch_size": 128,
    "buffer_size": 50_000,
    "learning_starts": 0,
    "target_update_every": 250,
    "train_freq": 4,
    "gradient_steps": 4,
    "exploration_fraction": 0.12,
    "epsilon_end": 0.1,
}
"""RL-Zoo's tuned Acrobot-v1 DQN (hyperparams/dqn.yml; RL-Zoo tunes LunarLander-v3 to the same
values). SB3's gradient_steps=-1 is one gradient step per env step: train_freq of them."""

ZOO_MOUNTAINCAR: dict[str, Any] = {
    "lr": 4e-3,
    "batch_size": 128,
    "buffer_size": 10_000,
    "learning_starts": 1000,
    "gamma": 0.98,
    "target_update_every": 600,
    "train_freq": 16,
    "gradient_steps": 8,
    "exploration_fraction": 0.2,
    "epsilon_end": 0.07,
}
"""RL-Zoo's tuned MountainCar-v0 DQN (hyperparams/dqn.yml)."""

CLASSIC_SUPPORTS: dict[str, tuple[float, float]] = {
    "cartpole": (0.0, 100.0),
    "acrobot": (-100.0, 0.0),
    "mountaincar": (-50.0, 0.0),
    "lunarlander": (-200.0, 200.0),
}
"""(v_min, v_max) per classic task (the module docstring says why each)."""

CLASSIC_ENV_PRESETS = {
    "CartPole-v1": "cartpole",
    "Acrobot-v1": "acrobot",
    "MountainCar-v0": "mountaincar",
    "LunarLander-v3": "lunarlander",
}
"""The env ids a value agent with `zoo_presets` keeps settings for, and the preset each gets."""


ZOO_CLASSIC: dict[str, dict[str, Any]] = {
    "cartpole": {},
    "acrobot": ZOO_ACROBOT,
    "mountaincar": ZOO_MOUNTAINCAR,
    "lunarlander": ZOO_ACROBOT,
}
"""RL-Zoo's DQN settings per classic task (CartPole's are the value agents' defaults)."""


def zoo_presets(
    fields: set[str], extra: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The classic tasks' presets of a value agent whose config has `fields`: DQN's RL-Zoo
    settings for the fields it shares, then the task's entries of `extra`."""
    return {
        name: {
            **{key: value for key, value in zoo.items() if key in fields},
            **(extra or {}).get(name, {}),
        }
        for name, zoo in ZOO_CLASSIC.items()
    }


def distributional_presets(fields: set[str]) -> dict[str, dict[str, Any]]:
    """`zoo_presets` of a distributional agent, with each task's support."""
    supports = {
        name: {"v_min": low, "v_max": high} for name, (low, high) in CLASSIC_SUPPORTS.items()
    }
    return zoo_presets(fields, supports)


def epsilon_greedy_learn(
    agent: Any, online: nn.Module, target: nn.Module, total_steps: int
) -> None:
    """The training loop of the distributional agents that explore ε-greedily (C51, QR-DQN):
    DQN's without its reward plug-ins and prioritized replay. ε decays linearly from
    `epsilon_start` to `epsilon_end` over `exploration_fraction` of the run; after
    `learning_starts` steps, every `train_freq` env steps run `gradient_steps` calls of
    `agent.update` on uniform minibatches of `batch_size`, and every `target_update_every` steps
    copy `online` into `target`."""
    cfg = agent.config
    obs = agent.env.obs
    metrics: dict[str, object] = agent.last_metrics
    with agent.training(total_steps):
        decay = int(cfg.exploration_fraction * agent.counters["target"])
        while not agent.finished:
            before = agent.counters["steps"]
            agent.epsilon = linear_schedule(cfg.epsilon_start, cfg.epsilon_end, decay, before)
            actions = agent.act(obs, mask=agent.env.masks)
            step = agent.env.step(actions)
            agent.replay.add(obs, actions, step)
            obs = step.obs
            after = before + cfg.n_envs
            if after > cfg.learning_starts:
                if crossed(before, after, cfg.train_freq):
                    for _ in range(cfg.gradient_steps):
                        metrics = dict(agent.update(agent.replay.sample(cfg.batch_size, agent.rng)))
                    agent.counters["updates"] += cfg.gradient_steps
                if crossed(before, after, cfg.target_update_every):
                    update_target(online, target, 1.0)
            metrics["epsilon"] = agent.epsilon
            agent.tick(step, metrics)


def epsilon_greedy_act(
    agent: Any, obs: Any, deterministic: bool = False, mask: np.ndarray | None = None
) -> np.ndarray:
    """`act` of the value agents that explore ε-greedily (DQN, C51, QR-DQN): the agent's
    `greedy` action with probability 1 - ε (ε = 0 when `deterministic`), else a uniform one
    among the valid actions of `mask`."""
    epsilon = 0.0 if deterministic else agent.epsilon
    return epsilon_greedy(
        lambda: agent.greedy(obs, mask), rows(obs), epsilon, agent.n_actions, agent.rng, mask
    )
