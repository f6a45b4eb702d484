"""The torch tables of leaflint/model/torchapi.py name what torch has (checked under real torch)."""

from __future__ import annotations

import pytest

from leaflint.model.torchapi import NOT_INPLACE_METHODS

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", sorted(NOT_INPLACE_METHODS))
def test_not_inplace_method_exists_on_tensor(name):
    assert hasattr(torch.Tensor, name), f"torch.Tensor has no method {name}"


def test_not_inplace_methods_do_not_write_values():
    w = torch.ones(3, requires_grad=True)
    for name in sorted(NOT_INPLACE_METHODS):
        leaf = w.detach().clone().requires_grad_(name != "detach_")
        before = leaf.detach().clone()
        getattr(leaf, name)()  # torch does not raise (no in-place check fires) and the values stay
        assert torch.equal(leaf.detach(), before)
