"""Pixel replay that stores every frame once.

An Atari observation is a stack of the last k = 4 frames (84x84 uint8). Storing (obs, next_obs)
per transition would keep each frame 2k = 8 times (28 KB per transition, 28 GB for the 1M buffer
of Mnih et al. 2015). `FrameStore` instead keeps a ring of single frames, and a transition stores
k integer *handles* (global frame serial numbers) for its observation and k for its next
observation: about 84*84 + 2*4*8 = 7.1 KB per transition, 7.1 GB per million (see
`bytes_per_transition`). Handles are ordinary arrays, so the n-step accumulator and the samplers
treat them like any other observation; `frames(handles)` rebuilds the uint8 stacks at sampling.

The store follows the stack the way the env builds it (Gymnasium's FrameStackObservation with
`padding_type="reset"`): the first observation of an episode is the reset frame repeated k times,
and each step shifts in one new frame. At an episode end the final observation's new frame is
stored too (the true final observation, for bootstrapping a truncation), then the reset frame.

Both assumptions are checked as the frames arrive, since an observation of the same shape need
not be a stack (the 3 colour planes of a channels-first RGB frame): a first observation whose k
frames differ, or a successor whose first k - 1 frames are not its predecessor's last k - 1,
raises `EnvError` instead of storing frames that would rebuild other observations. The replay
uses the store as a stack store only for an env that stacks frames this way
(`tidyrl.envs.make.stacks_frames`); any other uint8 image goes in as a stack of one (k = 1, the
frame being the whole image), where both checks hold by construction and each observation is
stored once.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tidyrl.data.storage import too_large
from tidyrl.errors import EnvError


class FrameStore:
    """Ring of single frames addressed by global serial numbers, with per-env current stacks."""

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], stack: int, n_envs: int = 1):
        if capacity < stack + 1:
            raise ValueError(f"frame capacity must exceed the stack size {stack}")
        self.capacity = int(capacity)
        self.stack = int(stack)
        try:
            self.frames = np.zeros((self.capacity, *frame_shape), dtype=np.uint8)
        except MemoryError as exc:  # more than the system lets one process reserve
            raise too_large(self.capacity, int(np.prod(frame_shape))) from exc
        self.written = 0
        """Frames written so far; frame serial s lives in slot s % capacity while
        s >= written - capacity."""
        self.current = np.zeros((n_envs, self.stack), dtype=np.int64)
        """Handles of each env's current observation stack."""

    def _write(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        serials = self.written + np.arange(n, dtype=np.int64)
        self.frames[serials % self.capacity] = frames
        self.written += n
        return serials

    def reset(self, obs: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """Start episodes from first observations `obs` (n, k, H, W) for `envs` (default all):
        store their newest frame once and return the (n, k) handles, all pointing at it."""
        envs = np.arange(len(self.current)) if envs is None else np.asarray(envs)
        obs = np.asarray(obs)
        if not np.array_equal(obs, np.broadcast_to(obs[:, -1:], obs.shape)):
            raise EnvError(
                f"a first observation of shape {obs.shape[1:]} is not its newest frame repeated "
                f"{self.stack} times (FrameStackObservation with padding_type='reset'), so the "
                "replay cannot store it as a frame stack"
            )
        serials = self._write(obs[:, -1])
        self.current[envs] = serials[:, None]
        handles: np.ndarray = self.current[envs].copy()
        return handles

    def step(
        self, next_obs: np.ndarray, obs: np.ndarray, dones: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One vector-env step: store each env's new frame (the newest of `next_obs`, the true
        successor) and, where an episode ended, the reset frame of `obs`. Returns the handles
        (obs_handles, next_obs_handles) of the transition just made."""
        obs_handles = self.current.copy()
        next_obs = np.asarray(next_obs)
        if not np.array_equal(next_obs[:, :-1], self.get(obs_handles[:, 1:])):
            raise EnvError(
                f"observations of shape {next_obs.shape[1:]} do not shift by one frame per step, "
                "so they are not a frame stack and the replay cannot store them as one"
            )
        serials = self._write(next_obs[:, -1])
        next_handles = np.concatenate([obs_handles[:, 1:], serials[:, None]], axis=1)
        self.current = next_handles.copy()
        ended = np.flatnonzero(dones)
        if ended.size:
            self.reset(np.asarray(obs)[ended], ended)
        return obs_handles, next_handles

    def valid(self, handles: np.ndarray) -> np.ndarray:
        """True for rows whose every frame is still in the ring (not yet overwritten)."""
        oldest = self.written - self.capacity
        ok: np.ndarray = np.asarray(handles).reshape(len(handles), -1).min(axis=1) >= oldest
        return ok

    def get(self, handles: np.ndarray) -> np.ndarray:
        """uint8 stacks (..., k, H, W) for handles (..., k)."""
        stacks: np.ndarray = self.frames[np.asarray(handles) % self.capacity]
        return stacks

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The frames written so far, the write count and the current stacks, for a
        checkpoint."""
        return {
            "frames": self.frames[: min(self.written, self.capacity)],
            "written": np.asarray(self.written),
            "current": self.current,
        }

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (into a store of the same capacity and shapes)."""
        frames = arrays["frames"]
        self.frames[: len(frames)] = frames
        self.written = int(arrays["written"])
        self.current[:] = arrays["current"]

    @property
    def nbytes(self) -> int:
        return int(self.frames.nbytes + self.current.nbytes)


def bytes_per_transition(
    frame_shape: tuple[int, ...] = (84, 84), stack: int = 4, frame_slack: float = 0.02
) -> float:
    """Replay bytes per stored transition with `FrameStore` handles: one frame (plus
    `frame_slack` extra frames per transition for episode ends), 2k int64 handles, an int64
    action, a float32 reward, a float32 discount and two bool flags."""
    frame = float(np.prod(frame_shape))
    return frame * (1.0 + frame_slack) + 2 * stack * 8 + 8 + 4 + 4 + 2
