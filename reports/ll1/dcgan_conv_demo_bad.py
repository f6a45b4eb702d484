"""pytorch_advanced 5-1 DCGAN notebook: a demo sets a conv kernel element by element.

Source: https://github.com/YutaroOgawa/pytorch_advanced/issues/160
Shape: notebook cell at top level; nn.Conv2d built then indexed elementwise
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def transposed_conv_example():
    print("normal convolution")
    m = nn.Conv2d(1, 1, 2, stride=1, bias=False)
    m.weight[0, 0, 0, 0] = 1  # expect: LL103
    m.weight[0, 0, 0, 1] = 2
    m.weight[0, 0, 1, 0] = 3
    m.weight[0, 0, 1, 1] = 4
    return m(torch.arange(9.0).view(1, 1, 3, 3))


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", transposed_conv_example)
