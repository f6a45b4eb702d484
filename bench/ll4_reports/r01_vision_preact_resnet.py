"""Reconstructed from https://github.com/pytorch/vision/issues/807 (maintainer's example of an unsafe
in-place ReLU): a pre-activation residual block that applies the in-place-safe ReLU first and then
adds the identity in place, modifying the ReLU's saved output."""

import torch
import torch.nn as nn

from _run import reproduce


class PreActBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x
        out = self.bn1(self.conv1(x))
        out = self.relu(out)
        out += identity  # write
        return out


def step():
    block = PreActBlock(4)
    block(torch.randn(2, 4, 6, 6)).sum().backward()


if __name__ == "__main__":
    reproduce(step)
