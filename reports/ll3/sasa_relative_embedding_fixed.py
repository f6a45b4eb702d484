"""Stand-alone self-attention creates its relative position Parameters once, in __init__ (the agreed fix).

Source: https://github.com/leaderj1001/Stand-Alone-Self-Attention/issues/2
Fix: move the nn.Parameter creation into __init__
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


class AttentionConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.out_channels, self.kernel_size = out_channels, kernel_size
        self.query_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.rel_h = nn.Parameter(torch.randn(out_channels // 2, 1, 1, kernel_size, 1), requires_grad=True)
        self.rel_w = nn.Parameter(torch.randn(out_channels // 2, 1, 1, 1, kernel_size), requires_grad=True)

    def forward(self, x):
        q_out = self.query_conv(x)
        return q_out + self.rel_h.mean() + self.rel_w.mean()


if __name__ == "__main__":
    model = AttentionConv(4, 8)
    x = torch.randn(1, 4, 5, 5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.rel_h.detach().clone()
    model(x).sum().backward()
    optimizer.step()
    clean("rel_h is trained by the optimizer", changed(before, model.rel_h.detach()))
