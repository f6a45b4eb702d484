"""An input created with requires_grad=True goes through F.relu(inplace=True) then F.dropout(inplace=True).

Source: https://github.com/pytorch/pytorch/issues/727
Shape: script top level; `x = Variable(..., requires_grad=True)`, then `x = F.relu(x, inplace=True)` and
`x = F.dropout(x, p=0.1, inplace=True)`, `torch.sum(x).backward()`
Batch: holdout-5
Note: the report builds x from numpy (np.random.randn); numpy is not installed here, so torch.randn stands in.
`Variable` is kept as the reporter wrote it (a no-op wrapper today).
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def run():
    x = Variable(torch.randn(4, 6, 10, 10).float(), requires_grad=True)
    x = F.relu(x, inplace=True)  # expect: LL105
    x = F.dropout(x, p=0.1, inplace=True)
    result = torch.sum(x)
    result.backward()


if __name__ == "__main__":
    bug_raises("a leaf Variable that requires grad", run)
