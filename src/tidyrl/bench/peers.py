"""Peer runs: the same task trained by Stable-Baselines3 / sb3-contrib, measured like tidyrl.

The peer gets the same environment (built by `tidyrl.envs.make.make_env`, so the same wrappers
and time limits), the same seeds, the same evaluation protocol (`tidyrl.loops.evaluate`: greedy,
fresh env, episode i seeded run seed + 1,000,003 + i) on the same schedule, and its evaluation
time is excluded from its wall time exactly as for tidyrl. Peers are a benchmark-only extra
(`pip install -e '.[bench]'`), never a dependency of the library.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tidyrl.bench.suite import Task
from tidyrl.errors import ConfigError

LIBRARIES = {"sb3": "stable_baselines3", "sb3-contrib": "sb3_contrib"}


def linear(start: float) -> Callable[[float], float]:
    """SB3 schedule of progress_remaining (1 -> 0): start * progress_remaining (RL-Zoo "lin_")."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


def peer_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """JSON kwargs -> SB3 kwargs: "lin_X" strings become linear schedules (RL-Zoo's
    convention), `policy_kwargs.activation_fn` names a torch.nn class, lists become tuples where
    SB3 expects them (train_freq)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, str) and value.startswith("lin_"):
            value = linear(float(value[4:]))
        elif key == "policy_kwargs":
            value = dict(value)
            if isinstance(value.get("activation_fn"), str):
                value["activation_fn"] = getattr(torch.nn, value["activation_fn"])
        elif key == "train_freq" and isinstance(value, list):
            value = tuple(value)
        out[key] = value
    return out


class _PeerPolicy:
    """What `tidyrl.loops.evaluate.evaluate` needs from an agent: run.seed, env_cfg, predict."""

    def __init__(self, model: Any, env_cfg: Any, seed: int, normalizer: Any = None) -> None:
        from tidyrl.config import RunConfig

        self.model = model
        self.env_cfg = env_cfg
        self.run = RunConfig(seed=seed)
        self.normalizer = normalizer

    def predict(self, obs: Any, deterministic: bool = True) -> Any:
        if self.normalizer is not None:
            obs = self.normalizer.normalize_obs(np.asarray(obs)[None])[0]
        action, _ = self.model.predict(obs, deterministic=deterministic)
        action = np.asarray(action)
        if np.issubdtype(action.dtype, np.integer) and action.size == 1:
            return int(action.reshape(()))  # SB3 gives shape (1,) for Discrete observations
        return action


def run_peer(task: Task, seed: int) -> dict[str, Any]:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from tidyrl.api import env_config, resolve_config
    from tidyrl.bench.runner import ExcludedTime, finish
    from tidyrl.envs.make import make_env
    from tidyrl.loops.evaluate import evaluate

    peer = task.peer
    if peer is None:
        raise ConfigError(f"task {task.name} has no peer")
    if peer.library not in LIBRARIES:
        raise ConfigError(f"unknown peer library {peer.library!r}; choose from {list(LIBRARIES)}")
    module = importlib.import_module(LIBRARIES[peer.library])
    cls = getattr(module, peer.algo)
    _, _, _, env_values = resolve_config(task.algo, task.preset, dict(task.overrides))
    cfg = env_config(task.env, env_values)

    def factory(index: int) -> Callable[[], Any]:
        return lambda: Monitor(make_env(cfg, seed=seed + index))

    venv: Any = DummyVecEnv([factory(i) for i in range(peer.n_envs)])
    if peer.normalize is not None:
        venv = VecNormalize(venv, **dict(peer.normalize))
    model = cls(peer.policy, venv, seed=seed, device="cpu", verbose=0, **peer_kwargs(peer.kwargs))
    policy = _PeerPolicy(model, cfg, seed, venv if peer.normalize is not None else None)
    excluded = ExcludedTime()
    curve: list[dict[str, Any]] = []
    train_curve: list[dict[str, Any]] = []
    interval = task.eval_interval
    start = 0.0

    def run_eval(step: int) -> None:
        wall = round(time.perf_counter() - start - excluded.total, 3)  # before this evaluation
        if policy.normalizer is not None:
            policy.normalizer.training = False
        stats = evaluate(policy, episodes=task.eval_episodes)
        if policy.normalizer is not None:
            policy.normalizer.training = True
        curve.append(
            {
                "step": step,
                "wall_s": wall,
                "mean_return": stats["mean_return"],
                "std_return": stats["std_return"],
            }
        )

    timed_eval = excluded.wrap(run_eval)

    class EvalCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = interval

        def _on_step(self) -> bool:
            steps = self.num_timesteps
            if steps >= self.next_eval and steps < task.steps:
                buffer = self.model.ep_info_buffer
                if buffer:
                    returns = [info["r"] for info in list(buffer)[-20:]]
                    train_curve.append({"step": steps, "episode_return": float(np.mean(returns))})
                timed_eval(steps)
                self.next_eval += interval * (1 + (steps - self.next_eval) // interval)
            return True

    start = time.perf_counter()
    model.learn(task.steps, callback=EvalCallback(), progress_bar=False)
    total_wall = time.perf_counter() - start
    in_loop_eval = excluded.total  # the final evaluation below runs after the clock stopped
    timed_eval(int(model.num_timesteps))
    updates = int(getattr(model, "_n_updates", 0))
    venv.close()
    result = finish(
        task,
        curve,
        train_curve,
        int(model.num_timesteps),
        updates,
        max(total_wall - in_loop_eval, 1e-9),
        total_wall,
    )
    result["peer_updates_note"] = "SB3 _n_updates (PPO counts epochs, not minibatches)"
    return result
