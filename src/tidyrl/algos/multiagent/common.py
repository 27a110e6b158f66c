"""Helpers shared by the multi-agent learners (kept apart so they never import each other):
the parameter-sharing check and the one-hot agent ids that shared networks read."""

from __future__ import annotations

from typing import Any

import torch

from tidyrl.errors import EnvError


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
