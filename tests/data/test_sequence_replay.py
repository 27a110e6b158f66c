"""Sequence replay: chunks in write order across episode ends, is_first where episodes start,
terminated vs truncated kept apart, uint8 frames stored once, bounded memory."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tidyrl.data.sequence_replay import SequenceReplay
from tidyrl.envs.make import Step

BOX = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)


def step(value: float, *, terminated=False, truncated=False, reset_value=None) -> Step:
    """A one-env step whose successor observation is [value] (then [reset_value] on reset)."""
    next_obs = np.array([[value]], np.float32)
    obs = next_obs if reset_value is None else np.array([[reset_value]], np.float32)
    return Step(
        obs, next_obs, np.array([value], np.float32), np.array([terminated]), np.array([truncated])
    )


def test_rows_follow_episodes_with_first_and_terminal_flags():
    replay = SequenceReplay(100, BOX, action_dim=1)
    replay.start(np.array([[0.0]], np.float32))
    a = np.ones((1, 1), np.float32)
    replay.add(a, step(1.0))
    replay.add(a, step(2.0, terminated=True, reset_value=10.0))
    replay.add(a, step(11.0, truncated=True, reset_value=20.0))
    replay.add(a, step(21.0))
    batch = replay.sample(1, 7, np.random.default_rng(0))
    assert batch.obs.shape == (1, 7, 1)
    np.testing.assert_array_equal(batch.obs[0, :, 0], [0, 1, 2, 10, 11, 20, 21])
    np.testing.assert_array_equal(batch.is_first[0], [1, 0, 0, 1, 0, 1, 0])
    # the terminated step's row is terminal; the truncated one's is not (its state goes on)
    np.testing.assert_array_equal(batch.is_terminal[0], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(batch.rewards[0], [0, 1, 2, 0, 11, 0, 21])
    np.testing.assert_array_equal(batch.actions[0, :, 0], [0, 1, 1, 0, 1, 0, 1])


def test_chunks_are_consecutive_after_the_ring_wraps():
    replay = SequenceReplay(10, BOX, action_dim=1)
    replay.start(np.array([[0.0]], np.float32))
    for t in range(1, 26):
        replay.add(np.zeros((1, 1), np.float32), step(float(t)))
    assert len(replay) == 10  # rows 16 .. 25 are left
    batch = replay.sample(200, 4, np.random.default_rng(0))
    obs = batch.obs[..., 0].numpy()
    np.testing.assert_array_equal(np.diff(obs, axis=1), 1.0)  # never across the write position
    assert obs.min() == 16 and obs.max() == 25


def test_each_env_copy_has_its_own_stream():
    replay = SequenceReplay(20, BOX, action_dim=1, n_envs=2)
    replay.start(np.array([[0.0], [100.0]], np.float32))
    for t in range(1, 6):
        obs = np.array([[t], [100 + t]], np.float32)
        s = Step(obs, obs, np.zeros(2, np.float32), np.zeros(2, bool), np.zeros(2, bool))
        replay.add(np.zeros((2, 1), np.float32), s)
    batch = replay.sample(50, 6, np.random.default_rng(1))
    starts = set(batch.obs[:, 0, 0].tolist())
    assert starts == {0.0, 100.0}
    np.testing.assert_array_equal(np.diff(batch.obs[..., 0].numpy(), axis=1), 1.0)


def test_pixels_stay_uint8_and_are_stored_once():
    space = gym.spaces.Box(0, 255, (3, 64, 64), np.uint8)
    replay = SequenceReplay(1000, space, action_dim=2)
    assert replay.streams[0].columns["obs"].dtype == np.uint8
    # one frame per row, plus 2 action floats, a reward and two flags
    assert replay.nbytes == 1000 * (3 * 64 * 64 + 2 * 4 + 3 * 4)


def test_state_round_trip():
    replay = SequenceReplay(10, BOX, action_dim=1)
    replay.start(np.array([[0.0]], np.float32))
    for t in range(1, 14):
        replay.add(np.zeros((1, 1), np.float32), step(float(t)))
    copy = SequenceReplay(10, BOX, action_dim=1)
    copy.load_state_arrays(replay.state_arrays())
    a = replay.sample(5, 3, np.random.default_rng(2))
    b = copy.sample(5, 3, np.random.default_rng(2))
    np.testing.assert_array_equal(a.obs, b.obs)
    assert copy.started


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="Linux only")
def test_memory_stays_flat_once_full():
    """Adding and sampling after the rings are full allocates nothing that stays: RSS after
    three more capacities of pixel rows is within a few MB of RSS when first full."""
    space = gym.spaces.Box(0, 255, (3, 64, 64), np.uint8)
    capacity = 2000  # 24.6 MB of frames
    replay = SequenceReplay(capacity, space, action_dim=1)
    frame = np.zeros((1, 3, 64, 64), np.uint8)
    rng = np.random.default_rng(0)
    s = Step(frame, frame, np.zeros(1, np.float32), np.zeros(1, bool), np.zeros(1, bool))
    replay.start(frame)

    def fill(n: int) -> None:
        for t in range(n):
            frame[:] = t % 255  # touch every page of the row written
            replay.add(np.zeros((1, 1), np.float32), s)
            if t % 100 == 99:
                replay.sample(16, 16, rng)

    fill(capacity)
    full = rss_bytes()
    fill(3 * capacity)
    assert rss_bytes() - full < 8 * 2**20


def stored(capacity=12, seq_len=4, period=2):
    """A replay of prioritized stored sequences with a stored state per row."""
    return SequenceReplay(
        capacity, BOX, action_dim=1, state_shape=(2,), seq_len=seq_len, period=period
    )


def test_stored_state_rides_with_each_row_and_is_zero_at_episode_starts():
    replay = stored()
    replay.start(np.array([[0.0]], np.float32))
    a = np.zeros((1, 1), np.float32)
    replay.add(a, step(1.0), states=np.array([[1.0, -1.0]]))
    replay.add(a, step(2.0, terminated=True, reset_value=10.0), states=np.array([[2.0, -2.0]]))
    replay.add(a, step(11.0), states=np.array([[3.0, -3.0]]))
    # rows 0, 1, 2, 10, 11: sequences start at rows 0 and 2
    column = replay.streams[0].columns["state"][:5]
    np.testing.assert_array_equal(column[:, 0], [0, 1, 2, 0, 3])  # row 10 starts an episode
    batch = replay.sample_sequences(8, np.random.default_rng(0))
    assert batch.states is not None and batch.index is not None
    for b in range(8):  # each sequence's state is its first row's
        first = int(batch.obs[b, 0, 0])
        np.testing.assert_array_equal(batch.states[b, 0].numpy(), {0: 0, 2: 2}[first])


def test_sequences_become_sampleable_when_complete_and_leave_when_overwritten():
    replay = stored(capacity=12, seq_len=4, period=2)
    replay.start(np.array([[0.0]], np.float32))
    a = np.zeros((1, 1), np.float32)
    assert not replay.can_sample_sequences()
    for t in range(1, 3):
        replay.add(a, step(float(t)))
    assert not replay.can_sample_sequences()  # 3 rows: no sequence of 4 yet
    replay.add(a, step(3.0))
    assert replay.can_sample_sequences()
    for t in range(4, 30):
        replay.add(a, step(float(t)))
        batch = replay.sample_sequences(64, np.random.default_rng(t))
        obs = batch.obs[..., 0].numpy()
        # rows in write order, never across the write position, all still stored
        np.testing.assert_array_equal(np.diff(obs, axis=1), 1.0)
        assert obs.min() >= max(0, t - 11) and obs.max() <= t
        assert (obs[:, 0] % 2 == 0).all()  # sequences start every `period` rows
    # rows 18 .. 29 are stored: the whole sequences start at 18, 20, 22, 24, 26
    tree = replay.sampler.tree
    assert np.count_nonzero(tree[np.arange(6)]) == 5


def test_sequence_priorities_steer_sampling_and_survive_a_round_trip():
    replay = stored(capacity=40, seq_len=4, period=4)
    replay.start(np.array([[0.0]], np.float32))
    for t in range(1, 40):
        replay.add(np.zeros((1, 1), np.float32), step(float(t)))
    replay.update_priorities(np.arange(10), np.where(np.arange(10) == 3, 10.0, 1e-3))
    batch = replay.sample_sequences(100, np.random.default_rng(0))
    assert (batch.obs[:, 0, 0] == 12.0).float().mean() > 0.9  # sequence 3 starts at row 12
    copy = stored(capacity=40, seq_len=4, period=4)
    copy.load_state_arrays(replay.state_arrays())
    again = copy.sample_sequences(100, np.random.default_rng(0))
    np.testing.assert_array_equal(again.obs, batch.obs)
    np.testing.assert_array_equal(again.index, batch.index)
