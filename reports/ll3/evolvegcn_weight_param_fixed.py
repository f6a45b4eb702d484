"""EvolveGCN-O passes the evolved weight to the convolution functionally (the issue's MyModelParam variant).

Source: https://github.com/benedekrozemberczki/pytorch_geometric_temporal/issues/80
Fix: give the conv the weight as an argument instead of replacing its Parameter
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class GCNConvFixedW(nn.Module):
    def forward(self, X, adj, weight):
        return adj @ (X @ weight)


class EvolveGCNO(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.initial_weight = nn.Parameter(torch.randn(1, in_channels, in_channels))
        self.recurrent_layer = nn.GRU(input_size=in_channels, hidden_size=in_channels, num_layers=1)
        self.conv_layer = GCNConvFixedW()

    def forward(self, X, adj):
        W = self.initial_weight
        _, W = self.recurrent_layer(W, W)
        return self.conv_layer(X, adj, weight=W.squeeze(dim=0))


if __name__ == "__main__":
    model = EvolveGCNO(4)
    model(torch.randn(5, 4), torch.eye(5)).pow(2).sum().backward()
    clean("the GRU and the initial weight get gradients", grads_flow(model.recurrent_layer.parameters()) and grads_flow([model.initial_weight]))
