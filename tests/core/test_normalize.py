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
