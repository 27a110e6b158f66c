"""CartPole copies that fail on purpose inside a Ray worker, registered on import (the workers
import this module through the ``module:EnvId`` convention).

Each fails once, at its `at_step`-th step, and only while the file `marker` exists (a test
creates it, and removes it to let a resumed run through):

- ``faultytest/Raise-v0``: raises ValueError (an environment bug);
- ``faultytest/Kill-v0``: removes the marker and SIGKILLs its own process (a worker lost to the
  out-of-memory killer, or a preempted machine);
- ``faultytest/Hang-v0``: sleeps for ten minutes (a deadlocked simulator);
- ``faultytest/PendulumRaise-v0``: Pendulum that raises ValueError (for continuous-action
  learners).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv
from gymnasium.envs.registration import register


class Faulty:
    """Fails once at step `at_step` while `marker` exists (see the module docstring)."""

    def __init__(
        self, marker: str, at_step: int, kill: bool = False, hang: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.marker, self.at_step, self.kill, self.hang = marker, at_step, kill, hang
        self.steps = 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        if self.steps == self.at_step and os.path.exists(self.marker):
            if self.kill:
                try:  # claim the one failure: another copy may have removed the marker first
                    os.remove(self.marker)
                except FileNotFoundError:
                    return super().step(action)  # type: ignore[misc]
                os.kill(os.getpid(), signal.SIGKILL)
            if self.hang:
                time.sleep(600)
            raise ValueError(f"deliberate failure at step {self.steps}")
        return super().step(action)  # type: ignore[misc]


class FaultyCartPole(Faulty, CartPoleEnv):
    pass


class FaultyPendulum(Faulty, PendulumEnv):
    pass


for _name, _kwargs in (("Raise", {}), ("Kill", {"kill": True}), ("Hang", {"hang": True})):
    if f"faultytest/{_name}-v0" not in gym.registry:
        register(
            id=f"faultytest/{_name}-v0",
            entry_point=FaultyCartPole,
            max_episode_steps=500,
            kwargs=_kwargs,
        )
if "faultytest/PendulumRaise-v0" not in gym.registry:
    register(id="faultytest/PendulumRaise-v0", entry_point=FaultyPendulum, max_episode_steps=200)
