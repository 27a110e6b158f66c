"""Running mean/variance normalization of observations and rewards.

`RunningMeanStd` is an `nn.Module` whose statistics are buffers, so an agent that registers it
(`register_state("obs_norm")`) checkpoints and restores it with no extra code, and a loaded agent
normalizes exactly as the trained one did.

Statistics are merged batch by batch with the parallel variance formula (Chan, Golub & LeVeque
1979). Reward scaling divides each reward by the standard deviation of a running discounted return
(Engstrom et al. 2020, "Implementation matters in deep policy gradients", section 3), without
subtracting a mean, which would change the optimal policy.

Return normalisation of DreamerV3 (Hafner et al. 2023, arXiv:2301.04104, eq. 11): the actor's
advantages are divided by max(1, S), S an exponential moving average (decay 0.99) of the range
between the 5th and 95th percentiles of the lambda-returns in a batch,

    S <- decay S + (1 - decay) (Per(R, 95) - Per(R, 5)),     A~ = (R - v) / max(1, S),

so large returns are scaled down (a steady exploration pressure from the entropy bonus across
reward scales) while small, noisy returns are never scaled up. `ReturnScale` keeps S as a
buffer, so a registered one is checkpointed like `RunningMeanStd`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of vectors of shape `shape`."""

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: np.ndarray | torch.Tensor) -> None:
        """Merge a batch (leading dimension = samples) into the statistics."""
        x = torch.as_tensor(np.asarray(batch), dtype=torch.float64)
        x = x.reshape(-1, *self.mean.shape)
        self._merge(x.mean(0), x.var(0, unbiased=False), x.shape[0])

    @torch.no_grad()
    def absorb(self, other: RunningMeanStd) -> None:
        """Merge another stream's statistics into these (A3C: a worker's segment into the
        shared ones); `other` is left as it was."""
        self._merge(other.mean, other.var, other.count)

    def _merge(
        self, batch_mean: torch.Tensor, batch_var: torch.Tensor, n: int | torch.Tensor
    ) -> None:
        """The parallel variance formula, in place (so statistics in shared memory stay
        shared)."""
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta * delta * self.count * n / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def normalize(self, x: torch.Tensor, clip: float = 10.0) -> torch.Tensor:
        """(x - mean) / sqrt(var + 1e-8), clipped to [-clip, clip], in x's dtype."""
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + 1e-8).to(x.dtype)
        return torch.clamp((x - mean) / std, -clip, clip)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """mean + sqrt(var + 1e-8) * x, in x's dtype: the inverse of `normalize` inside the clip
        (a critic trained on normalized targets reports values on the return scale)."""
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + 1e-8).to(x.dtype)
        return mean + std * x


class RewardScaler:
    """Divide rewards by the std of the running discounted return of each env.

    Holds the per-env return accumulator; the statistics live in `self.stats` (register that).
    """

    def __init__(self, n_envs: int, gamma: float, stats: RunningMeanStd | None = None) -> None:
        self.gamma = gamma
        self.stats = stats if stats is not None else RunningMeanStd(())
        self.returns = np.zeros(n_envs, dtype=np.float64)
        self.seen: RunningMeanStd | None = None
        """When set, the returns are counted here too (A3C: a worker's new returns, merged into
        the shared statistics after its update)."""

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        if self.seen is not None:
            self.seen.update(self.returns)
        self.returns[dones] = 0.0
        scale = float(np.sqrt(self.stats.var.item() + 1e-8))
        return np.clip(rewards / scale, -10.0, 10.0).astype(np.float32)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The per-env discounted returns (the statistics are a registered module)."""
        return {"returns": self.returns}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`."""
        self.returns = np.array(arrays["returns"], dtype=np.float64)


def percentile_range(x: torch.Tensor, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """Per(x, 95) - Per(x, 5) over all entries (linear interpolation between order statistics)."""
    flat = x.detach().reshape(-1).float()
    q = torch.tensor([low, high], dtype=flat.dtype, device=flat.device)
    bounds = torch.quantile(flat, q)
    return bounds[1] - bounds[0]


def ema_update(average: torch.Tensor, value: torch.Tensor, decay: float) -> torch.Tensor:
    """decay * average + (1 - decay) * value."""
    return decay * average + (1.0 - decay) * value


class ReturnScale(nn.Module):
    """S of the module docstring: an EMA of the returns' 5th-95th percentile range."""

    scale: torch.Tensor

    def __init__(self, decay: float = 0.99, low: float = 0.05, high: float = 0.95) -> None:
        super().__init__()
        self.decay, self.low, self.high = decay, low, high
        self.register_buffer("scale", torch.zeros(()))

    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Fold one batch of returns into S; returns max(1, S), the advantages' divisor."""
        spread = percentile_range(returns, self.low, self.high)
        self.scale.copy_(ema_update(self.scale, spread, self.decay))
        return self.scale.clamp(min=1.0)
