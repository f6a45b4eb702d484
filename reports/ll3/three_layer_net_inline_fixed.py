"""The custom module defines its Linear layers as attributes in __init__ (the answer in the thread).

Source: https://github.com/pytorch/pytorch/issues/1291
Fix: `self.linear1 = torch.nn.Linear(D_in, H)` and so on in __init__
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402

D_in, H, D_out = 100, 10, 1


class ThreeLayerNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out):
        super().__init__()
        self.linear1 = torch.nn.Linear(D_in, H)
        self.linear2 = torch.nn.Linear(H, H)
        self.linear3 = torch.nn.Linear(H, D_out)

    def forward(self, x):
        h_relu = self.linear1(x).clamp(min=0)
        h_relu = self.linear2(h_relu).clamp(min=0)
        return self.linear3(h_relu)


if __name__ == "__main__":
    model = ThreeLayerNet(D_in, H, D_out)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    before = model.linear3.weight.detach().clone()
    model(torch.randn(4, D_in)).pow(2).sum().backward()
    optimizer.step()
    clean("the layers are registered and train", changed(before, model.linear3.weight.detach()))
