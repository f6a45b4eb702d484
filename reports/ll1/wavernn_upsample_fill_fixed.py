"""WaveRNN's upsample network sets the constant kernel with nn.init.constant_ (the reviewer's advice).

Source: https://github.com/pytorch/audio/pull/1993
Fix: `torch.nn.init.constant_(conv.weight, 1.0 / k_size)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class UpsampleNetwork(nn.Module):
    def __init__(self, upsample_scales):
        super().__init__()
        up_layers = []
        for scale in upsample_scales:
            k_size = scale * 2 + 1
            conv = nn.Conv2d(1, 1, kernel_size=(1, k_size), padding=(0, scale), bias=False)
            torch.nn.init.constant_(conv.weight, 1.0 / k_size)
            up_layers.append(conv)
        self.upsample_layers = nn.Sequential(*up_layers)

    def forward(self, x):
        return self.upsample_layers(x)


if __name__ == "__main__":
    net = UpsampleNetwork([5, 5])
    net(torch.randn(1, 1, 4, 20)).pow(2).sum().backward()
    w = net.upsample_layers[0].weight
    clean("constant kernels; layers train", torch.allclose(w.detach(), torch.full_like(w, 1 / 11)) and grads_flow(net.parameters()))
