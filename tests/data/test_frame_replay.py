"""Frame store: each frame stored once, stacks rebuilt exactly, episode ends, bytes/transition."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tidyrl.data.frame_replay import FrameStore, bytes_per_transition
from tidyrl.data.replay import Replay
from tidyrl.envs.make import Step
from tidyrl.errors import EnvError


def stacked(history: list[int], k: int = 4) -> np.ndarray:
    """A (k, 2, 2) stack whose frames are filled with the frame ids in `history` (oldest first,
    padded with the first id as FrameStackObservation's reset padding does)."""
    ids = [history[0]] * (k - len(history)) + history[-k:]
    return np.stack([np.full((2, 2), i, dtype=np.uint8) for i in ids])


class FakeStackEnv:
    """Episodes of `length` steps; frame ids count up globally so every frame is distinct."""

    def __init__(self, length: int, k: int = 4):
        self.length, self.k, self.next_id, self.t = length, k, 1, 0
        self.history = [self._new()]

    def _new(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def obs(self) -> np.ndarray:
        return stacked(self.history, self.k)

    def step(self):
        self.history.append(self._new())
        self.t += 1
        next_obs = self.obs()
        done = self.t == self.length
        if done:
            self.history, self.t = [self._new()], 0
        return next_obs, self.obs(), done


def test_stacks_round_trip_across_episode_ends_and_frames_stored_once():
    env = FakeStackEnv(length=3)
    store = FrameStore(capacity=100, frame_shape=(2, 2), stack=4)
    store.reset(env.obs()[None])
    for _ in range(10):
        obs = env.obs()
        next_obs, new_obs, done = env.step()
        h_obs, h_next = store.step(next_obs[None], new_obs[None], np.array([done]))
        np.testing.assert_array_equal(store.get(h_obs)[0], obs)
        np.testing.assert_array_equal(store.get(h_next)[0], next_obs)  # true final obs too
    # 1 reset frame + 10 step frames + 3 reset frames (episodes end at steps 3, 6, 9)
    assert store.written == 14
    assert bool(store.valid(h_obs)[0])


def test_overwritten_frames_are_invalid():
    store = FrameStore(capacity=6, frame_shape=(1,), stack=2)
    first = store.reset(np.zeros((1, 2, 1), np.uint8))
    for i in range(6):
        stack = np.array([[[i], [i + 1]]], np.uint8)  # frames i, i + 1: shifted by one
        store.step(stack, stack, np.array([False]))
    assert not store.valid(first)[0]


def test_observations_that_are_not_stacks_are_refused():
    """One RGB frame, channels first, has the shape of a 3-frame stack; its planes neither
    repeat at reset nor shift by one per step, and the store says so instead of storing planes
    that would rebuild other observations."""
    rng = np.random.default_rng(0)
    rgb = lambda: rng.integers(0, 256, (1, 3, 2, 2), dtype=np.uint8)  # noqa: E731
    with pytest.raises(EnvError, match="not its newest frame repeated"):
        FrameStore(capacity=10, frame_shape=(2, 2), stack=3).reset(rgb())
    grey = np.zeros((1, 3, 2, 2), np.uint8)  # a blank first frame passes for a stack
    store = FrameStore(capacity=10, frame_shape=(2, 2), stack=3)
    store.reset(grey)
    frame = rgb()
    with pytest.raises(EnvError, match="do not shift by one frame"):
        store.step(frame, frame, np.array([False]))
    env = FakeStackEnv(length=4, k=3)
    store = FrameStore(capacity=10, frame_shape=(2, 2), stack=3)
    store.reset(env.obs()[None])
    for _ in range(6):  # true stacks, across an episode end, pass
        next_obs, new_obs, done = env.step()
        store.step(next_obs[None], new_obs[None], np.array([done]))


def test_replay_with_frame_store_samples_exact_stacks():
    space = gym.spaces.Box(0, 255, (4, 40, 40), np.uint8)
    replay = Replay(50, space, gym.spaces.Discrete(2), 1, gamma=0.9, frame_stack=True)
    assert replay.frames is not None
    env = FakeStackEnv(length=5)
    big = lambda x: np.repeat(np.repeat(x, 20, axis=-1), 20, axis=-2)  # noqa: E731
    stored = {}
    for t in range(30):
        obs = env.obs()
        next_obs, new_obs, done = env.step()
        step = Step(
            big(new_obs)[None],
            big(next_obs)[None],
            np.array([float(t)], np.float32),
            np.array([done]),
            np.array([False]),
        )
        replay.add(big(obs)[None], np.array([t % 2]), step)
        stored[t] = (obs[:, 0, 0], next_obs[:, 0, 0])
    sample = replay.sample(64, np.random.default_rng(0))
    for i in range(len(sample)):
        t = int(sample.rewards[i])
        np.testing.assert_array_equal(sample.obs[i, :, 0, 0].numpy(), stored[t][0])
        np.testing.assert_array_equal(sample.next_obs[i, :, 0, 0].numpy(), stored[t][1])
        assert int(sample.actions[i]) == t % 2
        assert bool(sample.terminated[i]) == ((t + 1) % 5 == 0)


def test_one_million_atari_transitions_fit_in_8_gb():
    per = bytes_per_transition((84, 84), 4)
    assert per < 7_300  # vs 2 * 4 * 7056 = 56,448 bytes storing obs and next_obs stacks
    assert per * 1_000_000 <= 8e9
    # the real replay agrees with the formula (measured on a small capacity)
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    replay = Replay(100_000, space, gym.spaces.Discrete(6), 1, frame_stack=True)
    measured = replay.nbytes / 100_000
    assert measured <= per * 1.1, measured
