"""Forum thread: the update of the leaf is done out of place on a clone (the answer: clone first or use no_grad).

Source: https://discuss.pytorch.org/t/inplace-operation-changes-is-leaf-attribute/120297
Fix: `c2 = torch.add(c, 1)` (a new tensor), keeping `c` a leaf that receives gradients
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402

c = torch.randn(10, 3, 2, 32, requires_grad=True)


def operation_2():
    return torch.add(c, 1)


if __name__ == "__main__":
    c2 = operation_2()
    c2.sum().backward()
    clean("c stays a leaf and gets its gradient", c.is_leaf and grads_flow([c]))
