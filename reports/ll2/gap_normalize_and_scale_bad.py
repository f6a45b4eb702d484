"""Generative adversarial perturbations: the generator output is rescaled per channel through `.data` before the loss.

Source: https://github.com/OmidPoursaeed/Generative_Adversarial_Perturbations/issues/4
Shape: helper writes `.data` slices of a graph tensor (the generator's output) in nested loops; backward follows in the caller
Note: the issue's discussion gives the failing pattern (`c.data[0] = c.data[0] * 4` on a non-leaf before the loss); the
helper's loops follow the repository's normalize_and_scale.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402

mean_arr = [0.485, 0.456, 0.406]
stddev_arr = [0.229, 0.224, 0.225]
mag_in = 10.0


class ResnetGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Tanh())

    def forward(self, z):
        return self.net(z)


def normalize_and_scale(delta_im, bs):
    delta_im = (delta_im + 1) * 0.5
    for i in range(bs):
        for ci in range(3):
            l_inf_channel = delta_im.data[i, ci, :, :].abs().max()
            mag_in_scaled_c = mag_in / (255.0 * stddev_arr[ci])
            delta_im.data[i, ci, :, :] = delta_im.data[i, ci, :, :] * (mag_in_scaled_c / l_inf_channel)  # expect: LL201
    return delta_im


def generator_grad(netG, noise, bs, scale_fn):
    netG.zero_grad()
    delta_im = scale_fn(netG(noise), bs)
    loss = delta_im.pow(2).sum()
    loss.backward()
    return netG.net[0].weight.grad.clone()


def reference_scale(delta_im, bs):
    delta_im = (delta_im + 1) * 0.5
    scale = torch.stack([torch.stack([(mag_in / (255.0 * stddev_arr[c])) / delta_im[i, c].detach().abs().max() for c in range(3)]) for i in range(bs)])
    return delta_im * scale[:, :, None, None]


if __name__ == "__main__":
    torch.manual_seed(0)
    netG, noise = ResnetGenerator(), torch.rand(2, 3, 8, 8)
    wrong = generator_grad(netG, noise, 2, normalize_and_scale)
    right = generator_grad(netG, noise, 2, reference_scale)
    bug_silent("the generator's gradient ignores the scaling (silently wrong, no error)", not torch.allclose(wrong, right, rtol=1e-3))
