"""Zeroing one row of an nn.Embedding's weight by item assignment (the reporter also tried requires_grad=False first).

Source: https://github.com/pytorch/pytorch/issues/5833
Shape: REPL-style top level; nn.Embedding then `emb.weight[1] = 0`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def session():
    emb = torch.nn.Embedding(10, 20)
    emb.weight[1] = 0  # expect: LL103
    return emb


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", session)
