"""Peer runs: the same task trained by another implementation, measured like tidyrl.

Two kinds of peer:

- a library class (Stable-Baselines3 / sb3-contrib). It gets the same environment (built by
  `tidyrl.envs.make.make_env`, so the same wrappers and time limits) and the same seeds.
- a paper's own reference script, run unmodified: `minatar-examples` is the `examples/dqn.py`
  of Young & Tian's MinAtar repository (https://github.com/kenjyoung/MinAtar), the code behind
  the paper's DQN curves. The script is GPL-3 and is not shipped here. Point
  ``TIDYRL_MINATAR_EXAMPLES`` at a checkout's ``examples/`` folder. The harness imports the script
  and calls its `dqn()` on its own `minatar.Environment`, seeded. It wraps the script's
  `world_dynamics` and `train` to observe steps, episode returns and updates, and to evaluate
  the script's live `policy_net`. It keeps the script's final `torch.save` pickle from being
  written. The agent is the paper's, unchanged: 6 actions, centered RMSProp with momentum,
  Huber loss.

Both kinds use the same evaluation protocol (`tidyrl.loops.evaluate`: greedy, fresh env,
episode i seeded run seed + 1,000,003 + i) on the same schedule. Their evaluation time is left
out of their wall time, exactly as for tidyrl. Peers are benchmark-only extras (`pip install -e
'.[bench]'`), never dependencies of the library.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import random
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tidyrl.bench.suite import Task
from tidyrl.errors import ConfigError

LIBRARIES = {"sb3": "stable_baselines3", "sb3-contrib": "sb3_contrib"}
"""Peer libraries installed as packages (the `[bench]` extra)."""
SCRIPTS = {"minatar-examples": "TIDYRL_MINATAR_EXAMPLES"}
"""Peer reference scripts: the environment variable that names the folder holding them."""
MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def peer_unavailable(library: str) -> str | None:
    """Why peer `library` cannot run here, as a message for the user; None when it can."""
    if library in SCRIPTS:
        var = SCRIPTS[library]
        folder = os.environ.get(var)
        if not folder:
            return (
                f"peer {library!r} runs the MinAtar authors' examples/dqn.py: git clone "
                f"https://github.com/kenjyoung/MinAtar and set {var}=<clone>/examples"
            )
        if not (Path(folder) / "dqn.py").is_file():
            return f"{var}={folder!r} holds no dqn.py (it should name MinAtar's examples/ folder)"
        return None
    if library not in LIBRARIES:
        return f"unknown peer library {library!r}; choose from {[*LIBRARIES, *SCRIPTS]}"
    if importlib.util.find_spec(LIBRARIES[library]) is None:
        return f"peer library {library!r} is not installed: pip install -e '.[bench]'"
    return None


def linear(start: float) -> Callable[[float], float]:
    """SB3 schedule of progress_remaining (1 -> 0): start * progress_remaining (RL-Zoo "lin_")."""

    def schedule(progress_remaining: float) -> float:
        return progress_remaining * start

    return schedule


def peer_kwargs(kwargs: Mapping[str, Any], action_dim: int = 0) -> dict[str, Any]:
    """JSON kwargs -> SB3 kwargs: "lin_X" strings become linear schedules (RL-Zoo's
    convention), `policy_kwargs.activation_fn` names a torch.nn class, lists become tuples where
    SB3 expects them (train_freq), and `action_noise: {"normal": sigma}` becomes SB3's
    NormalActionNoise of that std on each of the `action_dim` action components (RL-Zoo's
    `noise_type: normal`, `noise_std`)."""
    import torch

    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "action_noise":
            from stable_baselines3.common.noise import NormalActionNoise

            sigma = float(value["normal"])
            value = NormalActionNoise(np.zeros(action_dim), np.full(action_dim, sigma))
        elif isinstance(value, str) and value.startswith("lin_"):
            value = linear(float(value[4:]))
        elif key == "policy_kwargs":
            value = dict(value)
            if isinstance(value.get("activation_fn"), str):
                value["activation_fn"] = getattr(torch.nn, value["activation_fn"])
        elif key == "train_freq" and isinstance(value, list):
            value = tuple(value)
        out[key] = value
    return out


def timed_evaluations(
    run: Callable[[], dict[str, float]],
    curve: list[dict[str, Any]],
    excluded: Any,
    started: Callable[[], float],
) -> Callable[[int], None]:
    """`timed(step)`: one evaluation `run()` appended to `curve` with the training wall time
    before it (clock from `started()`); its own time goes to `excluded` (an `ExcludedTime`)."""

    def run_eval(step: int) -> None:
        wall = round(time.perf_counter() - started() - excluded.total, 3)
        stats = run()
        curve.append(
            {
                "step": step,
                "wall_s": wall,
                "mean_return": stats["mean_return"],
                "std_return": stats["std_return"],
            }
        )

    timed: Callable[[int], None] = excluded.wrap(run_eval)
    return timed


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
    problem = peer_unavailable(peer.library)
    if problem is not None:
        raise ConfigError(problem)
    if peer.library == "minatar-examples":
        return run_minatar_example(task, seed)
    module = importlib.import_module(LIBRARIES[peer.library])
    cls = getattr(module, peer.algo)
    _, _, _, env_values = resolve_config(task.algo, task.preset, dict(task.overrides))
    cfg = env_config(task.env, env_values)

    def factory(index: int) -> Callable[[], Any]:
        return lambda: Monitor(make_env(cfg, seed=seed + index))

    venv: Any = DummyVecEnv([factory(i) for i in range(peer.n_envs)])
    if peer.normalize is not None:
        venv = VecNormalize(venv, **dict(peer.normalize))
    kwargs = peer_kwargs(peer.kwargs, int(np.prod(venv.action_space.shape or (0,))))
    model = cls(peer.policy, venv, seed=seed, device="cpu", verbose=0, **kwargs)
    policy = _PeerPolicy(model, cfg, seed, venv if peer.normalize is not None else None)
    excluded = ExcludedTime()
    curve: list[dict[str, Any]] = []
    train_curve: list[dict[str, Any]] = []
    interval = task.eval_interval
    start = 0.0

    def run_eval() -> dict[str, float]:
        if policy.normalizer is not None:
            policy.normalizer.training = False
        stats = evaluate(policy, episodes=task.eval_episodes)
        if policy.normalizer is not None:
            policy.normalizer.training = True
        return stats

    timed_eval = timed_evaluations(run_eval, curve, excluded, lambda: start)

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


class _NetPolicy:
    """`evaluate`'s agent for a peer whose Q-network is a plain torch module (greedy argmax)."""

    def __init__(self, env_cfg: Any, seed: int) -> None:
        from tidyrl.config import RunConfig

        self.env_cfg = env_cfg
        self.run = RunConfig(seed=seed)
        self.net: Any = None

    def predict(self, obs: Any, deterministic: bool = True) -> int:
        import torch

        with torch.no_grad():
            q = self.net(torch.as_tensor(np.asarray(obs), dtype=torch.float32)[None])
        return int(q.argmax(1).item())


def minatar_game(env_id: str) -> str:
    """ "MinAtar/SpaceInvaders-v1" -> "space_invaders" (the name `minatar.Environment` takes)."""
    name = env_id.split("/", 1)[-1].split("-v", 1)[0].lower()
    for game in MINATAR_GAMES:
        if game.replace("_", "") == name:
            return game
    raise ConfigError(f"{env_id!r} is not a MinAtar game; choose from {list(MINATAR_GAMES)}")


def run_minatar_example(task: Task, seed: int) -> dict[str, Any]:
    """Train the MinAtar authors' `examples/dqn.py` for `task.steps` frames (module doc)."""
    from unittest import mock

    import torch
    from minatar import Environment

    from tidyrl.api import env_config, resolve_config
    from tidyrl.bench.runner import ExcludedTime, finish
    from tidyrl.loops.evaluate import evaluate

    path = Path(os.environ[SCRIPTS["minatar-examples"]]) / "dqn.py"
    spec = importlib.util.spec_from_file_location("minatar_examples_dqn", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    script: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.NUM_FRAMES = task.steps
    script.device = torch.device("cpu")
    game = minatar_game(task.env)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    env = Environment(game)
    env.seed(seed)
    # The script acts with all 6 MinAtar actions; the -v0 gymnasium id is the same game and
    # defaults (sticky actions 0.1, difficulty ramping) with that action set, so it is the
    # evaluation env for the script's network.
    _, _, _, env_values = resolve_config(task.algo, task.preset, dict(task.overrides))
    eval_id = task.env.rsplit("-v", 1)[0] + "-v0"
    policy = _NetPolicy(env_config(eval_id, env_values), seed)
    excluded = ExcludedTime()
    curve: list[dict[str, Any]] = []
    train_curve: list[dict[str, Any]] = []
    finished: list[float] = []
    state = {"t": 0, "updates": 0, "next_eval": task.eval_interval}
    episode_return = [0.0]
    start = 0.0

    def run_eval() -> dict[str, float]:
        with warnings.catch_warnings():  # gymnasium calls -v0 "out of date"; it is the 6-action id
            warnings.filterwarnings("ignore", message=".*out of date")
            return evaluate(policy, episodes=task.eval_episodes)

    timed_eval = timed_evaluations(run_eval, curve, excluded, lambda: start)
    world_dynamics = script.world_dynamics
    train = script.train

    def observed_world_dynamics(t: int, *args: Any) -> Any:
        policy.net = args[-1]  # the script's live policy_net
        if t >= state["next_eval"]:
            timed_eval(t)
            state["next_eval"] += task.eval_interval
        if t and t % 1_000 == 0 and finished:
            train_curve.append({"step": t, "episode_return": float(np.mean(finished[-20:]))})
        s_prime, action, reward, terminated = world_dynamics(t, *args)
        state["t"] = t + 1
        episode_return[0] += float(reward.item())
        if bool(terminated.item()):
            finished.append(episode_return[0])
            episode_return[0] = 0.0
        return s_prime, action, reward, terminated

    def counted_train(*args: Any) -> Any:
        state["updates"] += 1
        return train(*args)

    script.world_dynamics = observed_world_dynamics
    script.train = counted_train
    start = time.perf_counter()
    with mock.patch.object(torch, "save", lambda *args, **kwargs: None):  # no pickle written
        script.dqn(env, False, False, os.devnull)
    total_wall = time.perf_counter() - start
    in_loop_eval = excluded.total
    timed_eval(state["t"])
    result = finish(
        task,
        curve,
        train_curve,
        state["t"],
        state["updates"],
        max(total_wall - in_loop_eval, 1e-9),
        total_wall,
    )
    result["peer_script"] = {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "source": "https://github.com/kenjyoung/MinAtar examples/dqn.py",
    }
    return result
