"""FCHarDNet test.py folds BatchNorm into a fresh conv by slice-assigning its weight.

Source: https://github.com/PingoLH/FCHarDNet/issues/61
Shape: fusion helper building a new nn.Conv2d and writing W[:] into its weight; grad mode on
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def fuse_bn_recursively(conv, bn):
    cconv = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=True)
    std = torch.sqrt(bn.running_var + bn.eps)
    W = conv.weight * (bn.weight / std).view(-1, 1, 1, 1)
    cconv.weight[:, :, :, :] = W[:, :, :, :]  # expect: LL103
    cconv.bias[:] = bn.bias - bn.running_mean * bn.weight / std
    return cconv


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", fuse_bn_recursively, nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
