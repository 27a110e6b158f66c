"""Tabular helpers shared by the tabular algorithms: Q-tables, epsilon-greedy, greedy policies.

Kept apart from the algorithm files so that `dp.py`, `monte_carlo.py` and `td.py` never import
each other (DESIGN.md, principle 2).
"""

from __future__ import annotations

import numpy as np


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Random action with probability epsilon, else a greedy action (ties broken at random).

    Random tie-breaking matters on sparse-reward tasks: with an all-zero table, `argmax` would
    always pick action 0 and never explore in the greedy branch.
    """
    if epsilon > 0 and rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


def table_actions(
    q: np.ndarray, obs: np.ndarray, epsilon: float, rng: np.random.Generator, deterministic: bool
) -> np.ndarray:
    """Actions for a batch of discrete observations from a Q-table.

    Deterministic acting (evaluation, `predict`) is a plain argmax, lowest index on ties, and
    draws nothing from `rng`: evaluating during training must not change what training does next.
    """
    states = np.ravel(obs).astype(np.int64)
    if deterministic:
        return q[states].argmax(axis=1)
    return np.array([epsilon_greedy(q[s], epsilon, rng) for s in states])


def epsilon_greedy_probs(q_row: np.ndarray, epsilon: float) -> np.ndarray:
    """pi(a|s) of the epsilon-greedy policy (ties share the greedy mass)."""
    n = len(q_row)
    best = q_row == q_row.max()
    return np.full(n, epsilon / n) + best * (1.0 - epsilon) / best.sum()


def linear_decay(start: float, end: float, fraction_done: float) -> float:
    """Linear interpolation from `start` to `end`, held at `end` once fraction_done >= 1."""
    return start + (end - start) * min(max(fraction_done, 0.0), 1.0)
