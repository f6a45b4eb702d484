"""MAPPO's PopArt value head rescales its layer on each update by assigning new tensors to its Parameters.

Source: https://github.com/marlbenchmark/on-policy/issues/19
Shape: a non-forward `update` method; `self.stddev = (...)` over a requires_grad=False Parameter, then `self.weight = ...`
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class PopArt(nn.Module):
    def __init__(self, input_shape, output_shape, norm_axes=1, beta=0.99999):
        super().__init__()
        self.beta, self.norm_axes = beta, norm_axes
        self.weight = nn.Parameter(torch.randn(output_shape, input_shape) * 0.1)
        self.bias = nn.Parameter(torch.zeros(output_shape))
        self.stddev = nn.Parameter(torch.ones(output_shape), requires_grad=False)
        self.mean = nn.Parameter(torch.zeros(output_shape), requires_grad=False)
        self.mean_sq = nn.Parameter(torch.zeros(output_shape), requires_grad=False)
        self.debiasing_term = nn.Parameter(torch.tensor(0.0), requires_grad=False)

    def forward(self, input_vector):
        return F.linear(input_vector, self.weight, self.bias)

    def update(self, input_vector):
        old_mean, old_stddev = self.mean, self.stddev
        batch_mean = input_vector.mean(dim=tuple(range(self.norm_axes)))
        batch_sq_mean = (input_vector ** 2).mean(dim=tuple(range(self.norm_axes)))
        self.mean.mul_(self.beta).add_(batch_mean * (1.0 - self.beta))
        self.mean_sq.mul_(self.beta).add_(batch_sq_mean * (1.0 - self.beta))
        self.debiasing_term.mul_(self.beta).add_(1.0 * (1.0 - self.beta))
        self.stddev = (self.mean_sq - self.mean ** 2).sqrt().clamp(min=1e-4)  # expect: LL303
        self.weight = self.weight * old_stddev / self.stddev
        self.bias = (old_stddev * self.bias + old_mean - self.mean) / self.stddev


if __name__ == "__main__":
    value_head = PopArt(8, 1)
    bug_raises("cannot assign", value_head.update, torch.randn(16, 1) * 5)
