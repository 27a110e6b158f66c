"""C51 projection against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.distributional import categorical_projection, make_support


def test_support():
    torch.testing.assert_close(
        make_support(-1.0, 1.0, 5), torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    )
    with pytest.raises(ValueError):
        make_support(1.0, 1.0, 5)


def test_projection_hand_computed():
    support = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    probs = torch.tensor([[0.2, 0.2, 0.2, 0.2, 0.2], [0.0, 1.0, 0.0, 0.0, 0.0]])
    rewards = torch.tensor([0.5, 1.0])
    mask = torch.tensor([1.0, 1.0])
    m = categorical_projection(probs, rewards, 0.5, mask, support)
    # row 0: Tz = 0.5 + 0.5 z = [0.5, 1, 1.5, 2, 2.5]
    #   0.5 -> 0.1 to atom 0, 0.1 to atom 1; 1 -> 0.2 to atom 1; 1.5 -> 0.1, 0.1 to atoms 1, 2;
    #   2 -> 0.2 to atom 2; 2.5 -> 0.1, 0.1 to atoms 2, 3
    expected0 = torch.tensor([0.1, 0.4, 0.4, 0.1, 0.0])
    # row 1: all mass at z = 1 -> Tz = 1.5 -> half to atoms 1 and 2
    expected1 = torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0])
    torch.testing.assert_close(m, torch.stack([expected0, expected1]))


def test_projection_clips_terminates_and_takes_per_row_discounts():
    support = torch.tensor([-1.0, 0.0, 1.0])
    probs = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    rewards = torch.tensor([5.0, 0.25, -0.5])
    mask = torch.tensor([1.0, 0.0, 1.0])  # row 1 terminated: all mass at r = 0.25
    discounts = torch.tensor([0.9, 0.9, 0.5])
    m = categorical_projection(probs, rewards, discounts, mask, support)
    torch.testing.assert_close(m[0], torch.tensor([0.0, 0.0, 1.0]))  # clipped at v_max
    torch.testing.assert_close(m[1], torch.tensor([0.0, 0.75, 0.25]))
    torch.testing.assert_close(m[2], torch.tensor([0.5, 0.5, 0.0]))  # -0.5 + 0.5 * 0
    torch.testing.assert_close(m.sum(1), torch.ones(3))
