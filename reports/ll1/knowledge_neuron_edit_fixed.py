"""Knowledge editing with the weight writes under no_grad.

Source: https://github.com/Hunter-DDM/knowledge-neurons/issues/14
Fix: `with torch.no_grad():` around the edit (an edit is not meant to be differentiated)
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean, grads_flow  # noqa: E402


def build_model(d_model=16, nlayers=3):
    layer = nn.TransformerEncoderLayer(d_model, nhead=2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=nlayers)


def edit(model, layer, pos, ori_pred_emb, tgt_emb, lambda_1=1.0, lambda_2=1.0):
    with torch.no_grad():
        model.layers[layer].linear2.weight[:, pos] -= ori_pred_emb * lambda_1
        model.layers[layer].linear2.weight[:, pos] += tgt_emb * lambda_2


if __name__ == "__main__":
    model = build_model()
    before = model.layers[1].linear2.weight.detach().clone()
    edit(model, 1, 5, torch.randn(16), torch.randn(16))
    model(torch.randn(2, 4, 16))[..., 0].sum().backward()  # one feature: the sum of a LayerNorm output is constant
    w = model.layers[1].linear2.weight
    clean("the column was edited and the layer still trains", changed(before, w.detach()) and grads_flow([w]))
