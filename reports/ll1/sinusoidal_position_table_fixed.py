"""The sinusoidal table is written under no_grad (one of the fixes the thread cites).

Source: https://github.com/Atcold/NYU-DLSP20/issues/765
Fix: run the helper's writes inside `with torch.no_grad():`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


def create_sinusoidal_embeddings(nb_p, dim, E):
    theta = torch.tensor([[p / 10000 ** (2 * (j // 2) / dim) for j in range(dim)] for p in range(nb_p)])
    with torch.no_grad():
        E[:, 0::2] = torch.sin(theta[:, 0::2])
        E[:, 1::2] = torch.cos(theta[:, 1::2])
    E.requires_grad = False


class Embeddings(nn.Module):
    def __init__(self, d_model, vocab_size, max_position_embeddings):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, d_model, padding_idx=1)
        self.position_embeddings = nn.Embedding(max_position_embeddings, d_model)
        create_sinusoidal_embeddings(nb_p=max_position_embeddings, dim=d_model, E=self.position_embeddings.weight)
        self.LayerNorm = nn.LayerNorm(d_model, eps=1e-12)

    def forward(self, ids):
        pos = torch.arange(ids.size(1)).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos))


if __name__ == "__main__":
    emb = Embeddings(32, 100, 16)
    emb(torch.randint(0, 100, (2, 10))).pow(2).sum().backward()
    clean("table is fixed, word embeddings train",
          emb.position_embeddings.weight.grad is None and grads_flow([emb.word_embeddings.weight]))
