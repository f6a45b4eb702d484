"""Source-separation tutorial, gradient descent section: the step runs under no_grad (the fix merged in #26).

Source: https://github.com/source-separation/tutorial/issues/18
Fix: wrap the update in `with torch.no_grad():`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402

x = torch.tensor([3.0], requires_grad=True)
learning_rate = 0.1


def f(x):
    return (x - 1.0) ** 2


def run(n_iter=10):
    global x
    for i in range(n_iter):
        loss = f(x)
        loss.backward()
        with torch.no_grad():
            x -= learning_rate * x.grad
        x.grad.zero_()


if __name__ == "__main__":
    run()
    clean("x moved towards the minimum", abs(x.item() - 1.0) < 1.0 and x.requires_grad)
