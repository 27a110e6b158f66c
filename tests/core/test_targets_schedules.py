import pytest
import torch
from torch import nn

from tidyrl.core.schedules import linear_schedule, remaining_fraction
from tidyrl.core.targets import hard_update, polyak_update


def test_polyak_by_hand():
    online, target = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        online.weight.fill_(1.0)
        online.bias.fill_(2.0)
        target.weight.fill_(0.0)
        target.bias.fill_(-2.0)
    polyak_update(online, target, tau=0.25)
    assert target.weight.item() == pytest.approx(0.25)  # 0.25*1 + 0.75*0
    assert target.bias.item() == pytest.approx(-1.0)  # 0.25*2 + 0.75*(-2)
    assert online.weight.item() == 1.0
    hard_update(online, target)
    assert target.bias.item() == 2.0
    with pytest.raises(ValueError, match="tau"):
        polyak_update(online, target, tau=1.5)


def test_linear_schedule():
    assert linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 500) == pytest.approx(0.1)
    assert linear_schedule(0.4, 1.0, 0, 3) == 1.0


def test_remaining_fraction():
    assert remaining_fraction(0, 200) == 1.0
    assert remaining_fraction(50, 200) == pytest.approx(0.75)
    assert remaining_fraction(250, 200) == 0.0  # past the target: never negative
    assert remaining_fraction(0, 0) == 1.0  # an empty run divides by nothing


def test_hard_update_copies_parameters_and_buffers():
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    online.train()
    online(torch.randn(8, 3))  # moves the running statistics (buffers)
    hard_update(online, target)
    for a, b in zip(online.state_dict().values(), target.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="different"):
        hard_update(online, nn.Linear(3, 4))


def test_target_updates_track_in_place_changes_and_new_pairings():
    # the parameter lists are cached per (online, target) pair: later in-place changes (optimizer
    # steps, load_state_dict) must still be copied, and a new online module must be re-paired
    online, target, other = nn.Linear(3, 2), nn.Linear(3, 2), nn.Linear(3, 2)
    hard_update(online, target)
    with torch.no_grad():
        online.weight.add_(1.0)
    online.load_state_dict({"weight": online.weight + 1.0, "bias": online.bias})
    hard_update(online, target)
    assert torch.equal(target.weight, online.weight)
    polyak_update(other, target, tau=1.0)
    assert torch.equal(target.weight, other.weight)
    polyak_update(online, target, tau=0.5)
    assert torch.allclose(target.weight, 0.5 * (online.weight + other.weight))
