"""Variational weight noise added in place to the weights in forward: the noise accumulates in the weights.

Source: https://github.com/NVIDIA-NeMo/Speech/issues/3831
Shape: forward of an nn.Linear subclass; `self.weight.data.add_(noise)` when training
Note: reconstructed from the reporter's description of the approach that does not work (in-place noise on the
weights); the thread has no code for it.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class NoisyLinear(nn.Linear):
    def __init__(self, in_features, out_features, std=0.1):
        super().__init__(in_features, out_features)
        self.std = std

    def forward(self, x):
        if self.training:
            self.weight.data.add_(torch.randn_like(self.weight) * self.std)  # expect: LL201
        return F.linear(x, self.weight, self.bias)


if __name__ == "__main__":
    layer = NoisyLinear(4, 4)
    clean_weight = layer.weight.detach().clone()
    for _ in range(5):
        layer(torch.randn(2, 4))
    bug_silent("five forwards (no optimizer step) moved the stored weights: the noise is written into them",
               not torch.equal(clean_weight, layer.weight.detach()))
