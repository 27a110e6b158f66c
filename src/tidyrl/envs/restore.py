"""Return to a saved state: the `get_state` / `set_state` protocol Go-Explore's phase 1 uses.

Go-Explore "first returns, then explores" (Ecoffet et al. 2019, arXiv:1901.10995, section 2.1;
Ecoffet et al. 2021, "First return, then explore", Nature 590): to explore from a cell of its
archive it brings the simulator back to the state in which that cell was reached. How depends
on the simulator, so the return goes through one small protocol with four adapters, tried in
this order by `state_adapter(env)`:

* ``user``: the environment's unwrapped class defines ``get_state() -> object`` and
  ``set_state(state) -> None``: the documented protocol for your own environments
  (`tidyrl/Maze-v0` is an example). `set_state` is called in any state after the env's first
  reset (mid-episode, or after its episode ended; no reset in between, which costs ALE a ROM
  reload) and must bring the simulator to the state `get_state` saw; the observation is kept
  beside the state. The state may be any Python object; it lives in memory only, never in a file.
* ``ale``: Atari through ale-py: ``ale.cloneState(include_rng=True)`` / ``ale.restoreState``
  (the emulator's RAM, registers and, with the flag, its random generator; Ecoffet et al.
  restore the emulator the same way).
* ``mujoco``: MuJoCo environments: copies of ``data.qpos``, ``data.qvel`` and ``data.time``,
  written back through the env's own ``set_state(qpos, qvel)`` (which runs ``mj_forward``).
* ``toy-text``: Gymnasium's toy-text environments (FrozenLake, CliffWalking, Taxi) keep their
  whole state in the integer ``s`` (and the ``lastaction`` their renderer shows).

Any other environment falls back to ``replay``: reset with the same seed and step the recorded
actions again. That is exact for every environment that is deterministic given its reset seed
and actions (`tidyrl.envs.trace` lists which), at the price of re-running the trajectory.

Every adapter leaves the episode's time limit where the trajectory left it: a restored state
reached after n steps has ``max_episode_steps - n`` steps left, as it would after a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from tidyrl.errors import ConfigError, unknown

AdapterName = Literal["user", "ale", "mujoco", "toy-text", "replay"]
ADAPTERS: tuple[str, ...] = ("auto", "user", "ale", "mujoco", "toy-text", "replay")
"""Values of Go-Explore's `restore` field (auto: the first adapter `env` supports)."""


@dataclass(frozen=True)
class StateAdapter:
    """Save and restore the simulator state of one environment (see the module docstring)."""

    name: AdapterName

    @property
    def replays(self) -> bool:
        """True for the fallback that returns by replaying actions (no state to keep)."""
        return self.name == "replay"

    def get_state(self, env: gym.Env[Any, Any]) -> Any:
        """A snapshot of `env`'s current state (None for `replay`)."""
        inner: Any = env.unwrapped
        if self.name == "user":
            return inner.get_state()
        if self.name == "ale":
            return inner.ale.cloneState(include_rng=True)
        if self.name == "mujoco":
            data = inner.data
            return (data.qpos.copy(), data.qvel.copy(), float(data.time))
        if self.name == "toy-text":
            return (int(inner.s), getattr(inner, "lastaction", None))
        return None

    def set_state(self, env: gym.Env[Any, Any], state: Any, steps: int) -> None:
        """Bring `env` (reset at least once, in any state since) to `state`, reached `steps`
        steps into its episode."""
        inner: Any = env.unwrapped
        if self.name == "user":
            inner.set_state(state)
        elif self.name == "ale":
            inner.ale.restoreState(state)
        elif self.name == "mujoco":
            qpos, qvel, time = state
            inner.set_state(qpos, qvel)
            inner.data.time = time
        elif self.name == "toy-text":
            inner.s, inner.lastaction = state
        else:
            raise ValueError("the replay adapter returns by replaying actions, not by set_state")
        set_elapsed_steps(env, steps)


def supports(name: str, env: gym.Env[Any, Any]) -> bool:
    """Whether adapter `name` can save and restore `env`'s state."""
    inner = env.unwrapped
    if name == "user":
        return callable(getattr(inner, "get_state", None)) and callable(
            getattr(inner, "set_state", None)
        )
    if name == "ale":
        return hasattr(inner, "ale") and hasattr(inner.ale, "cloneState")
    if name == "mujoco":
        data = getattr(inner, "data", None)
        return hasattr(data, "qpos") and hasattr(data, "qvel") and hasattr(inner, "set_state")
    if name == "toy-text":
        return isinstance(getattr(inner, "s", None), int | np.integer) and hasattr(inner, "P")
    return name == "replay"


def state_adapter(env: gym.Env[Any, Any], name: str = "auto") -> StateAdapter:
    """The adapter called `name` for `env`, or with ``auto`` the first of user, ale, mujoco,
    toy-text that `env` supports, else replay. A ConfigError if `env` does not support `name`."""
    if name not in ADAPTERS:
        raise ConfigError(unknown("restore", name, ADAPTERS))
    if name == "auto":
        name = next(n for n in ADAPTERS[1:] if supports(n, env))
    elif not supports(name, env):
        fits = [n for n in ADAPTERS if n == "auto" or supports(n, env)]
        raise ConfigError(
            f"restore={name!r} does not fit environment {env.spec.id if env.spec else env!r}; "
            f"choose one it supports: {', '.join(fits)}"
        )
    return StateAdapter(name)  # type: ignore[arg-type]


def set_elapsed_steps(env: gym.Env[Any, Any], steps: int) -> None:
    """Set the step counter of every `TimeLimit` wrapper around `env` to `steps`."""
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            layer._elapsed_steps = steps  # type: ignore[assignment]
        layer = layer.env


def replay(env: gym.Env[Any, Any], seed: int, actions: np.ndarray) -> tuple[Any, bool]:
    """Reset `env` with `seed` and step `actions`; the last observation, and False when the
    episode ended before the last action (the env is not deterministic given seed and actions,
    or the trajectory ended the episode)."""
    obs, _ = env.reset(seed=seed)
    steps = actions.tolist() if actions.dtype.kind in "iu" else list(actions)
    for i, action in enumerate(steps):
        obs, _, terminated, truncated, _ = env.step(action)
        if (terminated or truncated) and i < len(steps) - 1:
            return obs, False
    return obs, True
