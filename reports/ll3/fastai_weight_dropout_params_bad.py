"""fastai's WeightDropout stores the dropped weight as a non-leaf tensor in the LSTM's `_parameters` during forward.

Source: https://github.com/pytorch/pytorch/issues/38198
Shape: wrapper writes `self.module._parameters[layer] = F.dropout(raw_w, ...)` in a method called from forward;
an optimizer built after a forward sees a non-leaf "parameter" (also discussed in fastai/fastai#2591)
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class WeightDropout(nn.Module):
    def __init__(self, module, weight_p, layer_names=("weight_hh_l0",)):
        super().__init__()
        self.module, self.weight_p, self.layer_names = module, weight_p, layer_names
        for layer in self.layer_names:
            w = getattr(self.module, layer)
            self.register_parameter(f"{layer}_raw", nn.Parameter(w.data))
            self.module._parameters[layer] = F.dropout(w, p=self.weight_p, training=False)
        self.module.flatten_parameters = self._do_nothing

    def _do_nothing(self):
        return

    def _setweights(self):
        for layer in self.layer_names:
            raw_w = getattr(self, f"{layer}_raw")
            self.module._parameters[layer] = F.dropout(raw_w, p=self.weight_p, training=self.training)  # report: LL3

    def forward(self, *args):
        self._setweights()
        return self.module(*args)


def build_and_train():
    model = WeightDropout(nn.LSTM(4, 4), 0.5)
    model(torch.randn(3, 2, 4))
    return torch.optim.Adam(model.parameters(), lr=1e-3)


if __name__ == "__main__":
    bug_raises("can't optimize a non-leaf Tensor", build_and_train)
