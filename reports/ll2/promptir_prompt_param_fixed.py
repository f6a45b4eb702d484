"""PromptIR's prompt generator uses the Parameter itself, so the bank receives gradients.

Source: https://github.com/va1shn9v/PromptIR/issues/6
Fix: use `self.prompt_param` instead of `self.prompt_param.data` in forward
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402


class PromptGenBlock(nn.Module):
    def __init__(self, prompt_dim=8, prompt_len=5, prompt_size=6, lin_dim=4):
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x):
        B, C, H, W = x.shape
        emb = x.mean(dim=(-2, -1))
        prompt_weights = F.softmax(self.linear_layer(emb), dim=1)
        bank = self.prompt_param.unsqueeze(0).repeat(B, 1, 1, 1, 1, 1).squeeze(1)
        prompt = prompt_weights.unsqueeze(-1).unsqueeze(-1).unsqueeze(-1) * bank
        prompt = torch.sum(prompt, dim=1)
        prompt = F.interpolate(prompt, (H, W), mode="bilinear")
        return self.conv3x3(prompt)


if __name__ == "__main__":
    block = PromptGenBlock()
    block(torch.randn(2, 4, 12, 12)).pow(2).sum().backward()
    clean("the prompt bank gets gradients", grads_flow([block.prompt_param]))
