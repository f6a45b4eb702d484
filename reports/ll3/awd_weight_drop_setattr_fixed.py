"""AWD-LSTM WeightDrop drops any re-registered Parameter before assigning the dropped tensor.

Source: https://github.com/salesforce/awd-lstm-lm/issues/114
Fix: `self.module._parameters.pop(name_w, None)` before `setattr` (the weight_norm/parametrize pattern),
not wrapping `w` in nn.Parameter, which would cut the gradient to the raw weight
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


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
            self.module._parameters.pop(name_w, None)
            setattr(self.module, name_w, w)

    def forward(self, *args):
        self._setweights()
        return self.module.forward(*args)


if __name__ == "__main__":
    rnn = WeightDrop(torch.nn.LSTM(4, 4), ["weight_hh_l0"], dropout=0.5)
    x = torch.randn(3, 2, 4)
    rnn(x)[0].sum().backward()
    rnn.eval()
    rnn(x)
    rnn.train()
    rnn.zero_grad()
    rnn(x)[0].sum().backward()
    clean("training resumes after evaluation; the raw weight trains", grads_flow([rnn.module.weight_hh_l0_raw]))
