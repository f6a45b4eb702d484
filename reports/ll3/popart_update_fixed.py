"""MAPPO's PopArt rescales its layer in place under no_grad, keeping the Parameters the optimizer holds.

Source: https://github.com/marlbenchmark/on-policy/issues/19
Fix: write the new statistics and the rescaled weight into the existing Parameters with copy_ under no_grad
(re-wrapping them in nn.Parameter, as suggested in the thread, would leave the optimizer stepping stale objects)
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean  # noqa: E402


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

    @torch.no_grad()
    def update(self, input_vector):
        old_mean, old_stddev = self.mean.clone(), self.stddev.clone()
        batch_mean = input_vector.mean(dim=tuple(range(self.norm_axes)))
        batch_sq_mean = (input_vector ** 2).mean(dim=tuple(range(self.norm_axes)))
        self.mean.mul_(self.beta).add_(batch_mean * (1.0 - self.beta))
        self.mean_sq.mul_(self.beta).add_(batch_sq_mean * (1.0 - self.beta))
        self.debiasing_term.mul_(self.beta).add_(1.0 * (1.0 - self.beta))
        self.stddev.copy_((self.mean_sq - self.mean ** 2).sqrt().clamp(min=1e-4))
        self.weight.copy_(self.weight * old_stddev[:, None] / self.stddev[:, None])
        self.bias.copy_((old_stddev * self.bias + old_mean - self.mean) / self.stddev)


if __name__ == "__main__":
    value_head = PopArt(8, 1)
    optimizer = torch.optim.Adam(value_head.parameters(), lr=0.01)
    value_head.update(torch.randn(16, 1) * 5)
    before = value_head.weight.detach().clone()
    value_head(torch.randn(4, 8)).pow(2).sum().backward()
    optimizer.step()
    clean("statistics updated; the optimizer still trains the same weight", changed(before, value_head.weight.detach()))
