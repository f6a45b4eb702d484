"""Reconstructed from https://github.com/pytorch/pytorch/issues/5687: a residual block whose left
branch is a Sequential ending in ReLU(inplace=True); `out += residual` then writes into the
ReLU's saved output (torch 0.3 trained silently wrong; current torch raises)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from _run import reproduce


class ResidualBlock(nn.Module):
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.left = nn.Sequential(
            nn.Conv2d(ch_in, 16, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, ch_out, 3, 1, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        out = self.left(x)
        residual = x
        out += residual  # write
        return F.relu(out, inplace=False)


def step():
    ResidualBlock(3, 3)(torch.randn(2, 3, 8, 8)).mean().backward()


if __name__ == "__main__":
    reproduce(step)
