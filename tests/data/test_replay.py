import dataclasses
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch

from tidyrl.data.replay import Replay
from tidyrl.data.samplers import PrioritizedSampler
from tidyrl.envs.make import Step


def step(i: int, n_envs: int = 1, terminated: bool = False, truncated: bool = False) -> Step:
    """One vector step whose reward and next observation are i (env e gets i + 100 e)."""
    offsets = 100.0 * np.arange(n_envs, dtype=np.float32)
    values = float(i + 1) + offsets
    return Step(
        obs=np.repeat(values[:, None], 3, 1),
        next_obs=np.repeat(values[:, None], 3, 1),
        rewards=float(i) + offsets,
        terminated=np.full(n_envs, terminated),
        truncated=np.full(n_envs, truncated),
    )


def add(replay: Replay, i: int, **flags: bool) -> None:
    replay.add(np.full((1, 3), i, np.float32), np.array([i % 2]), step(i, **flags))


def test_replay_stores_rows_and_keeps_terminated_and_truncated_apart():
    replay = Replay(4, gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), gamma=0.9)
    for i in range(6):  # wraps: rows 4 and 5 overwrite 0 and 1
        add(replay, i, terminated=i == 2, truncated=i == 3)
    assert len(replay) == 4
    rows = replay.storage.columns
    assert rows["rewards"].tolist() == [4.0, 5.0, 2.0, 3.0]
    assert rows["next_obs"][:, 0].tolist() == [5.0, 6.0, 3.0, 4.0]
    assert rows["terminated"].tolist() == [False, False, True, False]
    assert rows["truncated"].tolist() == [False, False, False, True]
    batch = replay.sample(64, np.random.default_rng(0))
    assert set(batch.rewards.tolist()) <= {2.0, 3.0, 4.0, 5.0}
    # truncation still bootstraps; only termination masks the target
    for r, mask in zip(batch.rewards.tolist(), batch.bootstrap_mask.tolist(), strict=True):
        assert mask == (0.0 if r == 2.0 else 1.0)
    assert batch.discounts is not None
    np.testing.assert_allclose(batch.discounts.numpy(), 0.9)
    assert batch.weights is not None and batch.weights.tolist() == [1.0] * 64
    assert batch.index is not None and (rows["rewards"][batch.index] == batch.rewards.numpy()).all()
    assert batch.actions.dtype.is_floating_point is False


def test_replay_dtypes_follow_spaces():
    pixels = gym.spaces.Box(0, 255, (3, 8, 8), np.uint8)  # small: no frame store
    replay = Replay(10, pixels, gym.spaces.Box(-2, 2, (2,), np.float32))
    assert replay.frames is None
    assert replay.storage.columns["obs"].dtype == np.uint8
    assert replay.storage.columns["actions"].shape == (10, 2)
    assert replay.storage.columns["actions"].dtype == np.float32
    vectors = Replay(10, gym.spaces.Box(-1, 1, (4,), np.float64), gym.spaces.Discrete(3))
    assert vectors.storage.columns["obs"].dtype == np.float32
    assert vectors.storage.columns["actions"].dtype == np.int64


def test_n_step_rows_carry_their_discount_and_stop_at_episode_ends():
    replay = Replay(
        10, gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), gamma=0.5, n_step=2
    )
    add(replay, 0)
    assert len(replay) == 0  # the first 2-step row is not complete yet
    add(replay, 1)
    add(replay, 2, truncated=True)  # the episode ends: both pending rows are emitted
    rows = replay.storage.columns
    # R = r_0 + 0.5 r_1, gamma^2; then R = r_1 + 0.5 r_2 and R = r_2, both from the final obs
    assert rows["rewards"][:3].tolist() == [0.5, 2.0, 2.0]
    assert rows["discounts"][:3].tolist() == [0.25, 0.25, 0.5]
    assert rows["truncated"][:3].tolist() == [False, True, True]
    assert rows["next_obs"][:3, 0].tolist() == [2.0, 3.0, 3.0]


def test_prioritized_replay_samples_by_priority_and_weights_rows():
    replay = Replay(
        8, gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), prioritized=True
    )
    for i in range(4):
        add(replay, i)
    replay.update_priorities(np.arange(4), torch.tensor([0.0, 0.0, 0.0, 9.0]))
    batch = replay.sample(32, np.random.default_rng(0), beta=1.0)
    assert (batch.rewards == 3.0).float().mean() > 0.9
    assert batch.weights is not None and float(batch.weights.max()) <= 1.0 + 1e-6


def test_joint_replay_rows_hold_every_agents_transition_of_the_same_step():
    from tidyrl.config import EnvConfig
    from tidyrl.data.replay import JointReplay
    from tidyrl.envs.multiagent import MultiAgentVecEnv

    env = MultiAgentVecEnv(EnvConfig(id="tests.multiagent_envs:relay"), n_envs=2, seed=0)
    replay = JointReplay(100, env.observation_spaces, {"a": 1, "b": 1})
    obs = env.obs
    for t in range(4):
        actions = {a: np.full((2, 1), t, np.float32) for a in env.agents}
        step = env.step(actions)
        replay.add(obs, actions, step)
        obs = step.obs
    assert len(replay) == 8
    batch = replay.sample(64, np.random.default_rng(0))
    a, b = batch["a"], batch["b"]
    np.testing.assert_array_equal(a.index, b.index)
    # the step index t is in b's observation and in both agents' stored actions
    torch.testing.assert_close(b.obs[:, 0], b.actions[:, 0])
    # "a" acted in steps 0 and 1 only (weight 1; zero actions after), terminated at step 1;
    # "b" truncated at step 3
    acted = b.actions[:, 0] < 2
    torch.testing.assert_close(a.actions[:, 0], b.actions[:, 0] * acted)
    torch.testing.assert_close(a.weights, acted.float())
    assert torch.equal(a.terminated, b.actions[:, 0] == 1)
    assert torch.equal(b.truncated, b.actions[:, 0] == 3) and not b.terminated.any()
    torch.testing.assert_close(a.rewards, acted.float())
    torch.testing.assert_close(b.rewards, torch.full_like(b.rewards, 10.0))


def replay_state_round_trip(make: Callable[[], Replay], steps: Callable[[Replay, int], None]):
    """Fill a replay for 13 steps, copy its state into a fresh one, then add and sample the same
    things in both: rows, priorities and samples must stay identical."""
    original = make()
    for i in range(13):
        steps(original, i)
    copy = make()
    copy.load_state_arrays({k: np.array(v) for k, v in original.state_arrays().items()})
    for i in range(13, 20):  # pending n-step windows and the frame stacks carry over
        steps(original, i)
        steps(copy, i)
    for name, column in original.storage.columns.items():
        np.testing.assert_array_equal(copy.storage.columns[name], column, err_msg=name)
    a = original.sample(16, np.random.default_rng(3))
    b = copy.sample(16, np.random.default_rng(3))
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=field.name)


def test_prioritized_n_step_replay_state_round_trips():
    def make() -> Replay:
        space = gym.spaces.Box(-1, 1, (3,), np.float32)
        return Replay(8, space, gym.spaces.Discrete(2), gamma=0.9, n_step=3, prioritized=True)

    def steps(replay: Replay, i: int) -> None:
        add(replay, i, terminated=i % 7 == 6)
        if len(replay):  # one row's priority per step: the earlier ones must carry over
            replay.update_priorities(np.array([i % len(replay)]), torch.tensor([0.5 * i]))

    replay_state_round_trip(make, steps)
    probe = make()
    for i in range(5):
        steps(probe, i)
    assert set(probe.state_arrays()) >= {"sampler/sums", "accumulator/0/obs", "storage/cursor"}


@pytest.mark.parametrize("shape", [(3, 64, 64), (96, 96, 3)])
def test_rgb_frames_are_stored_once_each_and_whole(shape):
    """A channels-first RGB frame has the shape of a 3-frame stack: without `frame_stack` the
    replay keeps each observation once as a whole frame (a stack of one), not one colour plane
    per step. Every sampled (obs, next_obs) is one that was added, the truncated episode's final
    frame included (its successor row starts from the reset frame), and the frames take one
    image per step plus one per episode end (the store's slack), not two per row."""
    rgb = gym.spaces.Box(0, 255, shape, np.uint8)
    replay = Replay(10, rgb, gym.spaces.Box(-1, 1, (1,), np.float32))
    assert replay.frames is not None and replay.frames.frames.shape[1:] == shape
    rng = np.random.default_rng(0)
    obs, added = rng.integers(0, 256, (1, *shape), dtype=np.uint8), []
    for i in range(6):
        final = rng.integers(0, 256, (1, *shape), dtype=np.uint8)
        ended = np.array([i == 2])
        new = rng.integers(0, 256, (1, *shape), dtype=np.uint8) if ended[0] else final
        step = Step(new, final, np.zeros(1), np.zeros(1, bool), ended)
        replay.add(obs, np.zeros((1, 1), np.float32), step)
        added.append((obs[0], final[0]))
        obs = new
    assert replay.frames.written == 6 + 1 + 1  # the first, each step's successor, one reset
    batch = replay.sample(32, np.random.default_rng(1))
    assert set(batch.index.tolist()) == set(range(6))
    for row, index in enumerate(batch.index.tolist()):
        np.testing.assert_array_equal(batch.obs[row].numpy(), added[index][0])
        np.testing.assert_array_equal(batch.next_obs[row].numpy(), added[index][1])
    assert batch.truncated.numpy()[batch.index == 2].all()


def test_small_images_and_vectors_are_stored_as_they_are():
    """Under 36x36 (MiniGrid's 7x7x3 grid) and for vectors the rows hold the arrays."""
    for space in (gym.spaces.Box(0, 10, (7, 7, 3), np.uint8), gym.spaces.Box(-1, 1, (4,))):
        assert Replay(10, space, gym.spaces.Discrete(2)).frames is None


def test_frame_replay_state_round_trips():
    frames = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)

    def make() -> Replay:
        return Replay(6, frames, gym.spaces.Discrete(2), frame_stack=True)

    def stack(first: int, last: int) -> np.ndarray:
        """Frames filled with the ids first..last, the first repeated (reset padding)."""
        ids = [first] * (4 - (last - first + 1)) + list(range(max(first, last - 3), last + 1))
        return np.stack([np.full((36, 36), j, np.uint8) for j in ids])[None]

    def steps(replay: Replay, i: int) -> None:
        start = i - i % 5  # episodes of 5 steps: frame ids start..i, then reset frame i + 1
        obs, nxt, ended = stack(start, i), stack(start, i + 1), i % 5 == 4
        new = stack(i + 1, i + 1) if ended else nxt
        rewards, truncated = np.zeros(1, np.float32), np.zeros(1, bool)
        replay.add(obs, np.array([i % 2]), Step(new, nxt, rewards, np.array([ended]), truncated))

    replay_state_round_trip(make, steps)


def test_rows_built_elsewhere_are_stored_with_their_priorities():
    box, actions = gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2)
    replay = Replay(8, box, actions, prioritized=True, alpha=1.0)
    rows = {
        "obs": np.zeros((2, 3), np.float32),
        "actions": np.array([0, 1]),
        "rewards": np.array([1.0, 2.0], np.float32),
        "next_obs": np.ones((2, 3), np.float32),
        "terminated": np.array([False, True]),
        "truncated": np.array([True, False]),
        "discounts": np.array([0.9, 0.81], np.float32),
    }
    index = replay.add_rows(rows, np.array([0.5, 3.0]))
    assert index.tolist() == [0, 1] and len(replay) == 2
    sampler = replay.sampler
    assert isinstance(sampler, PrioritizedSampler)
    assert sampler.tree[index].tolist() == pytest.approx([0.5 + 1e-6, 3.0 + 1e-6])
    batch = replay.sample(64, np.random.default_rng(0), beta=1.0)
    assert (
        batch.truncated[batch.rewards == 1.0].all() and batch.terminated[batch.rewards == 2.0].all()
    )
    assert batch.discounts[batch.rewards == 2.0].eq(0.81).all()


def test_rgb_frame_replay_state_round_trips():
    def make() -> Replay:
        rgb = gym.spaces.Box(0, 255, (3, 36, 36), np.uint8)
        return Replay(6, rgb, gym.spaces.Discrete(2), gamma=0.9, n_step=2)

    def frame(i: int) -> np.ndarray:
        return np.full((1, 3, 36, 36), i, np.uint8)

    def steps(replay: Replay, i: int) -> None:
        ended = i % 5 == 4  # episodes of 5 steps; frame 100 + i is the reset after step i
        new = frame(100 + i) if ended else frame(i + 1)
        obs = frame(100 + i - 1) if i % 5 == 0 and i else frame(i)
        rewards, terminated = np.zeros(1, np.float32), np.array([ended])
        step = Step(new, frame(i + 1), rewards, terminated, np.zeros(1, bool))
        replay.add(obs, np.array([i % 2]), step)

    replay_state_round_trip(make, steps)
