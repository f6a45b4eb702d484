"""After NNI's model speedup, a new optimizer is built over the new model's parameters (the maintainer's advice).

Source: https://github.com/microsoft/nni/issues/4521
Fix: re-create the optimizer after `speedup_model()`
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def speedup_model(model, keep):
    fc1 = nn.Linear(8, len(keep))
    fc2 = nn.Linear(len(keep), 2)
    with torch.no_grad():
        fc1.weight.copy_(model.fc1.weight[keep])
        fc1.bias.copy_(model.fc1.bias[keep])
        fc2.weight.copy_(model.fc2.weight[:, keep])
        fc2.bias.copy_(model.fc2.bias)
    setattr(model, "fc1", fc1)
    setattr(model, "fc2", fc2)


def finetune(model, optimizer, x, y, steps=3):
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


if __name__ == "__main__":
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    speedup_model(model, keep=torch.arange(0, 16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.fc1.weight.detach().clone()
    finetune(model, optimizer, torch.randn(8, 8), torch.randint(0, 2, (8,)))
    clean("the pruned model fine-tunes", changed(before, model.fc1.weight.detach()))
