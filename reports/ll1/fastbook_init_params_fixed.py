"""fastbook 04_mnist_basics: the cell scales the row through `.data` (the PR's update).

Source: https://github.com/fastai/fastbook/pull/471
Fix: `weights[0].data *= 1.0001`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def init_params(size, std=1.0):
    return (torch.randn(size) * std).requires_grad_()


weights = init_params((28 * 28, 1))
bias = init_params(1)


def linear1(xb):
    return xb @ weights + bias


def cell():
    weights[0].data *= 1.0001


if __name__ == "__main__":
    before = weights[0].item()
    cell()
    linear1(torch.randn(4, 28 * 28)).sum().backward()
    clean("row scaled; weights still get gradients", weights[0].item() != before and grads_flow([weights, bias]))
