"""The same input through F.relu and F.dropout without `inplace` (the maintainer's answer in the thread).

Source: https://github.com/pytorch/pytorch/issues/727
Fix: "Just remove the `inplace` flag and it should be good."
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def run():
    x0 = Variable(torch.randn(4, 6, 10, 10).float(), requires_grad=True)
    x = F.relu(x0)
    x = F.dropout(x, p=0.1)
    result = torch.sum(x)
    result.backward()
    return x0


if __name__ == "__main__":
    x0 = run()
    clean("the input gets a gradient", grads_flow([x0]))
