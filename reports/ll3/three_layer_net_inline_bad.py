"""A custom module instantiates its Linear layers inside forward: model.parameters() is empty.

Source: https://github.com/pytorch/pytorch/issues/1291
Shape: forward calls `torch.nn.Linear(D_in, H)(x)` inline; optimizer built from model.parameters()
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

D_in, H, D_out = 100, 10, 1


class ThreeLayerNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out):
        super().__init__()

    def forward(self, x):
        h_relu = torch.nn.Linear(D_in, H)(x).clamp(min=0)  # report: LL3
        h_relu = torch.nn.Linear(H, H)(h_relu).clamp(min=0)
        y_pred = torch.nn.Linear(H, D_out)(h_relu)
        return y_pred


def train():
    model = ThreeLayerNet(D_in, H, D_out)
    model(torch.randn(4, D_in))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    return optimizer


if __name__ == "__main__":
    bug_raises("empty parameter list", train)
