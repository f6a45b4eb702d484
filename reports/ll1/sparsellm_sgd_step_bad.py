"""Manual SGD step on an auxiliary leaf tensor with `-=` outside no_grad.

Source: https://github.com/BaiTheBest/SparseLLM/issues/13
Shape: optimisation loop inside a function; leaf made by requires_grad_() on a slice copy
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def solve_chunk(s, target, chunk, s_learning_rate=0.1, steps=3):
    s_batch = s[:, chunk].clone().float().requires_grad_(True)
    for _ in range(steps):
        loss_s = ((s_batch - target) ** 2).sum()
        loss_s.backward()
        s_batch -= s_learning_rate * s_batch.grad  # expect: LL102
        s_batch.grad.zero_()
    s[:, chunk] = s_batch.detach().to(dtype=torch.float16)
    return s


if __name__ == "__main__":
    s = torch.randn(4, 8).half()
    bug_raises("leaf Variable that requires grad", solve_chunk, s, torch.zeros(4, 2), slice(0, 2))
