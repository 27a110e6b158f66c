"""tidyrl.nets.inference.fast_policy: the NumPy forward equals the torch forward for every head,
follows in-place parameter writes, rebuilds when a parameter moves, and falls back to torch
(eval mode, restored) for what it cannot run."""

from __future__ import annotations

import copy
import weakref

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from tidyrl.core.squashed import squashed_gaussian_action
from tidyrl.nets.critics import batchnorm_mlp
from tidyrl.nets.heads import QNetwork
from tidyrl.nets.inference import FastPolicy, fast_policy
from tidyrl.nets.mlp import mlp
from tidyrl.nets.noisy import set_noise

VEC = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)


def _obs(rows: int, seed: int = 0, dim: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)


def _torch_forward(net: nn.Module, obs: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = net(torch.from_numpy(obs))
    return out


def _noise_off(net: nn.Module) -> nn.Module:
    set_noise(net, False)
    return net


NUMPY_NETS = {
    "mlp-relu": lambda: mlp(5, (32, 16), 3),
    "mlp-tanh-hidden": lambda: mlp(5, (16,), 2, activation="tanh"),
    "deterministic-tanh-actor": lambda: mlp(5, (32, 32), 2, "relu", "tanh"),
    "q": lambda: QNetwork(VEC, 4, (32, 16)),
    "q-one-layer": lambda: QNetwork(VEC, 4, (16,)),
    "dueling": lambda: QNetwork(VEC, 4, (32, 16), dueling=True),
    "noisy-off": lambda: _noise_off(QNetwork(VEC, 4, (32, 16), noisy=True)),
    "categorical": lambda: QNetwork(VEC, 4, (32, 16), n_atoms=7),
    "rainbow-noise-off": lambda: _noise_off(
        QNetwork(VEC, 4, (32, 16), dueling=True, noisy=True, n_atoms=7)
    ),
}


@pytest.mark.parametrize("name", NUMPY_NETS)
@pytest.mark.parametrize("rows", [1, 9])
def test_numpy_forward_equals_the_torch_forward(name, rows):
    torch.manual_seed(0)
    net = NUMPY_NETS[name]()
    with torch.no_grad():  # non-zero biases, so a dropped bias would show
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    fast = fast_policy(net)
    assert fast.uses_numpy
    obs = _obs(rows, seed=rows)
    out = fast(obs)
    expected = _torch_forward(net, obs)
    assert isinstance(out, torch.Tensor) and not out.requires_grad
    assert out.shape == expected.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast(torch.from_numpy(obs)), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast(obs.astype(np.float64)), expected, rtol=1e-5, atol=1e-5)


def test_squashed_gaussian_actor_acts_as_the_torch_path_with_the_same_noise():
    """SAC's actor outputs (mean, log std); the action is tanh(mean + std * eps) with eps from
    torch's generator: the fast forward must give the same actions for the same seed."""
    torch.manual_seed(0)
    actor = mlp(5, (32, 32), 2 * 3)
    obs = _obs(6)
    fast = fast_policy(actor)
    assert fast.uses_numpy
    for deterministic in (False, True):
        torch.manual_seed(11)
        mean, log_std = fast(obs).chunk(2, -1)
        actions = squashed_gaussian_action(mean, log_std, deterministic)
        torch.manual_seed(11)
        mean_ref, log_std_ref = _torch_forward(actor, obs).chunk(2, -1)
        expected = squashed_gaussian_action(mean_ref, log_std_ref, deterministic)
        torch.testing.assert_close(actions, expected, rtol=1e-5, atol=1e-5)
    assert not torch.equal(
        squashed_gaussian_action(mean, log_std), squashed_gaussian_action(mean, log_std)
    )  # the stochastic path does draw noise


def test_noise_on_falls_back_to_the_noisy_torch_forward():
    torch.manual_seed(0)
    net = QNetwork(VEC, 4, (16,), dueling=True, noisy=True, n_atoms=3)
    fast = fast_policy(net)
    obs = _obs(4)
    assert not fast.uses_numpy  # noise on: the mean weights would be the wrong network
    torch.testing.assert_close(fast(obs), _torch_forward(net, obs))
    set_noise(net, False)
    assert fast.uses_numpy
    mean_out = fast(obs)
    torch.testing.assert_close(mean_out, _torch_forward(net, obs), rtol=1e-5, atol=1e-5)
    set_noise(net, True)
    assert not torch.allclose(fast(obs), mean_out)


def test_batch_norm_actor_acts_in_eval_mode_and_keeps_training_mode():
    torch.manual_seed(0)
    actor = batchnorm_mlp(5, (16, 16), 2, "relu", "tanh")
    actor.train()
    for _ in range(3):  # running statistics away from their initial values
        actor(torch.randn(32, 5) * 3 + 1)
    stats = copy.deepcopy(actor.state_dict())
    fast = fast_policy(actor)
    assert not fast.uses_numpy
    obs = _obs(1)  # one row: batch statistics would be meaningless (and raise)
    out = fast(obs)
    assert actor.training and all(m.training for m in actor.modules())
    for key, value in actor.state_dict().items():
        assert torch.equal(value, stats[key]), key  # eval forward: running stats untouched
    actor.eval()
    torch.testing.assert_close(out, _torch_forward(actor, obs))


def test_pixel_q_network_falls_back_with_uint8_frames():
    torch.manual_seed(0)
    space = gym.spaces.Box(0, 1, (4, 10, 10), np.uint8)
    net = QNetwork(space, 3, (32,), dueling=True)
    fast = fast_policy(net)
    assert not fast.uses_numpy
    frames = np.random.default_rng(0).integers(0, 2, (2, 4, 10, 10), dtype=np.uint8)
    out = fast(frames)
    torch.testing.assert_close(out, _torch_forward(net, frames))
    assert not out.requires_grad


def test_other_layers_fall_back_to_torch():
    torch.manual_seed(0)
    for net in (
        nn.Sequential(nn.Linear(5, 4), nn.ELU(), nn.Linear(4, 2)),
        nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4)),
        mlp(5, (8,), 2).double(),
    ):
        fast = fast_policy(net)
        assert not fast.uses_numpy
        obs = _obs(3)
        dtype = next(net.parameters()).dtype  # the input is cast to the network's dtype
        expected = _torch_forward(net, obs.astype(np.float64) if dtype == torch.float64 else obs)
        torch.testing.assert_close(fast(obs), expected)


def test_an_optimizer_step_and_target_copies_are_seen_without_a_rebuild(monkeypatch):
    builds = []
    build = FastPolicy._build
    monkeypatch.setattr(
        FastPolicy, "_build", lambda self, net: (builds.append(1), build(self, net))
    )
    torch.manual_seed(0)
    net = QNetwork(VEC, 4, (32, 16), dueling=True)
    other = QNetwork(VEC, 4, (32, 16), dueling=True)
    fast = fast_policy(net)
    assert len(builds) == 1 and fast_policy(net) is fast  # cached per network
    obs = _obs(5)
    before = fast(obs)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.from_numpy(obs)).pow(2).sum().backward()
    optimizer.step()
    after = fast(obs)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, _torch_forward(net, obs), rtol=1e-5, atol=1e-5)
    net.load_state_dict(other.state_dict())  # a hard target copy writes in place
    torch.testing.assert_close(fast(obs), _torch_forward(other, obs), rtol=1e-5, atol=1e-5)
    assert len(builds) == 1


def test_a_moved_or_replaced_parameter_rebuilds():
    torch.manual_seed(0)
    net = mlp(5, (16,), 3)
    fast = fast_policy(net)
    obs = _obs(4)
    assert fast.uses_numpy
    net.to(torch.float64)  # new storage: another dtype runs through torch
    assert not fast.uses_numpy
    out = fast(obs)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, _torch_forward(net, obs.astype(np.float64)))
    net.to(torch.float32)  # back to float32, in new storage: the NumPy views are made again
    assert fast.uses_numpy
    torch.testing.assert_close(fast(obs), _torch_forward(net, obs), rtol=1e-5, atol=1e-5)
    net[0].weight = nn.Parameter(torch.randn(16, 5))  # a new parameter object
    torch.testing.assert_close(fast(obs), _torch_forward(net, obs), rtol=1e-5, atol=1e-5)
    fresh = {k: torch.randn_like(v) for k, v in net.state_dict().items()}
    net.load_state_dict(fresh, assign=True)
    torch.testing.assert_close(fast(obs), _torch_forward(net, obs), rtol=1e-5, atol=1e-5)


def test_the_cache_keeps_no_network_alive():
    net = mlp(5, (8,), 2)
    fast_policy(net)
    ref = weakref.ref(net)
    del net
    assert ref() is None
    orphan = fast_policy(mlp(5, (8,), 2))  # the network dies with the expression
    with pytest.raises(ReferenceError, match="keep a reference"):
        orphan(_obs(1))
