"""Flow-sensitive facts: statement order, branches, try/except, one-time guards."""

from __future__ import annotations

from model_query import leaf_sites, model_of, replaced_slots, written_leaves

HEADER = "import torch\nfrom torch import nn\n"


def test_tensor_first_bound_then_wrapped_in_init_is_not_a_replacement():
    src = HEADER + """
class Rate(nn.Module):
    def __init__(self):
        super().__init__()
        self.lr = torch.tensor(0.1)
        self.lr = nn.Parameter(self.lr)

    def shrink(self):
        self.lr = self.lr * 0.5
"""
    slots = replaced_slots(src)
    assert "self.lr = torch.tensor(0.1)" not in slots  # nothing registered yet
    assert "self.lr = self.lr * 0.5" in slots  # a Parameter by now: TypeError


def test_init_assignment_after_the_parameter_is_a_replacement():
    src = HEADER + """
class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = nn.Parameter(torch.ones(2))
        self.g = self.g.detach() * 2
"""
    assert "self.g = self.g.detach() * 2" in replaced_slots(src)


def test_parameter_on_a_sibling_branch_does_not_reach():
    src = HEADER + """
class Bias(nn.Module):
    def __init__(self, learn):
        super().__init__()
        if learn:
            self.b = nn.Parameter(torch.zeros(3))
        else:
            self.b = torch.zeros(3)
"""
    assert replaced_slots(src) == set()


def test_base_class_registration_counts_in_a_subclass_init():
    src = HEADER + """
class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

class Child(Base):
    def __init__(self):
        super().__init__()
        self.w = torch.zeros(2)
"""
    assert "self.w = torch.zeros(2)" in replaced_slots(src)


def test_typeerror_fallback_is_deliberate():
    src = HEADER + """
class Slot(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def load(self, t):
        try:
            self.w = t.detach()
        except TypeError:
            self.w = nn.Parameter(t.detach())

    def load_strict(self, t):
        try:
            self.w = t.detach()
        except TypeError:
            raise ValueError("bad")
"""
    slots = replaced_slots(src)
    assert "self.w = t.detach()" in slots  # only the re-raising one is left
    model = model_of(src)
    in_load = [a for a in model.attr_assigns if a.ctx.func.name == "load" and model.text(a.node) == "self.w = t.detach()"]
    assert in_load and model.falls_back_on(in_load[0].ctx, "TypeError")


def test_runtimeerror_handler_does_not_excuse_an_inplace_write():
    src = HEADER + """
w = torch.zeros(3, requires_grad=True)
try:
    w.add_(1)
except RuntimeError:
    w = w + 1
w.mul_(2)
"""
    sites = written_leaves(src)
    assert sites["w.add_(1)"] is True  # always raises on a leaf: the try body never works
    assert sites["w.mul_(2)"] is False  # w was rebound to a non-leaf


def test_branch_condition_implies_no_grad():
    src = HEADER + """
def clip(model):
    for p in model.parameters():
        if not p.requires_grad:
            p.clamp_(-1, 1)
        else:
            p.mul_(0.5)
    for q in model.parameters():
        if q.requires_grad:
            q.zero_()
        else:
            q.fill_(1.0)
"""
    sites = written_leaves(src)
    assert sites == {"p.clamp_(-1, 1)": False, "p.mul_(0.5)": True, "q.zero_()": True, "q.fill_(1.0)": False}


def test_parameter_subclass_with_requires_grad_false():
    src = HEADER + """
class QuantWeight(nn.Parameter):
    pass

class Scale(nn.Parameter):
    def __new__(cls, data):
        return super().__new__(cls, data, requires_grad=False)

class Q(nn.Module):
    def __init__(self):
        super().__init__()
        self.qw = QuantWeight(torch.ones(4), requires_grad=False)
        self.tw = QuantWeight(torch.ones(4))
        self.s = Scale(torch.ones(1))

    def forward(self, x):
        self.qw[0] = 1.0
        self.tw[0] = 1.0
        self.s[0] = 1.0
        return x
"""
    sites = written_leaves(src)
    assert sites == {"self.qw[0] = 1.0": False, "self.tw[0] = 1.0": True, "self.s[0] = 1.0": False}


def test_attribute_bound_to_a_dict_on_another_path():
    src = HEADER + """
class Masks(nn.Module):
    def __init__(self, learn):
        super().__init__()
        if learn:
            self.mask = nn.Parameter(torch.ones(4))
        else:
            self.mask = {}
        self.w = nn.Parameter(torch.ones(4))

    def set(self, k, v):
        self.mask[k] = v
        self.w[k] = v
"""
    sites = written_leaves(src)
    assert sites == {"self.mask[k] = v": False, "self.w[k] = v": True}


def test_one_time_guards():
    src = HEADER + """
class Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.ready = False

    def forward(self, x):
        if not self.ready:
            self.proto = nn.Parameter(x.mean(0).detach())
            self.ready = True
        if x.shape[0] > 2:
            self.other = nn.Parameter(x.mean(0).detach())
        return x - self.proto
"""
    model = model_of(src)
    once = {model.text(a.node): model.created_once(a) for a in model.attr_assigns}
    assert once["self.proto = nn.Parameter(x.mean(0).detach())"] is True
    assert once["self.other = nn.Parameter(x.mean(0).detach())"] is False


def test_one_time_replacement_of_what_init_built_is_not_creation():
    src = HEADER + """
class Bias(nn.Module):
    def __init__(self, n, h):
        super().__init__()
        self.table = nn.Embedding(n, h)
        self.expand = True

    def forward(self, x):
        if self.expand:
            self.table = nn.Embedding(9, 2)
            self.expand = False
        return x
"""
    model = model_of(src)
    replaced = [a for a in model.attr_assigns if model.text(a.node) == "self.table = nn.Embedding(9, 2)"]
    assert replaced and not model.created_once(replaced[0])


def test_names_bound_differently_on_joining_branches_are_unknown():
    src = HEADER + """
def step(x, y, w):
    if y is not None:
        t = x * 2
    else:
        t = torch.zeros(3, requires_grad=True)
    t.add_(1)
    if x is None:
        u = torch.zeros(3, requires_grad=True)
    else:
        return w
    u.add_(1)
    v = torch.zeros(3, requires_grad=True)
    if y is None:
        v = v * 2
    v.add_(1)
    k = torch.zeros(3, requires_grad=True)
    if y is None:
        print(y)
    k.add_(1)
"""
    sites = written_leaves(src)
    assert sites["t.add_(1)"] is False  # a computed value on one path, a leaf on the other
    assert sites["u.add_(1)"] is True  # the other path returned: only the leaf reaches here
    assert sites["v.add_(1)"] is False  # rebound on one path only: the paths disagree
    assert sites["k.add_(1)"] is True  # the same leaf on both paths


def test_early_exit_guards():
    src = HEADER + """
class Quant(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.ones(1)
        self.codes = None

    def _learnable(self):
        if isinstance(self.scale, nn.Parameter):
            return
        self.scale.mul_(2)
        self.scale = nn.Parameter(self.scale)

    def _codes(self, n):
        if self.codes is not None:
            return
        self.codes = nn.Parameter(torch.zeros(n))

    def forward(self, x):
        self._learnable()
        self._codes(3)
        return x * self.scale + self.codes.sum()


class Shrink(nn.Module):
    def __init__(self):
        super().__init__()
        self.codes = None

    def _again(self):
        if self.codes is None:
            return
        self.codes = nn.Parameter(self.codes * 2)

    def forward(self, x):
        self._again()
        return x
"""
    model = model_of(src)
    assert leaf_sites(src) == set()  # after the isinstance exit, self.scale is the plain tensor
    once = {model.text(a.node): model.created_once(a) for a in model.attr_assigns
            if a.ctx.func.name in ("_learnable", "_codes", "_again")}
    assert once["self.scale = nn.Parameter(self.scale)"] is True
    assert once["self.codes = nn.Parameter(torch.zeros(n))"] is True
    assert once["self.codes = nn.Parameter(self.codes * 2)"] is False  # runs on every call


def test_a_library_call_that_takes_a_module_leaves_its_parameters_unknown():
    src = HEADER + """
from somelib import convert_

def load(state):
    net = nn.Linear(2, 2)
    net.weight.zero_()
    convert_(net)
    net.bias.zero_()
    print(net)
"""
    sites = written_leaves(src)
    assert sites["net.weight.zero_()"] is True
    assert sites["net.bias.zero_()"] is False  # convert_ may have swapped the weights


def test_a_parameter_annotation_with_callers_passing_frozen_parameters():
    src = HEADER + """
def put(slot: nn.Parameter, i, v):
    slot[i] = v

def put_any(slot: nn.Parameter, i, v):
    slot[i] = v

class Pool(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Parameter(torch.zeros(3), requires_grad=False)
        self.live = nn.Parameter(torch.zeros(3))

    def fill(self):
        put(self.frozen, 0, 1.0)
        put_any(self.frozen, 0, 1.0)
        put_any(self.live, 0, 1.0)
"""
    model = model_of(src)
    by_func = {}
    for site in model.inplace:
        if site.via_call is None:
            by_func[site.ctx.func.name] = model.site_leaf(site) is not None
    assert by_func == {"put": False, "put_any": True}
