"""ms-swift Qwen2.5-VL template: for a text-only batch it adds a zero-weighted image term to the embeddings with `+=`.

Source: https://github.com/modelscope/ms-swift/issues/4613
Shape: template hook; embeddings of a frozen embedding table made a leaf that requires grad (the reporter's
`is_leaf` shows True on their device); `inputs_embeds += image_embeds.mean() * 0.`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


class Model(nn.Module):
    def __init__(self, vocab=32, d=8):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.visual = nn.Linear(12, d)


def make_inputs_require_grads(module, input, output):
    output.requires_grad_(True)


def post_encode(model, input_ids, pixel_values=None):
    inputs_embeds = model.embed_tokens(input_ids)
    if pixel_values is None:
        dummy = torch.zeros(1, 12)
        image_embeds = model.visual(dummy)
        inputs_embeds += image_embeds.mean() * 0.0  # expect: LL102
    return inputs_embeds


if __name__ == "__main__":
    model = Model()
    model.embed_tokens.weight.requires_grad_(False)
    model.embed_tokens.register_forward_hook(make_inputs_require_grads)
    bug_raises("leaf Variable that requires grad", post_encode, model, torch.tensor([[1, 2, 3]]))
