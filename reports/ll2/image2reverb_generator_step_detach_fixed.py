"""Image2Reverb's generator step feeds the discriminator the generator's output itself (the maintainer-confirmed fix).

Source: https://github.com/nikhilsinghmus/image2reverb/issues/37
Fix: drop `.detach()` in the generator step: `d_fake2 = self.d(fake_spec, f)` ("that `.detach()` should not be there
for the generator step and is a bug")
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402

G_LR = 2e-4
D_LR = 4e-4
ENC_LR = 1e-5
ADAM_BETA = (0.0, 0.99)
LAMBDA = 100


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())

    def forward(self, x):
        return (self.net(x),)


class Generator(nn.Module):
    def __init__(self, latent_dimension):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(latent_dimension, 4, 4, stride=4), nn.Tanh(), nn.Conv2d(4, 1, 1))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.spec_net = nn.Conv2d(1, 4, 4, stride=4)
        self.head = nn.Conv2d(4 + n_features, 1, 1)

    def forward(self, spec, f):
        return self.head(torch.cat([F.leaky_relu(self.spec_net(spec), 0.2), f], 1))


class Image2Reverb(nn.Module):
    def __init__(self, latent_dimension=16, d_threshold=0.2):
        super().__init__()
        self._latent_dimension = latent_dimension
        self._d_threshold = d_threshold
        self.enc = Encoder()
        self.g = Generator(latent_dimension)
        self.d = Discriminator(8)
        self.logged = {}

    def log_dict(self, values):
        self.logged.update(values)

    def training_step(self, batch, batch_idx, optimizer_idx):
        spec, label, _ = batch
        spec.requires_grad = True  # For the backward pass, seems necessary for now

        # Forward passes through models
        f = self.enc.forward(label)[0]
        z = torch.cat((f, torch.randn((f.shape[0], self._latent_dimension - f.shape[1], f.shape[2], f.shape[3]))), 1)
        fake_spec = self.g(z)
        d_fake = self.d(fake_spec.detach(), f)
        d_real = self.d(spec, f)

        # Train Generator or Encoder
        if optimizer_idx == 0 or optimizer_idx == 1:
            d_fake2 = self.d(fake_spec, f)
            G_loss1 = F.mse_loss(d_fake2, torch.ones(d_fake2.shape))
            G_loss2 = F.l1_loss(fake_spec, spec)
            G_loss = G_loss1 + (LAMBDA * G_loss2)
            self.log_dict({"G": G_loss})
            return G_loss
        else:  # Train Discriminator
            l_fakeD = F.mse_loss(d_fake, torch.zeros(d_fake.shape))
            l_realD = F.mse_loss(d_real, torch.ones(d_real.shape))
            D_loss = l_realD + l_fakeD
            self.log_dict({"D": D_loss})
            return D_loss

    def configure_optimizers(self):
        g_optim = torch.optim.Adam(self.g.parameters(), lr=G_LR, betas=ADAM_BETA)
        d_optim = torch.optim.Adam(self.d.parameters(), lr=D_LR, betas=ADAM_BETA)
        enc_optim = torch.optim.Adam(self.enc.parameters(), lr=ENC_LR, betas=ADAM_BETA)
        return [enc_optim, g_optim, d_optim], []


if __name__ == "__main__":
    torch.manual_seed(0)
    LAMBDA = 0.0  # only the adversarial term, to see where its gradient goes
    model = Image2Reverb()
    (enc_optim, g_optim, d_optim), _ = model.configure_optimizers()
    batch = (torch.randn(2, 1, 16, 16), torch.randn(2, 3, 16, 16), None)
    g_optim.zero_grad()
    model.training_step(batch, 0, optimizer_idx=1).backward()
    clean("the adversarial term alone trains the generator", grads_flow(model.g.parameters()))
