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

Dict observations (`tidyrl.rewards.base.DictView`) are counted per key: Discrete and
MultiDiscrete keys exactly (their values index the table in mixed radix), the other keys by one
SimHash code of their concatenation, each key mapped as above and then scaled to unit norm.
SimHash's code depends on the direction of g only, so without the rescaling the key of largest
norm would set nearly every sign (a 147-column image against a 3-column speed, say), and how
much each key weighs would hang on its declared bounds. The cell is (exact index) * 2^k + code,
a table of (prod n) * 2^k counts.

Hyperplanes through the origin cut a cloud of states finely only where the cloud surrounds the
origin; mapping by the bounds centres the box, not the states in it (MiniGrid's view holds small
category indices, empty 1 and wall 2, under a bound of 10, so every view lies in one corner). So
g is centred on the mean of the first `center_states` states counted, and that mean is then
frozen, so that a state keeps its code from then on (`center_states=0` turns centring off).
States counted while the mean still moves are counted in the codes of the mean of that moment.
On a 20,000-step random walk on MiniGrid-DoorKey-8x8 (1,533 distinct views) the k = 16 codes
tell 1,157 of them apart centred, 1,073 uncentred; what that does to learning is recorded in the
`exploration-doorkey` suite.

Counts are of the successor state s' of every new transition, each counted exactly once in
`observe` (a replay batch is sampled many times, so counting there would count samples, not
visits); `reward` reads the counts, n < 1 read as 1. The k-bit code indexes a dense table of 2^k
counts (a tensor, so checkpoints keep it), which bounds k at 20 here; Tang et al.'s larger codes
(k up to 512 on Atari) need a hash table.

`EpisodicGate` lends the episodic count to the lifelong bonuses (RND, ICM: their
`episodic_gate` field), which then pay C(s') * g(n_episode(s')):

    first_visit    g(n) = 1[n = 1]      NovelD's episodic restriction (Zhang et al. 2021, eq. 3)
    inverse_sqrt   g(n) = 1 / sqrt(n)   the episodic count as a factor, the product of a
                                        lifelong and an episodic bonus that Wang et al. (2023,
                                        "Revisiting intrinsic reward for exploration in
                                        procedurally generated environments") compare

or, the other way round, the lifelong bonus as a bounded multiplier of the episodic count
(Badia et al. 2020, "Never give up", eq. 1 and section 2; their episodic novelty is a
k-nearest-neighbour pseudo-count, here the exact or SimHash count):

    ngu            C'(s') = 1 / sqrt(n) * min(max(alpha, 1), L),  alpha = 1 + (C - mu_C) / sigma_C

with mu_C, sigma_C running statistics of the lifelong bonus C (merged from each batch as it is
scored) and L = `NGU_MAX_MODULATION` (5, as NGU). Where C is below its running mean the
episodic count is paid as is; a novel view pays up to L times more.

A lifelong bonus of an egocentric view stays high wherever the view is rare across episodes,
so an agent can collect it again and again inside one episode by pacing between two rare views;
the gate pays each state once (or less each time) per episode, as Badia et al.'s NGU (2020)
modulates its episodic novelty by RND's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from tidyrl.config import check_choice, check_range
from tidyrl.core.normalize import RunningMeanStd
from tidyrl.data.batch import flat_observation_tensor
from tidyrl.errors import ConfigError
from tidyrl.rewards.base import DictPart, ExperienceLike, RewardPlugin

MAX_CELLS = 2**24
"""Largest count table (Dict observations: exact values times SimHash codes)."""
METHODS = ("auto", "exact", "simhash")
"""auto: exact for a Discrete observation space, SimHash otherwise."""
EPISODIC_GATES = ("none", "first_visit", "inverse_sqrt", "ngu")
"""`episodic_gate` choices of the lifelong bonuses (module docstring; none: ungated)."""
NGU_MAX_MODULATION = 5.0
"""L: the largest multiplier of the ngu gate (Badia et al. 2020, section 2)."""


@dataclass(frozen=True)
class CountConfig:
    intrinsic_coef: float = 0.01
    """beta of the bonus beta / sqrt(n) (Tang et al. use 0.01 on Atari)."""
    count_method: str = "auto"
    """exact (Discrete observations), simhash, or auto (exact for Discrete observations)."""
    hash_bits: int = 16
    """k: SimHash code length; the count table has 2^k cells."""
    center_states: int = 4096
    """SimHash input g is centred on the mean of the first this many states counted, then
    frozen (0: no centring, g as the bounds map it)."""
    episodic: bool = False
    """Count visits within each env's current episode only (the counts restart at every
    episode end), so C = 1 / sqrt(n_episode(s')); on-policy learners only (the bonus of a
    transition is fixed as it is observed, and a replay would score it later)."""

    def __post_init__(self) -> None:
        check_range(self, "intrinsic_coef", 0.0)
        check_choice(self, "count_method", METHODS)
        check_range(self, "hash_bits", 1, 20)
        check_range(self, "center_states", 0)


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
            self.exact_parts = (
                [] if self.view is None else [p for p in self.view.parts if p.discrete]
            )
            self.hashed_parts = (
                [] if self.view is None else [p for p in self.view.parts if not p.discrete]
            )
            radix = int(np.prod([int(p.nvec.prod()) for p in self.exact_parts]))
            if self.view is None:
                dim = int(np.prod(space.shape or (1,)))
            else:
                dim = sum(p.enc.stop - p.enc.start for p in self.hashed_parts)
            self.codes = 2**cfg.hash_bits if dim else 1
            """Cells per exact index: the 2^k SimHash codes (1 with nothing to hash)."""
            if radix * self.codes > MAX_CELLS:
                raise ConfigError(
                    f"count table of {radix} exact values x {self.codes} codes exceeds "
                    f"{MAX_CELLS} cells for {space}; lower hash_bits"
                )
            a = self.rng.standard_normal((cfg.hash_bits, dim))
            self.projection = torch.as_tensor(a, dtype=torch.float32)
            self.counts = torch.zeros(radix * self.codes, dtype=torch.long)
            self.center = torch.zeros(dim)
            """Mean of the hashed input g over the first `center_states` states counted."""
            self.centered = torch.zeros((), dtype=torch.long)
            """How many states `center` averages (it stops moving at `center_states`)."""
            self.low: torch.Tensor | None
            self.high: torch.Tensor | None
            if self.view is None:
                self.low, self.high = self.bounds(space)
            else:
                self.low, self.high = self.part_bounds(self.hashed_parts)
        cells = len(self.counts) if cfg.episodic else 0
        self.episode_counts = torch.zeros((self.n_envs, cells), dtype=torch.int32)
        """Visits within each env's current episode (`episodic`; no cells otherwise)."""
        self.observed: tuple[torch.Tensor, torch.Tensor] | None = None
        """(next_obs, n_episode) of the batch `observe` saw last (`episodic`)."""

    @staticmethod
    def bounds(space: gym.Space[Any]) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """Flat finite bounds of a non-image Box (None otherwise)."""
        if not isinstance(space, gym.spaces.Box) or space.dtype == np.uint8:
            return None, None
        low, high = space.low.reshape(-1), space.high.reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            return None, None
        return torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)

    @staticmethod
    def part_bounds(parts: list[DictPart]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat bounds of the hashed keys of a Dict view: a key's finite bounds, or (-1, 1) (the
        identity map) for a scaled image or an unbounded key."""
        lows, highs = [], []
        for part in parts:
            low, high = part.low, part.high
            if part.scale != 1.0 or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                low, high = -np.ones_like(low), np.ones_like(high)
            lows.append(low)
            highs.append(high)
        return torch.as_tensor(np.concatenate(lows)), torch.as_tensor(np.concatenate(highs))

    def state_objects(self) -> dict[str, Any]:
        objects: dict[str, Any] = {"counts": self.counts, "episode_counts": self.episode_counts}
        if not self.exact:
            objects["projection"] = self.projection
            objects["center"] = self.center
            objects["centered"] = self.centered
        return objects

    def cells(self, obs: torch.Tensor, learn_center: bool = False) -> torch.Tensor:
        """The count cell of each state [B]: its index (exact) or its SimHash code; with
        `learn_center`, the states first move the centre of g while it is not yet frozen."""
        if self.exact:
            return obs.reshape(len(obs)).long() - self.start
        if self.view is not None:
            return self.dict_cells(flat_observation_tensor(obs), learn_center)
        g = self.obs_batch(obs).reshape(len(obs), -1)
        if self.low is not None and self.high is not None:
            g = 2.0 * (g - self.low) / (self.high - self.low) - 1.0
        return simhash_codes(self.centred(g, learn_center), self.projection)

    def centred(self, g: torch.Tensor, learn: bool) -> torch.Tensor:
        """g minus the running mean of the first `center_states` states' g (the mean first
        takes in this batch's leading states while fewer than `center_states` were seen)."""
        room = self.config.center_states - int(self.centered)
        if learn and room > 0:
            new = g[:room]
            total = self.centered + len(new)
            self.center += (new.sum(dim=0) - len(new) * self.center) / total
            self.centered.fill_(int(total))
        return g - self.center

    def dict_cells(self, raw: torch.Tensor, learn_center: bool = False) -> torch.Tensor:
        """Cells of a raw flat batch of Dict observations: the exact keys' values in mixed radix
        times 2^k, plus the SimHash code of the other keys, centred, each at unit norm."""
        index = torch.zeros(len(raw), dtype=torch.long)
        for part in self.exact_parts:
            values = raw[:, part.raw].long() - part.start
            for i, n in enumerate(part.nvec.tolist()):
                index = index * n + values[:, i]
        if not self.hashed_parts:
            return index
        assert self.low is not None and self.high is not None
        g = torch.cat([part.encode(raw) for part in self.hashed_parts], dim=1)
        g = self.centred(2.0 * (g - self.low) / (self.high - self.low) - 1.0, learn_center)
        units, first = [], 0
        for part in self.hashed_parts:
            width = part.enc.stop - part.enc.start
            piece = g[:, first : first + width]
            units.append(piece / piece.norm(dim=1, keepdim=True).clamp(min=1e-12))
            first += width
        return index * self.codes + simhash_codes(torch.cat(units, dim=1), self.projection)

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        cells = self.cells(batch.next_obs, learn_center=True)
        self.counts.index_add_(0, cells, torch.ones_like(cells))
        if self.config.episodic:
            ends = (batch.terminated + batch.truncated).reshape(-1, n_envs) > 0
            self.observed = (batch.next_obs, self.count_episodes(cells.reshape(-1, n_envs), ends))

    def count_episodes(self, cells: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """n_episode(s') of each transition of rows [T, n_envs] (time-major), counting it in
        its env's table of the current episode, which is cleared after an episode's last step."""
        if self.episode_counts.shape[0] != cells.shape[1]:
            raise ConfigError(
                f"count episodic=true keeps one table per env: built for "
                f"{self.episode_counts.shape[0]} envs, observed {cells.shape[1]}"
            )
        envs = torch.arange(cells.shape[1])
        counts = torch.empty_like(cells)
        for t in range(len(cells)):
            self.episode_counts[envs, cells[t]] += 1
            counts[t] = self.episode_counts[envs, cells[t]]
            self.episode_counts[ends[t]] = 0
        return counts.reshape(-1)

    def episode_visits(self, batch: ExperienceLike) -> torch.Tensor:
        """n_episode(s') [B] of the batch `observe` saw last (`episodic`)."""
        if self.observed is None or self.observed[0] is not batch.next_obs:
            raise RuntimeError("episodic counts score only the experience `observe` saw last")
        return self.observed[1]

    @torch.no_grad()
    def reward(self, batch: ExperienceLike) -> torch.Tensor:
        if not self.config.episodic:
            return count_bonus(self.counts[self.cells(batch.next_obs)])
        return count_bonus(self.episode_visits(batch))

    def update(self, batch: ExperienceLike) -> dict[str, torch.Tensor]:
        """Nothing to learn (counting happens in `observe`); reports the cells visited so far."""
        return {"count_cells": (self.counts > 0).sum()}


def episodic_factor(visits: torch.Tensor, gate: str) -> torch.Tensor:
    """g(n) of the module docstring for within-episode visits n [B]: 1[n = 1] (first_visit) or
    1 / sqrt(n) (inverse_sqrt, and ngu's episodic factor)."""
    if gate == "first_visit":
        return (visits == 1).float()
    if gate in ("inverse_sqrt", "ngu"):
        return count_bonus(visits)
    raise ValueError(f"unknown episodic_gate {gate!r}; choose from {', '.join(EPISODIC_GATES[1:])}")


def ngu_modulation(bonus: torch.Tensor, stats: RunningMeanStd) -> torch.Tensor:
    """min(max(1 + (C - mu_C) / sigma_C, 1), L) for lifelong bonuses C [B] (module docstring)."""
    alpha = 1.0 + stats.normalize(bonus, clip=float("inf"))
    return alpha.clamp(1.0, NGU_MAX_MODULATION)


class EpisodicGate:
    """The within-episode visits of s' (an episodic `Count` of the plug-in's observations,
    SimHash with the default code length and centring) and the factor g(n) that a lifelong
    bonus is multiplied by, or (ngu) the episodic count that the bonus modulates (module
    docstring). On-policy learners only, as the episodic count."""

    def __init__(self, gate: str, plugin: RewardPlugin) -> None:
        self.gate = gate
        self.counter = Count(
            CountConfig(episodic=True),
            plugin.env_observation_space,  # Dict keys are counted as Count counts them
            plugin.action_space,
            plugin.env_id,
            plugin.rng,
            plugin.n_envs,
        )
        self.stats = RunningMeanStd(())
        """mu_C, sigma_C of the lifelong bonus (ngu)."""

    def state_objects(self) -> dict[str, Any]:
        objects = {f"gate_{key}": obj for key, obj in self.counter.state_objects().items()}
        return {**objects, "gate_bonus_stats": self.stats} if self.gate == "ngu" else objects

    def observe(self, batch: ExperienceLike, n_envs: int) -> None:
        self.counter.observe(batch, n_envs)

    def __call__(self, batch: ExperienceLike, bonus: torch.Tensor) -> torch.Tensor:
        """C(s') * g(n_episode(s')), or (ngu) g(n_episode(s')) times C's bounded modulation
        after C joined mu_C and sigma_C, for the batch `observe` saw last."""
        factor = episodic_factor(self.counter.episode_visits(batch), self.gate)
        if self.gate != "ngu":
            return bonus * factor
        self.stats.update(bonus)
        return factor * ngu_modulation(bonus, self.stats)


def episodic_gate(plugin: RewardPlugin) -> EpisodicGate | None:
    """The gate a lifelong bonus's `episodic_gate` field asks for (None: "none")."""
    gate: str = plugin.config.episodic_gate
    return None if gate == "none" else EpisodicGate(gate, plugin)
