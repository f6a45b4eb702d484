"""Reconstructed from https://github.com/osmr/imgclsmob/issues/13 (Xception unit): the identity
branch's convolution saves the unit's input, then the body starts with an in-place ReLU on that
same tensor."""

import torch
import torch.nn as nn

from _run import reproduce


class XceptionUnit(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.identity_conv = nn.Conv2d(c_in, c_out, 1, stride=2)
        self.activ = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)

    def forward(self, x):
        identity = self.identity_conv(x)
        x = self.activ(x)  # write
        x = self.conv(x)
        return x + identity


def step():
    stem = nn.Conv2d(3, 4, 3, padding=1)
    unit = XceptionUnit(4, 8)
    unit(stem(torch.randn(2, 3, 8, 8))).sum().backward()


if __name__ == "__main__":
    reproduce(step)
