"""A NAS search space sets one architecture weight by index under no_grad (the PR's fix).

Source: https://github.com/automl/NASLib/pull/35
Fix: `with torch.no_grad(): alpha[idx] = value`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


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
    with torch.no_grad():
        alpha[idx] = value


def discretize(edges, keep=0):
    for _, data in edges.items():
        set_op_weight(data, keep, 1.0)


if __name__ == "__main__":
    edges = build_graph()
    discretize(edges)
    alphas = [d["alpha"] for d in edges.values()]
    torch.stack([a.softmax(0) for a in alphas]).pow(2).sum().backward()
    clean("alphas set and still trainable", all(a[0].item() == 1.0 for a in alphas) and grads_flow(alphas))
