"""d2l custom layer: MyLinear's forward multiplies by `self.weight.data` and adds `self.bias.data`.

Source: https://github.com/d2l-ai/d2l-en/pull/2600
Shape: custom nn.Module; `.data` reads of its own Parameters inside forward
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data  # expect: LL203
        return F.relu(linear)


if __name__ == "__main__":
    net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
    out = net(torch.rand(2, 64))
    bug_silent("the output has no graph: the layer's weight and bias can never get gradients",
               not out.requires_grad and net[0].weight.grad is None)
