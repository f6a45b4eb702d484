"""d2l custom layer: MyLinear's forward uses the Parameters themselves (the PR's change).

Source: https://github.com/d2l-ai/d2l-en/pull/2600
Fix: `torch.matmul(X, self.weight) + self.bias`
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)


if __name__ == "__main__":
    torch.manual_seed(0)
    layer = MyLinear(64, 8)
    layer(torch.rand(2, 64)).sum().backward()
    clean("weight and bias get gradients", grads_flow([layer.weight]) and layer.bias.grad is not None)
