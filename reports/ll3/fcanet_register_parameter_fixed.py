"""FcaNet's learnable DCT variant wraps the filter in nn.Parameter before registering it (the thread's fix).

Source: https://github.com/cfzd/FcaNet/issues/29
Fix: `self.register_parameter('weight', nn.Parameter(self.get_dct_filter(...)))`
"""

import math

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class MultiSpectralDCTLayer(nn.Module):
    def __init__(self, height, width, mapper_x, mapper_y, channel):
        super().__init__()
        self.register_parameter("weight", nn.Parameter(self.get_dct_filter(height, width, mapper_x, mapper_y, channel)))

    def build_filter(self, pos, freq, POS):
        result = math.cos(math.pi * freq * (pos + 0.5) / POS) / math.sqrt(POS)
        return result if freq == 0 else result * math.sqrt(2)

    def get_dct_filter(self, tile_size_x, tile_size_y, mapper_x, mapper_y, channel):
        dct_filter = torch.zeros(channel, tile_size_x, tile_size_y)
        c_part = channel // len(mapper_x)
        for i, (u_x, v_y) in enumerate(zip(mapper_x, mapper_y)):
            for t_x in range(tile_size_x):
                for t_y in range(tile_size_y):
                    dct_filter[i * c_part:(i + 1) * c_part, t_x, t_y] = self.build_filter(t_x, u_x, tile_size_x) * self.build_filter(t_y, v_y, tile_size_y)
        return dct_filter

    def forward(self, x):
        return torch.sum(x * self.weight, dim=[2, 3])


if __name__ == "__main__":
    layer = MultiSpectralDCTLayer(4, 4, [0, 1], [0, 1], 8)
    layer(torch.randn(2, 8, 4, 4)).pow(2).sum().backward()
    clean("the DCT filter is a learnable Parameter", grads_flow([layer.weight]))
