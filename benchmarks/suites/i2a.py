"""Imagination-Augmented Agents (issue 24, item 3) on MiniPacman.

- `i2a-minipacman-regular`: the same three on "regular", whose food reward is dense, one seed
  (where hunt's sparse rewards leave every agent at -20 within this budget, regular shows
  whether anything is learned at all).
- `i2a-minipacman-hunt`: `i2a` (imagination through the pre-trained environment model), its
  copy-model control (`--preset copy-model`: the same network and schedule, the core repeats
  the current frame) and plain `a2c` on MiniPacman "hunt", the same seeds and env-step budget.
  The I2A runs' budgets include their model-free pre-training phase (pi^ and the environment
  model learn from the first `PRETRAIN` steps), so every row has seen the same number of env
  steps. Each I2A record also carries `metrics`: the environment model's one-step frame accuracy
  on held-out transitions (`model_metrics`), beside the copy-the-last-frame baseline, and the
  time per call of each part of the agent (`time_split`).

The budget is CPU-sized (the whole suite has to fit a shared two-core machine): far below the
paper's, whose MiniPacman agents train for millions of steps (Weber et al. 2017, figure 7).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tidyrl.bench.suite import Suite, Task

STEPS = 30_000
PRETRAIN = 10_000
HELD_OUT = 2_000
"""Transitions of the trained agent's own play on which the frame accuracy is measured."""
SMALL = {"model_channels": 32, "encoder_hidden": 64, "hidden": 128}
"""CPU-sized widths (the paper's encoder LSTM has 256 units)."""


def _held_out(agent: Any, mode: str) -> tuple[torch.Tensor, ...]:
    """(obs, actions, next_obs, rewards) of `HELD_OUT` steps of the agent's stochastic policy on a
    fresh env, seeded apart from training; transitions into a reset are left out."""
    import gymnasium as gym

    import tidyrl.envs  # noqa: F401

    env = gym.make("tidyrl/MiniPacman-v0", mode=mode)
    obs, _ = env.reset(seed=10_000)
    rows: list[tuple[np.ndarray, int, np.ndarray, float]] = []
    while len(rows) < HELD_OUT:
        action = int(agent.predict(obs[None], deterministic=False)[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, next_obs, float(reward)))
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    o, a, n, r = zip(*rows, strict=True)
    return (
        torch.as_tensor(np.stack(o)),
        torch.as_tensor(a),
        torch.as_tensor(np.stack(n)),
        torch.as_tensor(r, dtype=torch.float32),
    )


def model_metrics(agent: Any, mode: str) -> dict[str, float]:
    """The environment model's one-step accuracy: pixels exactly right (`frame_accuracy`), whole
    frames exactly right, pixels right among those that change, the same for "copy the frame",
    and the reward head's error and exact-reward rate (rounded to the nearest table value)."""
    from tidyrl.envs.minipacman import MODES
    from tidyrl.models.env_model import frame_accuracy

    obs, actions, next_obs, rewards = _held_out(agent, mode)
    with torch.no_grad():
        pred, reward_pred = agent.env_model(obs, F.one_hot(actions, agent.n_actions).float())
    hit = ((pred > 0.5) == (next_obs > 0.5)).all(dim=1)
    copy_hit = ((obs > 0.5) == (next_obs > 0.5)).all(dim=1)
    moving = ~copy_hit
    r = MODES[mode]
    table = torch.tensor(
        sorted({0.0, r.step, r.step + r.food, r.step + r.pill, r.step + r.ghost, r.step + r.death})
    )
    nearest = table[(reward_pred[:, None] - table).abs().argmin(dim=1)]
    return {
        "model_frame_accuracy": float(frame_accuracy(pred, next_obs)),
        "model_exact_frames": float(hit.all(dim=2).all(dim=1).float().mean()),
        "model_changed_pixel_accuracy": float(hit[moving].float().mean()),
        "copy_frame_accuracy": float(frame_accuracy(obs, next_obs)),
        "copy_exact_frames": float(copy_hit.all(dim=2).all(dim=1).float().mean()),
        "reward_mae": float((reward_pred - rewards).abs().mean()),
        "reward_exact": float((nearest == rewards).float().mean()),
    }


def time_split(agent: Any) -> dict[str, float]:
    """Milliseconds per call, on the agent's last rollout (n_steps * n_envs observations), of
    each part: acting on one vector step, imagination alone, one I2A update, one pre-training
    update (pi^'s A2C step and the environment model's epochs). The updates move the weights:
    call it after everything else is measured."""
    from tidyrl.algos.policy_gradient.i2a import imagine

    batch = agent.rollout.flatten(*agent.rollout.advantages(agent.config.gamma, 1.0))
    obs = agent.frames(batch.obs)
    n_envs = agent.config.n_envs
    model = agent.env_model if agent.config.imagination == "model" else None

    def ms(fn: Any, n: int = 5) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1000

    with torch.no_grad():
        act = ms(lambda: agent.acting(batch.obs[:n_envs]))
        imag = ms(
            lambda: imagine(
                obs, model, agent.rollout_policy, agent.n_actions, agent.config.rollout_depth
            )
        )
    update = ms(lambda: agent.update(batch))
    pretrain = ms(lambda: agent.pretrain_update(batch, *agent._transitions()))
    return {
        "ms_act_vector_step": act,
        "ms_imagine_rollout": imag,
        "ms_i2a_update": update,
        "ms_pretrain_update": pretrain,
        "rollout_size": float(len(batch.obs)),
    }


def _i2a_metrics(mode: str) -> Any:
    def metrics(agent: Any) -> Mapping[str, float]:
        out = model_metrics(agent, mode)  # before the timing calls move any weight
        out.update(time_split(agent))
        return out

    return metrics


def _task(algo: str, label: str, mode: str, preset: str | None = None, **overrides: Any) -> Task:
    return Task(
        algo,
        "tidyrl/MiniPacman-v0",
        STEPS,
        preset=preset,
        overrides={"env_kwargs": {"mode": mode}, **overrides},
        label=label,
        eval_every=STEPS // 3,
        eval_episodes=5,
        metrics=_i2a_metrics(mode) if algo == "i2a" else None,
    )


def _tasks(mode: str) -> tuple[Task, ...]:
    return (
        _task("i2a", f"i2a {mode}", mode, pretrain_steps=PRETRAIN, **SMALL),
        _task(
            "i2a", f"i2a copy-model {mode}", mode, "copy-model", pretrain_steps=PRETRAIN, **SMALL
        ),
        _task("a2c", f"a2c {mode}", mode, n_envs=16, hidden=(256, 256), ent_coef=0.01),
    )


SUITES = [
    Suite(
        "i2a-minipacman-hunt",
        "model-based",
        _tasks("hunt"),
        description=(
            f"I2A vs its copy-model control vs A2C on MiniPacman hunt, {STEPS // 1000}k steps "
            f"(I2A: {PRETRAIN // 1000}k of them model-free pre-training)"
        ),
    ),
    Suite(
        "i2a-minipacman-regular",
        "model-based",
        _tasks("regular"),
        seeds=(0,),
        description=(
            f"The same three on MiniPacman regular (food +1: a dense reward), {STEPS // 1000}k "
            "steps, one seed (what the CPU left)"
        ),
    ),
]
