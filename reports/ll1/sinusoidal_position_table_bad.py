"""A helper fills a sinusoidal table into the position embedding's weight, called from __init__.

Source: https://github.com/Atcold/NYU-DLSP20/issues/765
Shape: helper writes into its argument; argument is self.position_embeddings.weight
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


def create_sinusoidal_embeddings(nb_p, dim, E):
    theta = torch.tensor([[p / 10000 ** (2 * (j // 2) / dim) for j in range(dim)] for p in range(nb_p)])
    E[:, 0::2] = torch.sin(theta[:, 0::2])  # expect: LL103
    E[:, 1::2] = torch.cos(theta[:, 1::2])
    E.detach_()
    E.requires_grad = False


class Embeddings(nn.Module):
    def __init__(self, d_model, vocab_size, max_position_embeddings):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, d_model, padding_idx=1)
        self.position_embeddings = nn.Embedding(max_position_embeddings, d_model)
        create_sinusoidal_embeddings(nb_p=max_position_embeddings, dim=d_model, E=self.position_embeddings.weight)
        self.LayerNorm = nn.LayerNorm(d_model, eps=1e-12)


if __name__ == "__main__":
    bug_raises("leaf Variable that requires grad", Embeddings, 32, 100, 16)
