"""Reconstructed from https://github.com/tamarott/SinGAN/issues/148: the generator loop reuses the
fake image made before the loop; its graph keeps the generator's weights, which
`optimizerG.step()` changes on the first pass, so the second `errG.backward()` fails."""

import torch
import torch.nn as nn

from _run import reproduce

netG = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())
netD = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3, padding=1))
optimizerG = torch.optim.Adam(netG.parameters(), lr=5e-4)


def step():
    noise = torch.randn(1, 3, 8, 8)
    fake = netG(noise)
    for _ in range(3):
        netG.zero_grad()
        output = netD(fake)
        errG = -output.mean()
        errG.backward(retain_graph=True)
        optimizerG.step()  # write


if __name__ == "__main__":
    reproduce(step)
