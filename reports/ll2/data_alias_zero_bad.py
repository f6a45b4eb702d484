"""The 0.4 migration example: an alias taken with `.data` of a saved output is zeroed; backward is silently wrong.

Source: https://github.com/pytorch/pytorch/issues/6990
Shape: alias `c = out.data`; in-place `c.zero_()` on a tensor sigmoid saved; backward in the same function
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


def run():
    a = torch.tensor([1, 2, 3.0], requires_grad=True)
    out = a.sigmoid()
    c = out.data
    c.zero_()  # expect: LL201
    out.sum().backward()
    return a


if __name__ == "__main__":
    a = run()
    expected = torch.sigmoid(a.detach()) * (1 - torch.sigmoid(a.detach()))
    bug_silent("a.grad is all zeros instead of sigmoid'(a), with no error", torch.equal(a.grad, torch.zeros(3)) and not torch.equal(a.grad, expected))
