"""N-step accumulator: turns a stream of one-step transitions into n-step transitions, per env.

Sutton (1988); Mnih et al. (2016); used by Rainbow (Hessel et al. 2018, eq. 2):

    R_t^(n)  = sum_{k=0}^{m-1} gamma^k r_{t+k}          m = min(n, steps until the episode ends)
    target   = R_t^(n) + discount_t * (1 - terminated) * V(s_{t+m})     discount_t = gamma^m

Across episode ends: when the episode of env e ends at step t+m-1 (terminated *or* truncated),
every pending transition of that env is emitted with the shorter horizon m, `next_obs` = the true
final observation and the end's `terminated`/`truncated` flags, so a truncated episode still
bootstraps (from its final observation, with discount gamma^m) and a terminated one does not.
With n = 1 the accumulator passes transitions through, with discount gamma.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "discounts")


class NStepAccumulator:
    """Per-env FIFO of the last n steps; `push` returns the n-step transitions completed."""

    def __init__(self, n: int, gamma: float, n_envs: int = 1) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n, self.gamma, self.n_envs = int(n), float(gamma), int(n_envs)
        self.pending: list[deque[tuple[np.ndarray, np.ndarray, float]]] = [
            deque() for _ in range(self.n_envs)
        ]

    def push(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> dict[str, np.ndarray] | None:
        """Add one step of every env; return the completed transitions as arrays keyed by
        `FIELDS` (rows in env order, oldest first), or None when none completed."""
        if self.n == 1:
            n = len(rewards)
            return {
                "obs": obs,
                "actions": actions,
                "rewards": np.asarray(rewards, dtype=np.float32),
                "next_obs": next_obs,
                "terminated": np.asarray(terminated, dtype=bool),
                "truncated": np.asarray(truncated, dtype=bool),
                "discounts": np.full(n, self.gamma, dtype=np.float32),
            }
        out: list[tuple[np.ndarray, np.ndarray, float, np.ndarray, bool, bool, float]] = []
        for e in range(self.n_envs):
            queue = self.pending[e]
            queue.append((obs[e], actions[e], float(rewards[e])))
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
                            next_obs[e],
                            bool(terminated[e]),
                            bool(truncated[e]),
                            self.gamma**m,
                        )
                    )
                    if not ended:
                        break
        if not out:
            return None
        columns = list(zip(*out))
        dtypes = (None, None, np.float32, None, bool, bool, np.float32)
        return {
            name: np.asarray(np.stack(col) if dtype is None else np.array(col, dtype=dtype))
            for name, col, dtype in zip(FIELDS, columns, dtypes)
        }

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The pending steps of each env (obs, actions, rewards), for a checkpoint."""
        arrays: dict[str, np.ndarray] = {}
        for e, queue in enumerate(self.pending):
            if queue:
                obs, actions, rewards = zip(*queue)
                arrays[f"{e}/obs"], arrays[f"{e}/actions"] = np.stack(obs), np.stack(actions)
                arrays[f"{e}/rewards"] = np.array(rewards, dtype=np.float64)
        return arrays

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`."""
        for e, queue in enumerate(self.pending):
            queue.clear()
            if f"{e}/rewards" in arrays:
                rows = zip(arrays[f"{e}/obs"], arrays[f"{e}/actions"], arrays[f"{e}/rewards"])
                queue.extend((o, a, float(r)) for o, a, r in rows)

    def reset(self) -> None:
        """Drop pending steps (e.g. when the vector env is reset)."""
        for queue in self.pending:
            queue.clear()
