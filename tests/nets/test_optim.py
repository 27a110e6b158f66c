"""tidyrl.nets.optim: the same numbers and state as torch.optim.Adam / RMSprop after torch's
clip_grad_norm_, with the clipping done inside step(); TensorFlow's RMSProp by hand."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tidyrl.nets.optim import Adam, CenteredRMSprop, TFRMSprop


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
    by torch's own clip_grad_norm_ before its step."""
    for net, opt in ((ours_net, ours), (ref_net, ref)):
        opt.zero_grad()
        _loss(net, x).backward()
        if opt is ref and max_norm > 0:
            nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        opt.step()


def _train(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        _loss(net, x).backward()
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


def test_adam_first_steps_hand_checked_with_clipping() -> None:
    """theta (0, 0), g (3, 4): ||g|| = 5, clipped to 1 gives g' = (0.6, 0.8) (up to torch's
    1e-6). Adam's first step is theta - lr * m_hat / (sqrt(v_hat) + eps) with m_hat = g' and
    v_hat = g'^2: -lr * sign(g') = (-0.1, -0.1). Second step, same g: m = 0.9 * 0.1 g' + 0.1 g'
    = 0.19 g', m_hat = 0.19 g' / 0.19 = g', likewise v_hat = g'^2: another -0.1 each."""
    theta = nn.Parameter(torch.zeros(2))
    opt = Adam([theta], lr=0.1, max_grad_norm=1.0)
    for expected in (-0.1, -0.2):
        theta.grad = torch.tensor([3.0, 4.0])
        opt.step()
        torch.testing.assert_close(theta.grad, torch.tensor([0.6, 0.8]))  # clipped in place
        torch.testing.assert_close(opt.last_grad_norm, torch.tensor(5.0))
        torch.testing.assert_close(theta.detach(), torch.full((2,), expected), rtol=0, atol=1e-6)
    unclipped = nn.Parameter(torch.zeros(2))
    opt = Adam([unclipped], lr=0.1, max_grad_norm=10.0)
    unclipped.grad = torch.tensor([3.0, 4.0])
    opt.step()
    assert torch.equal(unclipped.grad, torch.tensor([3.0, 4.0]))  # under the bound: untouched


def test_closure_gradients_are_clipped_after_it_runs() -> None:
    theta = nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = Adam([theta], lr=0.1, max_grad_norm=0.5)

    def closure() -> float:
        opt.zero_grad()
        loss = (10.0 * theta).sum()
        loss.backward()
        return float(loss.detach())

    assert opt.step(closure) == 30.0
    torch.testing.assert_close(opt.last_grad_norm, torch.tensor(200.0**0.5))
    torch.testing.assert_close(theta.grad.norm(), torch.tensor(0.5))


def test_state_dict_is_torch_adams() -> None:
    """A checkpoint of ours loads into torch.optim.Adam and the reverse, and both continue
    with the same step."""
    ours_net, ref_net = _twins()
    ours = Adam(ours_net.parameters(), lr=1e-2)
    x = torch.randn(4, 3)
    _train(ours_net, ours, x, 2)
    ref_net.load_state_dict(ours_net.state_dict())
    ref = torch.optim.Adam(ref_net.parameters(), lr=1.0)
    ref.load_state_dict(copy.deepcopy(ours.state_dict()))
    _step_both(ours_net, ours, ref_net, ref, x, 0.0)
    for p, q in zip(ours_net.parameters(), ref_net.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    back = Adam(ours_net.parameters(), lr=5.0)
    back.load_state_dict(copy.deepcopy(ref.state_dict()))
    assert back.param_groups[0]["lr"] == 1e-2 and back.param_groups[0]["fused"]
    assert float(back.state[next(ours_net.parameters())]["step"]) == 3.0


def test_state_dict_round_trip_continues_identically() -> None:
    net_a, net_b = _twins()
    opt_a = Adam(net_a.parameters(), lr=1e-2, max_grad_norm=1.0)
    x = torch.randn(4, 3)
    _train(net_a, opt_a, x, 3)
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


def test_tf_rmsprop_steps_hand_checked_against_torch_s_start() -> None:
    """theta 1, g 2, lr 0.1, alpha 0.9, eps 0: TensorFlow's mean square starts at 1, v = 0.9 +
    0.1 * 4 = 1.3, theta = 1 - 0.2 / sqrt(1.3) = 0.824590; a second g 2: v = 1.57, theta =
    0.824590 - 0.2 / sqrt(1.57) = 0.664973. torch's starts at 0: v = 0.4, theta = 1 - 0.2 /
    sqrt(0.4) = 0.683772 after one step, twice the move."""
    theta = nn.Parameter(torch.tensor([1.0]))
    opt = TFRMSprop([theta], lr=0.1, alpha=0.9, eps=0.0)
    for expected in (0.824590, 0.664973):
        theta.grad = torch.tensor([2.0])
        opt.step()
        torch.testing.assert_close(theta.detach(), torch.tensor([expected]), rtol=0, atol=1e-5)
    reference = nn.Parameter(torch.tensor([1.0]))
    torch_opt = torch.optim.RMSprop([reference], lr=0.1, alpha=0.9, eps=0.0)
    reference.grad = torch.tensor([2.0])
    torch_opt.step()
    torch.testing.assert_close(reference.detach(), torch.tensor([0.683772]), rtol=0, atol=1e-5)
    # eps sits inside the root: with eps 3 the first step is 0.2 / sqrt(1.3 + 3)
    theta = nn.Parameter(torch.tensor([1.0]))
    opt = TFRMSprop([theta], lr=0.1, alpha=0.9, eps=3.0)
    theta.grad = torch.tensor([2.0])
    opt.step()
    expected = 1.0 - 0.2 / (4.3**0.5)
    torch.testing.assert_close(theta.detach(), torch.tensor([expected]), rtol=0, atol=1e-6)


def test_tf_rmsprop_state_dict_round_trip_continues_identically() -> None:
    a, b = _twins()
    opt_a = TFRMSprop(a.parameters(), lr=1e-3, max_grad_norm=0.5)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    _train(a, opt_a, x, 3)
    b.load_state_dict(a.state_dict())
    opt_b = TFRMSprop(b.parameters(), lr=1e-3, max_grad_norm=0.5)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    _train(a, opt_a, x, 3)
    _train(b, opt_b, x, 3)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert opt_a.last_grad_norm is not None
