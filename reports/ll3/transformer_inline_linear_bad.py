"""nlp-tutorial's Transformer builds its attention output projection and LayerNorm inside forward, every call.

Source: https://github.com/graykode/nlp-tutorial/issues/29
Shape: forward calls `nn.Linear(...)(context)` and `nn.LayerNorm(...)(...)` inline; never assigned to self
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_silent  # noqa: E402

d_model, d_k, d_v, n_heads = 8, 4, 4, 2


class MultiHeadAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.W_Q = nn.Linear(d_model, d_k * n_heads)
        self.W_K = nn.Linear(d_model, d_k * n_heads)
        self.W_V = nn.Linear(d_model, d_v * n_heads)

    def forward(self, Q, K, V):
        residual, batch_size = Q, Q.size(0)
        q_s = self.W_Q(Q).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        k_s = self.W_K(K).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        v_s = self.W_V(V).view(batch_size, -1, n_heads, d_v).transpose(1, 2)
        attn = torch.softmax(q_s @ k_s.transpose(-1, -2) / d_k ** 0.5, dim=-1)
        context = (attn @ v_s).transpose(1, 2).contiguous().view(batch_size, -1, n_heads * d_v)
        output = nn.Linear(n_heads * d_v, d_model)(context)  # report: LL3
        return nn.LayerNorm(d_model)(output + residual), attn


if __name__ == "__main__":
    mha = MultiHeadAttention()
    x = torch.randn(1, 3, d_model)
    a, _ = mha(x, x, x)
    b, _ = mha(x, x, x)
    bug_silent("two calls on the same input differ: the output projection is re-drawn each call and never trained",
               not torch.allclose(a, b) and len(list(mha.parameters())) == 6)
