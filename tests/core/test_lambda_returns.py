"""Dreamer's lambda-returns and DreamerV3's return scale, by hand."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.normalize import ReturnScale, ema_update, percentile_range
from tidyrl.core.returns import lambda_returns

REWARDS = torch.tensor([1.0, 2.0])
CONTINUES = torch.tensor([1.0, 0.5])
VALUES = torch.tensor([10.0, 3.0, 4.0])  # v(s_0) = 10 must not matter


@pytest.mark.parametrize(
    ("lam", "expected"),
    [
        # R_1 = 2 + 0.9 * 0.5 * 4 = 3.8 for every lambda (R_2 = v(s_2))
        (0.5, [1 + 0.9 * (0.5 * 3 + 0.5 * 3.8), 3.8]),  # 4.06
        (1.0, [1 + 0.9 * 3.8, 3.8]),  # Monte Carlo through the model: 4.42
        (0.0, [1 + 0.9 * 3, 3.8]),  # one-step TD: 3.7
    ],
)
def test_lambda_returns_by_hand(lam, expected):
    returns = lambda_returns(REWARDS, VALUES, CONTINUES, gamma=0.9, lam=lam)
    torch.testing.assert_close(returns, torch.tensor(expected))


def test_lambda_returns_batch_columns_are_independent():
    rewards = torch.stack([REWARDS, torch.zeros(2)], 1)
    values = torch.stack([VALUES, torch.ones(3)], 1)
    continues = torch.stack([CONTINUES, torch.zeros(2)], 1)  # column 2 terminates at once
    returns = lambda_returns(rewards, values, continues, gamma=0.9, lam=0.5)
    torch.testing.assert_close(returns[:, 0], torch.tensor([4.06, 3.8]))
    torch.testing.assert_close(returns[:, 1], torch.zeros(2))


def test_percentile_range_and_ema_by_hand():
    x = torch.arange(101.0)  # Per(x, 5) = 5, Per(x, 95) = 95
    torch.testing.assert_close(percentile_range(x), torch.tensor(90.0))
    torch.testing.assert_close(
        ema_update(torch.tensor(2.0), torch.tensor(4.0), 0.75), torch.tensor(2.5)
    )


def test_return_scale_never_scales_small_returns_up():
    scale = ReturnScale(decay=0.99)
    x = torch.arange(101.0)
    torch.testing.assert_close(scale.update(x), torch.tensor(1.0))  # S = 0.9 -> max(1, S) = 1
    torch.testing.assert_close(scale.scale, torch.tensor(0.9))
    torch.testing.assert_close(scale.update(x), torch.tensor(0.99 * 0.9 + 0.9))  # 1.791
    assert "scale" in scale.state_dict()
