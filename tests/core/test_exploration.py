"""Per-row ε in ε-greedy and Ape-X's per-actor ε, against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.core.exploration import apex_epsilons, epsilon_greedy


def test_apex_epsilons_by_hand() -> None:
    # 0.4^1, 0.4^(1 + 7/2) = 0.4^4 * sqrt(0.4) = 0.0256 * 0.6324555, 0.4^8 = 0.00065536
    assert apex_epsilons(3) == pytest.approx([0.4, 0.0161909, 0.00065536], rel=1e-5)
    assert apex_epsilons(1) == pytest.approx([0.4])
    assert apex_epsilons(2, epsilon=0.5, alpha=1.0) == pytest.approx([0.5, 0.25])
    with pytest.raises(ValueError):
        apex_epsilons(0)


def test_per_row_epsilon_explores_only_where_it_is_one() -> None:
    rng = np.random.default_rng(0)
    greedy = np.full(1000, 7)
    out = epsilon_greedy(lambda: greedy, 1000, np.r_[np.zeros(500), np.ones(500)], 3, rng)
    assert (out[:500] == 7).all()  # ε = 0: always greedy
    assert set(out[500:]) == {0, 1, 2}  # ε = 1: uniform over the 3 actions, never 7
    assert (epsilon_greedy(lambda: greedy[:4], 4, np.zeros(4), 3, rng) == 7).all()
