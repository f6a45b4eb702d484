"""AWD-LSTM WeightDrop sets the dropped hidden-to-hidden weight with setattr; after the LSTM is moved, that slot is a Parameter again.

Source: https://github.com/salesforce/awd-lstm-lm/issues/114
Shape: wrapper module; dynamic name; `setattr(self.module, name_w, w)` in a method called from forward. In eval mode
F.dropout returns the raw Parameter itself, so setattr registers it; the next training forward assigns a plain tensor.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class WeightDrop(torch.nn.Module):
    def __init__(self, module, weights, dropout=0.0):
        super().__init__()
        self.module, self.weights, self.dropout = module, weights, dropout
        self._setup()

    def widget_demagnetizer_y2k_edition(*args, **kwargs):
        return

    def _setup(self):
        if issubclass(type(self.module), torch.nn.RNNBase):
            self.module.flatten_parameters = self.widget_demagnetizer_y2k_edition
        for name_w in self.weights:
            w = getattr(self.module, name_w)
            del self.module._parameters[name_w]
            self.module.register_parameter(name_w + "_raw", nn.Parameter(w.data))

    def _setweights(self):
        for name_w in self.weights:
            raw_w = getattr(self.module, name_w + "_raw")
            w = F.dropout(raw_w, p=self.dropout, training=self.training)
            setattr(self.module, name_w, w)  # expect: LL303

    def forward(self, *args):
        self._setweights()
        return self.module.forward(*args)


def train_then_evaluate():
    rnn = WeightDrop(torch.nn.LSTM(4, 4), ["weight_hh_l0"], dropout=0.5)
    x = torch.randn(3, 2, 4)
    out, _ = rnn(x)
    out.sum().backward()
    rnn.eval()
    rnn(x)
    rnn.train()
    rnn(x)


if __name__ == "__main__":
    bug_raises("cannot assign", train_then_evaluate)
