"""Model queries behind round four's LL2/LL3 mechanisms, on small snippets: values derived from a
leaf (graph-bound names), random perturbations, `_parameters` stores, optimizers outliving what
they hold, and callee outputs cut from their inputs by no_grad."""

from __future__ import annotations

from model_query import model_of

from leaflint.model.judge import harm, perturbs
from leaflint.model.nograd import cut_calls, cut_parameters
from leaflint.model.optimizers import stale_optimizers


def _harms(src: str) -> dict[str, str]:
    model = model_of(src)
    return {model.text(w.node): found.kind for w in model.data_writes if (found := harm(model, w)) is not None}


def test_value_derived_from_a_leaf_is_part_of_its_graph():
    src = """
import torch
def f(x):
    a = torch.ones(3, requires_grad=True)
    out = a.sigmoid()
    alias = out.data
    alias.zero_()
    plain = x.sigmoid()
    plain.data.clamp_(0, 1)
    with torch.no_grad():
        target = a * 2
    target.data.clamp_(0, 1)
    (out + plain + target).sum().backward()
    late = a.tanh()
    late.sum().backward()
    late.data.zero_()
"""
    assert _harms(src) == {"alias.zero_()": "before-backward"}


def test_random_perturbation_is_told_from_a_projection():
    model = model_of("""
import torch
from torch import nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
    def forward(self, x):
        self.w.data.add_(torch.randn_like(self.w) * 0.1)
        self.w.data += torch.empty(3).uniform_(-1, 1)
        self.w.data.clamp_(0, 1)
        self.w.data.add_(1.0)
        return x * self.w
""")
    got = {model.text(w.node): perturbs(w) for w in model.data_writes}
    assert got == {"self.w.data.add_(torch.randn_like(self.w) * 0.1)": True,
                   "self.w.data += torch.empty(3).uniform_(-1, 1)": True,
                   "self.w.data.clamp_(0, 1)": False, "self.w.data.add_(1.0)": False}


def test_parameters_table_store_is_an_attribute_assignment():
    model = model_of("""
import torch
def put(m, name, t):
    m._parameters[name] = t
    m._parameters["bias"] = t * 2
""")
    assert sorted((model.text(a.owner_node), a.attr) for a in model.attr_assigns) == [("m", "<name>"), ("m", "bias")]


STALE = """
import torch
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.s = nn.Parameter(torch.ones(1))
    def reset(self):
        self.s = nn.Parameter(torch.zeros(1))
    def forward(self, x):
        return self.fc(x) * self.s
def swap(model):
    setattr(model, "fc", nn.Linear(2, 2))
def outer(model):
    swap(model)
def train(net, opt):
    opt.step()
def run():
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    outer(net)
    net.reset()
    train(net, opt)
    net.fc = nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    opt.step()
"""


def test_replacement_through_calls_then_the_same_optimizer():
    model = model_of(STALE)
    stale = stale_optimizers(model, lambda assign: False)
    assert [(model.text(s.node), s.optimizer, s.owner, model.text(s.used)) for s in stale] == [
        ("outer(net)", "opt", "net", "train(net, opt)"),
        ("net.reset()", "opt", "net", "train(net, opt)"),
    ]


CUT = """
import torch
from torch import nn
class Bound(nn.Module):
    def forward(self, w, x):
        with torch.no_grad():
            v = w.clamp(0, 1)
            m = x.mean()
        y = v * 2
        return y + x - m
class Use(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.bound = Bound()
    def forward(self, x):
        a = self.bound(self.w, x)
        b = self.bound(x, self.w)
        with torch.no_grad():
            c = self.bound(self.w, x)
        return a + b + c
"""


def test_output_cut_from_a_parameter_by_no_grad():
    model = model_of(CUT)
    bound = next(f for f in model.funcs if f.cls is not None and f.cls.name == "Bound")
    assert set(cut_parameters(model, bound).cut) == {"w"}
    assert [(model.text(c.call), c.param, c.arg_text) for c in cut_calls(model)] == [
        ("self.bound(self.w, x)", "w", "self.w")]
