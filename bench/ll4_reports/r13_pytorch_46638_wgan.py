"""Reconstructed from https://github.com/pytorch/pytorch/issues/46638: the discriminator (Conv2d +
LeakyReLU(inplace=True) blocks) is stepped after a retained backward, and the generator's loss
then backpropagates through the discriminator graph built before the step ([1, 32, 3, 3]:
the first conv's weight)."""

import torch
import torch.nn as nn

from _run import reproduce

discriminator = nn.Sequential(
    nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
    nn.Conv2d(64, 1, 2),
)
generator = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh())
optimizer_D = torch.optim.Adam(discriminator.parameters())
optimizer_G = torch.optim.Adam(generator.parameters())


def step():
    gen_imgs = generator(torch.randn(4, 8)).view(4, 1, 8, 8)
    real_imgs = torch.randn(4, 1, 8, 8)
    fake_validity = discriminator(gen_imgs)
    d_loss = -discriminator(real_imgs).mean() + fake_validity.mean()
    optimizer_D.zero_grad()
    d_loss.backward(retain_graph=True)
    optimizer_D.step()  # write
    g_loss = -fake_validity.mean()
    optimizer_G.zero_grad()
    g_loss.backward()
    optimizer_G.step()


if __name__ == "__main__":
    reproduce(step)
