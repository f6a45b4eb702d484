"""An equivariant conv's weights are initialised by a library init function that writes in place.

Source: https://github.com/QUVA-Lab/e2cnn/issues/34
Shape: init helper in another (library) module writes into its argument; argument is conv.weights, a Parameter of a custom module
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class R2Conv(nn.Module):
    """Stand-in for e2cnn.nn.R2Conv: a learnable coefficient vector expanded over a fixed basis."""

    def __init__(self, in_size, out_size, basis_size):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(out_size * in_size * basis_size))
        self.register_buffer("basis", torch.randn(basis_size, 3, 3))
        self.shape = (out_size, in_size, basis_size)


def generalized_he_init(tensor, basisexpansion):
    """Stand-in for e2cnn.nn.init.generalized_he_init: fills `tensor` in place."""
    out_size, in_size, basis_size = basisexpansion
    sigma = (2.0 / (in_size * basis_size)) ** 0.5
    tensor[:] = torch.randn(tensor.shape) * sigma  # expect: LL103


def build(in_size=4, out_size=8, basis_size=5):
    conv = R2Conv(in_size, out_size, basis_size)
    generalized_he_init(conv.weights, conv.shape)
    return conv


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", build)
