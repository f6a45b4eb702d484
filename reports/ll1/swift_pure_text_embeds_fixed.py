"""ms-swift Qwen2.5-VL template: the zero-weighted image term is added out of place (as in NVlabs/VILA#199).

Source: https://github.com/modelscope/ms-swift/issues/4613
Fix: `inputs_embeds = inputs_embeds + image_embeds.mean() * 0.`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean  # noqa: E402


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
        inputs_embeds = inputs_embeds + image_embeds.mean() * 0.0
    return inputs_embeds


if __name__ == "__main__":
    model = Model()
    model.embed_tokens.weight.requires_grad_(False)
    model.embed_tokens.register_forward_hook(make_inputs_require_grads)
    post_encode(model, torch.tensor([[1, 2, 3]])).sum().backward()
    clean("text-only batch runs; the vision tower is in the graph (zero but present gradients)", model.visual.weight.grad is not None and model.visual.bias.grad is not None)
