"""ε-greedy action selection (Sutton & Barto 2018, sec. 2.2; Mnih et al. 2015).

a = argmax_a Q(s, a)            with probability 1 - ε
a ~ Uniform{0, ..., |A| - 1}    with probability ε
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def epsilon_greedy(
    greedy: Callable[[], np.ndarray],
    n: int,
    epsilon: float,
    n_actions: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`n` actions: the greedy ones (`greedy()`, argmax_a Q(s, a) per row), each replaced by a
    uniform action with probability `epsilon`. `greedy` is not called when every row explores
    (most of early training), so the network is not run for nothing."""
    if epsilon <= 0:
        return greedy()
    explore = rng.random(n) < epsilon
    random_actions = rng.integers(0, n_actions, n)
    if explore.all():
        return random_actions
    return np.where(explore, random_actions, greedy())
