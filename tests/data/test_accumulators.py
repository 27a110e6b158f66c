"""N-step accumulator: returns, discounts and flags across episode ends and truncations."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.data.accumulators import NStepAccumulator


def push(acc, t, reward, term=False, trunc=False, n_envs=1):
    obs = np.full((n_envs, 1), float(t))
    return acc.push(
        obs,
        np.full(n_envs, t),
        np.full(n_envs, reward, dtype=np.float32),
        obs + 1,
        np.full(n_envs, term),
        np.full(n_envs, trunc),
    )


def test_three_step_returns_and_termination_flush():
    g = 0.5
    acc = NStepAccumulator(3, g)
    assert push(acc, 0, 1.0) is None
    assert push(acc, 1, 2.0) is None
    out = push(acc, 2, 4.0)  # window full: emit t=0
    assert out["obs"][:, 0].tolist() == [0.0]
    assert out["rewards"][0] == pytest.approx(1 + g * 2 + g * g * 4)
    assert out["next_obs"][0, 0] == 3.0 and out["discounts"][0] == pytest.approx(g**3)
    assert not out["terminated"][0]
    out = push(acc, 3, 8.0, term=True)  # episode ends: flush t=1, 2, 3
    assert out["obs"][:, 0].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(out["rewards"], [2 + g * 4 + g * g * 8, 4 + g * 8, 8])
    np.testing.assert_allclose(out["discounts"], [g**3, g**2, g])
    np.testing.assert_array_equal(out["next_obs"][:, 0], [4.0, 4.0, 4.0])
    assert out["terminated"].all() and not out["truncated"].any()
    # the next episode starts clean
    assert push(acc, 10, 1.0) is None


def test_truncation_flushes_and_keeps_bootstrap_flags():
    acc = NStepAccumulator(3, 0.9)
    push(acc, 0, 1.0)
    out = push(acc, 1, 1.0, trunc=True)
    assert out["obs"][:, 0].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(out["rewards"], [1.9, 1.0])
    np.testing.assert_allclose(out["discounts"], [0.81, 0.9])
    assert out["truncated"].all() and not out["terminated"].any()  # truncation bootstraps


def test_envs_are_independent():
    acc = NStepAccumulator(2, 1.0, n_envs=2)
    obs = np.array([[0.0], [100.0]])
    assert acc.push(
        obs,
        np.zeros(2),
        np.array([1.0, 10.0]),
        obs + 1,
        np.array([False, True]),
        np.array([False, False]),
    )["obs"][:, 0].tolist() == [100.0]
    out = acc.push(
        obs + 1,
        np.zeros(2),
        np.array([2.0, 20.0]),
        obs + 2,
        np.array([False, False]),
        np.array([False, False]),
    )
    assert out["obs"][:, 0].tolist() == [0.0]  # env 1 restarted and has one pending step
    assert out["rewards"][0] == pytest.approx(3.0)


def test_one_step_passes_through():
    acc = NStepAccumulator(1, 0.99)
    out = push(acc, 5, 2.0, term=True)
    assert out["rewards"][0] == 2.0 and out["discounts"][0] == pytest.approx(0.99)
    assert out["terminated"][0]
