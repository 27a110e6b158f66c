"""ε-greedy action selection (Sutton & Barto 2018, sec. 2.2; Mnih et al. 2015).

a = argmax_a Q(s, a)            with probability 1 - ε
a ~ Uniform{0, ..., |A| - 1}    with probability ε

Under an action mask both draws keep to the valid actions: the greedy one is the argmax of the
masked values (the caller's `greedy`), the exploring one uniform over the valid actions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tidyrl.core.masking import sample_valid


def epsilon_greedy(
    greedy: Callable[[], np.ndarray],
    n: int,
    epsilon: float,
    n_actions: int,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """`n` actions: the greedy ones (`greedy()`, argmax_a Q(s, a) per row), each replaced by a
    uniform action (a uniform valid one under `mask`, bool [n, n_actions]) with probability
    `epsilon`. `greedy` is not called when every row explores (most of early training), so
    the network is not run for nothing."""
    if epsilon <= 0:
        return greedy()
    explore = rng.random(n) < epsilon
    random_actions = rng.integers(0, n_actions, n) if mask is None else sample_valid(mask, rng)
    if explore.all():
        return random_actions
    return np.where(explore, random_actions, greedy())
