import pytest
import torch
from torch import nn

from tidyrl.nets import mlp
from tidyrl.nets.mlp import orthogonal_init, uniform_init, xavier_init


def test_mlp_shapes_and_layers():
    net = mlp(4, [8, 6], 2, activation="tanh", output_activation="tanh")
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]
    out = net(torch.zeros(5, 4))
    assert out.shape == (5, 2) and out.abs().max() <= 1


def test_mlp_init_hooks_apply_to_hidden_and_output_layers():
    torch.manual_seed(0)
    net = mlp(3, [16], 1, init=xavier_init, output_init=uniform_init(0.003))
    assert net[0].bias.abs().max() == 0
    assert net[2].weight.abs().max() <= 0.003 and net[2].bias.abs().max() <= 0.003
    ortho = mlp(16, [16], 16, init=orthogonal_init(1.0))
    w = ortho[0].weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(16), atol=1e-5)


def test_unknown_activation_names_choices():
    with pytest.raises(ValueError, match="relu"):
        mlp(1, [1], 1, activation="swish2")
