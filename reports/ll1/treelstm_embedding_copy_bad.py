"""TreeLSTM: the model copies pretrained vectors into its embedding in __init__ unless it is frozen.

Source: https://github.com/dasguptar/treelstm.pytorch/pull/26
Shape: __init__; requires_grad depends on a flag (`freeze`); `copy_` on self.emb.weight
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class SimilarityTreeLSTM(nn.Module):
    def __init__(self, vocab_size, in_dim, sparsity, freeze, init_emb):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, in_dim, padding_idx=0, sparse=sparsity)
        if freeze:
            self.emb.weight.requires_grad = False
        self.emb.weight.copy_(init_emb)  # expect: LL101


def main(freeze_embed=False):
    emb = torch.randn(50, 8)
    return SimilarityTreeLSTM(50, 8, False, freeze_embed, emb)


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", main, freeze_embed=False)
