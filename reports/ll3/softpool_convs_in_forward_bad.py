"""SoftPool builds its Conv2d layers as locals inside forward: their weights are neither trained nor saved.

Source: https://github.com/wangyida/softpool/issues/11
Shape: forward creates `conv2d_1 = nn.Conv2d(...)` locals (with .to(device)) and applies them
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class SoftPool(nn.Module):
    def __init__(self, regions=4, cabins=8, sp_ratio=4):
        super().__init__()
        self.regions, self.num_cabin, self.sp_ratio = regions, cabins, sp_ratio

    def forward(self, x):
        [self.size_bth, self.size_feat, self.pnt_per_sort] = list(x.shape)
        conv2d_1 = nn.Conv2d(self.size_feat, self.size_feat, kernel_size=(1, 3), stride=(1, 1)).to(x.device)  # report: LL3
        conv2d_2 = nn.Conv2d(self.size_feat, self.size_feat, kernel_size=(1, 3), stride=(1, 1)).to(x.device)
        cabins = x.view(self.size_bth, self.size_feat, self.regions, -1)
        return conv2d_2(conv2d_1(cabins)).amax(dim=-1)


if __name__ == "__main__":
    pool = SoftPool()
    x = torch.randn(2, 4, 32)
    a, b = pool(x), pool(x)
    bug_silent("the pooling convs are fresh every call: nothing in parameters() or state_dict(), outputs differ",
               len(list(pool.parameters())) == 0 and len(pool.state_dict()) == 0 and not torch.allclose(a, b))
