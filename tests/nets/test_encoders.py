"""The combined encoder of Dict observations: each key's branch and the concatenation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from tidyrl.nets.encoders import (
    CombinedEncoder,
    ImageBranch,
    OneHotBranch,
    VectorBranch,
    image_layout,
)


def test_one_hot_of_discrete_and_multi_discrete_keys_by_hand():
    d = OneHotBranch(gym.spaces.Discrete(3, start=1))
    assert d(torch.tensor([1, 3])).tolist() == [[1, 0, 0], [0, 0, 1]]
    md = OneHotBranch(gym.spaces.MultiDiscrete([2, 3]))
    assert md(torch.tensor([[1, 0], [0, 2]])).tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 1]]


def test_image_keys_are_scaled_and_channels_last_images_transposed():
    hwc = gym.spaces.Box(0, 255, (7, 7, 3), np.uint8)  # MiniGrid's view
    chw = gym.spaces.Box(0, 255, (3, 7, 7), np.uint8)
    assert image_layout(hwc) == "hwc" and image_layout(chw) == "chw"
    assert image_layout(gym.spaces.Box(0, 1, (2, 3), np.float32)) is None
    a, b = ImageBranch(hwc), ImageBranch(chw)
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 256, (2, 3, 7, 7), dtype=torch.uint8)
    torch.testing.assert_close(a(x.permute(0, 2, 3, 1)), b(x))
    # the conv stack sees x / 255
    manual = b.net(x.float() / 255.0)
    torch.testing.assert_close(b(x), manual)
    # a uint8 image with a tighter declared bound (MiniGrid's symbolic grid: 10) is scaled by it
    symbolic = ImageBranch(gym.spaces.Box(0, 10, (3, 7, 7), np.uint8))
    symbolic.load_state_dict(b.state_dict())
    small = torch.randint(0, 11, (2, 3, 7, 7), dtype=torch.uint8)
    torch.testing.assert_close(symbolic(small), b.net(small.float() / 10.0))


def test_minigrid_image_is_declared_with_its_symbolic_bound():
    pytest.importorskip("minigrid")
    from tidyrl.envs.spaces import agent_space

    env = gym.make("MiniGrid-Empty-5x5-v0")
    space = agent_space(env.observation_space, "MiniGrid-Empty-5x5-v0")
    assert float(env.observation_space["image"].high.max()) == 255.0
    assert space["image"].high.max() == 10 and space["image"].dtype == np.uint8
    assert "mission" not in space.spaces
    obs, _ = env.reset(seed=0)
    assert space["image"].contains(obs["image"])
    env.close()
    # other environments' images keep their declared bound
    other = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (7, 7, 3), np.uint8)})
    assert agent_space(other, "tidyspace/DictObs-v0").high.max() == 255  # one part: its Box


def test_combined_encoder_concatenates_its_branches_in_key_order():
    space = gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (6, 6, 1), np.uint8),
            "vector": gym.spaces.Box(-1, 1, (2,), np.float32),
            "which": gym.spaces.Discrete(3),
        }
    )
    enc = CombinedEncoder(space)
    assert isinstance(enc.branches["vector"], VectorBranch)
    obs = {k: torch.as_tensor(np.stack([s.sample() for _ in range(4)])) for k, s in space.items()}
    out = enc(obs)
    widths = [b.out_dim for b in enc.branches.values()]
    assert out.shape == (4, sum(widths)) == (4, enc.out_dim)
    torch.testing.assert_close(out[:, -3:], torch.nn.functional.one_hot(obs["which"], 3).float())
