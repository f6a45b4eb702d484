"""Knowledge editing subtracts a vector from a column of an FFN weight deep in a pretrained encoder.

Source: https://github.com/Hunter-DDM/knowledge-neurons/issues/14
Shape: module tree from a library constructor; long attribute/index chain; `-=` on a column slice
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def build_model(d_model=16, nlayers=3):
    layer = nn.TransformerEncoderLayer(d_model, nhead=2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=nlayers)


def edit(model, layer, pos, ori_pred_emb, tgt_emb, lambda_1=1.0, lambda_2=1.0):
    model.layers[layer].linear2.weight[:, pos] -= ori_pred_emb * lambda_1  # expect: LL102
    model.layers[layer].linear2.weight[:, pos] += tgt_emb * lambda_2


if __name__ == "__main__":
    model = build_model()
    bug_raises("leaf Variable that requires grad", edit, model, 1, 5, torch.randn(16), torch.randn(16))
