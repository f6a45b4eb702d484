"""An attribution canonizer merges BatchNorm into the preceding linear layer by assigning `.data`.

Source: https://github.com/chr5tphr/zennit/pull/185
Shape: helper (a canonizer's apply) writes `linear.weight.data = <value computed from bn.weight>`; the graph to bn.weight is cut;
gradients with respect to the parameters are computed later by the caller
Note: reconstructed from the PR description (parameters "detached from the graph/overwritten" by the merge).
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


class MergeBatchNorm:
    def apply(self, linear, batch_norm):
        denominator = (batch_norm.running_var + batch_norm.eps) ** 0.5
        scale = batch_norm.weight / denominator
        linear.weight.data = linear.weight * scale[:, None]  # expect: LL201
        linear.bias.data = (linear.bias - batch_norm.running_mean) * scale + batch_norm.bias
        batch_norm.weight.data = torch.ones_like(batch_norm.weight.data)
        batch_norm.bias.data = torch.zeros_like(batch_norm.bias.data)
        batch_norm.running_mean.zero_()
        batch_norm.running_var.fill_(1.0 - batch_norm.eps)


def make_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model[1].running_mean.uniform_()
    model[1].running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
    return model.eval()


def bn_weight_grad(model, x):
    model.zero_grad()
    model(x).pow(2).sum().backward()
    return model[1].weight.grad.clone()


if __name__ == "__main__":
    x = torch.randn(5, 4)
    want = bn_weight_grad(make_model(), x)
    model = make_model()
    MergeBatchNorm().apply(model[0], model[1])
    got = bn_weight_grad(model, x)
    bug_silent("the gradient w.r.t. the original BatchNorm weight is wrong after merging (no error)", not torch.allclose(got, want, rtol=1e-3))
