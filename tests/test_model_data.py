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


def forward_outputs_cut(src: str) -> set[str]:
    model = model_of(src)
    return {model.text(r.node) for r in model.data_reads if model.cuts_forward_output(r)}


def test_data_read_that_is_the_whole_forward_output():
    src = """
import torch
from torch import nn

class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        h = torch.tanh(self.lin(x))
        out = h.data
        return out

class Rows(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        return self.lin(x).data[0]

def helper(m, x):
    return m(x).data
"""
    assert forward_outputs_cut(src) == {"h.data", "self.lin(x).data"}


def test_data_reads_beside_the_output_are_not_cuts():
    src = """
import torch
from torch import nn

class StraightThrough(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.stats = []

    def forward(self, x):
        h = self.lin(x)
        self.stats.append(h.data.mean())
        return h + (h.round() - h).data

class Either(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        h = self.lin(x)
        if self.training:
            return h
        return h.data

class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    @torch.no_grad()
    def forward(self, x):
        return self.lin(x).data
"""
    assert forward_outputs_cut(src) == set()


def test_graph_roots_of_names_follow_statement_order_and_grad_mode():
    from leaflint.model.roots import MODULE
    src = """
import torch
from torch import nn

net = nn.Linear(2, 2)

def f(x, w):
    h = net(x)
    a = h * 2
    b = a.detach() + w
    p = nn.Parameter(torch.ones(2))
    p.data = a
    p.data = b
    with torch.no_grad():
        c = net(x)
    p.data = c
    a = torch.zeros(2)
    p.data = a
"""
    model = model_of(src)
    roots = [(model.text(w.node), w.value_roots) for w in model.data_writes]
    assert roots == [("p.data = a", frozenset({MODULE, "x"})), ("p.data = b", frozenset({"w"})),
                     ("p.data = c", frozenset()), ("p.data = a", frozenset())]


def test_value_of_a_given_callable_is_not_a_module_output():
    src = """
import torch
from torch import nn

class Conv(nn.Module):
    def __init__(self, shape, kernel_init=None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))
        if kernel_init is not None:
            self.weight.data = kernel_init(self.weight.data.shape)
"""
    model = model_of(src)
    assert [w.value_roots for w in model.data_writes] == [frozenset()]


def test_update_step_reading_its_own_grad_is_not_a_graph_cut():
    """Principle (round four, precision): `p.data = p.data - p.grad * f(rate)` is an optimizer-style
    update that reads the written tensor's own `.grad`; a learned rate's graph is not meant to reach
    the weights through it. The same write without the own `.grad` discards the rate's graph."""
    from leaflint.model.judge import harm

    src = """
import torch
import torch.nn.functional as F
from torch import nn

def meta_step(model, rates):
    for p, rate in zip(model.parameters(), rates.parameters()):
        p.data = p.data - p.grad * F.softplus(rate)

def scale_step(model, rates):
    for p, rate in zip(model.parameters(), rates.parameters()):
        p.data = p.data * F.softplus(rate)
"""
    model = model_of(src)
    kinds = {w.ctx.func.name: (harm(model, w).kind if harm(model, w) else None) for w in model.data_writes}
    assert kinds["meta_step"] != "discards-graph"
    assert kinds["scale_step"] == "discards-graph"


def test_value_transfers_outside_the_graph_are_not_graph_cuts():
    """Principles (round four, precision), in the undetached form the static pass accepts: a module
    re-deriving its own parameter from its own state outside forward (a load), a shape-only
    conversion into a deep copy's parameter (a transfer), and a `.data` write in forward behind a
    one-time flag it sets (first-call setup). fixtures/ll2_good_records_and_steps.py detaches these
    values, because the probe reports any discarded graph as a missed LL201."""
    from leaflint.model.judge import harm

    src = """
import copy
import torch
from torch import nn

class Whitener(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Parameter(torch.eye(dim))
        self.var = nn.Parameter(torch.ones(dim))

    def load_stats(self):
        self.proj.data = self.proj @ torch.diag(self.var.rsqrt())

class LazyRounded(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim))
        self.rounded = False

    def forward(self, x):
        if not self.rounded:
            step = self.weight.abs().mean()
            self.weight.data = torch.round(self.weight / step) * step
            self.rounded = True
        return x @ self.weight

def widen(module, batch):
    wide = copy.deepcopy(module)
    for name, param in module.named_parameters():
        getattr(wide, name).data = param.expand(batch, *param.shape)
    return wide
"""
    model = model_of(src)
    found = {w.ctx.func.name: harm(model, w) for w in model.data_writes}
    assert found["load_stats"] is None and found["forward"] is None and found["widen"] is None, found
