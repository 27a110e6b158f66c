"""Losses against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from tidyrl.core.losses import categorical_cross_entropy, huber, squared, td_loss


def test_huber_and_squared():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 2.0])
    torch.testing.assert_close(huber(x), torch.tensor([2.5, 0.5, 0.125, 0.0, 0.125, 1.5]))
    torch.testing.assert_close(
        huber(x, delta=2.0), torch.tensor([4.0, 0.5, 0.125, 0.0, 0.125, 2.0])
    )
    torch.testing.assert_close(squared(x), 0.5 * x * x)
    torch.testing.assert_close(td_loss(x, "mse"), squared(x))
    with pytest.raises(ValueError):
        td_loss(x, "l1")


def test_huber_gradient_is_clipped():
    x = torch.tensor([-5.0, 0.3, 5.0], requires_grad=True)
    huber(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-1.0, 0.3, 1.0]))


def test_cross_entropy():
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    m = torch.tensor([[0.0, 1.0, 0.0]])
    torch.testing.assert_close(categorical_cross_entropy(log_p, m), torch.log(torch.tensor([4.0])))
