"""Step collection shared by the off-policy learners (DQN, Rainbow, D4PG).

`collect_step(agent, obs, act)` is one step of experience into the agent's replay: actions from
``act(obs, mask=...)``, one step of the agent's vector env, ``agent.replay.add``. DQN, Rainbow and
D4PG collect through it. With Ray
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
    agent: _Agent,
    obs: Obs,
    act: Callable[..., np.ndarray],
    to_env: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[Obs, np.ndarray, Step]:
    """Act from `obs`, step the env, store the transitions; return (the observations acted on,
    the actions, the step). The next observations to act on are ``step.obs``. The replay keeps
    the actions `act` returns; the env is stepped with ``to_env(actions)`` when given (unit-box
    actions scaled to the env's bounds).

    An env that streams transitions itself (`ApexEnv`, with Ray workers) is handed the call: its
    actors acted and built the replay's rows, which it stores (with the actors' priorities),
    and the observations, actions and step returned are theirs."""
    remote = getattr(agent.env, "collect_step", None)
    if remote is not None:
        return remote(agent)  # type: ignore[no-any-return]
    actions = act(obs, mask=agent.env.masks)
    step = agent.env.step(actions if to_env is None else to_env(actions))
    agent.replay.add(obs, actions, step)
    return obs, actions, step
