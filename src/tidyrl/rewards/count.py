"""Count-based exploration: a bonus beta / sqrt(n(s')) that shrinks with the visits to a state.

Exact counts for discrete observations (a tabular bonus in the style of Strehl & Littman 2008's
MBIE-EB, beta / sqrt(n)); for continuous or pixel observations, counts of a locality-sensitive
hash (Tang et al. 2017, "#Exploration: a study of count-based exploration for deep
reinforcement learning", Algorithm 1):

    phi(s)  = sgn(A g(s)) in {-1, 1}^k,   A [k, D] with i.i.d. N(0, 1) entries, drawn once
    C(s')   = 1 / sqrt(n(phi(s')))                       the learner adds beta * C

SimHash maps nearby states to the same code with high probability (the angular distance between
g(s) and g(s') sets how many of the k signs differ), so k controls the granularity: small k
lumps states together, large k counts them apart. g(s) is the flattened observation, mapped to
[-1, 1] by the observation space's bounds where they are finite (the hyperplanes of A pass
through the origin, so an uncentred state, such as MountainCar's position in [-1.2, 0.6],
would otherwise land on few distinct codes); pixel frames are scaled to [0, 1], as Tang et al.
do before hashing.

Counts are of the successor state s' of every new transition, each counted exactly once in
`observe` (a replay batch is sampled many times, so counting there would count samples, not
visits); `reward` reads the counts, n < 1 read as 1. The k-bit code indexes a dense table of 2^k
counts (a tensor, so checkpoints keep it), which bounds k at 20 here; Tang et al.'s larger codes
(k up to 512 on Atari) need a hash table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.config import check_choice, check_range
from tidyrl.errors import ConfigError
from tidyrl.rewards.base import ExperienceLike, RewardPlugin

METHODS = ("auto", "exact", "simhash")
"""auto: exact for a Discrete observation space, SimHash otherwise."""


@dataclass(frozen=True)
class CountConfig:
    intrinsic_coef: float = 0.01
    """beta of the bonus beta / sqrt(n) (Tang et al. use 0.01 on Atari)."""
    count_method: str = "auto"
    """exact (Discrete observations), simhash, or auto (exact for Discrete observations)."""
    hash_bits: int = 16
    """k: SimHash code length; the count table has 2^k cells."""

    def __post_init__(self) -> None:
        check_range(self, "intrinsic_coef", 0.0)
        check_choice(self, "count_method", METHODS)
        check_range(self, "hash_bits", 1, 20)


def simhash_codes(x: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """phi(s) = sgn(A g(s)) as integers: bit i of the code is 1 where (A g(s))_i > 0; [B] int64."""
    bits = (x @ projection.T > 0).long()
    powers = 2 ** torch.arange(projection.shape[0], dtype=torch.long)
    return (bits * powers).sum(dim=1)


def count_bonus(counts: torch.Tensor) -> torch.Tensor:
    """C = 1 / sqrt(max(n, 1))."""
    return counts.clamp(min=1).double().rsqrt().float()


class Count(RewardPlugin):
    """Visit counts of s' (exact or SimHash) and the bonus 1 / sqrt(n)."""

    Config = CountConfig
    name = "count"
    replaces_env_reward = False

    config: CountConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # config, spaces, env id, generator, n_envs
        cfg, space = self.config, self.observation_space
        discrete = isinstance(space, gym.spaces.Discrete)
        self.exact = cfg.count_method == "exact" or (cfg.count_method == "auto" and discrete)
        if self.exact:
            if not isinstance(space, gym.spaces.Discrete):
                raise ConfigError(
                    f"count_method=exact needs a Discrete observation space, got {space}; "
                    "valid: simhash or auto"
                )
            self.start = int(space.start)
            self.counts = torch.zeros(int(space.n), dtype=torch.long)
        else:
            dim = int(np.prod(space.shape or (1,)))
            a = self.rng.standard_normal((cfg.hash_bits, dim))
            self.projection = torch.as_tensor(a, dtype=torch.float32)
            self.counts = torch.zeros(2**cfg.hash_bits, dtype=torch.long)
            self.low: torch.Tensor | None
            self.high: torch.Tensor | None
            self.low, self.high = self.bounds(space)

    @staticmethod
    def bounds(space: gym.Space[Any]) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """Flat finite bounds of a non-image Box (None otherwise)."""
        if not isinstance(space, gym.spaces.Box) or space.dtype == np.uint8:
            return None, None
        low, high = space.low.reshape(-1), space.high.reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            return None, None
        return torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)

    def state_objects(self) -> dict[str, Any]:
        objects: dict[str, Any] = {"counts": self.counts}
        if not self.exact:
            objects["projection"] = self.projection
        return objects

    def cells(self, obs: torch.Tensor) -> torch.Tensor:
        """The count cell of each state [B]: its index (exact) or its SimHash code."""
        if self.exact:
            return obs.reshape(len(obs)).long() - self.start
        g = self.obs_batch(obs).reshape(len(obs), -1)
        if self.low is not None and self.high is not None:
            g = 2.0 * (g - self.low) / (self.high - self.low) - 1.0
        return simhash_codes(g, self.projection)

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        cells = self.cells(batch.next_obs)
        self.counts.index_add_(0, cells, torch.ones_like(cells))

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        return count_bonus(self.counts[self.cells(batch.next_obs)])

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """Nothing to learn (counting happens in `observe`); reports the cells visited so far."""
        return {"count_cells": (self.counts > 0).sum()}
