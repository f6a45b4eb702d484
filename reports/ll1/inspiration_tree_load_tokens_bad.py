"""Inspiration Tree's load_tokens writes each learned token vector into a row of the text encoder's token embedding.

Source: https://github.com/google/inspiration_tree/issues/25
Shape: helper `load_tokens(pipe, data, device)`; tokenizer.add_tokens, text_encoder.resize_token_embeddings, then
`pipe.text_encoder.text_model.embeddings.token_embedding.weight[ref_indx] = embd_cur` in a loop over the tokens
Batch: holdout-5
Note: the diffusers pipeline is stood in by a small object with the same attribute path (tokenizer, text_encoder.
text_model.embeddings.token_embedding) and an HF-style resize_token_embeddings; nothing is downloaded. The pipeline
is float16 on GPU in the report; here it stays float32 on CPU.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
    added_tokens = []
    for t_ in data.keys():
        added_tokens.append(t_)
    num_added_tokens = pipe.tokenizer.add_tokens(added_tokens)
    pipe.text_encoder.resize_token_embeddings(len(pipe.tokenizer))
    for token_ in data.keys():
        ref_token = pipe.tokenizer.tokenize(token_)
        ref_indx = pipe.tokenizer.convert_tokens_to_ids(ref_token)[0]
        embd_cur = data[token_].to(device)
        pipe.text_encoder.text_model.embeddings.token_embedding.weight[ref_indx] = embd_cur  # expect: LL103


if __name__ == "__main__":
    pipe = Pipeline()
    learned = {"<v1>": torch.randn(8), "<v2>": torch.randn(8)}
    bug_raises("a view of a leaf Variable", load_tokens, pipe, learned, "cpu")
