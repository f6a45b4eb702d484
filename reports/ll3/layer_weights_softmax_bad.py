"""A QA head learns a softmax mix of BERT layers and normalises the Parameter by assigning back to it in forward.

Source: https://github.com/pytorch/pytorch/issues/44022
Shape: forward; `self.layer_weights = F.softmax(self.layer_weights, dim=0)` over a registered Parameter
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class LayerMixQA(nn.Module):
    def __init__(self, num_layers=4, hidden=8):
        super().__init__()
        self.layer_weights = nn.Parameter(torch.ones(num_layers))
        self.qa_outputs = nn.Linear(hidden, 2)

    def forward(self, all_hidden_states):
        self.layer_weights = F.softmax(self.layer_weights, dim=0)  # expect: LL303
        mixed = (self.layer_weights[:, None, None, None] * all_hidden_states).sum(0)
        return self.qa_outputs(mixed)


if __name__ == "__main__":
    bug_raises("cannot assign", LayerMixQA(), torch.randn(4, 2, 5, 8))
