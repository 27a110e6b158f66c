"""Variational autoencoders: World Models' V (Ha & Schmidhuber 2018, section 2.1 and appendix).

V compresses an observation x into a small code z. The encoder gives the parameters of a diagonal
Gaussian q(z | x) = N(mu, diag(exp(logvar))); a code is drawn with the reparameterisation trick
(Kingma & Welling 2014) so that gradients flow through mu and logvar:

    z      = mu + exp(logvar / 2) * eps,        eps ~ N(0, I)             (`reparameterize`)
    x^     = decoder(z)

The training loss is the negative ELBO with a Gaussian likelihood, the L2 reconstruction error
plus the KL divergence from the prior N(0, I), both summed over the dimensions of one sample and
averaged over the batch (`vae_loss`):

    recon  = sum_i (x_i - x^_i)^2                                         (`reconstruction_error`)
    kl     = 1/2 sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j)           (`gaussian_kl`)
    L      = mean_batch [recon + max(kl, kl_tolerance)]

`kl_tolerance` (0 by default: the plain ELBO) stops pushing the KL below a floor of free nats
(Kingma et al. 2016, "free bits"): a code that carries that much information costs nothing.

`ConvVAE` is the paper's network for 64x64 frames: four 4x4 stride-2 convolutions (32, 64, 128,
256 channels, ReLU) to 2x2x256 = 1024 features, linear maps to mu and logvar (z = 32), and a
decoder of a linear layer to 1024 units seen as a 1x1x1024 map and four stride-2 deconvolutions
(kernels 5, 5, 6, 6; 128, 64, 32 and C channels) back to 64x64, with a sigmoid on the pixels
(inputs are scaled to [0, 1]). `MLPVAE` is the same story for vector observations.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tidyrl.nets.mlp import mlp


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps, for standard normal noise `eps` of mu's shape."""
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) per row [B]: 1/2 sum (e^logvar + mu^2 - 1 - logvar)."""
    return 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum(dim=1)


def reconstruction_error(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_i (x_i - x^_i)^2 per row [B], over every non-batch dimension."""
    return (x - recon).square().reshape(len(x), -1).sum(dim=1)


def vae_loss(
    recon: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    kl_tolerance: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L, mean recon, mean kl): L = mean_batch [recon + max(kl, kl_tolerance)]."""
    recon_err = reconstruction_error(recon, x)
    kl = gaussian_kl(mu, logvar)
    loss = (recon_err + kl.clamp(min=kl_tolerance)).mean()
    return loss, recon_err.mean(), kl.mean()


class VAE(nn.Module):
    """Encoder to (mu, logvar), decoder from z; subclasses set `encoder`, the two heads and
    `decoder`."""

    z_dim: int
    encoder: nn.Module
    mu_head: nn.Linear
    logvar_head: nn.Linear
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) [B, z_dim] of q(z | x)."""
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x^ for codes z [B, z_dim]."""
        out: torch.Tensor = self.decoder(z)
        return out

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x^, mu, logvar): decode z = reparameterize(mu, logvar, eps) (eps ~ N(0, I) when not
        given)."""
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mu)
        return self.decode(reparameterize(mu, logvar, eps)), mu, logvar


class ConvVAE(VAE):
    """The paper's V on (C, 64, 64) frames scaled to [0, 1]."""

    frame_size = 64

    def __init__(self, channels: int = 3, z_dim: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        widths = (32, 64, 128, 256)
        layers: list[nn.Module] = []
        c = channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, stride=2), nn.ReLU()]
            c = w
        self.encoder = nn.Sequential(*layers, nn.Flatten())  # 64 -> 31 -> 14 -> 6 -> 2
        self.mu_head = nn.Linear(2 * 2 * 256, z_dim)
        self.logvar_head = nn.Linear(2 * 2 * 256, z_dim)
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 1024),
            nn.Unflatten(1, (1024, 1, 1)),
            nn.ConvTranspose2d(1024, 128, 5, stride=2),  # 1 -> 5
            nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 5, stride=2),  # 5 -> 13
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 6, stride=2),  # 13 -> 30
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 6, stride=2),  # 30 -> 64
            nn.Sigmoid(),
        )


class MLPVAE(VAE):
    """V for vector observations: MLP encoder and decoder, unbounded reconstructions."""

    def __init__(self, obs_dim: int, z_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("MLPVAE needs at least one hidden layer")
        self.z_dim = z_dim
        self.encoder = mlp(obs_dim, hidden[:-1], hidden[-1], "relu", "relu")
        self.mu_head = nn.Linear(hidden[-1], z_dim)
        self.logvar_head = nn.Linear(hidden[-1], z_dim)
        self.decoder = mlp(z_dim, list(reversed(hidden)), obs_dim, "relu")
