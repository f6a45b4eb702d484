"""The canonizer computes the merged weights from the original parameters on every forward (ParamMod, PR #185).

Source: https://github.com/chr5tphr/zennit/pull/185
Fix: the merged weight is a tensor that depends on the original parameters (set with object.__setattr__ in zennit;
here a merged forward), so gradients reach linear.weight and batch_norm.weight
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


class MergedLinear(nn.Module):
    def __init__(self, linear, batch_norm):
        super().__init__()
        self.linear, self.batch_norm = linear, batch_norm

    def forward(self, x):
        bn = self.batch_norm
        scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
        weight = self.linear.weight * scale[:, None]
        bias = (self.linear.bias - bn.running_mean) * scale + bn.bias
        return F.linear(x, weight, bias)


def make_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model[1].running_mean.uniform_()
    model[1].running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
    return model.eval()


if __name__ == "__main__":
    x = torch.randn(5, 4)
    ref = make_model()
    ref(x).pow(2).sum().backward()
    model = make_model()
    merged = MergedLinear(model[0], model[1])
    merged(x).pow(2).sum().backward()
    clean("merged output and parameter gradients match the unmerged model",
          torch.allclose(merged(x), ref(x), atol=1e-5) and torch.allclose(model[1].weight.grad, ref[1].weight.grad, rtol=1e-4))
