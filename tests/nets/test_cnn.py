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
