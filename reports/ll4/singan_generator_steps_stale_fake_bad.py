"""SinGAN's generator loop steps optimizerG, then backpropagates again through the `fake` it made before the step.

Source: https://github.com/tamarott/SinGAN/pull/117
Shape: `train_single_scale(netD, netG, reals, opt)`: the D loop makes `fake = netG(noise.detach(), prev)` once;
the G loop (`opt.Gsteps` = 3) does `output = netD(fake)`, `errG.backward(retain_graph=True)`, a reconstruction
loss, then `optimizerG.step()`; the next G step backpropagates through the same `fake`, whose graph saved netG's
weights, now changed in place by the step (the error the PR tried to fix for PyTorch >= 1.5)
Batch: holdout-5
Note: the first scale only (`Gs == []`), one epoch, small WDiscriminator / GeneratorConcatSkip2CleanAdd stand-ins
(conv stacks with the same call signatures), no image pyramid, plotting or saving; the gradient penalty is
SinGAN's `calc_gradient_penalty` inlined.
"""

import os
import sys
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.optim as optim

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class WDiscriminator(nn.Module):
    def __init__(self, nc=3, nfc=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nc, nfc, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(nfc, nfc, 3, padding=1),
                                  nn.LeakyReLU(0.2))
        self.tail = nn.Conv2d(nfc, 1, 3, padding=1)

    def forward(self, x):
        return self.tail(self.body(x))


class GeneratorConcatSkip2CleanAdd(nn.Module):
    def __init__(self, nc=3, nfc=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nc, nfc, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(nfc, nfc, 3, padding=1),
                                  nn.LeakyReLU(0.2))
        self.tail = nn.Sequential(nn.Conv2d(nfc, nc, 3, padding=1), nn.Tanh())

    def forward(self, x, y):
        return self.tail(self.body(x)) + y


def calc_gradient_penalty(netD, real_data, fake_data, LAMBDA):
    alpha = torch.rand(1, 1).expand(real_data.size())
    interpolates = alpha * real_data + ((1 - alpha) * fake_data)
    interpolates = torch.autograd.Variable(interpolates, requires_grad=True)
    disc_interpolates = netD(interpolates)
    gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                    grad_outputs=torch.ones(disc_interpolates.size()),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean() * LAMBDA


def train_single_scale(netD, netG, real, opt):
    shape = [1, opt.nc_z, real.shape[2], real.shape[3]]
    z_opt = torch.randn(shape)
    optimizerD = optim.Adam(netD.parameters(), lr=opt.lr_d, betas=(opt.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=opt.lr_g, betas=(opt.beta1, 0.999))
    loss = nn.MSELoss()

    for epoch in range(opt.niter):
        noise_ = torch.randn(shape)

        # (1) Update D network: maximize D(x) + D(G(z))
        for j in range(opt.Dsteps):
            netD.zero_grad()
            output = netD(real)
            errD_real = -output.mean()
            errD_real.backward(retain_graph=True)
            if (j == 0) & (epoch == 0):
                prev = torch.full(shape, 0.0)
                z_prev = torch.full(shape, 0.0)
                opt.noise_amp = 1
            noise = noise_
            fake = netG(noise.detach(), prev)
            output = netD(fake.detach())
            errD_fake = output.mean()
            errD_fake.backward(retain_graph=True)
            gradient_penalty = calc_gradient_penalty(netD, real, fake, opt.lambda_grad)
            gradient_penalty.backward()
            optimizerD.step()

        # (2) Update G network: maximize D(G(z))
        for j in range(opt.Gsteps):
            netG.zero_grad()
            output = netD(fake)
            errG = -output.mean()
            errG.backward(retain_graph=True)
            Z_opt = opt.noise_amp * z_opt + z_prev
            rec_loss = opt.alpha * loss(netG(Z_opt.detach(), z_prev), real)
            rec_loss.backward(retain_graph=True)
            optimizerG.step()  # expect: LL403
    return z_opt


if __name__ == "__main__":
    torch.manual_seed(0)
    opt = SimpleNamespace(niter=1, Dsteps=3, Gsteps=3, lr_d=5e-4, lr_g=5e-4, beta1=0.5, alpha=10, lambda_grad=0.1,
                          nc_z=3, noise_amp=1)
    netD, netG = WDiscriminator(), GeneratorConcatSkip2CleanAdd()
    real = torch.rand(1, 3, 12, 12) * 2 - 1
    bug_raises("modified by an inplace operation", train_single_scale, netD, netG, real, opt)
