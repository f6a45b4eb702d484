"""Qwen-VL finetune: image features are scattered into the text embeddings with `index_copy_`.

Source: https://github.com/2U1/Qwen-VL-Series-Finetune/pull/178
Shape: monkey-patched forward; embeddings of a frozen table made a leaf by a requires-grad hook
(gradient checkpointing + QLoRA); `flat = inputs_embeds.view(...)`; `flat.index_copy_(...)`
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402


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
    flat.index_copy_(0, row_idx, img)  # expect: LL101
    return flat.view_as(inputs_embeds)


if __name__ == "__main__":
    model = TinyVLM()
    model.embed_tokens.weight.requires_grad_(False)
    enable_input_require_grads(model)
    ids = torch.tensor([[1, 3, 3, 5]])
    bug_raises("leaf Variable that requires grad", patched_forward, model, ids, torch.randn(2, 12))
