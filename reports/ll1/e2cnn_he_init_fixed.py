"""The equivariant conv's weights are initialised through `.data`, as the maintainer suggested.

Source: https://github.com/QUVA-Lab/e2cnn/issues/34
Fix: `generalized_he_init(conv.weights.data, conv.basisexpansion)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class R2Conv(nn.Module):
    def __init__(self, in_size, out_size, basis_size):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(out_size * in_size * basis_size))
        self.register_buffer("basis", torch.randn(basis_size, 3, 3))
        self.shape = (out_size, in_size, basis_size)

    def forward(self, x):
        coeff = self.weights.view(*self.shape)
        kernel = torch.einsum("oib,bhw->oihw", coeff, self.basis)
        return nn.functional.conv2d(x, kernel, padding=1)


def generalized_he_init(tensor, basisexpansion):
    out_size, in_size, basis_size = basisexpansion
    sigma = (2.0 / (in_size * basis_size)) ** 0.5
    tensor[:] = torch.randn(tensor.shape) * sigma


def build(in_size=4, out_size=8, basis_size=5):
    conv = R2Conv(in_size, out_size, basis_size)
    generalized_he_init(conv.weights.data, conv.shape)
    return conv


if __name__ == "__main__":
    conv = build()
    conv(torch.randn(1, 4, 6, 6)).pow(2).sum().backward()
    clean("initialised and trains", bool(conv.weights.detach().abs().sum() > 0) and grads_flow([conv.weights]))
