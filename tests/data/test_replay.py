import gymnasium as gym
import numpy as np

from tidyrl.data.replay import ReplayBuffer


def test_replay_stores_rows_and_keeps_terminated_and_truncated_apart():
    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    buffer = ReplayBuffer(4, obs_space, gym.spaces.Discrete(2))
    for i in range(6):  # wraps: rows 4 and 5 overwrite 0 and 1
        buffer.add(
            obs=np.full((1, 3), i, np.float32),
            actions=np.array([i % 2]),
            rewards=np.array([float(i)]),
            next_obs=np.full((1, 3), i + 1, np.float32),
            terminated=np.array([i == 2]),
            truncated=np.array([i == 3]),
        )
    assert len(buffer) == 4
    batch = buffer.batch(np.array([0, 1, 2, 3]))
    assert batch.rewards.tolist() == [4.0, 5.0, 2.0, 3.0]
    assert batch.next_obs[:, 0].tolist() == [5.0, 6.0, 3.0, 4.0]
    assert batch.terminated.tolist() == [False, False, True, False]
    assert batch.truncated.tolist() == [False, False, False, True]
    # truncation still bootstraps; only termination masks the target
    assert batch.bootstrap_mask.tolist() == [1.0, 1.0, 0.0, 1.0]
    assert batch.actions.dtype.is_floating_point is False
    sample = buffer.sample(64, np.random.default_rng(0))
    assert set(sample.rewards.tolist()) <= {2.0, 3.0, 4.0, 5.0}


def test_replay_dtypes_follow_spaces():
    pixels = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    buffer = ReplayBuffer(10, pixels, gym.spaces.Box(-2, 2, (2,), np.float32))
    assert buffer.storage.columns["obs"].dtype == np.uint8
    assert buffer.storage.columns["actions"].shape == (10, 2)


def test_replay_sample_slicing_slices_every_field():
    import dataclasses

    import numpy as np
    import torch

    from tidyrl.loops.off_policy import ReplaySample

    n = 5
    sample = ReplaySample(
        **{
            f.name: (np.arange(n) + i if f.name == "index" else torch.arange(n) * 10 + i)
            for i, f in enumerate(dataclasses.fields(ReplaySample))
        }
    )
    part = sample[1:3]
    for f in dataclasses.fields(ReplaySample):
        got, full = getattr(part, f.name), getattr(sample, f.name)
        assert list(got) == list(full[1:3]), f.name
