"""Reconstructed from https://github.com/Jee-King/TSAN/issues/3 (the fix quoted there:
`out = x` -> `out = x.clone()`): `out` is only another name for `x`, which a convolution saved; the
in-place update of `out` changes the saved input."""

import torch
import torch.nn as nn

from _run import reproduce


class Fusion(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.att = nn.Conv2d(c, c, 1)

    def forward(self, x):
        weights = torch.sigmoid(self.att(x))
        out = x
        out *= 0.5  # write
        return out * weights


def step():
    stem = nn.Conv2d(3, 4, 3, padding=1)
    Fusion(4)(stem(torch.randn(1, 3, 8, 8))).sum().backward()


if __name__ == "__main__":
    reproduce(step)
