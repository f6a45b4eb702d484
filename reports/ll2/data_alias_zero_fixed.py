"""The 0.4 migration example, fixed: the value to be zeroed is a detached clone; the saved output is untouched.

Source: https://github.com/pytorch/pytorch/issues/6990
Fix: `c = out.detach().clone()` (`.detach()` alone would make torch raise instead of corrupting)
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


def run():
    a = torch.tensor([1, 2, 3.0], requires_grad=True)
    out = a.sigmoid()
    c = out.detach().clone()
    c.zero_()
    out.sum().backward()
    return a


if __name__ == "__main__":
    a = run()
    expected = torch.sigmoid(a.detach()) * (1 - torch.sigmoid(a.detach()))
    clean("a.grad equals sigmoid'(a)", torch.allclose(a.grad, expected))
