"""The same network with all three layers built in __init__ (the answer's template).

Source: https://discuss.pytorch.org/t/can-i-instantiate-layers-in-forward-function/105054
Fix: instantiate `layer2` and `layer3` in `__init__`; forward only calls them
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Conv2d(3, 32, 3)
        self.layer2 = nn.Conv2d(32, 64, 3)
        self.layer3 = nn.Conv2d(64, 2, 3)

    def forward(self, x):
        out = self.layer1(x)
        out = self.layer2(out)
        out = self.layer3(out)
        return out


if __name__ == "__main__":
    torch.manual_seed(0)
    model = MyNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(2):
        x, y = torch.randn(2, 3, 9, 9), torch.randn(2, 2, 3, 3)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    clean("all three layers are trained by the optimizer",
          all(changed(b, p.detach()) for b, p in zip(before, model.parameters())))
