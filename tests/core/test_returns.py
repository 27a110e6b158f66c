"""Returns and GAE against hand-computed values (DESIGN.md section 7, layer 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tidyrl.core.returns import discounted_return, gae, normalize, reward_to_go
from tidyrl.data.rollout import Rollout


def test_discounted_return_by_hand():
    # 1 + 0.5 * 2 + 0.25 * 4 = 3
    assert discounted_return([1.0, 2.0, 4.0], 0.5) == pytest.approx(3.0)
    # cut episode: + 0.5^3 * V(s_T) = 0.125 * 8 = 1
    assert discounted_return([1.0, 2.0, 4.0], 0.5, bootstrap=8.0) == pytest.approx(4.0)
    assert discounted_return([], 0.9) == 0.0


def test_reward_to_go_by_hand():
    # G_2 = 4, G_1 = 2 + 0.5 * 4 = 4, G_0 = 1 + 0.5 * 4 = 3
    np.testing.assert_allclose(reward_to_go([1.0, 2.0, 4.0], 0.5), [3.0, 4.0, 4.0])
    # bootstrap 8: G_2 = 4 + 4 = 8, G_1 = 2 + 4 = 6, G_0 = 1 + 3 = 4
    np.testing.assert_allclose(reward_to_go([1.0, 2.0, 4.0], 0.5, bootstrap=8.0), [4.0, 6.0, 8.0])
    # gamma = 1: plain suffix sums; G_0 equals the undiscounted return
    rtg = reward_to_go([1.0, 1.0, 1.0, 1.0], 1.0)
    np.testing.assert_allclose(rtg, [4.0, 3.0, 2.0, 1.0])
    assert rtg[0] == discounted_return([1.0] * 4, 1.0)


def t(x):
    return torch.tensor(x, dtype=torch.float32).reshape(-1, 1)


def test_gae_single_episode_by_hand():
    """gamma = 0.5, lambda = 0.5, no episode end, bootstrap V(s_3) = 4 after the rollout."""
    rewards, values, next_values = t([1.0, 1.0, 1.0]), t([2.0, 2.0, 2.0]), t([2.0, 2.0, 4.0])
    zeros = t([0.0, 0.0, 0.0])
    adv, ret = gae(rewards, values, next_values, zeros, zeros, gamma=0.5, lam=0.5)
    # deltas: 1 + 1 - 2 = 0, 0, 1 + 2 - 2 = 1; A_2 = 1, A_1 = 0 + 0.25 * 1, A_0 = 0.25 * 0.25
    torch.testing.assert_close(adv, t([0.0625, 0.25, 1.0]))
    torch.testing.assert_close(ret, adv + values)


def test_gae_terminated_and_truncated_steps_by_hand():
    """Step 1 terminates (no bootstrap, recursion cut); step 3 is truncated: it bootstraps from
    V(final obs) = 10, not from V of the next episode's first observation, and cuts the
    recursion too. gamma = 0.9, lambda = 0.5."""
    rewards = t([1.0, 1.0, 1.0, 1.0, 1.0])
    values = t([1.0, 2.0, 3.0, 4.0, 5.0])
    # V(s'_t): V(s_{t+1}) inside an episode; step 1 ends (value unused); step 3's final obs
    # has V = 10; after the last row V(s_5) = 6
    next_values = t([2.0, 99.0, 4.0, 10.0, 6.0])
    terminated = t([0.0, 1.0, 0.0, 0.0, 0.0])
    dones = t([0.0, 1.0, 0.0, 1.0, 0.0])
    adv, ret = gae(rewards, values, next_values, terminated, dones, gamma=0.9, lam=0.5)
    d = [1 + 0.9 * 2 - 1, 1 - 2, 1 + 0.9 * 4 - 3, 1 + 0.9 * 10 - 4, 1 + 0.9 * 6 - 5]
    assert d == pytest.approx([1.8, -1.0, 1.6, 6.0, 1.4])
    c = 0.9 * 0.5
    expected = [d[0] + c * d[1], d[1], d[2] + c * d[3], d[3], d[4]]
    torch.testing.assert_close(adv, t(expected))
    torch.testing.assert_close(ret, t(expected) + values)


def test_gae_lambda_one_is_reward_to_go_and_lambda_zero_is_td_error():
    rng = np.random.default_rng(0)
    r = rng.normal(size=6)
    values = t(rng.normal(size=6))
    zeros = t([0.0] * 6)
    next_values = torch.cat([values[1:], t([0.0])])  # terminal after the last step
    terminated = t([0.0] * 5 + [1.0])
    _, ret = gae(t(r), values, next_values, terminated, terminated, gamma=0.9, lam=1.0)
    np.testing.assert_allclose(ret.squeeze(1).numpy(), reward_to_go(r, 0.9), rtol=1e-5)
    adv0, _ = gae(t(r), values, next_values, terminated, terminated, gamma=0.9, lam=0.0)
    delta = t(r) + 0.9 * next_values * (1 - terminated) - values
    torch.testing.assert_close(adv0, delta)
    del zeros


def test_rollout_next_values_bootstrap_from_final_obs_on_truncation():
    ro = Rollout(3, 2, (1,), (), discrete=True)
    ro.values[:] = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    ro.last_values[:] = torch.tensor([4.0, 40.0])
    ro.truncated[1, 0] = 1.0
    ro.final_values[1, 0] = 7.0
    ro.terminated[0, 1] = 1.0
    expected = torch.tensor([[2.0, 20.0], [7.0, 30.0], [4.0, 40.0]])
    torch.testing.assert_close(ro.next_values(), expected)
    ro.rewards[:] = 1.0
    adv, _ = ro.advantages(gamma=1.0, lam=1.0)
    # env 0: episode cut at step 1 -> A_1 = 1 + 7 - 2 = 6, A_0 = (1 + 2 - 1) + 6 = 8;
    # A_2 = 1 + 4 - 3 = 2.  env 1: terminated at step 0 -> A_0 = 1 - 10 = -9
    torch.testing.assert_close(adv[:, 0], torch.tensor([8.0, 6.0, 2.0]))
    assert adv[0, 1].item() == pytest.approx(-9.0)


def test_normalize():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = normalize(x)
    assert y.mean().abs() < 1e-6 and (y.std() - 1).abs() < 1e-4


def test_normalize_of_a_single_value_is_zero_not_nan():
    """A one-step batch (REINFORCE on one-step episodes, a PPO minibatch of one) has no spread:
    standardising it gives 0, where the unbiased std would be NaN and turn the update into NaN."""
    torch.testing.assert_close(normalize(torch.tensor([3.0])), torch.tensor([0.0]))
    torch.testing.assert_close(
        normalize(torch.tensor([1.0, 3.0])), torch.tensor([-0.7071, 0.7071]), atol=1e-4, rtol=0
    )
