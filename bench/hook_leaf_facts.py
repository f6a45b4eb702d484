#!/usr/bin/env python3
"""Measure when a forward hook's ``output.requires_grad_(True)`` makes a module's output a leaf.

The facts leaflint/model/hooks.py relies on (run under the torch being targeted; torch 2.13 CPU
printed the table in docs/corpus-triage.md, "Round five: hooked embedding outputs"):

- a frozen embedding table (integer input) with the hook: output is a leaf that requires grad;
  ``+=``, a write through ``.view()``, an item write raise; a write into ``.clone()`` does not;
- the same table trainable: output has a grad_fn; every write is fine;
- a frozen ``nn.Linear`` with the hook: a leaf for a plain input, a non-leaf for an input that
  carries a graph (so only index-taking tables are claimed);
- only the weight of a Linear frozen (bias trains): non-leaf;
- the hook's ``output.requires_grad = True`` (attribute form) on a non-leaf raises;
- the table called under ``no_grad`` still gives a leaf that requires grad.

Usage: python bench/hook_leaf_facts.py
"""

from __future__ import annotations

import torch
import torch.nn as nn


def lift(module, inputs, output):
    output.requires_grad_(True)


def lift_attr(module, inputs, output):
    output.requires_grad = True


def attempt(fn) -> str:
    try:
        fn()
    except RuntimeError as exc:
        return "raises: " + str(exc).splitlines()[0]
    return "ok"


def table(frozen: bool, hook=lift) -> nn.Embedding:
    emb = nn.Embedding(10, 4)
    if frozen:
        emb.weight.requires_grad_(False)
    emb.register_forward_hook(hook)
    return emb


def main() -> None:
    ids = torch.tensor([1, 2])
    print(f"torch {torch.__version__}")
    for frozen in (True, False):
        emb = table(frozen)
        out = emb(ids)
        print(f"embedding frozen={frozen}: is_leaf={out.is_leaf} requires_grad={out.requires_grad}")
        print("  +=              ", attempt(lambda: emb(ids).__iadd__(1.0)))
        print("  view index_copy_", attempt(lambda: emb(ids).view(-1).index_copy_(0, torch.tensor([0]), torch.ones(1))))
        print("  item write      ", attempt(lambda: emb(ids).__setitem__(0, 0.0)))
        print("  clone then +=   ", attempt(lambda: emb(ids).clone().__iadd__(1.0)))
    lin = nn.Linear(3, 3)
    lin.requires_grad_(False)
    lin.register_forward_hook(lift)
    x = torch.randn(2, 3, requires_grad=True)
    print(f"frozen Linear, plain input: is_leaf={lin(torch.randn(2, 3)).is_leaf}")
    print(f"frozen Linear, graph input: is_leaf={lin(x * 2).is_leaf}")
    half = nn.Linear(3, 3)
    half.weight.requires_grad_(False)
    half.register_forward_hook(lift)
    print(f"Linear with only its weight frozen: is_leaf={half(torch.randn(2, 3)).is_leaf}")
    print("attribute form on a trainable table:", attempt(lambda: table(False, lift_attr)(ids)))
    emb = table(True)
    with torch.no_grad():
        out = emb(ids)
    print(f"frozen table called under no_grad: is_leaf={out.is_leaf} requires_grad={out.requires_grad}")


if __name__ == "__main__":
    main()
