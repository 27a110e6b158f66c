"""Samplers choose which stored rows a minibatch holds: uniform, or prioritized (PER).

Prioritized experience replay (Schaul et al. 2016), proportional variant:

    P(i) = p_i^alpha / sum_k p_k^alpha            p_i = |delta_i| + epsilon
    w_i  = (N * P(i))^(-beta) / max_j w_j          importance-sampling weights (eq. 1, sec. 3.4)

New rows get the largest priority seen so far, so each is replayed at least once soon, unless
they come with a priority of their own (Ape-X: Horgan et al. 2018 compute |delta| on the actor
that collected the row, so that new rows need not all wait at the maximum). Sampling is
stratified: the range [0, sum p^alpha) is cut into `batch_size` equal segments and one value is
drawn in each (appendix B.2.1). beta is annealed towards 1 by the caller (a schedule).

Prioritized *sequence* replay (R2D2, Kapturowski et al. 2019, sec. 2.3) gives a stored sequence
the mixture of the max and the mean of its absolute n-step TD errors over its valid steps,

    p = eta max_t |delta_t| + (1 - eta) mean_t |delta_t|        eta = 0.9

(`sequence_priority`): the mean alone washes out a large error in a long sequence.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tidyrl.data.sumtree import SumTree


def sequence_priority(
    td_errors: np.ndarray, mask: np.ndarray, eta: float = 0.9, axis: int = 0
) -> np.ndarray:
    """p = eta max_t |delta_t| + (1 - eta) mean_t |delta_t| over the steps where `mask` is 1,
    along `axis` (time); 0 for a sequence without valid steps."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    valid = np.asarray(mask, dtype=np.float64)
    magnitude = np.abs(np.asarray(td_errors, dtype=np.float64)) * valid
    count = valid.sum(axis=axis)
    mean = magnitude.sum(axis=axis) / np.maximum(count, 1.0)
    result: np.ndarray = eta * magnitude.max(axis=axis) + (1.0 - eta) * mean
    return result


class UniformSampler:
    """Rows drawn uniformly with replacement; every importance weight is 1."""

    def add(self, index: np.ndarray, priorities: np.ndarray | None = None) -> None:
        """Uniform sampling keeps no per-row state (and ignores given priorities)."""

    def sample(
        self, size: int, batch_size: int, rng: np.random.Generator, beta: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """`batch_size` indices in [0, size) and their weights (all ones)."""
        if size < 1:
            raise ValueError("cannot sample from an empty buffer")
        return rng.integers(0, size, size=batch_size), np.ones(batch_size, dtype=np.float32)

    def update_priorities(self, index: np.ndarray, td_errors: np.ndarray) -> None:
        """Uniform sampling ignores TD errors."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        """No state to checkpoint."""
        return {}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """No state to restore."""


class PrioritizedSampler:
    """Proportional prioritized sampling on a sum-tree (see the module docstring)."""

    def __init__(self, capacity: int, alpha: float = 0.6, epsilon: float = 1e-6) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.tree = SumTree(capacity)
        self.alpha = alpha
        self.epsilon = epsilon
        self.max_priority = 1.0
        """Largest p_i (before the alpha power) seen so far; new rows get it."""

    def add(self, index: np.ndarray, priorities: np.ndarray | None = None) -> None:
        """Give freshly written rows the maximal priority, or `priorities` (|delta_i| computed
        where the rows were collected: Ape-X's actors, Horgan et al. 2018, sec. 3) as
        p_i = |delta_i| + epsilon."""
        index = np.asarray(index)
        if priorities is None:
            self.tree.update(index, np.full(index.shape, self.max_priority**self.alpha))
        else:
            self.update_priorities(index, priorities)

    def clear(self, index: np.ndarray) -> None:
        """Rows that can no longer be sampled (e.g. a stored sequence partly overwritten)."""
        self.tree.clear(index)

    def sample(
        self, size: int, batch_size: int, rng: np.random.Generator, beta: float = 0.4
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stratified draw of `batch_size` rows with P(i) ~ p_i^alpha, and normalised IS
        weights w_i = (N P(i))^-beta / max_j w_j (max over all rows, via the min priority)."""
        total = self.tree.total
        if size < 1 or total <= 0:
            raise ValueError("cannot sample from an empty buffer")
        bounds = np.arange(batch_size + 1, dtype=np.float64) * (total / batch_size)
        values = rng.uniform(bounds[:-1], bounds[1:])
        index = self.tree.find(values)
        probs = self.tree[index] / total
        min_prob = self.tree.min / total
        weights = (probs / min_prob) ** (-beta)  # = (N P(i))^-beta / (N P_min)^-beta
        return index, weights.astype(np.float32)

    def update_priorities(self, index: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i <- |delta_i| + epsilon for the sampled rows (the last value wins on repeats)."""
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.epsilon
        self.max_priority = max(self.max_priority, float(priorities.max(initial=0.0)))
        self.tree.update(index, priorities**self.alpha)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The sum- and min-trees and the largest priority, for a checkpoint."""
        tree = self.tree
        return {"sums": tree.sums, "mins": tree.mins, "max_priority": np.asarray(self.max_priority)}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a sampler of the same capacity)."""
        self.tree.sums[:] = arrays["sums"]
        self.tree.mins[:] = arrays["mins"]
        self.max_priority = float(arrays["max_priority"])
