"""Environment models (seed 000): shapes, identity at initialisation, fits of known systems."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from tidyrl.models.env_model import (
    VectorEnvModel,
    VisualEnvModel,
    action_features,
    env_model,
    frame_accuracy,
    model_loss,
    prediction_error,
)


def test_action_features_one_hot_and_box_scale():
    phi = action_features(torch.tensor([2, 0]), gym.spaces.Discrete(3))
    assert torch.equal(phi, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    box = gym.spaces.Box(-2.0, 2.0, (1,))
    phi = action_features(torch.tensor([[1.0], [-2.0]]), box)
    assert torch.allclose(phi, torch.tensor([[0.5], [-1.0]]))


def test_prediction_error_and_model_loss_by_hand():
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([[2.0, 0.0], [3.0, 4.0]])
    assert torch.equal(prediction_error(pred, target), torch.tensor([5.0, 25.0]))
    assert model_loss(pred, target).item() == pytest.approx(30.0 / 4)
    loss = model_loss(pred, target, torch.tensor([1.0, 1.0]), torch.tensor([0.0, 3.0]))
    assert loss.item() == pytest.approx(30.0 / 4 + 5.0 / 2)
    loss = model_loss(pred, target, torch.tensor([1.0, 1.0]), torch.tensor([0.0, 3.0]), 0.1)
    assert loss.item() == pytest.approx(30.0 / 4 + 0.1 * 5.0 / 2)


def test_frame_accuracy_by_hand():
    # two 1x2 frames of 2 channels: a pixel counts when both rounded channels match
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]], [[[0.0, 0.0]], [[1.0, 1.0]]]])
    pred = torch.tensor([[[[0.9, 0.2]], [[0.1, 0.4]]], [[[0.0, 0.6]], [[0.7, 0.8]]]])
    # frame 0: pixel 0 right, pixel 1 wrong (channel 1: 0.4 -> 0); frame 1: pixel 0 right,
    # pixel 1 wrong (channel 0: 0.6 -> 1)
    assert frame_accuracy(pred, target).item() == pytest.approx(0.5)
    assert frame_accuracy(target, target).item() == 1.0


def test_vector_model_shapes_and_identity_at_init():
    torch.manual_seed(0)
    model = VectorEnvModel(4, 2, (32, 16))
    s, a = torch.randn(5, 4), torch.randn(5, 2)
    next_s, r = model(s, a)
    assert next_s.shape == (5, 4) and r.shape == (5,)
    assert torch.equal(next_s, s)  # the zero-initialised state head: EM(s, a) = s


def test_vector_model_fits_a_linear_system():
    """s' = A s + B a, r = c . s: the residual model learns the change (A - I) s + B a."""
    torch.manual_seed(0)
    A = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.95]])
    B = torch.tensor([[0.5, -0.5], [0.0, 1.0], [-1.0, 0.0]])
    c = torch.tensor([1.0, -1.0, 0.5])
    model = VectorEnvModel(3, 2, (32, 32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    s_test, a_test = torch.randn(256, 3), torch.eye(2)[torch.randint(2, (256,))]
    before = prediction_error(model(s_test, a_test)[0], s_test @ A.T + a_test @ B.T).mean()
    for _ in range(300):
        s, a = torch.randn(128, 3), torch.eye(2)[torch.randint(2, (128,))]
        pred_s, pred_r = model(s, a)
        loss = model_loss(pred_s, s @ A.T + a @ B.T, pred_r, s @ c)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred_s, pred_r = model(s_test, a_test)
    after = prediction_error(pred_s, s_test @ A.T + a_test @ B.T).mean()
    assert after < 0.2 * before
    assert (pred_r - s_test @ c).abs().mean() < 0.2


def test_visual_model_shapes_and_identity_at_init():
    torch.manual_seed(0)
    model = VisualEnvModel((4, 12, 10), 3, frame_channels=1, channels=8)
    s, a = torch.rand(2, 4, 12, 10), torch.eye(3)[[0, 2]]
    next_s, r = model(s, a)
    assert next_s.shape == (2, 4, 12, 10) and r.shape == (2,)
    assert torch.equal(next_s[:, :3], s[:, 1:])  # the stack moves on by one frame
    assert torch.equal(next_s[:, 3], s[:, 3])  # the zero deconvolution: frame^ = newest frame
    assert isinstance(env_model((4, 12, 10), 3, channels=8), VisualEnvModel)
    assert isinstance(env_model((6,), 3), VectorEnvModel)


def test_visual_model_fits_a_linear_frame_system():
    """Next frame = 0.5 * newest frame + 0.2 * (action index): the residual conv model fits it."""
    torch.manual_seed(0)
    model = VisualEnvModel((2, 8, 8), 2, frame_channels=1, channels=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def data(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = torch.rand(n, 2, 8, 8)
        idx = torch.randint(2, (n,))
        frame = 0.5 * s[:, 1:] + 0.2 * idx.float()[:, None, None, None]
        return s, torch.eye(2)[idx], torch.cat([s[:, 1:], frame], dim=1)

    s_test, a_test, target_test = data(128)
    before = prediction_error(model(s_test, a_test)[0], target_test).mean()
    for _ in range(300):
        s, a, target = data(32)
        loss = model_loss(model(s, a)[0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = prediction_error(model(s_test, a_test)[0], target_test).mean()
    assert after < 0.2 * before
