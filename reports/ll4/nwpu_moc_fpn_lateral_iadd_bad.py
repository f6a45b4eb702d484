"""NWPU-MOC's FPN head adds the upsampled coarser lateral into the finer one in place; the laterals are ReLU outputs.

Source: https://github.com/lyongo/NWPU-MOC/issues/4
Shape: `FPN(nn.Module)` with `nn.ModuleList`s of a conv-BN-ReLU `Conv2d` wrapper; forward builds
`laterals = [lateral_conv(inputs[i]) ...]`, then top-down
`laterals[i - 1] += F.interpolate(laterals[i], size=prev_shape, mode='nearest')`
Batch: holdout-5
Note: mmcv's import and the counting model around the head are left out; a two-stage conv backbone feeds the FPN
and the loss is a mean over its outputs. The repository's file is used as is otherwise.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class Conv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, NL="relu", same_padding=False, bn=True, bias=True):
        super(Conv2d, self).__init__()
        padding = int((kernel_size - 1) // 2) if same_padding else 0
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.relu = nn.ReLU(inplace=False) if NL == "relu" else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class FPN(nn.Module):
    def __init__(self, in_channels, out_channels, num_outs, start_level=0, bn=True):
        super(FPN, self).__init__()
        self.in_channels = in_channels
        self.start_level = start_level
        self.backbone_end_level = len(in_channels)
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for i in range(self.start_level, self.backbone_end_level):
            self.lateral_convs.append(Conv2d(in_channels[i], out_channels, 1, bn=bn, bias=not bn, same_padding=True))
            self.fpn_convs.append(Conv2d(out_channels, out_channels, 3, bn=bn, bias=not bn, same_padding=True))

    def forward(self, inputs):
        laterals = [lateral_conv(inputs[i + self.start_level]) for i, lateral_conv in enumerate(self.lateral_convs)]
        used_backbone_levels = len(laterals)
        for i in range(used_backbone_levels - 1, 0, -1):
            prev_shape = laterals[i - 1].shape[2:]
            laterals[i - 1] += F.interpolate(laterals[i], size=prev_shape, mode="nearest")  # expect: LL401
        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_backbone_levels)]
        return tuple(outs)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.stage2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x):
        c1 = self.stage1(x)
        return [c1, self.stage2(c1)]


def train_step(backbone, fpn, images):
    outs = fpn(backbone(images))
    loss = sum(o.mean() for o in outs)
    loss.backward()


if __name__ == "__main__":
    torch.manual_seed(0)
    backbone, fpn = Backbone(), FPN([8, 16], 8, 2)
    bug_raises("modified by an inplace operation", train_step, backbone, fpn, torch.randn(2, 3, 16, 16))
