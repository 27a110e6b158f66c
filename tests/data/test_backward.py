"""The backward algorithm's pieces by hand: loop cutting and the start draw's bounds."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.data.backward import behind, cut_loops, draw_start


def test_cut_loops_by_hand():
    # states A B C B D: actions 1 and 2 go B -> C -> B, a loop; keep actions 0 and 3
    assert cut_loops("ABCBD", [0, 0, 0, 1]) == [0, 3]
    # a wall bump (A -> A) is a loop of one action
    assert cut_loops("AABC", [0, 0, 1]) == [1, 2]
    # nested loops: A B C D C B E -> the walk from B back to B goes, keep A->B, B->E
    assert cut_loops("ABCDCBE", [0, 0, 0, 0, 0, 1]) == [0, 5]
    # a loop back to the reset state: everything before the last visit of A goes
    assert cut_loops("ABAC", [0, 0, 1]) == [2]
    # no loop: all actions kept
    assert cut_loops("ABCD", [0, 0, 1]) == [0, 1, 2]


def test_cut_loops_keeps_rewarded_loops():
    # A B A C with a reward on the way to B: cutting A B A would lose it, so nothing goes
    assert cut_loops("ABAC", [1, 0, 0]) == [0, 1, 2]
    # after the rewarded return to A, a later return to A cuts back to the later visit
    assert cut_loops("ABADAE", [1, 0, 0, 0, 0]) == [0, 1, 4]


def test_cut_loops_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="need one more"):
        cut_loops("AB", [0, 0])


def test_draw_start_bounds():
    rng = np.random.default_rng(0)
    assert {draw_start(rng, 5, 10) for _ in range(50)} == {5}  # no window: the start itself
    window = {draw_start(rng, 5, 10, window=2) for _ in range(300)}
    assert window == {3, 4, 5}  # uniform on [start - window, start]
    assert {draw_start(rng, 1, 10, window=4) for _ in range(200)} == {0, 1}  # clipped at 0
    later = [draw_start(rng, 5, 10, later=1.0) for _ in range(500)]
    assert set(later) == set(range(5, 10))  # uniform on [start, T - 1]
    mixed = np.array([draw_start(rng, 5, 10, later=0.2) for _ in range(4000)])
    # P(start exactly 5) = 0.8 + 0.2 / 5 = 0.84; P(any of 6..9) = 0.16
    assert abs(float(np.mean(mixed > 5)) - 0.16) < 0.03
    with pytest.raises(ValueError, match="outside"):
        draw_start(rng, 10, 10)


def test_behind_by_hand():
    # rewards [0, 0, 1, 0]: to_go = [1, 1, 1, 0, 0] (return from state i to the end)
    to_go = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    assert not behind(to_go, 0, 3, 0.0, lag=2)  # the demo had 0 by state 1: not behind
    assert behind(to_go, 0, 5, 0.0, lag=2)  # by state 3 the demo had 1, the episode 0
    assert not behind(to_go, 0, 5, 1.0, lag=2)  # the episode has it too
    assert not behind(to_go, 2, 5, 0.0, lag=3)  # t - lag = 2 is the start itself
    assert behind(to_go, 2, 6, 0.0, lag=3)  # state 3: the demo earned 1 from state 2
    assert behind(to_go, 0, 100, 0.0, lag=2)  # clipped at the demonstration's end
    assert not behind(to_go, 0, 100, 0.0, lag=0)  # off
