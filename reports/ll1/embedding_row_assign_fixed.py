"""Zeroing one row of an nn.Embedding through `.data` (the workaround the thread reports).

Source: https://github.com/pytorch/pytorch/issues/5833
Fix: `emb.weight.data[1] = 0`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def session():
    emb = torch.nn.Embedding(10, 20)
    emb.weight.data[1] = 0
    return emb


if __name__ == "__main__":
    emb = session()
    emb(torch.tensor([1, 2])).sum().backward()
    clean("row zeroed; embedding trains", bool((emb.weight[1] == 0).all()) and grads_flow([emb.weight]))
