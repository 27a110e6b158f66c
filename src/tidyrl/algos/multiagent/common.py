"""Helpers shared by the multi-agent learners (kept apart so they never import each other):
the parameter-sharing check, the one-hot agent ids that shared networks read, and the per-agent
run state of a training checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tidyrl.agent import RunState
from tidyrl.data.storage import nest, section
from tidyrl.errors import EnvError


class PerAgentRunState(dict[str, RunState]):
    """Agent id -> its run state (e.g. each agent's exploration noise), saved and restored as
    one `RunState` with every agent's arrays under its id."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for agent, state in self.items():
            arrays.update(nest(agent, state.state_arrays()))
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for agent, state in self.items():
            state.load_state_arrays(section(arrays, agent))


def check_shared_spaces(agent: Any) -> None:
    """EnvError unless every agent has the same observation and action spaces (one network
    cannot serve agents whose inputs or outputs differ)."""
    obs_spaces, act_spaces = agent.env.observation_spaces, agent.env.action_spaces
    first = agent.agent_ids[0]
    if any(
        obs_spaces[a] != obs_spaces[first] or act_spaces[a] != act_spaces[first]
        for a in agent.agent_ids
    ):
        raise EnvError(
            f"{agent.algo}: share_parameters=true needs every agent to have the same "
            f"observation and action spaces; '{agent.env_cfg.id}' has {agent.observation_space} "
            f"and {agent.action_space}"
        )


def one_hot_ids(agent_ids: list[str]) -> dict[str, torch.Tensor]:
    """Agent id -> its one-hot row of the identity (what a shared network appends to its
    input so it can still act differently per agent)."""
    eye = torch.eye(len(agent_ids))
    return {a: eye[i] for i, a in enumerate(agent_ids)}


def with_id(x: torch.Tensor, one_hot: torch.Tensor | None) -> torch.Tensor:
    """`x` [B, D] with the agent's one-hot id appended to every row (unchanged for None)."""
    if one_hot is None:
        return x
    return torch.cat([x, one_hot.expand(len(x), -1)], -1)
