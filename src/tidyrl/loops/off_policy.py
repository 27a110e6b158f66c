"""Shared mechanics of off-policy value learning: the composed replay, ε-greedy acting, target
updates and the optimizer. The algorithms' own loops (dqn.py, c51.py, rainbow.py, soft_q.py) call
these; none of the algorithm maths lives here.

`Replay` composes the kernel's parts (Dopamine's split): `RingStorage` rows, a sampler
(`UniformSampler` or `PrioritizedSampler`), an `NStepAccumulator` (n = 1 passes through), and for
stacked Atari frames a `FrameStore` so each frame is stored once. Rows always carry the per-row
bootstrap discount gamma^m, so one target formula serves 1-step and n-step replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from tidyrl.config import check_range
from tidyrl.core.targets import hard_update, polyak_update
from tidyrl.data.accumulators import NStepAccumulator
from tidyrl.data.frame_replay import FrameStore
from tidyrl.data.samplers import PrioritizedSampler, UniformSampler
from tidyrl.data.storage import RingStorage
from tidyrl.envs.make import Step
from tidyrl.errors import ConfigError
from tidyrl.loops.spare_core import spare_core
from tidyrl.nets.inference import fast_policy
from tidyrl.nets.optim import Adam, CenteredRMSprop


@dataclass(frozen=True)
class ReplaySample:
    """A minibatch of (n-step) transitions with per-row discounts and importance weights."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    """n-step discounted reward sum R^(m) (the plain reward when n = 1)."""
    next_obs: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    discounts: torch.Tensor
    """gamma^m: the discount of the bootstrap value (m <= n steps ahead)."""
    weights: torch.Tensor
    """Importance-sampling weights (ones for uniform replay)."""
    index: np.ndarray
    """Storage rows (for priority updates)."""

    @property
    def bootstrap_mask(self) -> torch.Tensor:
        """1 where the target bootstraps from `next_obs` (not terminated), else 0."""
        return 1.0 - self.terminated.float()

    def __getitem__(self, part: slice) -> ReplaySample:
        return ReplaySample(
            self.obs[part],
            self.actions[part],
            self.rewards[part],
            self.next_obs[part],
            self.terminated[part],
            self.truncated[part],
            self.discounts[part],
            self.weights[part],
            self.index[part],
        )  # spelled out: a loop over `fields()` costs ~15 us, once per minibatch

    def __len__(self) -> int:
        return int(self.rewards.shape[0])


def uses_frame_store(space: gym.Space[Any]) -> bool:
    """Stacked Atari frames (uint8 (k, H, W) with H, W >= 36) are stored once per frame."""
    shape = tuple(space.shape or ())
    return space.dtype == np.uint8 and len(shape) == 3 and min(shape[1:]) >= 36


class Replay:
    """Storage + sampler + n-step accumulator (+ frame store for stacked pixels)."""

    def __init__(
        self,
        capacity: int,
        observation_space: gym.Space[Any],
        n_envs: int = 1,
        *,
        gamma: float = 0.99,
        n_step: int = 1,
        prioritized: bool = False,
        alpha: float = 0.6,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = tuple(observation_space.shape or ())
        self.frames: FrameStore | None = None
        if uses_frame_store(observation_space):
            k = shape[0]
            slack = capacity // 50 + (k + n_step + 2) * n_envs + 1000
            self.frames = FrameStore(capacity + slack, shape[1:], k, n_envs)
            obs_spec: tuple[tuple[int, ...], Any] = ((k,), np.int64)
        else:
            small_ints = observation_space.dtype in (np.uint8, np.bool_)
            obs_spec = (shape, np.uint8 if small_ints else np.float32)
        self.storage = RingStorage(
            capacity,
            {
                "obs": obs_spec,
                "actions": ((), np.int64),
                "rewards": ((), np.float32),
                "next_obs": obs_spec,
                "terminated": ((), np.bool_),
                "truncated": ((), np.bool_),
                "discounts": ((), np.float32),
            },
        )
        self.sampler: UniformSampler | PrioritizedSampler = (
            PrioritizedSampler(capacity, alpha) if prioritized else UniformSampler()
        )
        self.accumulator = NStepAccumulator(n_step, gamma, n_envs)
        self.device = torch.device(device)
        self._started = False

    def __len__(self) -> int:
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        return self.storage.nbytes + (self.frames.nbytes if self.frames is not None else 0)

    def add(self, obs: np.ndarray, actions: np.ndarray, step: Step) -> None:
        """Store the env step taken from `obs` with `actions` (n-step rows once complete)."""
        if self.frames is not None:
            if not self._started:
                self.frames.reset(obs)
            obs, next_obs = self.frames.step(step.next_obs, step.obs, step.dones)
        else:
            next_obs = step.next_obs
        self._started = True
        rows = self.accumulator.push(
            obs, actions, step.rewards, next_obs, step.terminated, step.truncated
        )
        if rows is not None:
            self.sampler.add(self.storage.add(**rows))

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> ReplaySample:
        """`batch_size` rows from the sampler, as tensors (pixels rebuilt from frames)."""
        index, weights = self.sampler.sample(len(self.storage), batch_size, rng, beta)
        cols = self.storage.columns
        obs, next_obs = cols["obs"][index], cols["next_obs"][index]
        if self.frames is not None:
            # rows whose oldest frames were overwritten (rare: the frame ring has slack) are
            # replaced by uniformly drawn valid rows
            for _ in range(100):
                bad = ~self.frames.valid(obs)
                if not bad.any():
                    break
                index[bad] = rng.integers(0, len(self.storage), int(bad.sum()))
                obs, next_obs = cols["obs"][index], cols["next_obs"][index]
            obs, next_obs = self.frames.get(obs), self.frames.get(next_obs)
        as_t = torch.from_numpy
        return ReplaySample(
            obs=as_t(obs).to(self.device),
            actions=as_t(cols["actions"][index]).to(self.device),
            rewards=as_t(cols["rewards"][index]).to(self.device),
            next_obs=as_t(next_obs).to(self.device),
            terminated=as_t(cols["terminated"][index]).to(self.device),
            truncated=as_t(cols["truncated"][index]).to(self.device),
            discounts=as_t(cols["discounts"][index]).to(self.device),
            weights=as_t(weights).to(self.device),
            index=index,
        )

    def update_priorities(self, index: np.ndarray, td_errors: torch.Tensor) -> None:
        """Feed |TD errors| (or losses) back to a prioritized sampler (no-op when uniform)."""
        if isinstance(self.sampler, PrioritizedSampler):
            self.sampler.update_priorities(index, td_errors.detach().cpu().numpy())


def obs_tensor(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    """Observations as a tensor: uint8 pixels stay uint8 (networks scale them), vectors float32."""
    array = np.asarray(obs)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    elif array.dtype != np.uint8:
        array = array.astype(np.float32, copy=False)
    return torch.from_numpy(array).to(device)


def epsilon_greedy(
    q_values: Callable[[torch.Tensor], torch.Tensor],
    obs: np.ndarray,
    epsilon: float,
    n_actions: int,
    rng: np.random.Generator,
    device: torch.device,
) -> np.ndarray:
    """argmax_a Q(s, a) per row, replaced by a uniform action with probability `epsilon`.

    The network is not run at all when every row explores (most of early training). A network
    (an `nn.Module`) acts through the inference seam (`tidyrl.nets.inference.fast_policy`); a
    function of tensors is called on `obs` on `device` under `torch.inference_mode`."""
    n = len(obs)
    explore = rng.random(n) < epsilon if epsilon > 0 else np.zeros(n, dtype=bool)
    random_actions = rng.integers(0, n_actions, n) if epsilon > 0 else None
    if explore.all() and random_actions is not None:
        return random_actions
    if isinstance(q_values, nn.Module):
        greedy = fast_policy(q_values)(obs).argmax(dim=1).cpu().numpy()
    else:
        with torch.inference_mode():
            greedy = q_values(obs_tensor(obs, device)).argmax(dim=1).cpu().numpy()
    if random_actions is None:
        return greedy
    return np.where(explore, random_actions, greedy)


def update_target(online: nn.Module, target: nn.Module, tau: float) -> None:
    """Hard copy when tau == 1 (Mnih et al. 2015), else Polyak averaging with rate tau."""
    if tau >= 1.0:
        hard_update(online, target)
    else:
        polyak_update(online, target, tau)


def adam(
    params: Sequence[nn.Parameter] | Any, lr: float, eps: float = 1e-8, max_grad_norm: float = 0.0
) -> Adam:
    """The kernel's fused Adam, clipping the global gradient norm to `max_grad_norm` (0: off)
    inside its step (see `tidyrl.nets.optim`)."""
    return Adam(params, lr=lr, eps=eps, max_grad_norm=max_grad_norm)


OPTIMIZERS = ("adam", "rmsprop")
"""`optimizer` choices of the value-based configs that offer one (see `value_optimizer`)."""


def value_optimizer(
    kind: str, params: Sequence[nn.Parameter] | Any, lr: float, max_grad_norm: float = 0.0
) -> Adam | CenteredRMSprop:
    """ "adam": the kernel's fused Adam; "rmsprop": centered RMSProp with the Nature DQN's
    constants (Mnih et al. 2015; MinAtar's examples/dqn.py). Both clip the global gradient
    norm to `max_grad_norm` (0: off) inside their step."""
    if kind == "rmsprop":
        return CenteredRMSprop(params, lr=lr, max_grad_norm=max_grad_norm)
    return adam(params, lr, max_grad_norm=max_grad_norm)


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of `every` lies in (before, after]: a periodic event is due after
    the step counter moved from `before` to `after` (n_envs steps at a time)."""
    return every > 0 and after // every > before // every


TARGET_BLOCK = 1024
"""Rows per forward pass of the target network in `phase_minibatches` (rounded down to a whole
number of minibatches)."""


def phase_minibatches(
    replay: Replay,
    gradient_steps: int,
    batch_size: int,
    rng: np.random.Generator,
    target_values: Callable[[ReplaySample], torch.Tensor],
) -> Iterator[tuple[ReplaySample, torch.Tensor]]:
    """The `gradient_steps` minibatches of one training phase with their target values.

    Valid when the target network does not move inside the phase (it is updated in the env
    loop): all rows are drawn in one gather and `target_values(rows)` (e.g. Q_target(s', .))
    runs under no_grad on blocks of ~`TARGET_BLOCK` rows instead of once per update. Blocks, not
    all rows at once: a block's activations stay in the core's cache (one 8,192-row pass of a
    256-256 MLP took 2.6x as long on the CI machine kind, benchmarks/dqn_update_profile.py).
    On CPU with a core to spare (`spare_core`) the blocks are computed on a helper thread
    while the updates of the earlier blocks run (a phase of one block is computed inline, as
    there is nothing to overlap); `target_values` must then read only frozen
    networks, never the one being trained (true of every caller: the values are the same
    either way, only their timing differs)."""
    rows = replay.sample(gradient_steps * batch_size, rng)
    block = max(1, TARGET_BLOCK // batch_size) * batch_size

    def values_of(start: int) -> torch.Tensor:
        with torch.no_grad():
            return target_values(rows[start : start + block])

    starts = range(0, len(rows), block)
    # one block leaves nothing to overlap: the hand-off would only add latency (MinAtar DQN,
    # one update per step: 31 -> 23 s per 5,000 steps inline, 2-core EPYC, 2026-12-02)
    overlap = len(starts) > 1 and rows.rewards.device.type == "cpu"
    worker = spare_core() if overlap else None
    if worker is None:
        blocks = [values_of(i) for i in starts]
    else:
        pending = [worker.submit(values_of, i) for i in starts]
        blocks = [f.result() for f in pending[:1]]  # the first block before the first update
    for g in range(gradient_steps):
        b, offset = divmod(g * batch_size, block)
        if b == len(blocks):
            blocks.append(pending[b].result())
        yield rows[g * batch_size : (g + 1) * batch_size], blocks[b][offset : offset + batch_size]


def train_phase(
    agent: Any,
    target_values: Callable[[ReplaySample], torch.Tensor],
    update: Callable[[ReplaySample, torch.Tensor], dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """One training phase: `agent.config.gradient_steps` calls of `update(batch, values)` on the
    minibatches of `phase_minibatches` (targets from `target_values`, computed once for the
    phase); counts the updates and returns the last update's metrics."""
    cfg = agent.config
    metrics: dict[str, torch.Tensor] = {}
    for batch, values in phase_minibatches(
        agent.replay, cfg.gradient_steps, cfg.batch_size, agent.rng, target_values
    ):
        metrics = update(batch, values)
    agent.counters["updates"] += cfg.gradient_steps
    return metrics


_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "lr": (0.0, None, True),
    "adam_eps": (0.0, None, True),
    "gamma": (0.0, 1.0, False),
    "tau": (0.0, 1.0, True),
    "buffer_size": (1, None, False),
    "batch_size": (1, None, False),
    "learning_starts": (0, None, False),
    "train_freq": (1, None, False),
    "gradient_steps": (1, None, False),
    "target_update_every": (1, None, False),
    "epsilon_start": (0.0, 1.0, False),
    "epsilon_end": (0.0, 1.0, False),
    "exploration_fraction": (0.0, 1.0, False),
    "max_grad_norm": (0.0, None, False),
    "n_envs": (1, None, False),
}
"""Allowed ranges of the config fields the value-based algorithms share (low, high, low open)."""


def validate_common(cfg: Any) -> None:
    """Check the shared fields `cfg` has (ConfigError naming the field and range otherwise)."""
    for name, (low, high, low_open) in _RANGES.items():
        if hasattr(cfg, name):
            check_range(cfg, name, low, high, low_open=low_open)
    hidden = getattr(cfg, "hidden", (1,))
    if not hidden or min(hidden) < 1:
        raise ConfigError(f"{type(cfg).__name__}.hidden={hidden!r}: need one or more widths >= 1")
