"""N-step accumulator: turns a stream of one-step transitions into n-step transitions, per env.

Sutton (1988); Mnih et al. (2016); used by Rainbow (Hessel et al. 2018, eq. 2):

    R_t^(n)  = sum_{k=0}^{m-1} gamma^k r_{t+k}          m = min(n, steps until the episode ends)
    target   = R_t^(n) + discount_t * (1 - terminated) * V(s_{t+m})     discount_t = gamma^m

Across episode ends: when the episode of env e ends at step t+m-1 (terminated *or* truncated),
every pending transition of that env is emitted with the shorter horizon m, `next_obs` = the true
final observation and the end's `terminated`/`truncated` flags, so a truncated episode still
bootstraps (from its final observation, with discount gamma^m) and a terminated one does not.
With n = 1 the accumulator passes transitions through, with discount gamma. Observations may be
dicts of arrays (Dict spaces); the action masks of `next_obs`, when given, travel with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from tidyrl.envs.spaces import stack, take

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "discounts")


class NStepAccumulator:
    """Per-env FIFO of the last n steps; `push` returns the n-step transitions completed."""

    def __init__(self, n: int, gamma: float, n_envs: int = 1) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n, self.gamma, self.n_envs = int(n), float(gamma), int(n_envs)
        self.pending: list[deque[tuple[Any, np.ndarray, float]]] = [
            deque() for _ in range(self.n_envs)
        ]

    def push(
        self,
        obs: Any,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: Any,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_masks: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """Add one step of every env; return the completed transitions as arrays keyed by
        `FIELDS` (and "next_masks" when `next_masks` is given; rows in env order, oldest
        first), or None when none completed."""
        if self.n == 1:
            n = len(rewards)
            rows = {
                "obs": obs,
                "actions": actions,
                "rewards": np.asarray(rewards, dtype=np.float32),
                "next_obs": next_obs,
                "terminated": np.asarray(terminated, dtype=bool),
                "truncated": np.asarray(truncated, dtype=bool),
                "discounts": np.full(n, self.gamma, dtype=np.float32),
            }
            if next_masks is not None:
                rows["next_masks"] = next_masks
            return rows
        out: list[tuple[Any, ...]] = []
        for e in range(self.n_envs):
            queue = self.pending[e]
            queue.append((take(obs, e), actions[e], float(rewards[e])))
            ended = bool(terminated[e]) or bool(truncated[e])
            if len(queue) == self.n or ended:
                # emit the oldest (a full window), or flush all of them at an episode end
                while queue and (ended or len(queue) == self.n):
                    m = len(queue)
                    ret = sum(self.gamma**k * r for k, (_, _, r) in enumerate(queue))
                    o, a, _ = queue.popleft()
                    out.append(
                        (
                            o,
                            a,
                            ret,
                            take(next_obs, e),
                            bool(terminated[e]),
                            bool(truncated[e]),
                            self.gamma**m,
                            None if next_masks is None else next_masks[e],
                        )
                    )
                    if not ended:
                        break
        if not out:
            return None
        columns = list(zip(*out))
        dtypes = (None, None, np.float32, None, bool, bool, np.float32)
        rows = {
            name: stack(col) if dtype is None else np.array(col, dtype=dtype)
            for name, col, dtype in zip(FIELDS, columns, dtypes)
        }
        if next_masks is not None:
            rows["next_masks"] = np.stack(columns[-1])
        return rows

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The pending steps of each env (obs -- per key for dict observations --, actions,
        rewards), for a checkpoint."""
        arrays: dict[str, np.ndarray] = {}
        for e, queue in enumerate(self.pending):
            if queue:
                obs, actions, rewards = zip(*queue)
                stacked = stack(obs)
                parts = stacked.items() if isinstance(stacked, dict) else [("", stacked)]
                for key, value in parts:
                    arrays[f"{e}/obs" + (f".{key}" if key else "")] = value
                arrays[f"{e}/actions"] = np.stack(actions)
                arrays[f"{e}/rewards"] = np.array(rewards, dtype=np.float64)
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`."""
        for e, queue in enumerate(self.pending):
            queue.clear()
            if f"{e}/rewards" not in arrays:
                continue
            prefix = f"{e}/obs."
            keyed = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            obs = keyed or arrays[f"{e}/obs"]
            actions, rewards = arrays[f"{e}/actions"], arrays[f"{e}/rewards"]
            queue.extend((take(obs, i), actions[i], float(r)) for i, r in enumerate(rewards))

    def reset(self) -> None:
        """Drop pending steps (e.g. when the vector env is reset)."""
        for queue in self.pending:
            queue.clear()
