"""TreeLSTM: the pretrained vectors are copied in the training script, under no_grad (the merged fix).

Source: https://github.com/dasguptar/treelstm.pytorch/pull/26
Fix: `model.emb.weight.data.copy_(emb)` from main.py instead of a plain copy_ in __init__
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class SimilarityTreeLSTM(nn.Module):
    def __init__(self, vocab_size, in_dim, sparsity, freeze):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, in_dim, padding_idx=0, sparse=sparsity)
        if freeze:
            self.emb.weight.requires_grad = False


def main(freeze_embed=False):
    emb = torch.randn(50, 8)
    model = SimilarityTreeLSTM(50, 8, False, freeze_embed)
    model.emb.weight.data.copy_(emb)
    return model, emb


if __name__ == "__main__":
    model, emb = main()
    model.emb(torch.tensor([3, 4])).sum().backward()
    clean("pretrained vectors loaded and trainable", torch.equal(model.emb.weight.detach(), emb) and grads_flow([model.emb.weight]))
