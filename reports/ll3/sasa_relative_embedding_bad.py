"""Stand-alone self-attention creates its relative position Parameters inside forward, every call.

Source: https://github.com/leaderj1001/Stand-Alone-Self-Attention/issues/2
Shape: `self.rel_h = nn.Parameter(torch.randn(...))` in forward, no guard; optimizer built after a first call
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class AttentionConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__()
        self.out_channels, self.kernel_size = out_channels, kernel_size
        self.query_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x):
        q_out = self.query_conv(x)
        self.rel_h = nn.Parameter(torch.randn(self.out_channels // 2, 1, 1, self.kernel_size, 1), requires_grad=True)  # expect: LL301
        self.rel_w = nn.Parameter(torch.randn(self.out_channels // 2, 1, 1, 1, self.kernel_size), requires_grad=True)
        rel = self.rel_h.mean() + self.rel_w.mean()
        return q_out + rel


if __name__ == "__main__":
    model = AttentionConv(4, 8)
    x = torch.randn(1, 4, 5, 5)
    model(x)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stepped = model.rel_h
    model(x).sum().backward()
    optimizer.step()
    model(x)
    bug_silent("the Parameter the optimizer holds is not the one forward uses: rel_h is re-drawn every call",
               model.rel_h is not stepped and all(p is not model.rel_h for g in optimizer.param_groups for p in g["params"]))
