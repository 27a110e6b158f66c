import numpy as np
import pytest
import torch

from tidyrl.data import RingStorage, Transition


def make_storage(capacity: int = 5) -> RingStorage:
    return RingStorage(capacity, {"obs": ((2,), np.float32), "actions": ((), np.int64)})


def test_ring_wraps_around_and_overwrites_oldest():
    s = make_storage(5)
    idx = s.add(obs=np.arange(6, dtype=np.float32).reshape(3, 2), actions=np.array([0, 1, 2]))
    assert idx.tolist() == [0, 1, 2] and len(s) == 3 and s.cursor == 3
    idx = s.add(obs=np.full((4, 2), 9.0, dtype=np.float32), actions=np.array([3, 4, 5, 6]))
    assert idx.tolist() == [3, 4, 0, 1]
    assert len(s) == 5 and s.cursor == 2
    # rows 0 and 1 were overwritten by actions 5 and 6; row 2 still holds action 2
    assert s.columns["actions"].tolist() == [5, 6, 2, 3, 4]
    assert s.get(np.array([2]))["obs"].tolist() == [[4.0, 5.0]]


def test_add_checks_fields_and_capacity():
    s = make_storage(2)
    with pytest.raises(KeyError, match="missing fields"):
        s.add(obs=np.zeros((1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="capacity"):
        s.add(obs=np.zeros((3, 2), dtype=np.float32), actions=np.zeros(3, dtype=np.int64))


def test_uniform_sampling_only_touches_written_rows():
    s = make_storage(100)
    s.add(obs=np.zeros((10, 2), dtype=np.float32), actions=np.arange(10))
    idx = s.sample_uniform(10_000, np.random.default_rng(0))
    assert idx.min() == 0 and idx.max() == 9
    counts = np.bincount(idx, minlength=10)
    assert counts.min() > 850 and counts.max() < 1150  # ~1000 each, 5 sigma band
    with pytest.raises(ValueError):
        make_storage().sample_uniform(1, np.random.default_rng(0))


def test_nbytes_counts_every_column():
    s = make_storage(4)
    assert s.nbytes == 4 * 2 * 4 + 4 * 8


def test_transition_bootstrap_mask_ignores_truncation():
    t = Transition(
        obs=torch.zeros(3, 1),
        actions=torch.zeros(3),
        rewards=torch.ones(3),
        next_obs=torch.zeros(3, 1),
        terminated=torch.tensor([True, False, False]),
        truncated=torch.tensor([False, True, False]),
    )
    # a truncated step still bootstraps; only termination cuts the future value
    assert t.bootstrap_mask.tolist() == [0.0, 1.0, 1.0]
    assert len(t) == 3 and t.to("cpu").rewards.tolist() == [1.0, 1.0, 1.0]
