"""Reconstructed from https://github.com/qianyu-dlut/MVANet/issues/2: every ReLU is switched to
in-place after construction (`m.inplace = True`), so a ReLU applied to a tensor that an
attention product saved overwrites it ([256, 1, 256], output 0 of ReluBackward0)."""

import torch
import torch.nn as nn

from _run import reproduce


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q = nn.Linear(d, d)
        self.activation = nn.ReLU()
        self.out = nn.Linear(d, d)

    def forward(self, x):
        h = self.activation(self.q(x))
        scores = h @ h.transpose(-1, -2)
        h = self.activation(h)  # write
        return self.out(scores @ h)


def build():
    model = Block(4)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    return model


def step():
    build()(torch.randn(2, 3, 4)).sum().backward()


if __name__ == "__main__":
    reproduce(step)
