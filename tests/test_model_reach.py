"""Model queries behind round five's summaries of calls and instances, on small snippets: names
drawn from named_parameters() and the setattr summaries that carry them to a write
(model/named_slots.py); attributes a constructor binds from its arguments and the methods a
call reaches through them (model/reach.py)."""

from __future__ import annotations

from model_query import model_of

from leaflint.model.named_slots import over_parameter
from leaflint.model.optimizers import replaced_params, stale_optimizers
from leaflint.model.reach import Resolver, receiver_calls, stores
from leaflint.model.values import ParamName, SelfRef

HEAD = "import torch\nfrom torch import nn\n"


def _slot_writes(src: str) -> list[tuple[str, str, bool, bool]]:
    model = model_of(HEAD + src)
    return [(model.text(w.assign.node), model.text(w.via_call) if w.via_call is not None else "",
             w.undotted, over_parameter(model, w)) for w in model.named_slot_writes]


def test_a_name_from_named_parameters_is_a_parameter_name_of_its_module():
    model = model_of(HEAD + """
class M(nn.Module):
    def step(self):
        for n, p in self.named_parameters():
            setattr(self, n, p * 2)
        for n, p in self.named_parameters(prefix="m"):
            setattr(self, n, p * 2)
        for n, b in self.named_buffers():
            setattr(self, n, b * 2)
""")
    names = [a.name_value for a in model.attr_assigns if a.attr == "<name>"]
    assert names == [ParamName(SelfRef("M")), None, None]


def test_own_parameters_or_an_undotted_branch_make_the_write_a_parameter_slot():
    src = """
class Own(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))
    def step(self):
        for n, p in self.named_parameters():
            setattr(self, n, p * 2)
class Children(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
    def step(self):
        for n, p in self.named_parameters():
            setattr(self, n, p * 2)
    def guarded(self):
        for n, p in self.named_parameters():
            if "." not in n:
                setattr(self, n, p * 2)
"""
    assert _slot_writes(src) == [
        ("setattr(self, n, p * 2)", "", False, True),  # Own: its own Parameter comes first
        ("setattr(self, n, p * 2)", "", False, False),  # only dotted names: plain attributes
        ("setattr(self, n, p * 2)", "", True, True),  # inside ``if "." not in n:``
    ]


def test_setattr_summary_is_judged_at_the_call_and_passed_up_through_forwarding_callers():
    src = """
def put(mod, name, value):
    if "." in name:
        head, rest = name.split(".", 1)
        for child_name, child in mod.named_children():
            if child_name == head:
                put(child, rest, value)
    else:
        setattr(mod, name, value)
def forward_it(m, key, v):
    put(m, key, v)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
    def update(self, grads):
        for (n, p), g in zip(self.named_parameters(), grads):
            forward_it(self, n, p - 0.1 * g)
    def keep(self):
        for n, p in self.named_parameters():
            put(self, n, nn.Parameter(p.detach()))
"""
    model = model_of(HEAD + src)
    found = [(model.text(w.assign.node), model.text(w.via_call), w.undotted, over_parameter(model, w),
              type(w.value).__name__) for w in model.named_slot_writes]
    assert sorted(found) == [
        ("setattr(mod, name, value)", "forward_it(self, n, p - 0.1 * g)", True, True, "PlainTensor"),
        ("setattr(mod, name, value)", "put(self, n, nn.Parameter(p.detach()))", True, True, "Fresh"),
    ]


def test_a_self_call_that_does_not_descend_drops_the_summary():
    src = """
def put(mod, name, value):
    if "." in name:
        put(mod, "weight", value)
    else:
        setattr(mod, name, value)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
    def update(self):
        for n, p in self.named_parameters():
            put(self, n, p * 2)
"""
    assert _slot_writes(src) == []


def test_deleted_parameters_and_other_objects_are_not_parameter_slots():
    src = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))
        self.other = nn.Linear(2, 2)
    def strip(self):
        for n, p in list(self.named_parameters()):
            del self._parameters[n]
            setattr(self, n, p * 2)
    def elsewhere(self):
        for n, p in self.named_parameters():
            setattr(self.other, n, p * 2)
"""
    assert [(text, over) for text, _, _, over in _slot_writes(src)] == [
        ("setattr(self, n, p * 2)", False), ("setattr(self.other, n, p * 2)", False)]


REACH = HEAD + """
class Q(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(1))
    def fit(self, x):
        self.s = nn.Parameter(x.max().reshape(1))
class Holder:
    def __init__(self, target, n=1):
        self.target = target
        self.n = n
        if n > 1:
            self.extra = target
    def go(self, x):
        self.target.fit(x)
class Outer:
    def __init__(self, holder):
        self.holder = holder
    def go(self, x):
        self.holder.go(x)
def helper(q, x):
    q.fit(x)
def main(x):
    model = Q()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Holder(model).go(x)
    h = Holder(model)
    h.go(x)
    Outer(Holder(model)).go(x)
    helper(model, x)
    Holder(Q()).go(x)
    opt.step()
"""


def test_constructor_stores_only_unconditional_single_bindings():
    model = model_of(REACH)
    assert stores(model, model.classes["Holder"]) == {"target": "target", "n": "n"}
    assert stores(model, model.classes["Outer"]) == {"holder": "holder"}


def test_receiver_calls_are_methods_called_on_paths_rooted_in_parameters():
    model = model_of(REACH)
    reach = receiver_calls(model)
    by_name = {f.name if f.cls is None else f"{f.cls.name}.{f.name}": reach.get(id(f), set()) for f in model.funcs}
    assert by_name["Holder.go"] == {("self", ("target",), "fit")}
    assert by_name["Outer.go"] == {("self", ("holder",), "go")}
    assert by_name["helper"] == {("q", (), "fit")}
    assert by_name["Q.fit"] == {("x", (), "max")}  # a tensor's method: no class of the file has it


def test_calls_through_wrappers_replace_the_module_they_were_given():
    model = model_of(REACH)
    _, through = replaced_params(model, lambda assign: False)
    replaced = {model.text(call.node): sorted(through[id(call.node)]) for call in model.arg_calls
                if id(call.node) in through}
    assert replaced == {"Holder(model).go(x)": ["model"], "h.go(x)": ["model"],
                        "Outer(Holder(model)).go(x)": ["model"], "helper(model, x)": ["model"]}
    stale = stale_optimizers(model, lambda assign: False)
    assert [model.text(s.node) for s in stale] == [
        "Holder(model).go(x)", "h.go(x)", "Outer(Holder(model)).go(x)", "helper(model, x)"]


def test_a_receiver_bound_twice_or_made_by_an_unknown_call_reaches_nothing():
    model = model_of(HEAD + """
import copy
class Q(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(1))
    def fit(self, x):
        self.s = nn.Parameter(x.max().reshape(1))
class Holder:
    def __init__(self, target):
        self.target = target
    def go(self, x):
        self.target.fit(x)
def main(x, other):
    model = Q()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = Holder(model)
    h = Holder(other)
    h.go(x)
    Holder(copy.deepcopy(model)).go(x)
    opt.step()
""")
    _, through = replaced_params(model, lambda assign: False)
    assert through == {}
    assert Resolver(model).by_node
