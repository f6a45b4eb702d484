"""WaveRNN's upsample network fills each new conv's kernel with a constant, without `.data`.

Source: https://github.com/pytorch/audio/pull/1993
Shape: __init__ loop building an nn.ModuleList; local name `conv` bound to a fresh nn.Conv2d; `fill_`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class UpsampleNetwork(nn.Module):
    def __init__(self, upsample_scales):
        super().__init__()
        up_layers = []
        for scale in upsample_scales:
            k_size = scale * 2 + 1
            conv = nn.Conv2d(1, 1, kernel_size=(1, k_size), padding=(0, scale), bias=False)
            conv.weight.fill_(1.0 / k_size)  # expect: LL101
            up_layers.append(conv)
        self.upsample_layers = nn.Sequential(*up_layers)


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", UpsampleNetwork, [5, 5])
