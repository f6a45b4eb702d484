"""EvolveGCN-O evolves the GCN weight with a GRU, then wraps the result in a new nn.Parameter in forward.

Source: https://github.com/benedekrozemberczki/pytorch_geometric_temporal/issues/80
Shape: forward assigns `self.conv_layer.weight = nn.Parameter(W)` on a submodule; W comes from a GRU
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class GCNConvFixedW(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels))

    def forward(self, X, adj):
        return adj @ (X @ self.weight)


class EvolveGCNO(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.initial_weight = nn.Parameter(torch.randn(1, in_channels, in_channels))
        self.recurrent_layer = nn.GRU(input_size=in_channels, hidden_size=in_channels, num_layers=1)
        self.conv_layer = GCNConvFixedW(in_channels, in_channels)

    def forward(self, X, adj):
        W = self.initial_weight
        _, W = self.recurrent_layer(W, W)
        self.conv_layer.weight = nn.Parameter(W.squeeze(dim=0))  # expect: LL301
        return self.conv_layer(X, adj)


if __name__ == "__main__":
    model = EvolveGCNO(4)
    X, adj = torch.randn(5, 4), torch.eye(5)
    model(X, adj).pow(2).sum().backward()
    bug_silent("the GRU that evolves the weight gets no gradient (its grads are None)",
               all(p.grad is None for p in model.recurrent_layer.parameters()))
