"""Source-separation tutorial, gradient descent section: a notebook loop steps a leaf with `-=`.

Source: https://github.com/source-separation/tutorial/issues/18
Shape: notebook cells at top level; leaf from torch.tensor(requires_grad=True); loop with backward then `-=`
Note: the issue shows the traceback as a screenshot; the cells are reconstructed from its description.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

x = torch.tensor([3.0], requires_grad=True)
learning_rate = 0.1


def f(x):
    return (x - 1.0) ** 2


def run(n_iter=10):
    global x
    for i in range(n_iter):
        loss = f(x)
        loss.backward()
        x -= learning_rate * x.grad  # expect: LL102
        x.grad.zero_()


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", run)
