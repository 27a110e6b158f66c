"""The transition model of a finite MDP, read from an environment into dense arrays.

Planners (dynamic programming) and inverse RL with known dynamics (MaxEnt IRL) read the model in
Gymnasium toy_text's convention, ``env.unwrapped.P[s][a] = [(prob, next_state, reward,
terminated), ...]`` (FrozenLake, CliffWalking, Taxi, tidyrl's GridWorld), and split every
outcome by whether it ends the episode:

    p[s, a, s']       probability of reaching s' from s with a *and going on*
    p_end[s, a, s']   probability of reaching s' with a transition flagged `terminated`
    r[s, a]           expected immediate reward, sum over outcomes of prob * reward
    terminal[s]       states entered only by terminating transitions (self-loops aside)

p + p_end sums to 1 over s' in every row of a non-terminal state. Terminal states need care
because toy-text envs give them outgoing rows too: a FrozenLake hole loops to itself with reward
0, CliffWalking's goal has ordinary moves. No action is ever taken in a terminal state, so its
rows of p, p_end and r are zeroed, whatever the env lists there. Taxi, whose episodes end on the
drop-off action rather than in particular states, has no terminal states in this sense: its
terminating mass lies in p_end only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from tidyrl.errors import EnvError

MODEL_ENVS = ("FrozenLake-v1", "CliffWalking-v1", "Taxi-v4", "tidyrl/GridWorld-v0")
"""Registered environments that expose a transition model."""


class EpisodicModel(NamedTuple):
    """Dense arrays of a finite episodic MDP (see the module docstring)."""

    p: np.ndarray
    """(S, A, S) probability of each successor for transitions that do not terminate."""
    p_end: np.ndarray
    """(S, A, S) probability of each successor for transitions that terminate."""
    r: np.ndarray
    """(S, A) expected immediate reward."""
    terminal: np.ndarray
    """(S,) states entered only by terminating transitions; their rows are zero."""


def env_name(env: Any) -> str:
    """The registered id of `env`, or its class name."""
    unwrapped = getattr(env, "unwrapped", env)
    spec = getattr(unwrapped, "spec", None)
    return spec.id if spec is not None else type(unwrapped).__name__


def episodic_model(env: Any, who: str = "dynamic programming") -> EpisodicModel:
    """Read ``env.unwrapped.P`` into `EpisodicModel` arrays; `who` names the method that needs
    the model in the error raised when the env has none."""
    unwrapped = getattr(env, "unwrapped", env)
    table = getattr(unwrapped, "P", None)
    name = env_name(env)
    if not isinstance(table, dict) or not isinstance(unwrapped.action_space, gym.spaces.Discrete):
        raise EnvError(
            f"{name} exposes no transition model (env.unwrapped.P), which {who} needs; "
            f"environments that have one: {', '.join(MODEL_ENVS)}"
        )
    obs_space = unwrapped.observation_space
    n_states = int(obs_space.n) if isinstance(obs_space, gym.spaces.Discrete) else len(table)
    n_actions = int(unwrapped.action_space.n)
    p = np.zeros((n_states, n_actions, n_states))
    p_end = np.zeros((n_states, n_actions, n_states))
    r = np.zeros((n_states, n_actions))
    ends = np.zeros(n_states, dtype=bool)  # entered by a terminating transition
    goes_on = np.zeros(n_states, dtype=bool)  # entered from another state without terminating
    for s, row in table.items():
        for a, outcomes in row.items():
            total = 0.0
            for prob, s_next, reward, terminated in outcomes:
                total += prob
                r[s, a] += prob * reward
                if terminated:
                    p_end[s, a, s_next] += prob
                    ends[s_next] |= prob > 0
                else:
                    p[s, a, s_next] += prob
                    goes_on[s_next] |= prob > 0 and s_next != s
            if abs(total - 1.0) > 1e-6:
                raise EnvError(
                    f"{name}: transition probabilities of state {s}, action {a} sum "
                    f"to {total}, not 1"
                )
    terminal = ends & ~goes_on
    p[terminal] = 0.0
    p_end[terminal] = 0.0
    r[terminal] = 0.0
    return EpisodicModel(p, p_end, r, terminal)
