"""Action masks in the kernel: masked logits, masked entropies and KL, masked exploration and the
masked DQN target, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tidyrl.core.distributions import Categorical, MultiCategorical
from tidyrl.core.exploration import epsilon_greedy
from tidyrl.core.masking import mask_invalid, sample_valid


def test_masked_categorical_renormalises_over_the_valid_actions():
    logits = torch.log(torch.tensor([[0.2, 0.3, 0.5]])).requires_grad_()
    d = Categorical(logits, torch.tensor([[True, False, True]]))
    # p = (0.2, 0, 0.5) / 0.7
    torch.testing.assert_close(d.probs, torch.tensor([[2 / 7, 0.0, 5 / 7]]))
    h = -(2 / 7 * math.log(2 / 7) + 5 / 7 * math.log(5 / 7))
    assert d.entropy().item() == pytest.approx(h, rel=1e-6)
    assert d.mode().item() == 2
    assert d.log_prob(torch.tensor([1])).item() == -math.inf
    (d.entropy().sum() + d.log_prob(torch.tensor([0])).sum()).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 1] == 0
    assert d.detach().kl(d).item() == pytest.approx(0.0, abs=1e-7)
    draws, _ = Categorical(
        logits.detach().expand(5000, 3), d.mask.expand(5000, 3)
    ).sample_and_log_prob(np.random.default_rng(0))
    assert (draws != 1).all()


def test_a_row_that_allows_nothing_is_left_unmasked():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = mask_invalid(values, torch.tensor([[False, True], [False, False]]))
    assert out.tolist() == [[-math.inf, 2.0], [3.0, 4.0]]


def test_multi_categorical_masks_each_sub_action():
    d = MultiCategorical(
        torch.zeros(1, 5), (2, 3), torch.tensor([[True, False, False, True, True]])
    )
    torch.testing.assert_close(d.factors[0].probs, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(d.factors[1].probs, torch.tensor([[0.0, 0.5, 0.5]]))
    assert d.entropy().item() == pytest.approx(math.log(2), rel=1e-6)


def test_masked_exploration_draws_uniformly_among_the_valid_actions():
    mask = np.zeros((30000, 4), dtype=bool)
    mask[:, [1, 3]] = True
    mask[0] = False  # nothing valid: any action
    draws = sample_valid(mask, np.random.default_rng(0))
    assert set(np.unique(draws[1:])) == {1, 3}
    assert (draws[1:] == 1).mean() == pytest.approx(0.5, abs=0.01)
    greedy = epsilon_greedy(
        lambda: np.full(30000, 3), 30000, 1.0, 4, np.random.default_rng(1), mask
    )
    assert set(np.unique(greedy[1:])) == {1, 3}


def test_dqn_target_maximises_over_the_valid_next_actions():
    from tidyrl.algos.value.dqn import dqn_target
    from tidyrl.data.batch import Transition

    batch = Transition(
        obs=torch.zeros(2, 1),
        actions=torch.zeros(2, dtype=torch.long),
        rewards=torch.tensor([1.0, 1.0]),
        next_obs=torch.zeros(2, 1),
        terminated=torch.tensor([False, False]),
        truncated=torch.tensor([False, False]),
        discounts=torch.tensor([0.5, 0.5]),
        next_masks=torch.tensor([[True, False, True], [False, True, False]]),
    )
    next_q = torch.tensor([[1.0, 10.0, 3.0], [4.0, 2.0, 8.0]])
    # row 0: max over {0, 2} = 3; row 1: only action 1, Q = 2
    assert dqn_target(batch, next_q, None).tolist() == [1.0 + 0.5 * 3.0, 1.0 + 0.5 * 2.0]
    # Double DQN: the online net selects among the valid actions, the target net evaluates
    online = torch.tensor([[5.0, 9.0, 1.0], [0.0, 0.0, 9.0]])
    assert dqn_target(batch, next_q, online).tolist() == [1.0 + 0.5 * 1.0, 1.0 + 0.5 * 2.0]
