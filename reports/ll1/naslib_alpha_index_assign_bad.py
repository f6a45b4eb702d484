"""A NAS search space stores architecture weights (alphas) on graph edges; a helper sets one entry by index.

Source: https://github.com/automl/NASLib/pull/35
Shape: alphas are nn.Parameters kept in a dict of edge data; helper assigns `alpha[idx] = value` with grad on
Note: reconstructed from the PR's description (the assignment needed `.data` or no_grad).
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class EdgeData(dict):
    pass


def build_graph(num_edges=3, num_ops=4):
    edges = {}
    for e in range(num_edges):
        data = EdgeData()
        data["alpha"] = nn.Parameter(1e-3 * torch.randn(num_ops))
        edges[(e, e + 1)] = data
    return edges


def set_op_weight(edge_data, idx, value):
    alpha = edge_data["alpha"]
    alpha[idx] = value  # expect: LL103


def discretize(edges, keep=0):
    for _, data in edges.items():
        set_op_weight(data, keep, 1.0)


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", discretize, build_graph())
