"""LL4 model queries on snippets: layer chains in ``nn.Sequential`` (``saved_chain``) and the class
summary "forward returns the output its last op saved" (``forward_saved_op``)."""

from __future__ import annotations

import textwrap

import libcst as cst

from leaflint.model.saved import forward_saved_op, load_table
from leaflint.model.saved_chain import chain_hits
from leaflint.model.semantic import SemanticModel


def _model(source: str) -> SemanticModel:
    return SemanticModel(cst.parse_module(textwrap.dedent(source)))


def _chain(source: str) -> list[tuple[str, str]]:
    model = _model(source)
    return [(model.text(h.save.node), model.text(h.write.node)) for h in chain_hits(model, load_table())]


def _summary(source: str, cls: str):
    return forward_saved_op(_model(source), load_table(), cls, {})


HEAD = "import torch\nimport torch.nn as nn\n"


def test_inplace_layer_after_a_layer_that_saves_its_output():
    assert _chain(HEAD + "net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.3, inplace=True))\n") \
        == [("nn.ReLU()", "nn.Dropout(0.3, inplace=True)")]
    assert _chain(HEAD + "net = nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=1), nn.ReLU(True))\n") \
        == [("nn.Softmax(dim=1)", "nn.ReLU(True)")]
    # an in-place ReLU saves its own result too: an in-place dropout after it breaks it
    assert _chain(HEAD + "net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Dropout2d(inplace=True))\n") \
        == [("nn.ReLU(inplace=True)", "nn.Dropout2d(inplace=True)")]


def test_layers_that_do_not_save_their_output_may_be_followed_by_inplace_ones():
    for layers in ("nn.Linear(4, 4), nn.ReLU(inplace=True)",
                   "nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True)",
                   "nn.Linear(4, 4), nn.Dropout(0.5, inplace=True), nn.ReLU()",
                   "nn.Linear(4, 4), nn.GELU(), nn.Dropout(0.1, inplace=True)",
                   "nn.Linear(4, 4), nn.ELU(), nn.ReLU(inplace=True)",
                   "nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.5)",
                   "nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.0, inplace=True)",
                   "nn.Linear(4, 4), nn.ReLU(), nn.Dropout(p=0, inplace=True)",
                   "nn.Linear(4, 4), nn.Tanh(), nn.AlphaDropout(0.2, inplace=True)",
                   "nn.Linear(4, 4), nn.Sigmoid(), nn.ReLU(inplace=flag)"):
        assert _chain(HEAD + f"net = nn.Sequential({layers})\n") == [], layers


def test_the_saved_output_must_require_grad():
    # nothing with parameters before the ReLU: its input may not require grad
    assert _chain(HEAD + "net = nn.Sequential(nn.ReLU(), nn.Dropout(0.3, inplace=True))\n") == []


def test_appended_layers_adjacent_in_one_block():
    source = HEAD + textwrap.dedent("""\
        def build(d, n, use_drop):
            layers = []
            for _ in range(n):
                layers.append(nn.Linear(d, d))
                layers.append(nn.Tanh())
                layers.append(nn.Dropout(0.1, inplace=True))
            return nn.Sequential(*layers)
        """)
    assert _chain(source) == [("nn.Tanh()", "nn.Dropout(0.1, inplace=True)")]
    # another statement between the two appends: not known to be adjacent
    gap = source.replace("        layers.append(nn.Dropout", "        if use_drop:\n            layers.append(nn.Dropout")
    assert _chain(gap) == []
    # a list that never becomes a Sequential (a ModuleList used by a forward of its own)
    assert _chain(source.replace("nn.Sequential(*layers)", "nn.ModuleList(layers)")) == []


def test_summary_forward_ends_in_an_op_that_saves_its_output():
    source = HEAD + textwrap.dedent("""\
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
                self.act = nn.ReLU()
            def forward(self, x):
                x = self.conv(x)
                return self.act(x)
        class Squash(nn.Module):
            def forward(self, x):
                return torch.tanh(x)
        class Outer(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Block()
            def forward(self, x):
                return self.inner(x)
        class Called(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.Sigmoid()
            def __call__(self, x):
                return self.act(x)
        """)
    assert _summary(source, "Block") == "relu"
    assert _summary(source, "Squash") == "tanh"
    assert _summary(source, "Outer") == "relu"  # through the submodule's own summary
    assert _summary(source, "Called") == "sigmoid"


def test_summary_unknown_when_any_path_returns_something_else():
    source = HEAD + textwrap.dedent("""\
        class Maybe(nn.Module):
            def __init__(self, act):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
                self.act = nn.ReLU() if act else None
            def forward(self, x):
                x = self.conv(x)
                if self.act is not None:
                    x = self.act(x)
                return x
        class Pair(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.ReLU()
            def forward(self, x):
                return self.act(x), x
        class Cloned(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.ReLU()
            def forward(self, x):
                return self.act(x).clone()
        class Norm(nn.Module):
            def __init__(self):
                super().__init__()
                self.norm = nn.BatchNorm2d(4)
            def forward(self, x):
                return self.norm(x)
        class Loop(nn.Module):
            def __init__(self):
                super().__init__()
                self.me = Loop()
            def forward(self, x):
                return self.me(x)
        """)
    for cls in ("Maybe", "Pair", "Cloned", "Norm", "Loop"):
        assert _summary(source, cls) is None, cls
