"""Samplers: PER proportions (statistically), importance weights, priority updates."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.data.samplers import PrioritizedSampler, UniformSampler


def test_uniform_sampler_weights_are_one():
    index, weights = UniformSampler().sample(10, 1000, np.random.default_rng(0))
    assert index.min() >= 0 and index.max() < 10
    np.testing.assert_array_equal(weights, 1.0)


def test_prioritized_sampling_proportions_match_p_alpha():
    sampler = PrioritizedSampler(capacity=4, alpha=0.5)
    sampler.add(np.arange(4))
    sampler.update_priorities(np.arange(4), np.array([1.0, 4.0, 9.0, 16.0]) - 1e-6)
    # p^alpha = 1, 2, 3, 4 -> P = 0.1, 0.2, 0.3, 0.4
    rng = np.random.default_rng(0)
    draws = np.concatenate([sampler.sample(4, 100, rng)[0] for _ in range(400)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    expected = np.array([0.1, 0.2, 0.3, 0.4])
    # 40,000 draws: standard error <= 0.0025; stratification only lowers the variance
    np.testing.assert_allclose(freq, expected, atol=0.01)


def test_importance_weights_hand_checked():
    sampler = PrioritizedSampler(capacity=4, alpha=1.0, epsilon=0.0)
    sampler.add(np.arange(4))
    sampler.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    index, weights = sampler.sample(4, 4, np.random.default_rng(1), beta=0.5)
    # P(i) = p_i / 10, w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (p_i / p_min)^-0.5
    expected = (np.array([1.0, 2.0, 3.0, 4.0])[index] / 1.0) ** -0.5
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert weights.max() <= 1.0


def test_new_rows_get_max_priority_and_updates_move_mass():
    sampler = PrioritizedSampler(capacity=8, alpha=1.0, epsilon=0.0)
    sampler.add(np.array([0, 1]))
    assert sampler.tree.total == pytest.approx(2.0)  # max priority starts at 1
    sampler.update_priorities(np.array([0]), np.array([5.0]))
    assert sampler.max_priority == 5.0
    sampler.add(np.array([2]))
    np.testing.assert_allclose(sampler.tree[np.arange(3)], [5.0, 1.0, 5.0])
    sampler.update_priorities(np.array([1, 1]), np.array([3.0, 2.0]))  # last value wins
    assert sampler.tree[np.array([1])][0] == pytest.approx(2.0)
    # negative TD errors count by magnitude
    sampler.update_priorities(np.array([2]), np.array([-0.5]))
    assert sampler.tree[np.array([2])][0] == pytest.approx(0.5)


def test_zero_alpha_is_uniform():
    sampler = PrioritizedSampler(capacity=3, alpha=0.0)
    sampler.add(np.arange(3))
    sampler.update_priorities(np.arange(3), np.array([0.1, 10.0, 100.0]))
    index, weights = sampler.sample(3, 3000, np.random.default_rng(0), beta=1.0)
    np.testing.assert_allclose(np.bincount(index) / 3000, 1 / 3, atol=0.03)
    np.testing.assert_allclose(weights, 1.0)


def test_rows_added_with_their_own_priorities_hand_checked():
    # Ape-X: p_i = |delta_i| + epsilon from the actor, not the maximum so far
    sampler = PrioritizedSampler(4, alpha=0.5, epsilon=0.0)
    sampler.add(np.array([0, 1]), np.array([-0.25, 4.0]))
    assert sampler.tree[np.array([0, 1])].tolist() == pytest.approx([0.5, 2.0])
    assert sampler.max_priority == 4.0
    sampler.add(np.array([2]))  # no priority of its own: the maximum so far, 4 ** 0.5
    assert sampler.tree.total == pytest.approx(0.5 + 2.0 + 2.0)
    UniformSampler().add(np.array([0]), np.array([1.0]))  # ignored
