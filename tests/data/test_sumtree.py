"""Sum-tree: sums, minimum, prefix-sum search, updates with duplicates (hand-checked)."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.data.sumtree import SumTree


def test_total_min_and_find_hand_checked():
    tree = SumTree(5)  # rounded up to 8 leaves
    tree.update(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 0.5]))
    assert tree.total == pytest.approx(10.5)
    assert tree.min == pytest.approx(0.5)
    # prefix sums: [0,1) -> 0, [1,3) -> 1, [3,6) -> 2, [6,10) -> 3, [10,10.5) -> 4
    values = np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99, 10.0, 10.49])
    np.testing.assert_array_equal(tree.find(values), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])


def test_update_recomputes_ancestors_and_last_duplicate_wins():
    tree = SumTree(4)
    tree.update(np.arange(4), np.ones(4))
    tree.update(np.array([2, 2]), np.array([5.0, 7.0]))
    assert tree.total == pytest.approx(10.0)
    np.testing.assert_allclose(tree[np.arange(4)], [1, 1, 7, 1])
    assert tree.min == 1.0
    tree.update(np.array([0]), np.array([0.0]))
    assert tree.min == 0.0 and tree.total == pytest.approx(9.0)
    assert tree.find(np.array([0.0]))[0] == 1  # zero-priority leaves are never found


def test_rejects_bad_input():
    tree = SumTree(3)
    with pytest.raises(IndexError):
        tree.update(np.array([3]), np.array([1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError):
        SumTree(0)


def test_capacity_one():
    tree = SumTree(1)
    tree.update(np.array([0]), np.array([2.0]))
    assert tree.total == 2.0
    np.testing.assert_array_equal(tree.find(np.array([0.0, 1.9])), [0, 0])


def test_find_never_returns_an_empty_leaf():
    tree = SumTree(6)
    tree.update(np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]))
    found = tree.find(np.array([tree.total, tree.total * (1 + 1e-12), 0.6 - 1e-17]))
    assert (tree[found] > 0).all()


def test_clear_takes_leaves_out_of_the_sum_and_the_min():
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    tree.clear(np.array([0, 2]))
    assert tree.total == 6.0 and tree.min == 2.0
    assert tree[np.arange(4)].tolist() == [0.0, 2.0, 0.0, 4.0]
    assert set(tree.find(np.linspace(0, 5.99, 50)).tolist()) == {1, 3}  # never a cleared leaf
    tree.clear(np.array([1, 3]))
    assert tree.total == 0.0 and tree.min == np.inf
