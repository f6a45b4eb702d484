"""A network assigns two of its Conv2d layers to self inside forward (forum question "Can I instantiate layers in forward").

Source: https://discuss.pytorch.org/t/can-i-instantiate-layers-in-forward-function/105054
Shape: nn.Module with `self.layer1` built in __init__; forward does `self.layer2 = nn.Conv2d(32, 64, 3)` and
`self.layer3 = nn.Conv2d(64, 2, 3)` before using them; the usual loop builds the optimizer from model.parameters()
Batch: holdout-5
Note: the thread has the module only; the training loop (SGD over model.parameters(), two steps) is the standard
one the answer describes ("generating 2 new convolution layers in each forward pass ... losing track of parameters").
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Conv2d(3, 32, 3)

    def forward(self, x):
        out = self.layer1(x)

        self.layer2 = nn.Conv2d(32, 64, 3)  # expect: LL302
        self.layer3 = nn.Conv2d(64, 2, 3)
        out = self.layer2(out)
        out = self.layer3(out)
        return out


if __name__ == "__main__":
    torch.manual_seed(0)
    model = MyNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    for step in range(2):
        x, y = torch.randn(2, 3, 9, 9), torch.randn(2, 2, 3, 3)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        seen.append(model.layer2)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    bug_silent("layer2/layer3 are new modules on every forward and none of their weights is in the optimizer",
               seen[0] is not seen[1] and not any(id(p) in in_optimizer for p in model.layer2.parameters()))
