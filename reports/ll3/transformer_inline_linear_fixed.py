"""nlp-tutorial's Transformer owns its output projection and LayerNorm, created in __init__.

Source: https://github.com/graykode/nlp-tutorial/issues/29
Fix: `self.linear = nn.Linear(n_heads * d_v, d_model)` and `self.layer_norm = nn.LayerNorm(d_model)` in __init__
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import clean, grads_flow  # noqa: E402

d_model, d_k, d_v, n_heads = 8, 4, 4, 2


class MultiHeadAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.W_Q = nn.Linear(d_model, d_k * n_heads)
        self.W_K = nn.Linear(d_model, d_k * n_heads)
        self.W_V = nn.Linear(d_model, d_v * n_heads)
        self.linear = nn.Linear(n_heads * d_v, d_model)
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, Q, K, V):
        residual, batch_size = Q, Q.size(0)
        q_s = self.W_Q(Q).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        k_s = self.W_K(K).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        v_s = self.W_V(V).view(batch_size, -1, n_heads, d_v).transpose(1, 2)
        attn = torch.softmax(q_s @ k_s.transpose(-1, -2) / d_k ** 0.5, dim=-1)
        context = (attn @ v_s).transpose(1, 2).contiguous().view(batch_size, -1, n_heads * d_v)
        output = self.linear(context)
        return self.layer_norm(output + residual), attn


if __name__ == "__main__":
    mha = MultiHeadAttention()
    x = torch.randn(1, 3, d_model)
    a, _ = mha(x, x, x)
    b, _ = mha(x, x, x)
    a.pow(2).sum().backward()
    clean("deterministic, and the output projection trains", torch.allclose(a, b) and grads_flow([mha.linear.weight]))
