"""The QA head keeps the softmax of its layer weights in a local variable.

Source: https://github.com/pytorch/pytorch/issues/44022
Fix: `layer_weights = F.softmax(self.layer_weights, dim=0)` (a local, not the Parameter slot)
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class LayerMixQA(nn.Module):
    def __init__(self, num_layers=4, hidden=8):
        super().__init__()
        self.layer_weights = nn.Parameter(torch.ones(num_layers))
        self.qa_outputs = nn.Linear(hidden, 2)

    def forward(self, all_hidden_states):
        layer_weights = F.softmax(self.layer_weights, dim=0)
        mixed = (layer_weights[:, None, None, None] * all_hidden_states).sum(0)
        return self.qa_outputs(mixed)


if __name__ == "__main__":
    model = LayerMixQA()
    model(torch.randn(4, 2, 5, 8)).pow(2).sum().backward()
    clean("the layer mix weights get gradients", grads_flow([model.layer_weights]))
