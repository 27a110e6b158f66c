"""Symlog and two-hot (DreamerV3) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from tidyrl.core.symlog import (
    symexp,
    symlog,
    twohot_bins,
    twohot_decode,
    twohot_encode,
    twohot_loss,
    twohot_mean,
)

E = math.e


def test_symlog_values():
    x = torch.tensor([0.0, E - 1.0, -(E**2 - 1.0), 1e6])
    expected = torch.tensor([0.0, 1.0, -2.0, math.log(1e6 + 1.0)])
    torch.testing.assert_close(symlog(x), expected)


def test_symexp_inverts_symlog():
    torch.testing.assert_close(symexp(torch.tensor([1.0, -2.0])), torch.tensor([E - 1, 1 - E**2]))
    x = torch.linspace(-1000.0, 1000.0, 101, dtype=torch.float64)
    torch.testing.assert_close(symexp(symlog(x)), x)


def test_default_bins_are_dreamerv3s():
    bins = twohot_bins()
    assert len(bins) == 255 and bins[0] == -20.0 and bins[-1] == 20.0
    assert abs(bins[127]) < 1e-6  # an odd count puts a bin on zero
    torch.testing.assert_close(bins[1] - bins[0], torch.tensor(40.0 / 254))


@pytest.mark.parametrize(
    ("y", "weights"),
    [
        (0.25, [0.0, 0.75, 0.25]),  # closer to 0: 3/4 there
        (-0.5, [0.5, 0.5, 0.0]),
        (0.0, [0.0, 1.0, 0.0]),  # on a bin: all of it
        (1.0, [0.0, 0.0, 1.0]),  # on the last bin
        (-1.0, [1.0, 0.0, 0.0]),
        (5.0, [0.0, 0.0, 1.0]),  # beyond the range: the edge bin
        (-7.0, [1.0, 0.0, 0.0]),
    ],
)
def test_twohot_encode_by_hand(y, weights):
    bins = torch.tensor([-1.0, 0.0, 1.0])
    torch.testing.assert_close(twohot_encode(torch.tensor(y), bins), torch.tensor(weights))


def test_twohot_encode_batches_and_rows_sum_to_one():
    bins = twohot_bins()
    y = torch.linspace(-19.9, 19.9, 20).reshape(4, 5)
    w = twohot_encode(y, bins)
    assert w.shape == (4, 5, 255)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5))
    torch.testing.assert_close(w @ bins, y)  # inside the range, the expectation is y itself


def test_twohot_decode_by_hand():
    bins = torch.tensor([-1.0, 0.0, 1.0])
    logits = torch.log(torch.tensor([0.0001, 0.7499, 0.25]))
    torch.testing.assert_close(twohot_mean(logits, bins), torch.tensor(0.2499), atol=1e-6, rtol=0)
    uniform = torch.zeros(3)
    assert twohot_decode(uniform, bins) == 0.0
    one_hot_high = torch.tensor([-50.0, -50.0, 50.0])
    torch.testing.assert_close(twohot_decode(one_hot_high, bins), torch.tensor(E - 1))


def test_twohot_loss_by_hand():
    bins = torch.tensor([-1.0, 0.0, 1.0])
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).requires_grad_()
    target = symexp(torch.tensor(0.25))  # twohot(symlog(target)) = [0, 3/4, 1/4]
    loss = twohot_loss(logits, target, bins)
    torch.testing.assert_close(loss, torch.tensor(math.log(4.0)))
    loss.backward()
    # d/dl of cross-entropy = softmax(l) - target weights
    torch.testing.assert_close(logits.grad, torch.tensor([0.5, -0.5, 0.0]))
