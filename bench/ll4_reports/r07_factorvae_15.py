"""Reconstructed from https://github.com/1Konny/FactorVAE/issues/15: the VAE is stepped after
`vae_loss.backward(retain_graph=True)`, then the discriminator loss reuses `D_z`, whose graph
goes back through the VAE's encoder weights ([4096, 6], output 0 of TBackward)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from _run import reproduce

encoder = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 6))
decoder = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 12))
D = nn.Sequential(nn.Linear(6, 32), nn.LeakyReLU(0.2), nn.Linear(32, 2))
optim_VAE = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()))
optim_D = torch.optim.Adam(D.parameters())


def step():
    x = torch.randn(16, 12)
    z = encoder(x)
    D_z = D(z)
    vae_loss = F.mse_loss(decoder(z), x) + (D_z[:, 0] - D_z[:, 1]).mean()
    optim_VAE.zero_grad()
    vae_loss.backward(retain_graph=True)
    optim_VAE.step()  # write
    z_pperm = torch.randn(16, 6)
    D_z_pperm = D(z_pperm)
    zeros = torch.zeros(16, dtype=torch.long)
    ones = torch.ones(16, dtype=torch.long)
    D_tc_loss = 0.5 * (F.cross_entropy(D_z, zeros) + F.cross_entropy(D_z_pperm, ones))
    optim_D.zero_grad()
    D_tc_loss.backward()
    optim_D.step()


if __name__ == "__main__":
    reproduce(step)
