"""Inspiration Tree's load_tokens with the row writes under torch.no_grad() (the fix given in the thread).

Source: https://github.com/google/inspiration_tree/issues/25
Fix: wrap the body of `load_tokens` in `with torch.no_grad():`
Batch: holdout-5
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class Tokenizer:
    def __init__(self, words):
        self.vocab = {w: i for i, w in enumerate(words)}

    def __len__(self):
        return len(self.vocab)

    def add_tokens(self, tokens):
        new = [t for t in tokens if t not in self.vocab]
        for t in new:
            self.vocab[t] = len(self.vocab)
        return len(new)

    def tokenize(self, text):
        return text.split()

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]


class Embeddings(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)


class TextModel(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.embeddings = Embeddings(vocab, dim)
        self.final = nn.Linear(dim, dim)

    def forward(self, ids):
        return self.final(self.embeddings.token_embedding(ids))


class CLIPTextModel(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.text_model = TextModel(vocab, dim)

    def resize_token_embeddings(self, n):
        old = self.text_model.embeddings.token_embedding
        new = nn.Embedding(n, old.embedding_dim)
        with torch.no_grad():
            new.weight[: old.num_embeddings] = old.weight
        self.text_model.embeddings.token_embedding = new
        return new

    def forward(self, ids):
        return self.text_model(ids)


class Pipeline:
    def __init__(self):
        self.tokenizer = Tokenizer(["a", "photo", "of", "cat"])
        self.text_encoder = CLIPTextModel(len(self.tokenizer), 8)


def load_tokens(pipe, data, device):
    """Adds the new learned tokens into the predefined dictionary of pipe."""
    with torch.no_grad():
        added_tokens = []
        for t_ in data.keys():
            added_tokens.append(t_)
        num_added_tokens = pipe.tokenizer.add_tokens(added_tokens)
        pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer))
        for token_ in data.keys():
            ref_token = pipe.tokenizer.tokenize(token_)
            ref_indx = pipe.tokenizer.convert_tokens_to_ids(ref_token)[0]
            embd_cur = data[token_].to(device)
            pipe.text_encoder.text_model.embeddings.token_embedding.weight[ref_indx] = embd_cur


if __name__ == "__main__":
    pipe = Pipeline()
    learned = {"<v1>": torch.randn(8), "<v2>": torch.randn(8)}
    load_tokens(pipe, learned, "cpu")
    table = pipe.text_encoder.text_model.embeddings.token_embedding
    ids = torch.tensor(pipe.tokenizer.convert_tokens_to_ids(["a", "<v1>", "<v2>"]))
    pipe.text_encoder(ids).sum().backward()
    clean("learned tokens loaded into the table; the text encoder still trains",
          torch.equal(table.weight[ids[1]], learned["<v1>"]) and grads_flow([table.weight]))
