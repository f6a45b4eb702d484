"""SoftPool registers its Conv2d layers in __init__ (the fix the reporter asked for).

Source: https://github.com/wangyida/softpool/issues/11
Fix: create the convolutions once in __init__ as submodules
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class SoftPool(nn.Module):
    def __init__(self, size_feat=4, regions=4, cabins=8, sp_ratio=4):
        super().__init__()
        self.regions, self.num_cabin, self.sp_ratio = regions, cabins, sp_ratio
        self.conv2d_1 = nn.Conv2d(size_feat, size_feat, kernel_size=(1, 3), stride=(1, 1))
        self.conv2d_2 = nn.Conv2d(size_feat, size_feat, kernel_size=(1, 3), stride=(1, 1))

    def forward(self, x):
        size_bth, size_feat, _ = x.shape
        cabins = x.view(size_bth, size_feat, self.regions, -1)
        return self.conv2d_2(self.conv2d_1(cabins)).amax(dim=-1)


if __name__ == "__main__":
    pool = SoftPool()
    x = torch.randn(2, 4, 32)
    a, b = pool(x), pool(x)
    a.pow(2).sum().backward()
    clean("deterministic; convs saved and trained", torch.allclose(a, b) and "conv2d_1.weight" in pool.state_dict() and grads_flow(pool.parameters()))
