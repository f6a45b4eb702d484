"""Small queries on the model of a snippet, shared by the tests/test_model_*.py files."""

from __future__ import annotations

import textwrap

import libcst as cst

from leaflint.model import build_model
from leaflint.model.semantic import Grad, SemanticModel


def model_of(source: str) -> SemanticModel:
    return build_model(cst.parse_module(textwrap.dedent(source)))


def written_leaves(source: str) -> dict[str, bool]:
    """Each in-place site (by its text) -> whether the model knows it writes a leaf with grad on."""
    model = model_of(source)
    found: dict[str, bool] = {}
    for site in model.inplace:
        leaf = model.site_leaf(site)
        text = model.text(site.node)
        found[text] = found.get(text, False) or (leaf is not None and model.grad_at(site.ctx) is Grad.ON)
    return found


def leaf_sites(source: str) -> set[str]:
    return {text for text, leaf in written_leaves(source).items() if leaf}


def replaced_slots(source: str) -> set[str]:
    """Attribute assignments (by text) where a plain tensor goes over a slot holding a Parameter."""
    model = model_of(source)
    return {model.text(a.node) for a in model.attr_assigns if model.holds_parameter_before(a)
            and not model.falls_back_on(a.ctx, "TypeError")}
