"""Inverse cooking's transformer decoder returns the stacked logits with their graph (the fix commit).

Source: https://github.com/facebookresearch/inversecooking/issues/3
Fix: `logits = torch.stack(logits, 1)`
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class TransformerDecoder(nn.Module):
    def __init__(self, d=8, vocab=12, steps=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.proj = nn.Linear(d, vocab)
        self.steps = steps

    def forward(self, features):
        logits = []
        h = features
        for _ in range(self.steps):
            step_logits = self.proj(torch.tanh(h))
            logits.append(step_logits)
            h = h + self.embed(step_logits.argmax(-1))
        logits = torch.stack(logits, 1)
        return logits


def train_step(model, features, targets):
    logits = model(features)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
    loss.backward()


if __name__ == "__main__":
    model = TransformerDecoder()
    train_step(model, torch.randn(2, 8), torch.randint(0, 12, (2, 3)))
    clean("the decoder trains", grads_flow([model.proj.weight]))
