"""Dynamic pruning with feedback: the mask is applied to a copy in the graph; the dense weight stays intact.

Source: https://github.com/INCHEON-CHO/Dynamic_Model_Pruning_with_Feedback/issues/1
Fix: compute `F.conv2d(x, self.conv1.weight * self.mask1.weight)`; the dense weight keeps training (DPF's feedback)
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


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
        masked = torch.mul(self.conv1.weight, self.mask1.weight)
        out = F.relu(self.bn1(F.conv2d(x, masked, padding=1)))
        return out + x


if __name__ == "__main__":
    block = BasicBlock()
    dense_before = block.conv1.weight.detach().clone()
    block(torch.randn(2, 4, 6, 6)).sum().backward()
    clean("dense weight intact and trained through the mask",
          torch.equal(dense_before, block.conv1.weight.detach()) and grads_flow([block.conv1.weight]))
