"""Reconstructed from https://github.com/WOW5678/CompNet/issues/2: a graph step multiplies an
adjacency tensor with `torch.bmm` (which saves it), then writes a new edge into the same
tensor before backward ([1, 2, 2], BmmBackward0)."""

import torch
import torch.nn as nn

from _run import reproduce


class GraphStep(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.proj = nn.Linear(d, d)

    def forward(self, adj, h):
        h = torch.relu(self.proj(h))
        out = torch.bmm(adj, h)
        adj[:, 0, 1] = 1.0  # write
        return out


def step():
    adj = torch.zeros(1, 2, 2)
    GraphStep(3)(adj, torch.randn(1, 2, 3)).sum().backward()


if __name__ == "__main__":
    reproduce(step)
