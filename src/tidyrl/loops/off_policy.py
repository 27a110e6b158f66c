"""Step collection shared by the off-policy learners that act ε-greedily on a Q network (DQN).

`collect_step(agent, obs, act)` is one step of experience into the agent's replay: actions from
``act(obs, mask=...)``, one step of the agent's vector env, ``agent.replay.add``. With Ray
workers (`RunConfig.workers`) the agent's env is `tidyrl.distributed.apex.ApexEnv` and the step
is a batch of transitions streamed from Ape-X actors instead (docs/distributed.md): the
distribution of collection is this seam, not a change to the learner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from tidyrl.envs.make import Step
from tidyrl.envs.spaces import Obs


class _Replay(Protocol):
    def add(self, obs: Any, actions: np.ndarray, step: Step) -> None: ...


class _Agent(Protocol):
    env: Any
    replay: _Replay


def collect_step(
    agent: _Agent, obs: Obs, act: Callable[..., np.ndarray]
) -> tuple[Obs, np.ndarray, Step]:
    """Act from `obs`, step the env, store the transitions; return (the observations acted on,
    the actions, the step). The next observations to act on are ``step.obs``.

    An env that streams transitions itself (`ApexEnv`, with Ray workers) is handed the call: its
    actors acted, and the observations, actions and step returned are theirs."""
    remote = getattr(agent.env, "collect_step", None)
    if remote is not None:
        obs, actions, step = remote(agent)
    else:
        actions = act(obs, mask=agent.env.masks)
        step = agent.env.step(actions)
    agent.replay.add(obs, actions, step)
    return obs, actions, step
