"""Manual SGD step on an auxiliary leaf tensor, done out of place and re-made a leaf.

Source: https://github.com/BaiTheBest/SparseLLM/issues/13
Fix: `s_batch = s_batch - lr * s_batch.grad` (the maintainer's answer), detached into a new leaf each step
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


def solve_chunk(s, target, chunk, s_learning_rate=0.1, steps=3):
    s_batch = s[:, chunk].clone().float().requires_grad_(True)
    losses = []
    for _ in range(steps):
        loss_s = ((s_batch - target) ** 2).sum()
        loss_s.backward()
        losses.append(loss_s.item())
        s_batch = (s_batch - s_learning_rate * s_batch.grad).detach().requires_grad_(True)
    s[:, chunk] = s_batch.detach().to(dtype=torch.float16)
    return losses


if __name__ == "__main__":
    s = torch.randn(4, 8).half()
    losses = solve_chunk(s, torch.zeros(4, 2), slice(0, 2))
    clean("the chunk loss decreases step by step", losses[-1] < losses[0])
