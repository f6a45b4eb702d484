"""LEAF's Gabor constraint clamps without no_grad, so gradients reach the kernel parameters (the reporter's change).

Source: https://github.com/denfed/leaf-audio-pytorch/issues/3
Fix: remove `with torch.no_grad()` from GaborConstraint.forward
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class GaborConstraint(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self._kernel_size = kernel_size

    def forward(self, kernel):
        mu_lower, mu_upper = 0.0, math.pi
        sigma_lower = 4 * math.sqrt(2 * math.log(2)) / math.pi
        sigma_upper = self._kernel_size * math.sqrt(2 * math.log(2)) / math.pi
        clipped_mu = torch.clamp(kernel[:, 0], mu_lower, mu_upper).unsqueeze(1)
        clipped_sigma = torch.clamp(kernel[:, 1], sigma_lower, sigma_upper).unsqueeze(1)
        return torch.cat([clipped_mu, clipped_sigma], dim=-1)


class GaborConv1D(nn.Module):
    def __init__(self, filters=4, kernel_size=9):
        super().__init__()
        self._kernel = nn.Parameter(torch.stack([torch.linspace(0.2, 2.0, filters), torch.full((filters,), 3.0)], dim=1))
        self._constraint = GaborConstraint(kernel_size)
        self._kernel_size = kernel_size

    def forward(self, x):
        kernel = self._constraint(self._kernel)
        t = torch.arange(-(self._kernel_size // 2), self._kernel_size // 2 + 1, dtype=x.dtype)
        filters = torch.cos(kernel[:, :1] * t) * torch.exp(-(t ** 2) / (2 * kernel[:, 1:] ** 2))
        return F.conv1d(x, filters.unsqueeze(1), padding=self._kernel_size // 2)


if __name__ == "__main__":
    frontend = GaborConv1D()
    frontend(torch.rand(1, 1, 64)).pow(2).sum().backward()
    clean("the Gabor parameters get gradients", grads_flow([frontend._kernel]))
