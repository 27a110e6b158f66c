"""Value rescaling h and its closed-form inverse (Pohlen et al. 2018), against hand-computed
values; the R2D2 n-step return over stored rows with a termination and a truncation; the mixed
sequence priority."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tidyrl.core.returns import sequence_n_step_returns
from tidyrl.core.value_rescaling import value_rescale, value_rescale_inverse
from tidyrl.data.samplers import sequence_priority


def test_h_at_known_points():
    # h(x) = sign(x)(sqrt(|x| + 1) - 1) + 1e-3 x
    x = torch.tensor([0.0, 3.0, -3.0, 8.0, 0.5], dtype=torch.float64)
    expected = [0.0, 1.0 + 0.003, -1.0 - 0.003, 2.0 + 0.008, math.sqrt(1.5) - 1.0 + 0.0005]
    torch.testing.assert_close(value_rescale(x), torch.tensor(expected, dtype=torch.float64))


def test_h_inverse_at_known_points():
    # h(3) = 1.003 and h(8) = 2.008, so h^-1 maps them back; h^-1 is odd
    y = torch.tensor([0.0, 1.003, -1.003, 2.008], dtype=torch.float64)
    torch.testing.assert_close(
        value_rescale_inverse(y), torch.tensor([0.0, 3.0, -3.0, 8.0], dtype=torch.float64)
    )


def test_h_round_trip_over_many_scales():
    x = torch.cat([-torch.logspace(5, -4, 50), torch.zeros(1), torch.logspace(-4, 5, 50)])
    x = x.double()
    torch.testing.assert_close(value_rescale_inverse(value_rescale(x)), x, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(value_rescale(value_rescale_inverse(x)), x, rtol=1e-9, atol=1e-9)
    assert (value_rescale(x).diff() > 0).all()  # strictly increasing


def rows():
    """8 stored rows: episode A (rows 0-2) terminates, B (3-5) is truncated, C starts at 6.

    row:        0   1   2   3   4   5   6   7
    r_i:        0   1   2   0   4   8   0  16
    is_first:   1   0   0   1   0   0   1   0
    is_terminal 0   0   1   0   0   0   0   0
    V(x_i):    10  20  30  40  50  60  70  80
    """
    t = torch.tensor
    rewards = t([0.0, 1, 2, 0, 4, 8, 0, 16]).unsqueeze(1)
    first = t([1.0, 0, 0, 1, 0, 0, 1, 0]).unsqueeze(1)
    terminal = t([0.0, 0, 1, 0, 0, 0, 0, 0]).unsqueeze(1)
    values = t([10.0, 20, 30, 40, 50, 60, 70, 80]).unsqueeze(1)
    return rewards, values, first, terminal


def test_n_step_returns_stop_at_termination_bootstrap_at_truncation_and_sequence_end():
    rewards, values, first, terminal = rows()
    g, mask = sequence_n_step_returns(rewards, values, first, terminal, gamma=0.5, n=3)
    # row 0: 1 + .5*2, then A terminated at row 2: nothing bootstrapped            = 2
    # row 1: 2, terminated                                                          = 2
    # row 2: A's final observation, no action taken: masked
    # row 3: 4 + .5*8 + .25*V(x5) (B truncated at row 5: bootstrap its final obs)   = 23
    # row 4: 8 + .5*60                                                              = 38
    # row 5: B's final observation: masked
    # row 6: 16 + .5*V(x7) (the sequence ends at row 7)                             = 56
    assert mask[:, 0].tolist() == [1, 1, 0, 1, 1, 0, 1]
    valid = mask[:, 0] > 0
    assert g[valid, 0].tolist() == [2.0, 2.0, 23.0, 38.0, 56.0]


def test_n_step_returns_with_n_one_and_n_two():
    rewards, values, first, terminal = rows()
    g1, _ = sequence_n_step_returns(rewards, values, first, terminal, gamma=0.5, n=1)
    # r_{i+1} + .5 (1 - terminal_{i+1}) V(x_{i+1})
    assert g1[[0, 1, 3, 4, 6], 0].tolist() == [1 + 10, 2.0, 4 + 25, 8 + 30, 16 + 40]
    g2, _ = sequence_n_step_returns(rewards, values, first, terminal, gamma=0.5, n=2)
    assert g2[[0, 3, 4], 0].tolist() == [2.0, 4 + 4 + 15, 38.0]


def test_n_step_returns_batch_columns_are_independent():
    rewards, values, first, terminal = rows()
    two = [torch.cat([x, x.flip(0)], dim=1) for x in (rewards, values, first, terminal)]
    g, mask = sequence_n_step_returns(*two, gamma=0.5, n=3)
    g0, m0 = sequence_n_step_returns(rewards, values, first, terminal, gamma=0.5, n=3)
    torch.testing.assert_close(g[:, :1], g0)
    torch.testing.assert_close(mask[:, :1], m0)


def test_sequence_priority_mixes_max_and_mean_over_valid_steps():
    # |delta| = 1, 3, 2 valid, 100 masked: 0.9 * 3 + 0.1 * 2 = 2.9
    td = np.array([[1.0, 0.5], [-3.0, 0.5], [2.0, -0.5], [100.0, 9.0]])
    mask = np.array([[1, 1], [1, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(sequence_priority(td, mask, eta=0.9), [2.9, 0.5])
    np.testing.assert_allclose(sequence_priority(td, mask, eta=0.0), [2.0, 0.5])
    assert sequence_priority(td, np.zeros_like(mask))[0] == 0.0
    with pytest.raises(ValueError, match="eta"):
        sequence_priority(td, mask, eta=1.5)
