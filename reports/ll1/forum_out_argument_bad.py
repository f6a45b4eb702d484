"""Forum thread trying in-place writes on a leaf that requires grad: `out=` the leaf itself.

Source: https://discuss.pytorch.org/t/inplace-operation-changes-is-leaf-attribute/120297
Shape: script probing operations one after another; `torch.add(c, 1, out=c)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

c = torch.randn(10, 3, 2, 32, requires_grad=True)


def operation_2():
    torch.add(c, 1, out=c)  # expect: LL104


if __name__ == "__main__":
    print(c.is_leaf)
    bug_raises("don't support automatic differentiation", operation_2)
