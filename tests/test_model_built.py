"""Model queries for LL3: modules built in forward and only applied, what helpers return, plain
tensors from tensor methods, and layers whose parameters depend on a constructor flag."""

from __future__ import annotations

from model_query import model_of

from leaflint.model.values import ModuleInstance, PlainTensor

HEADER = "import torch\nfrom torch import nn\n"


def built(source: str) -> set[tuple[str, object]]:
    model = model_of(HEADER + source)
    return {(model.text(b.node), b.local) for b in model.built_in_forward()}


def test_inline_and_local_modules_applied_unregistered():
    src = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

class Net(nn.Module):
    def forward(self, x):
        a = nn.Linear(4, 4)(x)
        b = nn.Sequential(nn.Conv1d(4, 4, 1), nn.ReLU())(a)
        conv = nn.Conv1d(4, 4, 3).to(x.device)
        conv = conv.cuda()
        c = conv(b)
        return Block(4).to(x.device)(c)
"""
    assert built(src) == {("nn.Linear(4, 4)", None), ("nn.Sequential(nn.Conv1d(4, 4, 1), nn.ReLU())", None),
                          ("nn.Conv1d(4, 4, 3)", "conv"), ("Block(4)", None)}


def test_parameterless_frozen_and_flagged_off_layers_are_not_built_modules():
    src = """
class Net(nn.Module):
    def forward(self, x):
        x = nn.ReLU()(x)
        x = nn.Sequential(nn.ReLU(), nn.Dropout(0.1))(x)
        x = nn.LayerNorm(4, elementwise_affine=False)(x)
        x = nn.LayerNorm(4, 1e-5, False)(x)
        x = nn.BatchNorm1d(4, affine=False)(x)
        x = nn.InstanceNorm1d(4)(x)
        x = nn.LayerNorm(4, elementwise_affine=self.affine)(x)
        x = nn.Linear(4, 4).requires_grad_(False)(x)
        return nn.InstanceNorm1d(4, affine=True)(x)
"""
    assert built(src) == {("nn.InstanceNorm1d(4, affine=True)", None)}


def test_locals_that_escape_are_unknown():
    src = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList()
        self.head = None

    def forward(self, x):
        a = nn.Linear(4, 4)
        self.layers.append(a)
        b = nn.Linear(4, 4)
        self.head = b
        c = nn.Linear(4, 4)
        d = nn.Linear(4, 4)
        d = self.head
        e = nn.Linear(4, 4)
        f = lambda t: e(t)
        g = nn.Linear(4, 4)
        return a(b(c(d(f(x))))), c, g.weight
"""
    assert built(src) == set()


def test_outside_forward_is_not_a_built_module_but_a_helper_reached_from_forward_is():
    src = """
def make(d):
    layer = nn.Linear(d, d)
    return layer(torch.zeros(d))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        nn.Linear(4, 4)(torch.zeros(4))

    def _mix(self, x):
        return nn.Bilinear(4, 4, 4)(x, x)

    def forward(self, x):
        return self._mix(self.fc(x))
"""
    assert built(src) == {("nn.Bilinear(4, 4, 4)", None)}


def returned(source: str) -> dict[str, object]:
    model = model_of(HEADER + source)
    return {a.attr: model.value_assigned(a) for a in model.attr_assigns}


def test_a_helper_defined_later_returns_a_plain_tensor_on_every_path():
    src = """
class M(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_parameter("a", self.plain(n))
        self.register_parameter("b", self.param(n))
        self.register_parameter("c", self.mixed(n))
        self.register_parameter("d", self.nothing(n))
        self.register_parameter("e", table(n))

    def plain(self, n):
        if n > 2:
            return torch.zeros(n).exp()
        return torch.ones(n) * 2

    def param(self, n):
        return nn.Parameter(torch.zeros(n))

    def mixed(self, n):
        if n:
            return torch.zeros(n)
        return nn.Parameter(torch.zeros(n))

    def nothing(self, n):
        pass

def table(n):
    return torch.arange(n).float().sqrt()
"""
    values = returned(src)
    assert values["a"] == PlainTensor() and values["e"] == PlainTensor()
    assert values["b"] != PlainTensor()  # returns a Parameter: not a plain tensor
    assert values["c"] is None and values["d"] is None


def test_tensor_methods_on_a_plain_tensor_give_a_plain_tensor():
    src = """
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))

    def update(self, x):
        self.a = (x.mean(0) - self.w).sqrt().clamp(min=1e-4)
        self.b = torch.randn(3).mul(2).to(x.device)
        self.c = torch.randn(3).max()
        self.d = torch.randn(3).split(1)
        self.e = torch.randn(3).size()
"""
    values = returned(src)
    assert values["a"] == PlainTensor() and values["b"] == PlainTensor()
    assert values["c"] is None and values["d"] is None and values["e"] is None


def test_norm_layers_own_parameters_by_their_affine_flag():
    src = """
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(4)
        self.ln_off = nn.LayerNorm(4, elementwise_affine=False)
        self.inorm = nn.InstanceNorm2d(4)
        self.inorm_on = nn.InstanceNorm2d(4, affine=True)
        self.bn_off = nn.BatchNorm2d(4, 1e-5, 0.1, False)
"""
    model = model_of(HEADER + src)
    owns = {a.attr: model.module_owns_parameters(a.value) for a in model.attr_assigns
            if isinstance(a.value, ModuleInstance)}
    assert owns == {"ln": True, "ln_off": False, "inorm": False, "inorm_on": True, "bn_off": False}
