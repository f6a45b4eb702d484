"""YOLO _initialize_biases writes the bias prior through `.data`, as upstream YOLOv5 does.

Source: https://github.com/Lornatang/YOLOv4-PyTorch/issues/6
Fix: `b.data[:, 4] += ...` (the fix cited from ultralytics/yolov5#1552)
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


class YOLO(nn.Module):
    def __init__(self, number_classes=80):
        super().__init__()
        self.backbone = nn.Conv2d(3, 16, 3)
        self.detect = Detect(nc=number_classes)
        self._initialize_biases()

    def _initialize_biases(self, cf=None):
        m = self.detect
        for mi, s in zip(m.m, m.stride):
            b = mi.bias.view(m.na, -1)
            b.data[:, 4] += math.log(8 / (640 / s) ** 2)
            b.data[:, 5:] += math.log(0.6 / (m.nc - 0.99)) if cf is None else torch.log(cf / cf.sum())


if __name__ == "__main__":
    model = YOLO(80)
    prior = model.detect.m[0].bias.view(3, -1)[:, 4]
    model.detect.m[0](torch.randn(1, 16, 4, 4)).sum().backward()
    clean("objectness prior set and head trains", bool((prior < -3).all()) and grads_flow([model.detect.m[0].bias]))
