"""examples/regression: a script-level loop updates the layer's parameters in place after backward.

Source: https://github.com/pytorch/examples/pull/781
Shape: top-level script; module-level nn.Linear; loop over fc.parameters()
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def get_batch(batch_size=32):
    x = make_features(torch.randn(batch_size))
    return x, x.mm(W_target) + b_target.item()


fc = torch.nn.Linear(W_target.size(0), 1)


def run():
    for batch_idx in range(3):
        batch_x, batch_y = get_batch()
        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        output.backward()
        for param in fc.parameters():
            param.add_(-0.1 * param.grad)  # expect: LL101
    return loss


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", run)
