"""Paths into a function's arguments, lists and dicts built in a file, forwarded calls, method
calls on classes and instances, composite torch layers, and requires_grad switched off under a
condition: queries on the model of small snippets."""

from __future__ import annotations

from model_query import leaf_sites, model_of

from leaflint.model.project import path_data, path_from
from leaflint.model.values import Arg, Attr, Item, Key, Values, View

HEADER = "import functools\nimport torch\nfrom torch import nn\n"


def test_attribute_of_an_argument_is_resolved_at_each_call():
    src = HEADER + """
class MF(nn.Module):
    def __init__(self, n, k):
        super().__init__()
        self.P = nn.Parameter(torch.randn(n, k))
        self.table = torch.zeros(n, k)

def fit(model, rows):
    model.P[0] = rows[0]
    model.table[0] = rows[0]

fit(MF(3, 2), torch.randn(3, 2))
"""
    assert leaf_sites(src) == {"model.P[0] = rows[0]"}  # a plain tensor attribute is not a leaf


def test_attribute_path_needs_a_caller_passing_a_module_with_that_parameter():
    src = HEADER + """
def fit(model, rows):
    model.P[0] = rows[0]

class Plain:
    def __init__(self):
        self.P = torch.zeros(3)

fit(Plain(), torch.randn(3))
with torch.no_grad():
    fit(nn.Linear(2, 2), torch.randn(3))
"""
    assert leaf_sites(src) == set()


def test_elements_of_a_list_argument():
    src = HEADER + """
def step(params, lr):
    for p in params:
        p -= lr * p.grad

w = torch.zeros(3, requires_grad=True)
b = torch.zeros(3)
step([w, b], 0.1)
"""
    assert leaf_sites(src) == {"p -= lr * p.grad"}
    plain = src.replace("step([w, b], 0.1)", "step([b, b * 2], 0.1)")
    assert leaf_sites(plain) == set()


def test_elements_of_parameters_passed_to_a_helper():
    src = HEADER + """
def shrink(tensors):
    for t in tensors:
        t.mul_(0.5)

net = nn.Linear(2, 2)
shrink(net.parameters())
"""
    assert leaf_sites(src) == {"t.mul_(0.5)"}


def test_star_args_of_a_static_method_called_on_the_class():
    src = HEADER + """
class Neuron(nn.Module):
    def fresh(self):
        return torch.zeros(2, 4)

    @staticmethod
    def clear(*states):
        for s in states:
            s.zero_()

    @classmethod
    def clear_first(cls, state, other):
        state.zero_()

n = Neuron()
h = n.fresh()
h.requires_grad_()
Neuron.clear(torch.zeros(2), h)
Neuron.clear_first(torch.zeros(3), h)
"""
    # *states gets both arguments; a classmethod's first parameter is the class, not `torch.zeros(3)`
    assert leaf_sites(src) == {"s.zero_()"}
    swapped = src.replace("Neuron.clear_first(torch.zeros(3), h)", "Neuron.clear_first(h, torch.zeros(3))")
    assert leaf_sites(swapped) == {"s.zero_()", "state.zero_()"}


def test_method_return_summary_makes_a_plain_tensor_then_a_leaf():
    src = HEADER + """
class Maker(nn.Module):
    def blank(self):
        return torch.zeros(3)

m = Maker()
x = m.blank()
x.requires_grad_()
x.add_(1)
y = m.blank()
y.add_(1)
"""
    assert leaf_sites(src) == {"x.add_(1)"}


def test_parameters_kept_in_dicts_built_here():
    src = HEADER + """
class EdgeData(dict):
    pass

def build(n):
    edges = {}
    for e in range(n):
        data = EdgeData()
        data["alpha"] = nn.Parameter(torch.randn(4))
        data["count"] = torch.zeros(4)
        edges[e] = data
    return edges

def set_alpha(edge, i):
    a = edge["alpha"]
    a[i] = 1.0

def bump(edge, i):
    c = edge["count"]
    c[i] += 1

def each(edges):
    for _, d in edges.items():
        set_alpha(d, 0)
        bump(d, 0)

each(build(3))
local = {"w": nn.Parameter(torch.zeros(2)), "s": torch.zeros(2)}
local["w"][0] = 1.0
local["s"][0] = 1.0
"""
    assert leaf_sites(src) == {"a[i] = 1.0", 'local["w"][0] = 1.0'}


def test_iterating_a_dict_gives_its_keys_not_its_values():
    src = HEADER + """
def clear(d):
    for k in d:
        k.zero_()

clear({"w": nn.Parameter(torch.zeros(2))})
"""
    assert leaf_sites(src) == set()


def test_list_filled_by_append():
    src = HEADER + """
net = nn.Linear(2, 2)
params = []
for p in net.parameters():
    params.append(p)
for q in params:
    q.zero_()
"""
    assert leaf_sites(src) == {"q.zero_()"}


def test_forwarded_call_binds_the_arguments_after_the_function():
    src = HEADER + """
def prune(enc, column):
    enc.layers[0].linear1.weight[:, column] *= 0.0

enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)
later = functools.partial(prune, enc)
"""
    assert leaf_sites(src) == {"enc.layers[0].linear1.weight[:, column] *= 0.0"}


def test_element_callers_and_local_functions_do_not_forward():
    src = HEADER + """
def zero(t, *rest):
    t.zero_()

def run(fn, x):
    return None

w = nn.Parameter(torch.zeros(2))
list(map(zero, [w]))
run(zero, w)
"""
    assert leaf_sites(src) == set()


def test_composite_torch_layers_are_trees_of_layers():
    src = HEADER + """
enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)
enc.layers[1].self_attn.out_proj.weight[0] = 0.0
enc.layers[1].norm1.bias.zero_()
enc.layers[1].activation_relu_or_gelu = 1
"""
    assert leaf_sites(src) == {"enc.layers[1].self_attn.out_proj.weight[0] = 0.0", "enc.layers[1].norm1.bias.zero_()"}


def test_requires_grad_switched_off_under_a_condition():
    src = HEADER + """
class Enc(nn.Module):
    def __init__(self, vectors, freeze, tune):
        super().__init__()
        self.emb = nn.Embedding(4, 3)
        self.fixed = nn.Linear(3, 3)
        self.head = nn.Linear(3, 3)
        if freeze:
            self.emb.weight.requires_grad = False
        self.fixed.requires_grad_(False)
        if tune:
            pass
        else:
            self.head.requires_grad_(False)
        self.emb.weight.copy_(vectors)
        self.fixed.weight.zero_()

    def later(self):
        self.head.bias.zero_()
"""
    model = model_of(src)
    whens = {model.text(s.node): model.site_leaf(s).when for s in model.inplace if model.site_leaf(s) is not None}
    assert whens == {"self.emb.weight.copy_(vectors)": "not freeze", "self.head.bias.zero_()": "tune"}


def test_freeze_inside_the_branch_holds_there():
    src = HEADER + """
class Enc(nn.Module):
    def __init__(self, freeze):
        super().__init__()
        self.emb = nn.Embedding(4, 3)
        if freeze:
            self.emb.weight.requires_grad = False
            self.emb.weight.zero_()
        elif True:
            self.emb.weight.requires_grad = False
"""
    # inside the body the weight is frozen; a freeze in an `elif` is not one condition: unconditional
    assert leaf_sites(src) == set()


def test_argument_paths_round_trip_through_the_project_summary():
    target = View(Key(Item(Values(Attr(Arg("edges"), "table"))), "alpha"))
    steps = path_data(target)
    assert steps == [["attr", "table"], ["values"], ["item"], ["key", "alpha"], ["view"]]
    assert path_from(Arg("edges"), steps) == target


def test_module_tree_from_a_loader_passed_to_an_editing_function():
    src = HEADER + """
from transformers import AutoModel
import timm

def edit(model, j, v):
    model.encoder.layer[3].output.dense.weight[:, j] -= v

def edit_frozen(model, j):
    model.head.weight[j] = 0.0

bert = AutoModel.from_pretrained("bert-base-uncased")
edit(bert, 2, torch.randn(8))
vit = timm.create_model("vit_tiny_patch16_224")
vit.requires_grad_(False)
edit_frozen(vit, 1)
"""
    assert leaf_sites(src) == {"model.encoder.layer[3].output.dense.weight[:, j] -= v"}


def test_a_flag_made_leaf_is_one_only_where_the_flag_may_hold():
    """``requires_grad=flag`` (a factory or ``nn.Parameter``) makes a leaf "when `flag` is true";
    a write where the branches around it hold only with the flag false is on a constant."""
    src = HEADER + """
class Scale(nn.Module):
    def __init__(self, dim, learnable):
        super().__init__()
        self.s = nn.Parameter(torch.ones(dim), requires_grad=learnable)
        self.s.mul_(2.0)
        if not learnable:
            self.s.mul_(0.5)

def draw(n, flag):
    w = nn.Parameter(torch.empty(n), requires_grad=flag)
    w.normal_()
    if flag:
        w = w * 1.0
    else:
        w.add_(1.0)
    if flag:
        return w
    w.sub_(1.0)
    return w
"""
    model = model_of(src)
    whens = {model.text(s.node): model.site_leaf(s).when for s in model.inplace if model.site_leaf(s) is not None}
    assert whens == {"self.s.mul_(2.0)": "learnable", "w.normal_()": "flag"}


def test_a_flagged_parameter_is_still_a_parameter_and_a_subclass_is_not_claimed():
    """``nn.Parameter(t, requires_grad=flag)`` is a Parameter (LL3 reads its origin), a leaf when the
    flag is true; a Parameter subclass given a flag decides for itself: not claimed (the timm and
    bitsandbytes shapes of the round-five corpus run)."""
    src = HEADER + """
class QParam(nn.Parameter):
    pass

class Quant(nn.Module):
    def __init__(self, fp16):
        super().__init__()
        self.w = QParam(torch.zeros(3), requires_grad=fp16)
        self.w.zero_()
        self.t = nn.Parameter(torch.zeros(3))

    def resize(self):
        with torch.no_grad():
            self.t = nn.Parameter(self.t[:2], requires_grad=self.t.requires_grad)
"""
    model = model_of(src)
    assert [s for s in model.inplace if model.site_leaf(s) is not None] == []
    values = [a.value for a in model.attr_assigns if a.attr == "t"]
    assert [(v.origin, v.when) for v in values] == [("nn.Parameter(...)", None),
                                                    ("nn.Parameter(...)", "self.t.requires_grad")]
