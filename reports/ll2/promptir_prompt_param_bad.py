"""PromptIR's prompt generator reads its prompt bank through `.data` in forward: the bank never learns.

Source: https://github.com/va1shn9v/PromptIR/issues/6
Shape: forward of a block; `self.prompt_param.data` broadcast and weighted by a learned softmax
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402


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
        bank = self.prompt_param.data.unsqueeze(0).repeat(B, 1, 1, 1, 1, 1).squeeze(1)  # expect: LL203
        prompt = prompt_weights.unsqueeze(-1).unsqueeze(-1).unsqueeze(-1) * bank
        prompt = torch.sum(prompt, dim=1)
        prompt = F.interpolate(prompt, (H, W), mode="bilinear")
        return self.conv3x3(prompt)


if __name__ == "__main__":
    block = PromptGenBlock()
    block(torch.randn(2, 4, 12, 12)).pow(2).sum().backward()
    bug_silent("prompt_param.grad is None after backward: the prompt bank never trains", block.prompt_param.grad is None)
