"""The quantizer's range initialisation writes into the existing scale Parameter (the PR's change).

Source: https://github.com/openvinotoolkit/nncf/pull/327
Fix: `self.scale.data.fill_(...)` / copy under no_grad instead of replacing the Parameter
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


class SymmetricQuantizer(nn.Module):
    def __init__(self, bits=8):
        super().__init__()
        self.levels = 2 ** (bits - 1) - 1
        self.scale = nn.Parameter(torch.ones(1))

    def apply_minmax_init(self, min_values, max_values):
        sign = torch.any(min_values < 0)
        abs_max = torch.max(torch.abs(max_values), torch.abs(min_values))
        with torch.no_grad():
            self.scale.copy_(abs_max.max().reshape(1) * (1.0 if sign else 2.0))

    def forward(self, x):
        q = torch.clamp(x / self.scale, -1, 1)
        return (torch.round(q * self.levels) / self.levels - q).detach() * self.scale + q * self.scale


class Controller:
    def __init__(self, quantizer):
        self.quantizer = quantizer

    def initialize(self, data):
        self.quantizer.apply_minmax_init(data.min(), data.max())


if __name__ == "__main__":
    model = SymmetricQuantizer()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.randn(64) * 3
    Controller(model).initialize(data)
    before = model.scale.detach().clone()
    for _ in range(3):
        optimizer.zero_grad()
        (model(data) - data).pow(2).mean().backward()
        optimizer.step()
    clean("the initialised scale keeps training", changed(before, model.scale.detach()))
