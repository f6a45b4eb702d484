"""LL4 static: each rule's examples with their expected fixes (Fixit style), and the precision
and reach of the dataflow on small programs written for it."""

from __future__ import annotations

import textwrap

import pytest

from leaflint.engine import lint_source
from leaflint.rules import REGISTRY

LL4 = sorted(code for code in REGISTRY if code.startswith("LL4"))


def _lint(source: str, codes=LL4):
    rules = [REGISTRY[c]() for c in codes]
    return lint_source(textwrap.dedent(source), "example.py", rules)


def _rows(source: str, codes=LL4):
    return [(f.location.row, f.code) for f in _lint(source, codes)]


def test_every_ll4_rule_declares_probe_kinds():
    # the examples and their expected fixes are checked for every rule by tests/test_rule_examples.py
    assert {"LL401", "LL402", "LL403"} <= set(LL4)  # the family's rules so far (a new one needs no edit here)
    for code in LL4:
        assert REGISTRY[code].probe_kinds == ("saved_write",)


def test_conditional_save_needs_the_other_operand_to_require_grad():
    # x * w saves x only when w requires grad; here neither is known to
    assert _rows("""\
        import torch
        def f(x, w):
            y = x * w
            x.zero_()
            return y
    """) == []
    # w is a parameter: x is saved, and the backward needs it
    assert _rows("""\
        import torch
        import torch.nn as nn
        def f(x, w: nn.Parameter):
            y = x * w
            x.zero_()
            y.sum().backward()
    """) == [(5, "LL402")]


def test_unknown_arguments_are_certain_when_the_backward_depends_only_on_them():
    assert _rows("""\
        import torch
        def f(x, w):
            y = torch.tanh(x @ w)
            y.add_(1)
            y.sum().backward()
    """) == [(4, "LL401")]
    # the loss may require grad through `b` alone: tanh may have saved nothing
    assert _rows("""\
        import torch
        def f(x, w, b):
            y = torch.tanh(x @ w)
            y.add_(1)
            (y + b).sum().backward()
    """) == []


def test_no_finding_without_a_backward_over_the_save():
    assert _rows("""\
        import torch
        w = torch.randn(3, requires_grad=True)
        y = torch.sigmoid(w)
        y.mul_(2)
    """) == []
    # the backward ran before the write: the graph was freed
    assert _rows("""\
        import torch
        w = torch.randn(3, requires_grad=True)
        y = torch.sigmoid(w)
        y.sum().backward()
        y.mul_(2)
    """) == []


def test_writes_under_no_grad_still_count_and_clone_breaks_the_alias():
    assert _rows("""\
        import torch
        w = torch.randn(3, requires_grad=True)
        y = torch.exp(w)
        with torch.no_grad():
            y.mul_(2)
        y.sum().backward()
    """) == [(5, "LL401")]
    assert _rows("""\
        import torch
        w = torch.randn(3, requires_grad=True)
        y = torch.exp(w)
        z = y.clone()
        z.mul_(2)
        (y + z).sum().backward()
    """) == []


def test_branches_do_not_meet_and_loops_see_the_previous_iteration():
    assert _rows("""\
        import torch
        def f(flag):
            w = torch.randn(3, requires_grad=True)
            if flag:
                y = torch.sigmoid(w)
            else:
                y = w + 1
                y.mul_(2)
            y.sum().backward()
    """) == []
    assert _rows("""\
        import torch
        a = torch.randn(3, 3, requires_grad=True)
        b = torch.randn(3, 3)
        total = 0
        for i in range(3):
            b[i] = 0.0
            total = total + (a @ b).sum()
        total.backward()
    """) == [(6, "LL402")]


def test_retain_graph_keeps_the_saves_for_the_next_backward():
    source = """\
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        out = model(torch.randn(2, 3))
        out.mean().backward({})
        opt.step()
        out.sum().backward()
    """
    assert _rows(source.format("retain_graph=True")) == [(7, "LL403")]
    # without retain_graph the second backward fails for another reason; the step is not the bug
    assert _rows(source.format("")) == []


def test_a_training_loop_that_steps_after_backward_is_clean():
    assert _rows("""\
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1))
        opt = torch.optim.Adam(model.parameters())
        for step in range(10):
            loss = model(torch.randn(8, 3)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(0.999)
    """) == []


def test_a_module_that_contains_itself_does_not_recurse():
    assert _rows("""\
        import torch
        import torch.nn as nn
        class Chain(nn.Module):
            def __init__(self, depth):
                super().__init__()
                self.lin = nn.Linear(3, 3)
                self.next = Chain(depth - 1) if depth else None
            def forward(self, x):
                h = torch.sigmoid(self.lin(x))
                h.mul_(2)
                return h
    """) == [(10, "LL401")]


@pytest.mark.parametrize("index,kind", [
    ('d["x"]', "key"), ("h[:, t]", "tensor"), ("x[None]", "tensor"), ("x[..., 0]", "tensor"),
    ("xs[i]", "basic"), ("xs[1:]", "basic"), ("h[t - 1]", "basic"), ("x[-1]", "basic"),
    ("x[~mask]", "advanced"), ("x[idx == 0]", "advanced"), ("x[[0, 2]]", "advanced"),
])
def test_index_kind(index, kind):
    import libcst as cst

    from leaflint.model.syntax import index_kind

    assert index_kind(cst.parse_expression(index)) == kind


@pytest.mark.parametrize("annotation,kind", [
    ("dict", "other"), ("Dict[str, Tensor]", "other"), ("Optional[dict]", "other"), ("list", "other"),
    ("str", "other"), ("torch.Tensor", "tensor"), ("Tensor", "tensor"), ("Optional[torch.Tensor]", "tensor"),
    ("torch.Tensor | None", "tensor"), ('"torch.Tensor"', "tensor"), ("nn.Parameter", "parameter"),
    ("SomethingElse", None),
])
def test_annotation_kind(annotation, kind):
    import libcst as cst

    from leaflint.model import build_model
    from leaflint.model.saved import annotation_kind

    model = build_model(cst.parse_module("import torch\nimport torch.nn as nn\nfrom torch import Tensor\n"))
    assert annotation_kind(model, cst.parse_expression(annotation)) == kind


def test_an_argument_annotated_as_a_container_is_not_a_tensor():
    # `feats` is a dict: the item assignment rebinds a slot; the saved tensor is intact
    assert _rows("""\
        import torch
        from typing import Dict
        def f(feats: Dict[str, torch.Tensor], w: torch.nn.Parameter):
            h = feats["h"]
            y = h * w
            feats["h"] = y
            y.sum().backward()
    """) == []
