"""Reconstructed from https://github.com/9310gaurav/ali-pytorch/issues/6: ALI's discriminator is
stepped after `loss_d.backward(retain_graph=True)`; `loss_g.backward()` then needs the
discriminator weights its graph saved ([1, 1024, 1, 1])."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from _run import reproduce

netGx = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.1), nn.Linear(16, 8))
netGz = nn.Sequential(nn.Linear(8, 16), nn.LeakyReLU(0.1), nn.Linear(16, 4))
netD = nn.Sequential(nn.Linear(12, 16), nn.LeakyReLU(0.1), nn.Linear(16, 1))
optimizerG = torch.optim.Adam(list(netGx.parameters()) + list(netGz.parameters()))
optimizerD = torch.optim.Adam(netD.parameters())


def step():
    real = torch.randn(6, 8)
    z_fake = torch.randn(6, 4)
    d_fake = torch.sigmoid(netD(torch.cat([netGx(z_fake), z_fake], 1)))
    d_real = torch.sigmoid(netD(torch.cat([real, netGz(real)], 1)))
    loss_d = F.binary_cross_entropy(d_real, torch.ones(6, 1)) + F.binary_cross_entropy(d_fake, torch.zeros(6, 1))
    loss_g = F.binary_cross_entropy(d_fake, torch.ones(6, 1)) + F.binary_cross_entropy(d_real, torch.zeros(6, 1))
    optimizerD.zero_grad()
    loss_d.backward(retain_graph=True)
    optimizerD.step()  # write
    optimizerG.zero_grad()
    loss_g.backward()
    optimizerG.step()


if __name__ == "__main__":
    reproduce(step)
