"""Running mean/std normalization: exact statistics, checkpointable state, reward scaling."""

from __future__ import annotations

import numpy as np
import torch

from tidyrl.core.normalize import RewardScaler, RunningMeanStd


def test_running_statistics_match_numpy_over_batches():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(500, 3))
    rms = RunningMeanStd((3,), epsilon=0.0)
    for chunk in np.array_split(data, 7):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean.numpy(), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), data.var(0), rtol=1e-10)
    assert rms.count.item() == 500
    z = rms.normalize(torch.as_tensor(data, dtype=torch.float32))
    assert z.dtype == torch.float32
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-5)
    assert rms.normalize(torch.full((1, 3), 1e9)).max().item() == 10.0  # clipped


def test_absorbing_a_second_stream_equals_one_stream_of_both():
    """A3C's workers keep their segment's statistics apart and merge them into the shared
    ones: by hand, {1, 3} then {5} has mean 3 and variance ((-2)^2 + 0^2 + 2^2) / 3 = 8/3."""
    shared, segment = RunningMeanStd((1,), epsilon=0.0), RunningMeanStd((1,), epsilon=0.0)
    shared.update(np.array([[1.0], [3.0]]))
    segment.update(np.array([[5.0]]))
    shared.absorb(segment)
    torch.testing.assert_close(shared.mean, torch.tensor([3.0], dtype=torch.float64))
    torch.testing.assert_close(shared.var, torch.tensor([8 / 3], dtype=torch.float64))
    assert shared.count.item() == 3 and segment.count.item() == 1
    empty = RunningMeanStd((1,), epsilon=0.0)
    shared.absorb(empty)  # a segment that saw nothing changes nothing
    assert shared.mean.item() == 3.0 and shared.count.item() == 3


def test_state_round_trips_through_state_dict():
    a = RunningMeanStd((2,))
    a.update(np.array([[1.0, 2.0], [3.0, 5.0]]))
    b = RunningMeanStd((2,))
    b.load_state_dict(a.state_dict())
    assert set(a.state_dict()) == {"mean", "var", "count"}
    x = torch.tensor([[2.0, 2.0]])
    torch.testing.assert_close(a.normalize(x), b.normalize(x))


def test_reward_scaler_divides_by_return_std_and_resets_on_done():
    scaler = RewardScaler(n_envs=2, gamma=0.5)
    out = scaler(np.array([1.0, 1.0]), np.array([False, True]))
    assert out.dtype == np.float32
    assert scaler.returns.tolist() == [1.0, 0.0]  # env 1's episode ended
    scaler(np.array([1.0, 1.0]), np.array([False, False]))
    assert scaler.returns.tolist() == [1.5, 1.0]
    out = scaler(np.array([2.0, 2.0]), np.array([False, False]))
    # the statistics now include this step's returns [2.75, 2.5]: var of all six returns
    seen = np.array([1.0, 1.0, 1.5, 1.0, 2.75, 2.5])
    np.testing.assert_allclose(scaler.stats.var.item(), seen.var(), rtol=1e-3)
    np.testing.assert_allclose(out, 2.0 / np.sqrt(scaler.stats.var.item() + 1e-8), rtol=1e-6)
