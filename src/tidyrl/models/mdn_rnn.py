"""The MDN-RNN: World Models' M (Ha & Schmidhuber 2018, section 2.2; Graves 2013; Bishop 1994).

M is an LSTM over (z_t, a_t) whose output parameterises a mixture density network for the next
code, P(z_{t+1} | a_t, z_t, h_t): each of the z_dim dimensions gets its own mixture of K
Gaussians (weights pi_k, means mu_k, standard deviations sigma_k). M also predicts the reward
r_t and whether the step terminates the episode (the paper's Doom model predicts done, so that
a controller can be trained inside M's "dream"):

    h_{t+1}, c_{t+1}          = LSTM([z_t, phi(a_t)], (h_t, c_t))
    log pi, mu, log sigma     = MDN(h_{t+1})                  [.., z_dim, K] each
    r^_t, d^_t                = reward(h_{t+1}), done logit(h_{t+1})

The loss is the mixture's negative log-likelihood of the observed next code, averaged over
steps and code dimensions, plus the squared reward error and the binary cross-entropy of done,
each over the valid (unpadded) steps (`mdn_rnn_loss`):

    log N(y; mu, sigma) = -(y - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2
    nll                 = -log sum_k pi_k N(y; mu_k, sigma_k)                       (`mdn_nll`)

Dreams sample from M with a temperature tau (`sample_mdn`): the mixture weights become
softmax(log pi / tau) and every sigma is scaled by sqrt(tau), so tau > 1 makes the dream more
uncertain (and harder to exploit), tau -> 0 makes it deterministic. `done` is drawn from
Bernoulli(sigmoid(d^)).

`episode_windows` cuts stored episodes into fixed-length training sequences (padded and masked
at each episode's end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class MDNOutput:
    """M's predictions for every (batch, step): mixture parameters [..., z_dim, K] and heads."""

    log_pi: torch.Tensor
    """log mixture weights (log-softmax over K)."""
    mu: torch.Tensor
    log_sigma: torch.Tensor
    reward: torch.Tensor
    """r^ [...]"""
    done_logit: torch.Tensor
    """logit of P(terminated) [...]"""


def mdn_nll(
    log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """-log sum_k pi_k N(target; mu_k, sigma_k) per element: target [...], the rest [..., K]."""
    y = target.unsqueeze(-1)
    log_normal = -0.5 * ((y - mu) / log_sigma.exp()).square() - log_sigma - LOG_SQRT_2PI
    return -torch.logsumexp(log_pi + log_normal, dim=-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` [B, T, ...] over the steps where `mask` [B, T] is 1 (and any trailing
    dimensions)."""
    per_step = values.reshape(*mask.shape, -1).mean(dim=-1)
    return (per_step * mask).sum() / mask.sum().clamp(min=1.0)


def mdn_rnn_loss(
    out: MDNOutput,
    next_z: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_M = nll(z_{t+1}) + (r_t - r^_t)^2 + BCE(d^_t, terminated_t), each a masked mean over
    steps [B, T] (the nll also over code dimensions)."""
    nll = masked_mean(mdn_nll(out.log_pi, out.mu, out.log_sigma, next_z), mask)
    reward_loss = masked_mean((out.reward - rewards).square(), mask)
    bce = F.binary_cross_entropy_with_logits(out.done_logit, terminated, reduction="none")
    done_loss = masked_mean(bce, mask)
    loss = nll + reward_loss + done_loss
    return loss, {"mdn_nll": nll, "reward_loss": reward_loss, "done_loss": done_loss}


def sample_mdn(
    out: MDNOutput, temperature: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_{t+1}, done) drawn from M's prediction at temperature tau: a component k per code
    dimension from softmax(log pi / tau), then mu_k + sigma_k sqrt(tau) eps; done from
    Bernoulli(sigmoid(d^))."""
    weights = torch.softmax(out.log_pi / temperature, dim=-1)
    flat = weights.reshape(-1, weights.shape[-1])
    k = torch.multinomial(flat, 1, generator=generator).reshape(*weights.shape[:-1], 1)
    mu = out.mu.gather(-1, k).squeeze(-1)
    sigma = out.log_sigma.gather(-1, k).squeeze(-1).exp()
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + sigma * math.sqrt(temperature) * eps
    done = torch.rand(out.done_logit.shape, generator=generator) < torch.sigmoid(out.done_logit)
    return z, done


class MDNRNN(nn.Module):
    """LSTM over [z, phi(a)] with an MDN head (K Gaussians per code dimension), a reward head and
    a done head."""

    def __init__(self, z_dim: int, action_dim: int, hidden: int = 256, n_mixtures: int = 5) -> None:
        super().__init__()
        self.z_dim, self.hidden, self.n_mixtures = z_dim, hidden, n_mixtures
        self.lstm = nn.LSTM(z_dim + action_dim, hidden, batch_first=True)
        self.mdn = nn.Linear(hidden, 3 * z_dim * n_mixtures)
        self.reward_head = nn.Linear(hidden, 1)
        self.done_head = nn.Linear(hidden, 1)

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c) of zeros [1, B, hidden]: the memory at an episode's start."""
        zeros = torch.zeros(1, batch, self.hidden)
        return zeros, zeros.clone()

    def heads(self, h: torch.Tensor) -> MDNOutput:
        """M's predictions from LSTM outputs h [..., hidden]."""
        params = self.mdn(h).reshape(*h.shape[:-1], 3, self.z_dim, self.n_mixtures)
        logits, mu, log_sigma = params.unbind(dim=-3)
        return MDNOutput(
            torch.log_softmax(logits, dim=-1),
            mu,
            log_sigma,
            self.reward_head(h).squeeze(-1),
            self.done_head(h).squeeze(-1),
        )

    def forward(
        self,
        z: torch.Tensor,
        action_feats: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[MDNOutput, tuple[torch.Tensor, torch.Tensor]]:
        """Predictions for sequences z [B, T, z_dim], phi(a) [B, T, A], and the final (h, c)."""
        h, state = self.lstm(torch.cat([z, action_feats], dim=-1), state)
        return self.heads(h), state

    def step(
        self,
        z: torch.Tensor,
        action_feats: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[MDNOutput, tuple[torch.Tensor, torch.Tensor]]:
        """One step for a batch z [B, z_dim], phi(a) [B, A]: predictions [B, ...] and (h, c)."""
        out, state = self.forward(z[:, None], action_feats[:, None], state)
        squeeze = MDNOutput(*(t.squeeze(1) for t in vars(out).values()))
        return squeeze, state


def episode_windows(lengths: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(index [N, seq_len], mask [N, seq_len]): consecutive windows of `seq_len` steps over
    episodes laid end to end with `lengths` steps each; a window never crosses an episode's
    end, its steps past the end repeat the last index and have mask 0."""
    index: list[np.ndarray] = []
    mask: list[np.ndarray] = []
    offset = 0
    steps = np.arange(seq_len)
    for length in (int(n) for n in lengths):
        for start in range(0, length, seq_len):
            index.append(offset + np.minimum(start + steps, length - 1))
            mask.append(start + steps < length)
        offset += length
    if not index:
        return np.zeros((0, seq_len), dtype=np.int64), np.zeros((0, seq_len), dtype=np.float32)
    return np.stack(index).astype(np.int64), np.stack(mask).astype(np.float32)
