"""Exploration noise: OU statistics and the decaying-variance schedule (layer 1)."""

from __future__ import annotations

import numpy as np
import pytest

from tidyrl.core.noise import ExplorationNoise, OrnsteinUhlenbeck, decayed_std


def test_ou_without_diffusion_reverts_geometrically_to_the_mean():
    ou = OrnsteinUhlenbeck((1, 2), np.random.default_rng(0), theta=0.15, sigma=0.0, mu=1.0)
    ou.state[:] = [[5.0, -3.0]]
    for t in range(1, 11):
        x = ou.sample()
        np.testing.assert_allclose(x, 1.0 + (np.array([[5.0, -3.0]]) - 1.0) * 0.85**t)


def test_ou_stationary_mean_and_variance():
    theta, sigma, dt = 1.0, 0.5, 0.01
    ou = OrnsteinUhlenbeck((20_000, 1), np.random.default_rng(0), theta, sigma, mu=0.3, dt=dt)
    for _ in range(1_000):  # ten time constants 1 / (theta dt)
        x = ou.sample()
    assert x.mean() == pytest.approx(0.3, abs=0.01)
    # sigma^2 / (2 theta) in continuous time; the discrete recursion is within theta*dt/2 of it
    assert x.var() == pytest.approx(sigma**2 / (2 * theta), rel=0.03)
    assert x.var() == pytest.approx(ou.stationary_variance, rel=0.03)


def test_ou_samples_are_temporally_correlated():
    ou = OrnsteinUhlenbeck((5_000, 1), np.random.default_rng(1), theta=0.15, sigma=0.2)
    for _ in range(100):
        ou.sample()
    a = ou.sample()
    b = ou.sample()
    assert np.corrcoef(a[:, 0], b[:, 0])[0, 1] == pytest.approx(0.85, abs=0.03)


def test_ou_reset_restarts_only_masked_rows():
    ou = OrnsteinUhlenbeck((3, 1), np.random.default_rng(0))
    ou.state[:] = 2.0
    ou.reset(np.array([True, False, True]))
    assert ou.state[:, 0].tolist() == [0.0, 2.0, 0.0]


def test_spell_chart_variance_decays_linearly_from_one_to_point_three():
    assert decayed_std(1.0, 0.3, 1_000_000, 0) == pytest.approx(1.0)
    assert decayed_std(1.0, 0.3, 1_000_000, 500_000) == pytest.approx(0.65**0.5)
    assert decayed_std(1.0, 0.3, 1_000_000, 1_000_000) == pytest.approx(0.3**0.5)
    assert decayed_std(1.0, 0.3, 1_000_000, 5_000_000) == pytest.approx(0.3**0.5)


def test_exploration_noise_gaussian_scale_and_ou_batches():
    noise = ExplorationNoise("gaussian", (2, 1), np.random.default_rng(0), 0.04, 0.04, 10)
    draws = np.concatenate([noise.sample(0, 1000) for _ in range(20)])
    assert draws.std() == pytest.approx(0.2, rel=0.03)
    ou = ExplorationNoise("ou", (2, 1), np.random.default_rng(0), 0.04, 0.04, 10)
    assert ou.sample(0).shape == (2, 1)
    assert ou.sample(0, 7).shape == (7, 1)  # other batch sizes (predict) get Gaussian noise
    with pytest.raises(ValueError, match="noise kind"):
        ExplorationNoise("pink", (1, 1), np.random.default_rng(0), 1.0, 1.0, 1)


def test_sb3_ou_time_step_is_tidyrl_unit_step_with_scaled_theta_and_sigma():
    # RL-Zoo's MountainCarContinuous noise: SB3's OU with theta 0.15, sigma 0.5, dt 0.01. The
    # `mountaincar` preset of TD3 and DDPG writes it as tidyrl's unit step with theta dt and
    # sigma sqrt(dt) (variance 0.0025): the same draws give the same path.
    sb3 = OrnsteinUhlenbeck((1, 2), np.random.default_rng(3), theta=0.15, sigma=0.5, dt=0.01)
    unit = OrnsteinUhlenbeck((1, 2), np.random.default_rng(3), theta=0.0015, sigma=0.05)
    for _ in range(200):
        np.testing.assert_allclose(sb3.sample(), unit.sample(), rtol=1e-12, atol=1e-15)
    # by hand: one step from x = 1 without diffusion moves 0.15 * 0.01 of the way to 0
    sb3.state[...] = 1.0
    sb3.sigma = 0.0
    np.testing.assert_allclose(sb3.sample(), 1.0 - 0.0015)
