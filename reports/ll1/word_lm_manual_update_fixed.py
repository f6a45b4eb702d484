"""word_language_model: the manual update goes through `.data`, as the merged fix did.

Source: https://github.com/pytorch/examples/pull/779
Fix: `p.data.add_(p.grad, alpha=-lr)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import changed, clean, grads_flow  # noqa: E402


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden=None):
        output, hidden = self.rnn(self.encoder(input), hidden)
        return self.decoder(output), hidden


def train(model, data, targets, lr=20.0, clip=0.25):
    criterion = nn.CrossEntropyLoss()
    model.train()
    model.zero_grad()
    output, hidden = model(data)
    loss = criterion(output.view(-1, output.size(-1)), targets.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return loss.item()


if __name__ == "__main__":
    model = RNNModel(50, 8, 8)
    before = model.decoder.weight.detach().clone()
    train(model, torch.randint(0, 50, (5, 2)), torch.randint(0, 50, (5, 2)))
    clean("gradients flow and the decoder weight moved",
          grads_flow([model.decoder.weight]) and changed(before, model.decoder.weight.detach()))
