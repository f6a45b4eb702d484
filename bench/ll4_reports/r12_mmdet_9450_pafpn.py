"""Reconstructed from https://github.com/open-mmlab/mmdetection/pull/9450: the PAFPN bottom-up path
adds a downsampled level into a list element in place; that element is the output of a
conv+ReLU block, whose ReLU saved it."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from _run import reproduce


class ConvModule(nn.Module):
    def __init__(self, c, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=stride, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x))


class PAFPN(nn.Module):
    def __init__(self, c, levels=3):
        super().__init__()
        self.lateral = nn.ModuleList(ConvModule(c) for _ in range(levels))
        self.down = nn.ModuleList(ConvModule(c, stride=2) for _ in range(levels - 1))

    def forward(self, feats):
        inter_outs = [lat(f) for lat, f in zip(self.lateral, feats)]
        for i in range(len(inter_outs) - 1):
            inter_outs[i + 1] += self.down[i](inter_outs[i])  # write
        return sum(o.sum() for o in inter_outs)


def step():
    feats = [torch.randn(1, 4, 16 // 2 ** i, 16 // 2 ** i) for i in range(3)]
    PAFPN(4)(feats).backward()


if __name__ == "__main__":
    reproduce(step)
