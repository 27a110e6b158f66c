"""Categorical latent states and their KL losses, as in the world model of DreamerV3.

Hafner et al. 2023, "Mastering Diverse Domains through World Models" (arXiv:2301.04104), Sec. 2.
The stochastic state z is G independent categoricals of C classes each (32 x 32 in the paper).

Unimix: each categorical is a mixture of 99% the network's softmax and 1% uniform,

    p = (1 - u) softmax(l) + u / C,   u = 0.01,

so no class has probability ~0: KL terms stay bounded and the actor keeps exploring.

KL balancing with free bits (eq. 5): the posterior q (representation model, sees x_t) and the
prior p (dynamics predictor, does not) are pulled together by two terms that differ only in
where the gradient stops (sg = stop-gradient),

    L_dyn = max(1, KL[sg(q) || p])      trains the prior toward the posterior     (beta_dyn = 0.5)
    L_rep = max(1, KL[q || sg(p)])      keeps the posterior predictable          (beta_rep = 0.1)

with the KL summed over the G categoricals of a state and clipped below at `free` = 1 nat per
state: once a state's KL is under one nat, neither term pushes further, so the representation
is not collapsed for the sake of predictability.
"""

from __future__ import annotations

import torch


def unimix_logits(logits: torch.Tensor, mix: float) -> torch.Tensor:
    """log((1 - mix) softmax(logits) + mix / C) over the last axis (C classes)."""
    if mix <= 0.0:
        return torch.log_softmax(logits, -1)
    probs = torch.softmax(logits, -1)
    return torch.log((1.0 - mix) * probs + mix / logits.shape[-1])


def categorical_kl(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """KL(q || p) = sum_c q_c (log q_c - log p_c) of categoricals given by log-probabilities
    [..., G, C], summed over the G groups as well: one number per state [...]."""
    return (log_q.exp() * (log_q - log_p)).sum((-2, -1))


def kl_balance(
    post_log_probs: torch.Tensor, prior_log_probs: torch.Tensor, free: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_dyn, L_rep, KL) per state [...]: max(free, KL[sg(q)||p]), max(free, KL[q||sg(p)]) and
    the unclipped KL[q||p] (detached, for logging). Inputs are log-probabilities [..., G, C]."""
    dyn = categorical_kl(post_log_probs.detach(), prior_log_probs)
    rep = categorical_kl(post_log_probs, prior_log_probs.detach())
    return dyn.clamp(min=free), rep.clamp(min=free), dyn.detach()


def straight_through_sample(log_probs: torch.Tensor) -> torch.Tensor:
    """A one-hot sample of each categorical [..., G, C] whose gradient is that of the
    probabilities (straight-through: onehot + p - sg(p); Bengio et al. 2013)."""
    probs = log_probs.exp()
    flat = probs.reshape(-1, probs.shape[-1])
    index = torch.multinomial(flat, 1).reshape(probs.shape[:-1])
    onehot = torch.nn.functional.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return onehot + probs - probs.detach()
