"""World Models' V (tidyrl.models.vae): the ELBO's pieces by hand, shapes, and a fit."""

from __future__ import annotations

import math

import pytest
import torch

from tidyrl.models.vae import (
    MLPVAE,
    ConvVAE,
    gaussian_kl,
    reconstruction_error,
    reparameterize,
    vae_loss,
)


def test_reparameterize_by_hand():
    mu = torch.tensor([[1.0, -2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    eps = torch.tensor([[0.5, 1.5]])
    assert torch.allclose(reparameterize(mu, logvar, eps), torch.tensor([[1.5, 1.0]]))


def test_gaussian_kl_by_hand():
    # KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, 4) || N(0, 1)) = 1/2 (4 - 1 - ln 4)
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    expected = torch.tensor([0.5 + 0.5 * (3.0 - math.log(4.0)), 0.0])
    assert torch.allclose(gaussian_kl(mu, logvar), expected)


def test_vae_loss_by_hand_and_kl_tolerance():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    recon = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert torch.equal(reconstruction_error(recon, x), torch.tensor([1.0, 2.0]))
    mu = torch.tensor([[1.0], [0.0]])
    logvar = torch.zeros(2, 1)
    loss, rec, kl = vae_loss(recon, x, mu, logvar)
    assert loss.item() == pytest.approx((1.0 + 0.5 + 2.0 + 0.0) / 2)
    assert rec.item() == pytest.approx(1.5) and kl.item() == pytest.approx(0.25)
    # free nats: each row's KL counts as at least 1
    loss, _, _ = vae_loss(recon, x, mu, logvar, kl_tolerance=1.0)
    assert loss.item() == pytest.approx((1.0 + 1.0 + 2.0 + 1.0) / 2)


def test_conv_vae_shapes_follow_the_paper():
    torch.manual_seed(0)
    vae = ConvVAE(3, 32)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert vae.encoder(x).shape == (2, 1024)
        recon, mu, logvar = vae(x)
    assert recon.shape == x.shape and mu.shape == (2, 32) and logvar.shape == (2, 32)
    assert float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0


def test_mlp_vae_reconstructs_a_trivial_dataset():
    """Four points on a line: a 1-d code reconstructs them (the ELBO's recon term falls)."""
    torch.manual_seed(0)
    data = torch.tensor([[-1.5, 1.5], [-0.5, 0.5], [0.5, -0.5], [1.5, -1.5]])
    vae = MLPVAE(2, 1, (32,))
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    for _ in range(600):
        recon, mu, logvar = vae(data)
        loss, _, _ = vae_loss(recon, data, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mu, _ = vae.encode(data)
        error = reconstruction_error(vae.decode(mu), data).mean().item()
    assert error < 0.25  # 2.5 for reconstructing every point by the mean (the KL keeps some)
