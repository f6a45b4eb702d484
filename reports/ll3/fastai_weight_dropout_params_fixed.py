"""fastai's WeightDropout keeps the dropped weight as a plain attribute, not in `_parameters` (the patch in fastai#2591).

Source: https://github.com/pytorch/pytorch/issues/38198
Fix: `del self.module._parameters[layer]` once, then `setattr(self.module, layer, F.dropout(raw_w, ...))`
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class WeightDropout(nn.Module):
    def __init__(self, module, weight_p, layer_names=("weight_hh_l0",)):
        super().__init__()
        self.module, self.weight_p, self.layer_names = module, weight_p, layer_names
        for layer in self.layer_names:
            w = getattr(self.module, layer)
            self.register_parameter(f"{layer}_raw", nn.Parameter(w.data))
            del self.module._parameters[layer]
            setattr(self.module, layer, F.dropout(w.data, p=self.weight_p, training=False))
        self.module.flatten_parameters = self._do_nothing

    def _do_nothing(self):
        return

    def _setweights(self):
        for layer in self.layer_names:
            raw_w = getattr(self, f"{layer}_raw")
            setattr(self.module, layer, F.dropout(raw_w, p=self.weight_p, training=self.training))

    def forward(self, *args):
        self._setweights()
        return self.module(*args)


if __name__ == "__main__":
    model = WeightDropout(nn.LSTM(4, 4), 0.5)
    model(torch.randn(3, 2, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(3, 2, 4))[0].sum().backward()
    clean("the optimizer accepts the parameters; the raw weight trains", grads_flow([model.weight_hh_l0_raw]))
