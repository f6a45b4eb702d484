"""word_language_model: the training loop updates parameters with `p.add_` after backward.

Source: https://github.com/pytorch/examples/pull/779
Shape: training function; loop over model.parameters() after loss.backward()
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
        p.add_(p.grad, alpha=-lr)  # expect: LL101
    return loss.item()


if __name__ == "__main__":
    model = RNNModel(50, 8, 8)
    data = torch.randint(0, 50, (5, 2))
    bug_raises("leaf Variable that requires grad", train, model, data, torch.randint(0, 50, (5, 2)))
