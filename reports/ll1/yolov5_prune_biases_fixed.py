"""The pruned YOLOv5 seeds its head biases under no_grad and re-wraps them, as the thread posted.

Source: https://github.com/xhwNobody/yolov5_prune_sfp/issues/17
Fix: `with torch.no_grad():` around the two `+=`; `mi.bias = nn.Parameter(b.view(-1))`
"""

import math

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class Detect(nn.Module):
    def __init__(self, nc=80, anchors=((10, 13, 16, 30, 33, 23),) * 3, ch=(16, 32, 64)):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.na = len(anchors[0]) // 2
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.stride = torch.tensor([8.0, 16.0, 32.0])


class Model(nn.Module):
    def __init__(self, nc=80):
        super().__init__()
        self.head_self = Detect(nc=nc)
        self._initialize_biases()

    def _initialize_biases(self, cf=None):
        m = self.head_self
        for mi, s in zip(m.m, m.stride):
            b = mi.bias.view(m.na, -1)
            with torch.no_grad():
                b[:, 4] += math.log(8 / (640 / s) ** 2)
                b[:, 5:] += math.log(0.6 / (m.nc - 0.99)) if cf is None else torch.log(cf / cf.sum())
            mi.bias = torch.nn.Parameter(b.view(-1), requires_grad=True)


def copy_weight():
    model_dst = Model(nc=80)
    return model_dst


if __name__ == "__main__":
    model = copy_weight()
    model.head_self.m[1](torch.randn(1, 32, 2, 2)).sum().backward()
    clean("biases seeded and the head trains", grads_flow([model.head_self.m[1].bias]))
