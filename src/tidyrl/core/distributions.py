"""Policy distributions for on-policy methods: Categorical (Discrete actions) and a diagonal
Gaussian (Box actions), each with sampling, log-probabilities, entropy, mode and KL divergence.

These are small hand-written classes rather than `torch.distributions` because the policy-gradient
hot path calls them every step: no argument validation, no broadcasting machinery, and the KL
divergences that TRPO and PPO's early stop need are written out next to their closed forms.

KL divergences (closed forms; e.g. Cover & Thomas 2006, section 8.5 for the Gaussian):

    Categorical   KL(p || q) = sum_a p_a (log p_a - log q_a)
    Gaussian      KL(N(m1, s1^2) || N(m2, s2^2))
                    = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2     per dimension

The tanh-squashed Gaussian of SAC lives in `tidyrl.core.squashed`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical:
    """pi(a|s) = softmax(logits)_a over the last dimension."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = torch.log_softmax(logits, -1)
        """Normalized log-probabilities log p_a = logits_a - logsumexp(logits) (one fused op
        each way; the subtraction form costs five)."""

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()

    def sample(self) -> torch.Tensor:
        """Actions drawn with torch's global generator (seeded per run), shape logits.shape[:-1].

        Inverse-CDF sampling: a = #{k : F_k <= u} for u ~ U[0, 1) and F the cumulative
        probabilities (the count is clamped to the last action against rounding in F).
        Three small ops, cheaper per call than `torch.multinomial` on the few rows of acting."""
        cdf = self.probs.cumsum(-1)
        u = torch.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device)
        return (cdf <= u).sum(-1).clamp_(max=cdf.shape[-1] - 1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions and their log-probabilities for acting (no gradient), drawn with `rng`.

        The same inverse-CDF draw as `sample`, done in NumPy on the host: rollout collection
        calls this every environment step on a handful of rows, where NumPy's small-array
        operations cost a fraction of torch's per-op dispatch (docs/performance.md,
        benchmarks/rollout_speed.py). Off the CPU it falls back to `sample` and `log_prob`."""
        logits = self.logits.detach()
        if logits.device.type != "cpu":
            actions = self.sample()
            return actions, self.log_prob(actions)
        drawn, logp = sample_categorical(logits.numpy(), rng)
        return torch.from_numpy(drawn), torch.from_numpy(logp)

    def entropy(self) -> torch.Tensor:
        """H = -sum_a p_a log p_a."""
        return -(self.probs * self.logits).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    def kl(self, other: Categorical) -> torch.Tensor:
        """KL(self || other) = sum_a p_a (log p_a - log q_a), per batch element."""
        return (self.probs * (self.logits - other.logits)).sum(-1)

    def detach(self) -> Categorical:
        return Categorical(self.logits.detach())


class DiagGaussian:
    """pi(a|s) = prod_i N(a_i; mean_i, std_i^2); log-probabilities sum over the action dims."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.std = self.log_std.exp()

    def sample(self) -> torch.Tensor:
        return self.mean + self.std * torch.randn_like(self.mean)

    def rsample(self, noise: torch.Tensor) -> torch.Tensor:
        """Reparameterized sample a = mean + std * eps (the pathwise estimator's path)."""
        return self.mean + self.std * noise

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) / self.std
        return (-0.5 * z * z - self.log_std - LOG_SQRT_2PI).sum(-1)

    def sample_and_log_prob(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """a = mean + std * eps (eps ~ N(0, I) from `rng`) and log pi(a) = sum_i (-eps_i^2 / 2 -
        log std_i - log sqrt(2 pi)), for acting (no gradient; see `Categorical`'s)."""
        mean, log_std = self.mean.detach(), self.log_std.detach()
        if mean.device.type != "cpu":
            actions = self.sample()
            return actions, self.log_prob(actions)
        drawn, logp = sample_gaussian(mean.numpy(), log_std.numpy(), rng)
        return torch.from_numpy(drawn), torch.from_numpy(logp)

    def entropy(self) -> torch.Tensor:
        """H = sum_i (log std_i + 1/2 log(2 pi e))."""
        return (self.log_std + 0.5 + LOG_SQRT_2PI).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self, other: DiagGaussian) -> torch.Tensor:
        """KL(self || other), summed over action dimensions (closed form in the module doc)."""
        var_ratio = (self.std / other.std) ** 2
        mean_term = ((self.mean - other.mean) / other.std) ** 2
        return (0.5 * (var_ratio + mean_term - 1.0) - torch.log(self.std / other.std)).sum(-1)

    def detach(self) -> DiagGaussian:
        return DiagGaussian(self.mean.detach(), self.log_std.detach())


Distribution = Categorical | DiagGaussian


def sample_categorical(
    logits: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Host-side draw from softmax(logits) over the last axis (inverse CDF with `rng`): the
    actions (int64) and their log-probabilities (float32), for acting only."""
    flat = logits.reshape(-1, logits.shape[-1]).astype(np.float32, copy=False)
    peak = flat.max(-1, keepdims=True)
    shifted = flat - peak
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    u = rng.random((flat.shape[0], 1), dtype=np.float32)
    index = np.minimum((np.exp(logp).cumsum(-1) <= u).sum(-1), flat.shape[-1] - 1)
    chosen = logp[np.arange(flat.shape[0]), index]
    batch = logits.shape[:-1]
    return index.astype(np.int64).reshape(batch), chosen.reshape(batch)


def sample_gaussian(
    mean: np.ndarray, log_std: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Host-side a = mean + std * eps with log pi(a) = sum_i (-eps_i^2 / 2 - log std_i -
    log sqrt(2 pi)), for acting only (float32)."""
    eps = rng.standard_normal(mean.shape, dtype=np.float32)
    log_std = np.broadcast_to(log_std, mean.shape).astype(np.float32, copy=False)
    actions = (mean + np.exp(log_std) * eps).astype(np.float32, copy=False)
    logp = (-0.5 * eps * eps - log_std - np.float32(LOG_SQRT_2PI)).sum(-1)
    return actions, logp.astype(np.float32, copy=False)
