"""fastbook 04_mnist_basics: a factory returns a leaf that requires grad; a cell scales one row in place.

Source: https://github.com/fastai/fastbook/pull/471
Shape: notebook-style top level; factory `init_params` returns `(randn*std).requires_grad_()`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def init_params(size, std=1.0):
    return (torch.randn(size) * std).requires_grad_()


weights = init_params((28 * 28, 1))
bias = init_params(1)


def linear1(xb):
    return xb @ weights + bias


def cell():
    weights[0] *= 1.0001  # expect: LL102


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", cell)
