"""tidyrl.nets.optim.Adam: the same numbers and state as torch.optim.Adam (+ clip_grad_norm_)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tidyrl.nets.optim import Adam, CenteredRMSprop


def _twins(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    b.load_state_dict(a.state_dict())
    return a, b


def _loss(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return (net(x) ** 2).sum() * 10.0  # large gradients, so clipping is active


def _step_both(ours_net, ours, ref_net, ref, x: torch.Tensor, max_norm: float) -> None:
    """One step of our optimizer and of torch's reference, the reference's gradients clipped
    by hand (torch's clip_grad_norm_ uses max_norm / (norm + 1e-6); ours max_norm / norm)."""
    for net, opt in ((ours_net, ours), (ref_net, ref)):
        opt.zero_grad()
        _loss(net, x).backward()
        if opt is ref and max_norm > 0:
            norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
            for p in net.parameters():
                p.grad.mul_(torch.clamp(max_norm / norm, max=1.0))
        opt.step()


@pytest.mark.parametrize("max_norm", [0.0, 0.5, 1e6])
def test_matches_torch_adam_with_clipping(max_norm: float) -> None:
    ours_net, ref_net = _twins()
    ours = Adam(ours_net.parameters(), lr=1e-2, eps=1e-7, max_grad_norm=max_norm)
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-2, eps=1e-7)
    gen = torch.Generator().manual_seed(1)
    for i in range(20):
        x = torch.randn(5, 3, generator=gen)
        _step_both(ours_net, ours, ref_net, ref, x, max_norm)
        if i == 10:  # the learning rate can change between steps (annealing)
            for opt in (ours, ref):
                opt.param_groups[0]["lr"] = 3e-3
    for p, q in zip(ours_net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    if max_norm == 0.5:
        assert ours.last_grad_norm is not None and float(ours.last_grad_norm) > 0.5


def test_state_dict_round_trip_continues_identically() -> None:
    net_a, net_b = _twins()
    opt_a = Adam(net_a.parameters(), lr=1e-2, max_grad_norm=1.0)
    x = torch.randn(4, 3)
    for _ in range(3):
        opt_a.zero_grad()
        _loss(net_a, x).backward()
        opt_a.step()
    net_b.load_state_dict(net_a.state_dict())
    opt_b = Adam(net_b.parameters(), lr=5.0, max_grad_norm=1.0)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as from a file
    assert opt_b.param_groups[0]["lr"] == 1e-2
    for net, opt in ((net_a, opt_a), (net_b, opt_b)):
        opt.zero_grad()
        _loss(net, x).backward()
        opt.step()
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert float(opt_b.state[next(net_b.parameters())]["step"]) == 4.0


def test_missing_gradient_falls_back_like_torch() -> None:
    ours_net, ref_net = _twins()
    ours = Adam(ours_net.parameters(), lr=1e-2)
    ref = torch.optim.Adam(ref_net.parameters(), lr=1e-2)
    x = torch.randn(4, 3)
    for net, opt in ((ours_net, ours), (ref_net, ref)):
        opt.zero_grad()
        _loss(net, x).backward()
        net[2].bias.grad = None  # a parameter without gradient this step is skipped
        opt.step()
    for p, q in zip(ours_net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p, q)


def test_centered_rmsprop_one_step_hand_checked() -> None:
    """theta 1, g 2, lr 0.1: v = 0.05 * 4 = 0.2, m = 0.05 * 2 = 0.1, b = 2 / (sqrt(0.2 - 0.01)
    + 0.01) = 4.48541, theta = 1 - 0.1 * b = 0.551459; a second g 2: v 0.39, m 0.195,
    b = 0.95 * 4.48541 + 2 / (sqrt(0.39 - 0.038025) + 0.01) = 7.57638, theta = -0.206179."""
    theta = nn.Parameter(torch.tensor([1.0]))
    opt = CenteredRMSprop([theta], lr=0.1)
    for expected in (0.551459, -0.206179):
        theta.grad = torch.tensor([2.0])
        opt.step()
        torch.testing.assert_close(theta.detach(), torch.tensor([expected]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("max_norm", [0.0, 0.5])
def test_centered_rmsprop_matches_torch_after_clipping(max_norm: float) -> None:
    ours_net, ref_net = _twins()
    ours = CenteredRMSprop(ours_net.parameters(), lr=1e-3, max_grad_norm=max_norm)
    ref = torch.optim.RMSprop(
        ref_net.parameters(), lr=1e-3, alpha=0.95, eps=0.01, momentum=0.95, centered=True
    )
    gen = torch.Generator().manual_seed(2)
    for _ in range(10):
        x = torch.randn(5, 3, generator=gen)
        _step_both(ours_net, ours, ref_net, ref, x, max_norm)
    for p, q in zip(ours_net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p, q)
    assert (ours.last_grad_norm is not None) == (max_norm > 0)
