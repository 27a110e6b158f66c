"""Pixel encoders: Nature CNN and MinAtar CNN shapes and scaling."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from tidyrl.nets.cnn import MinAtarCNN, NatureCNN, pixel_encoder
from tidyrl.nets.heads import QNetwork


def test_nature_cnn_shape_and_scaling():
    cnn = NatureCNN(4)
    assert cnn.out_dim == 3136
    x = torch.full((2, 4, 84, 84), 255, dtype=torch.uint8)
    out = cnn(x)
    assert out.shape == (2, 3136)
    torch.testing.assert_close(out, cnn.net(torch.ones(2, 4, 84, 84)))  # uint8 / 255


def test_minatar_cnn_and_selection():
    space = gym.spaces.Box(0, 1, (4, 10, 10), np.uint8)
    enc = pixel_encoder(space)
    assert isinstance(enc, MinAtarCNN) and enc.out_dim == 1024
    assert enc(torch.ones(3, 4, 10, 10, dtype=torch.uint8)).shape == (3, 1024)
    assert isinstance(pixel_encoder(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)), NatureCNN)


def test_nature_q_network_parameter_count():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    net = QNetwork(space, 6, (512,))
    assert net(torch.zeros(1, 4, 84, 84, dtype=torch.uint8)).shape == (1, 6)
    # conv 4->32 8x8, 32->64 4x4, 64->64 3x3, fc 3136->512, out 512->6 (weights + biases)
    expected = (4 * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64)
    expected += (3136 * 512 + 512) + (512 * 6 + 6)
    assert sum(p.numel() for p in net.parameters()) == expected == 1_687_206


def test_channels_last_images_are_transposed_before_the_convolutions():
    """CarRacing's (96, 96, 3) frame is 3 channels of 96x96, not 96 channels of 96x3; MiniGrid's
    (7, 7, 3) grid likewise. The encoder of the channels-last space computes what the
    channels-first encoder computes on the transposed images, with the same weights."""
    from tidyrl.nets.cnn import ChannelsLast

    torch.manual_seed(0)
    for (h, w, c), inner in (((96, 96, 3), NatureCNN), ((7, 7, 3), MinAtarCNN)):
        hwc = pixel_encoder(gym.spaces.Box(0, 255, (h, w, c), np.uint8))
        chw = pixel_encoder(gym.spaces.Box(0, 255, (c, h, w), np.uint8))
        assert isinstance(hwc, ChannelsLast) and isinstance(hwc.inner, inner)
        assert isinstance(chw, inner) and hwc.out_dim == chw.out_dim
        assert hwc.inner.net[0].in_channels == c  # type: ignore[index]
        chw.load_state_dict(hwc.inner.state_dict())
        images = torch.randint(0, 256, (2, h, w, c), dtype=torch.uint8)
        torch.testing.assert_close(hwc(images), chw(images.permute(0, 3, 1, 2)))
    q = QNetwork(gym.spaces.Box(0, 255, (96, 96, 3), np.uint8), 5, (32,))
    assert q(torch.zeros(4, 96, 96, 3, dtype=torch.uint8)).shape == (4, 5)
