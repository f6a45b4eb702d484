"""pytorch_advanced 5-1 DCGAN notebook: the kernel elements are set through `.data` (the thread's answer).

Source: https://github.com/YutaroOgawa/pytorch_advanced/issues/160
Fix: `m.weight.data[0, 0, 0, 0] = 1` and so on
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


def transposed_conv_example():
    print("normal convolution")
    m = nn.Conv2d(1, 1, 2, stride=1, bias=False)
    m.weight.data[0, 0, 0, 0] = 1
    m.weight.data[0, 0, 0, 1] = 2
    m.weight.data[0, 0, 1, 0] = 3
    m.weight.data[0, 0, 1, 1] = 4
    out = m(torch.arange(9.0).view(1, 1, 3, 3))
    out.sum().backward()
    return m, out


if __name__ == "__main__":
    m, out = transposed_conv_example()
    clean("kernel set, output as expected, gradient flows", out[0, 0, 0, 0].item() == 0 + 2 + 9 + 16 and m.weight.grad is not None)
