"""Policy distributions: log-probabilities, entropies and KL divergences by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tidyrl.core.distributions import (
    SDE_EPS,
    Categorical,
    DiagGaussian,
    StateDependentGaussian,
    exploration_matrices,
    state_dependent_log_std,
)


def test_categorical_kl_by_hand():
    p = Categorical(torch.log(torch.tensor([0.5, 0.5])))
    q = Categorical(torch.log(torch.tensor([0.25, 0.75])))
    # 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75) = 0.5 log 2 + 0.5 log(2/3)
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert p.kl(q).item() == pytest.approx(expected, rel=1e-6)
    assert p.kl(p).item() == pytest.approx(0.0, abs=1e-7)
    # logits are shift-invariant
    shifted = Categorical(torch.log(torch.tensor([0.25, 0.75])) + 3.0)
    assert p.kl(shifted).item() == pytest.approx(expected, rel=1e-6)


def test_categorical_log_prob_entropy_mode_and_sampling():
    torch.manual_seed(0)
    d = Categorical(torch.log(torch.tensor([[0.2, 0.8], [0.9, 0.1]])))
    torch.testing.assert_close(
        d.log_prob(torch.tensor([1, 0])), torch.log(torch.tensor([0.8, 0.9]))
    )
    h = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert d.entropy()[0].item() == pytest.approx(h, rel=1e-6)
    assert d.mode().tolist() == [1, 0]
    draws = Categorical(torch.log(torch.tensor([0.2, 0.8])).expand(20000, 2)).sample()
    assert draws.float().mean().item() == pytest.approx(0.8, abs=0.01)


def test_gaussian_kl_by_hand():
    p = DiagGaussian(torch.tensor([0.0]), torch.log(torch.tensor([1.0])))
    q = DiagGaussian(torch.tensor([1.0]), torch.log(torch.tensor([2.0])))
    # log(2/1) + (1 + 1) / (2 * 4) - 1/2
    assert p.kl(q).item() == pytest.approx(math.log(2) + 0.25 - 0.5, rel=1e-6)
    # two dims add up
    p2 = DiagGaussian(torch.zeros(2), torch.zeros(2))
    q2 = DiagGaussian(torch.tensor([1.0, 1.0]), torch.log(torch.tensor([2.0, 2.0])))
    assert p2.kl(q2).item() == pytest.approx(2 * (math.log(2) - 0.25), rel=1e-6)


def test_gaussian_log_prob_and_entropy_match_torch():
    mean, log_std = torch.tensor([[0.3, -1.0]]), torch.tensor([0.1, -0.4])
    d = DiagGaussian(mean, log_std)
    ref = torch.distributions.Normal(mean, log_std.exp())
    a = torch.tensor([[1.0, 0.5]])
    torch.testing.assert_close(d.log_prob(a), ref.log_prob(a).sum(-1))
    torch.testing.assert_close(d.entropy(), ref.entropy().sum(-1))
    q = DiagGaussian(torch.tensor([[0.0, 0.0]]), torch.tensor([0.3, 0.2]))
    ref_q = torch.distributions.Normal(q.mean, q.std)
    torch.testing.assert_close(d.kl(q), torch.distributions.kl_divergence(ref, ref_q).sum(-1))


def test_categorical_sample_frequencies_match_probabilities():
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    torch.manual_seed(0)
    draws = Categorical(torch.log(probs).expand(40_000, 4)).sample()
    freq = torch.bincount(draws, minlength=4).float() / 40_000
    assert freq[1] == 0.0  # a zero-probability action is never drawn
    # within 5 standard errors of each probability
    tolerance = 5 * torch.sqrt(probs * (1 - probs) / 40_000) + 1e-9
    assert torch.all((freq - probs).abs() <= tolerance), freq
    assert draws.shape == (40_000,) and draws.dtype == torch.int64
    batched = Categorical(torch.zeros(3, 5, 2)).sample()
    assert batched.shape == (3, 5) and int(batched.max()) <= 1


def test_host_sampling_matches_the_distribution_and_its_log_probs():
    rng = np.random.default_rng(0)
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
    d = Categorical(torch.log(probs).expand(40_000, 4))
    actions, logp = d.sample_and_log_prob(rng)
    freq = torch.bincount(actions, minlength=4).float() / 40_000
    assert freq[1] == 0.0
    assert torch.all((freq - probs).abs() <= 5 * torch.sqrt(probs * (1 - probs) / 40_000) + 1e-9)
    torch.testing.assert_close(logp, d.log_prob(actions))
    assert actions.dtype == torch.int64 and logp.dtype == torch.float32
    g = DiagGaussian(
        torch.tensor([[1.0, -2.0]]).expand(50_000, 2), torch.log(torch.tensor([0.5, 2.0]))
    )
    a, lp = g.sample_and_log_prob(rng)
    torch.testing.assert_close(a.mean(0), torch.tensor([1.0, -2.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(a.std(0), torch.tensor([0.5, 2.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(lp, g.log_prob(a), rtol=1e-5, atol=1e-5)


def test_acting_draws_come_from_the_given_generator_in_its_order():
    """sample_and_log_prob takes one U[0, 1) per row (Categorical: inverse CDF) or one N(0, 1)
    per action dimension (Gaussian) from the NumPy generator, float32, and leaves torch's
    generator alone, so a rollout is reproducible from the agent's own generator."""
    probs = torch.tensor([[0.2, 0.5, 0.3]]).expand(6, 3)
    state = torch.get_rng_state()
    actions, logp = Categorical(torch.log(probs)).sample_and_log_prob(np.random.default_rng(5))
    u = np.random.default_rng(5).random((6, 1), dtype=np.float32)
    expected = np.minimum((u >= np.array([0.2, 0.7, 1.0], dtype=np.float32)).sum(-1), 2)
    np.testing.assert_array_equal(actions.numpy(), expected)
    assert len(set(expected.tolist())) > 1
    torch.testing.assert_close(logp, torch.log(probs[0])[actions])
    mean, log_std = torch.tensor([[1.0, -2.0]]).expand(4, 2), torch.log(torch.tensor([0.5, 2.0]))
    a, lp = DiagGaussian(mean, log_std).sample_and_log_prob(np.random.default_rng(5))
    eps = torch.from_numpy(np.random.default_rng(5).standard_normal((4, 2), dtype=np.float32))
    torch.testing.assert_close(a, mean + torch.tensor([0.5, 2.0]) * eps)
    expected_lp = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lp, expected_lp, rtol=1e-5, atol=1e-5)
    assert torch.equal(state, torch.get_rng_state())


def test_multi_categorical_sums_log_probs_entropies_and_kls_of_its_factors():
    from tidyrl.core.distributions import MultiCategorical

    # sub-action 0 over 2 actions with p = (0.25, 0.75), sub-action 1 over 3 with (0.5, 0.3, 0.2)
    logits = torch.log(torch.tensor([[0.25, 0.75, 0.5, 0.3, 0.2]]))
    d = MultiCategorical(logits, (2, 3))
    lp = d.log_prob(torch.tensor([[1, 2]]))
    assert lp.item() == pytest.approx(math.log(0.75) + math.log(0.2), rel=1e-6)
    h0 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    h1 = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert d.entropy().item() == pytest.approx(h0 + h1, rel=1e-6)
    assert d.mode().tolist() == [[1, 0]]
    uniform = MultiCategorical(torch.zeros(1, 5), (2, 3))
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl += 0.5 * math.log(0.5 * 3) + 0.3 * math.log(0.3 * 3) + 0.2 * math.log(0.2 * 3)
    assert d.kl(uniform).item() == pytest.approx(kl, rel=1e-5)
    assert d.detach().kl(d).item() == pytest.approx(0.0, abs=1e-7)
    actions, logprobs = d.sample_and_log_prob(np.random.default_rng(0))
    assert actions.shape == (1, 2) and logprobs.shape == (1,)
    torch.testing.assert_close(logprobs, d.log_prob(actions))


def test_multi_categorical_draws_each_factor_with_its_own_probabilities():
    from tidyrl.core.distributions import MultiCategorical

    logits = torch.log(torch.tensor([0.2, 0.8, 0.1, 0.1, 0.8])).expand(20000, 5)
    draws, _ = MultiCategorical(logits, (2, 3)).sample_and_log_prob(np.random.default_rng(1))
    assert (draws[:, 0] == 1).float().mean().item() == pytest.approx(0.8, abs=0.01)
    assert (draws[:, 1] == 2).float().mean().item() == pytest.approx(0.8, abs=0.01)


def test_bernoulli_by_hand():
    from tidyrl.core.distributions import Bernoulli

    p = torch.tensor([[0.2, 0.9]])
    d = Bernoulli(torch.log(p / (1 - p)))  # logits = log-odds
    lp = d.log_prob(torch.tensor([[1, 0]]))
    assert lp.item() == pytest.approx(math.log(0.2) + math.log(0.1), rel=1e-5)
    h = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8)) - (0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert d.entropy().item() == pytest.approx(h, rel=1e-5)
    assert d.mode().tolist() == [[0, 1]]
    q = Bernoulli(torch.zeros(1, 2))  # p = 1/2 per bit
    kl = sum(x * math.log(x / 0.5) + (1 - x) * math.log((1 - x) / 0.5) for x in (0.2, 0.9))
    assert d.kl(q).item() == pytest.approx(kl, rel=1e-5)
    draws, logprobs = Bernoulli(d.logits.expand(20000, 2)).sample_and_log_prob(
        np.random.default_rng(2)
    )
    assert draws.float().mean(0).tolist() == pytest.approx([0.2, 0.9], abs=0.01)
    torch.testing.assert_close(logprobs, Bernoulli(d.logits.expand(20000, 2)).log_prob(draws))


def test_state_dependent_gaussian_by_hand():
    """gSDE with features phi = (1, 2) and sigma = ((0.5, 1), (1, 2)) [F=2, A=2]:
    std_1^2 = 1 * 0.25 + 4 * 1 = 4.25, std_2^2 = 1 * 1 + 4 * 4 = 17 (+ 1e-6);
    with E = ((1, -1), (0.5, 2)) the action is mu + phi^T E = mu + (1 + 1, -1 + 4) = mu + (2, 3)."""
    phi = torch.tensor([[1.0, 2.0]])
    log_sigma = torch.log(torch.tensor([[0.5, 1.0], [1.0, 2.0]]))
    std = torch.tensor([[4.25, 17.0]]).add(SDE_EPS).sqrt()
    torch.testing.assert_close(state_dependent_log_std(phi, log_sigma), std.log())
    mean = torch.tensor([[0.1, -0.2]])
    noise = torch.tensor([[[1.0, -1.0], [0.5, 2.0]]])
    dist = StateDependentGaussian(mean, phi, log_sigma, noise)
    actions, logp = dist.sample_and_log_prob(np.random.default_rng(0))
    torch.testing.assert_close(actions, mean + torch.tensor([[2.0, 3.0]]))
    normal = torch.distributions.Normal(mean, std)
    torch.testing.assert_close(logp, normal.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), normal.entropy().sum(-1))
    # no held matrices for a batch of this size: a fresh Gaussian draw with that std
    fresh = StateDependentGaussian(mean.expand(4000, 2), phi.expand(4000, 2), log_sigma, noise)
    draws, _ = fresh.sample_and_log_prob(np.random.default_rng(1))
    torch.testing.assert_close(draws.std(0), std[0], rtol=0.05, atol=0.0)


def test_exploration_matrices_scale_standard_draws_by_sigma():
    log_sigma = torch.log(torch.tensor([[0.5], [3.0]])).requires_grad_()
    e = exploration_matrices(log_sigma, 20_000, np.random.default_rng(0))
    assert e.shape == (20_000, 2, 1) and not e.requires_grad
    torch.testing.assert_close(e.std(0).squeeze(-1), torch.tensor([0.5, 3.0]), rtol=0.03, atol=0)
    z = np.random.default_rng(0).standard_normal((2, 2, 1), dtype=np.float32)
    torch.testing.assert_close(
        exploration_matrices(log_sigma, 2, np.random.default_rng(0)),
        torch.from_numpy(z) * torch.tensor([[0.5], [3.0]]),
    )
