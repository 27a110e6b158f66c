"""Sum-tree (and min-tree) over priorities: O(log n) prefix-sum search and updates.

Schaul et al. (2016), "Prioritized Experience Replay", appendix B.2.1: a binary tree whose leaves
hold the priorities p_i and whose inner nodes hold the sum of their children, so that drawing i
with probability p_i / sum_k p_k is one walk from the root. Everything is vectorised over a batch
of indices / values with NumPy; the tree is an array of 2 * capacity nodes (root at 1, leaves at
capacity .. 2 * capacity - 1, capacity rounded up to a power of two).
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Leaf priorities with vectorised `update`, `find` (prefix-sum search), `total` and `min`."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = int(capacity)
        self.leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self.depth = self.leaves.bit_length() - 1
        self.sums = np.zeros(2 * self.leaves, dtype=np.float64)
        self.mins = np.full(2 * self.leaves, np.inf, dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.sums[1])

    @property
    def min(self) -> float:
        """Smallest priority among the leaves set so far (inf when none)."""
        return float(self.mins[1])

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        values: np.ndarray = self.sums[self.leaves + np.asarray(index)]
        return values

    def update(self, index: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaves `index` to `priorities` (>= 0) and recompute their ancestors.

        Duplicate indices are allowed: the last value wins, as with NumPy assignment.
        """
        values = np.asarray(priorities, dtype=np.float64).ravel()
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError("priorities must be finite and non-negative")
        self._set(index, values, values)

    def clear(self, index: np.ndarray) -> None:
        """Take leaves `index` out of the distribution (priority 0, and out of the min too,
        as leaves never set are): rows that can no longer be sampled."""
        index = np.asarray(index, dtype=np.int64).ravel()
        self._set(index, np.zeros(index.shape), np.full(index.shape, np.inf))

    def _set(self, index: np.ndarray, sums: np.ndarray, mins: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int64).ravel()
        if index.size == 0:
            return
        if (index < 0).any() or (index >= self.capacity).any():
            raise IndexError(f"sum-tree index out of range [0, {self.capacity})")
        nodes = index + self.leaves
        self.sums[nodes] = sums
        self.mins[nodes] = mins
        for _ in range(self.depth):
            nodes = np.unique(nodes >> 1)
            left, right = 2 * nodes, 2 * nodes + 1
            self.sums[nodes] = self.sums[left] + self.sums[right]
            self.mins[nodes] = np.minimum(self.mins[left], self.mins[right])

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf indices i with prefix(i) <= value < prefix(i) + p_i, for each value in
        [0, total): the inverse CDF of the priority distribution."""
        values = np.asarray(values, dtype=np.float64).copy()
        nodes = np.ones(values.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = self.sums[left]
            # never step into an empty right subtree (float round-off near the total)
            go_right = (values >= left_sum) & (self.sums[left + 1] > 0)
            values = np.where(go_right, values - left_sum, values)
            nodes = np.where(go_right, left + 1, left)
        index: np.ndarray = nodes - self.leaves
        return index
