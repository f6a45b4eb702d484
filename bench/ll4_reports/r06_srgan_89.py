"""Reconstructed from https://github.com/leftthomas/SRGAN/issues/89: `optimizerD.step()` runs
between `d_loss.backward(retain_graph=True)` and `g_loss.backward()`, and g_loss reuses the
discriminator's score of the fake computed before the step ([1, 1024, 1, 1]: a conv weight)."""

import torch
import torch.nn as nn

from _run import reproduce

netG = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.PReLU(), nn.Conv2d(8, 3, 3, padding=1))
netD = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1),
                     nn.Conv2d(8, 16, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 1, 1))
optimizerG = torch.optim.Adam(netG.parameters())
optimizerD = torch.optim.Adam(netD.parameters())


def step():
    real_img = torch.rand(2, 3, 8, 8)
    fake_img = netG(torch.rand(2, 3, 8, 8))
    netD.zero_grad()
    real_out = netD(real_img).mean()
    fake_out = netD(fake_img).mean()
    d_loss = 1 - real_out + fake_out
    d_loss.backward(retain_graph=True)
    optimizerD.step()  # write
    netG.zero_grad()
    g_loss = (fake_img - real_img).pow(2).mean() + 1e-3 * (1 - fake_out)
    g_loss.backward()
    optimizerG.step()


if __name__ == "__main__":
    reproduce(step)
