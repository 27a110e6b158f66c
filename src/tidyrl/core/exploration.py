"""ε-greedy action selection (Sutton & Barto 2018, sec. 2.2; Mnih et al. 2015).

a = argmax_a Q(s, a)            with probability 1 - ε
a ~ Uniform{0, ..., |A| - 1}    with probability ε

Under an action mask both draws keep to the valid actions: the greedy one is the argmax of the
masked values (the caller's `greedy`), the exploring one uniform over the valid actions.

Ape-X (Horgan et al. 2018, sec. 4.1) gives each of its N actors a fixed ε of its own,

ε_i = ε^(1 + α i / (N - 1)),   i = 0 .. N - 1,   ε = 0.4, α = 7

(`apex_epsilons`; `epsilon_greedy` takes one ε per row).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tidyrl.core.masking import sample_valid


def epsilon_greedy(
    greedy: Callable[[], np.ndarray],
    n: int,
    epsilon: float | np.ndarray,
    n_actions: int,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """`n` actions: the greedy ones (`greedy()`, argmax_a Q(s, a) per row), each replaced by a
    uniform action (a uniform valid one under `mask`, bool [n, n_actions]) with probability
    `epsilon` (one for all rows, or one per row). `greedy` is not called when every row explores
    (most of early training), so the network is not run for nothing."""
    if np.all(np.asarray(epsilon) <= 0):
        return greedy()
    explore = rng.random(n) < epsilon
    random_actions = rng.integers(0, n_actions, n) if mask is None else sample_valid(mask, rng)
    if explore.all():
        return random_actions
    return np.where(explore, random_actions, greedy())


def apex_epsilons(n: int, epsilon: float = 0.4, alpha: float = 7.0) -> np.ndarray:
    """Ape-X's fixed per-actor ε: ε_i = ε^(1 + α i / (N - 1)) for i = 0 .. n - 1 (ε alone for
    one actor), float64 [n]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    i = np.arange(n, dtype=np.float64)
    return np.power(epsilon, 1.0 + alpha * i / max(n - 1, 1))
