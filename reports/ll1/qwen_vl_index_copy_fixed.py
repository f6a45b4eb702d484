"""Qwen-VL finetune: the scatter is done out of place (the PR's change).

Source: https://github.com/2U1/Qwen-VL-Series-Finetune/pull/178
Fix: `flat = flat.index_copy(0, row_idx, img)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class TinyVLM(nn.Module):
    def __init__(self, vocab=32, d=8, image_token_id=3):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.visual = nn.Linear(12, d)
        self.image_token_id = image_token_id


def enable_input_require_grads(model):
    def make_inputs_require_grads(module, input, output):
        output.requires_grad_(True)

    model.embed_tokens.register_forward_hook(make_inputs_require_grads)


def patched_forward(self, input_ids, pixel_values):
    inputs_embeds = self.embed_tokens(input_ids)
    img = self.visual(pixel_values)
    flat = inputs_embeds.view(-1, inputs_embeds.size(-1))
    row_idx = (input_ids.view(-1) == self.image_token_id).nonzero().squeeze(-1)
    flat = flat.index_copy(0, row_idx, img)
    return flat.view_as(inputs_embeds)


if __name__ == "__main__":
    model = TinyVLM()
    model.embed_tokens.weight.requires_grad_(False)
    enable_input_require_grads(model)
    ids = torch.tensor([[1, 3, 3, 5]])
    patched_forward(model, ids, torch.randn(2, 12)).pow(2).sum().backward()
    clean("image features scattered; the visual projection trains", grads_flow(model.visual.parameters()))
