"""copy_weight.py constructs a pruned YOLOv5 Model whose __init__ seeds the head biases in place.

Source: https://github.com/xhwNobody/yolov5_prune_sfp/issues/17
Shape: model built by a script; __init__ -> _initialize_biases over self.head_self.m; view alias
"""

import math

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
            b[:, 4] += math.log(8 / (640 / s) ** 2)  # expect: LL102
            b[:, 5:] += math.log(0.6 / (m.nc - 0.99)) if cf is None else torch.log(cf / cf.sum())
            mi.bias = torch.nn.Parameter(b.view(-1), requires_grad=True)


def copy_weight():
    model_dst = Model(nc=80)
    return model_dst


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", copy_weight)
