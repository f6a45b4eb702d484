"""`.data` writes on graph values in training code (outside forward)."""

from __future__ import annotations

from model_query import model_of


def graph_writes(src: str) -> set[str]:
    model = model_of(src)
    return {model.text(w.node) for w in model.data_writes if model.is_graph_write(w)}


def test_module_output_written_before_backward():
    src = """
import torch
from torch import nn

D = nn.Linear(4, 1)

def step(gen, z, w):
    fake = gen(z)
    fake.data.clamp_(-1, 1)
    D(fake).mean().backward()
    out = D(z)
    out.data.zero_()
    stats = {"loss": out.data}
    out.sum().backward()
    w.data.mul_(0.5)
    torch.randn(3).sum()
"""
    assert graph_writes(src) == {"fake.data.clamp_(-1, 1)", "out.data.zero_()"}


def test_no_backward_after_or_grad_off_is_not_a_graph_write():
    src = """
import torch

def sample(gen, z):
    fake = gen(z)
    fake.data.clamp_(-1, 1)
    return fake

def train(gen, z):
    with torch.no_grad():
        fake = gen(z)
    fake.data.clamp_(-1, 1)
    fake.sum().backward()
"""
    assert graph_writes(src) == set()
