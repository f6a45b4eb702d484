"""Variational weight noise applied to a copy in the graph: `F.linear(x, self.weight + noise)`.

Source: https://github.com/NVIDIA-NeMo/Speech/issues/3831
Fix: do not modify w itself; use a noisy copy for the forward (as the maintainer described Lingvo doing)
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class NoisyLinear(nn.Linear):
    def __init__(self, in_features, out_features, std=0.1):
        super().__init__(in_features, out_features)
        self.std = std

    def forward(self, x):
        weight = self.weight
        if self.training:
            weight = weight + torch.randn_like(weight) * self.std
        return F.linear(x, weight, self.bias)


if __name__ == "__main__":
    layer = NoisyLinear(4, 4)
    clean_weight = layer.weight.detach().clone()
    for _ in range(5):
        layer(torch.randn(2, 4)).sum().backward()
    clean("stored weights untouched by forward; gradients flow",
          torch.equal(clean_weight, layer.weight.detach()) and grads_flow([layer.weight]))
