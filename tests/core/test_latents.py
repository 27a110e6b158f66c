"""Unimix, categorical KL and KL balancing with free bits (DreamerV3) by hand."""

from __future__ import annotations

import math

import torch

from tidyrl.core.latents import (
    categorical_kl,
    kl_balance,
    straight_through_sample,
    unimix_logits,
)


def test_unimix_by_hand():
    logits = torch.tensor([0.0, math.log(3.0)])  # softmax [1/4, 3/4]
    mixed = unimix_logits(logits, 0.01).exp()
    torch.testing.assert_close(mixed, torch.tensor([0.2525, 0.7475]))
    # no class falls below mix / C however confident the network is
    assert unimix_logits(torch.tensor([100.0, -100.0]), 0.01).exp()[1] >= 0.005 - 1e-9
    torch.testing.assert_close(unimix_logits(logits, 0.0).exp(), torch.tensor([0.25, 0.75]))


def test_categorical_kl_sums_over_groups():
    q = torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    p = torch.log(torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    # group 1: 0.5 ln 2 + 0.5 ln(2/3) = 0.5 ln(4/3); group 2: 0
    torch.testing.assert_close(categorical_kl(q, p), torch.tensor(0.5 * math.log(4 / 3)))


def test_free_bits_clip_both_terms_and_stop_their_gradients():
    q = torch.log(torch.tensor([[0.5, 0.5]])).requires_grad_()
    p = torch.log(torch.tensor([[0.25, 0.75]])).requires_grad_()
    dyn, rep, kl = kl_balance(q, p, free=1.0)  # KL = 0.144 < 1 nat
    assert dyn == 1.0 and rep == 1.0
    torch.testing.assert_close(kl, torch.tensor(0.5 * math.log(4 / 3)))
    (dyn + rep).backward()
    assert q.grad is None or torch.all(q.grad == 0)
    assert p.grad is None or torch.all(p.grad == 0)


def test_dynamics_term_moves_the_prior_and_representation_term_the_posterior():
    q = torch.log(torch.tensor([[0.99, 0.01]])).requires_grad_()
    p = torch.log(torch.tensor([[0.01, 0.99]])).requires_grad_()
    dyn, rep, kl = kl_balance(q, p, free=1.0)
    expected = 0.98 * math.log(99.0)  # 0.99 ln 99 + 0.01 ln(1/99)
    torch.testing.assert_close(dyn, torch.tensor(expected))
    torch.testing.assert_close(rep, torch.tensor(expected))
    dyn.backward(retain_graph=True)
    assert q.grad is None and p.grad is not None
    p.grad = None
    rep.backward()
    assert p.grad is None and q.grad is not None


def test_straight_through_sample_is_one_hot_with_the_probabilities_gradient():
    torch.manual_seed(0)
    logits = torch.zeros(5, 3, 4, requires_grad=True)
    sample = straight_through_sample(torch.log_softmax(logits, -1))
    assert torch.all(sample.detach().sum(-1) == 1.0)
    assert set(sample.detach().unique().tolist()) == {0.0, 1.0}
    (sample * torch.arange(4.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
