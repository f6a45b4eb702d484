"""Dynamic pruning with feedback: forward writes the masked weight into the dense weight through `.data`.

Source: https://github.com/INCHEON-CHO/Dynamic_Model_Pruning_with_Feedback/issues/1
Shape: forward of a ResNet block; `self.conv1.weight.data = torch.mul(self.conv1.weight, self.mask1.weight)`
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class Mask(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter((torch.rand(shape) > 0.5).float(), requires_grad=False)


class BasicBlock(nn.Module):
    def __init__(self, planes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.mask1 = Mask(self.conv1.weight.shape)

    def forward(self, x):
        self.conv1.weight.data = torch.mul(self.conv1.weight, self.mask1.weight)  # expect: LL201
        out = F.relu(self.bn1(self.conv1(x)))
        return out + x


if __name__ == "__main__":
    block = BasicBlock()
    dense_before = block.conv1.weight.detach().clone()
    block(torch.randn(2, 4, 6, 6)).sum().backward()
    pruned = block.mask1.weight == 0
    destroyed = bool((block.conv1.weight.detach()[pruned] == 0).all()) and not torch.equal(dense_before, block.conv1.weight.detach())
    bug_silent("the dense weights under the mask were overwritten by one forward: pruned weights can never recover", destroyed)
