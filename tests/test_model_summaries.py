"""Function summaries (parameters written in place, returned values) and instances of modules."""

from __future__ import annotations

from model_query import leaf_sites, model_of, written_leaves

HEADER = "import torch\nfrom torch import nn\n"


def test_helper_writing_its_argument_is_reported_at_the_call():
    src = HEADER + """
def init_table(t, n, d):
    t[:, 0] = 0.0

def scale_rows(t):
    t.mul_(0.5)

emb = nn.Embedding(4, 3)
init_table(emb.weight, 4, 3)
init_table(torch.zeros(4, 3), 4, 3)
scale_rows(t=emb.weight)
with torch.no_grad():
    init_table(emb.weight, 4, 3)
"""
    model = model_of(src)
    calls = [s for s in model.inplace if s.via_call is not None]
    flagged = sorted((model.text(s.node), model.text(s.via_call)) for s in calls
                     if model.site_leaf(s) is not None and model.grad_at(s.ctx).value == "on")
    # reported at the write (where torch raises), naming the call that passes the leaf
    assert flagged == [("t.mul_(0.5)", "scale_rows(t=emb.weight)"),
                       ("t[:, 0] = 0.0", "init_table(emb.weight, 4, 3)")]


def test_summaries_compose_bottom_up_and_respect_no_grad_inside():
    src = HEADER + """
def fill(t):
    t.fill_(1.0)

def outer(x):
    fill(x)

@torch.no_grad()
def safe_fill(t):
    t.fill_(2.0)

def guarded(t):
    with torch.no_grad():
        t.fill_(3.0)

lin = nn.Linear(2, 2)
outer(lin.weight)
safe_fill(lin.weight)
guarded(lin.bias)
"""
    assert leaf_sites(src) == {"t.fill_(1.0)"}


def test_method_summary_skips_self():
    src = HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def reset(self, w):
        w.uniform_(-0.1, 0.1)

    def run(self):
        self.reset(self.lin.weight)
"""
    assert leaf_sites(src) == {"w.uniform_(-0.1, 0.1)"}


def test_initialiser_over_named_parameters():
    src = HEADER + """
def init_fn(p):
    p.normal_(0, 0.02)

def init_all(model):
    for name, p in model.named_parameters():
        init_fn(p)
"""
    assert leaf_sites(src) == {"p.normal_(0, 0.02)"}


def test_returned_fresh_leaf():
    src = HEADER + """
def make_weights(shape, s=0.1):
    return (torch.randn(shape) * s).requires_grad_()

def maybe(shape, flag):
    if flag:
        return torch.randn(shape).requires_grad_()
    return torch.randn(shape)

w = make_weights((3,))
w[0] *= 2
v = maybe((3,), True)
v[0] *= 2
"""
    assert leaf_sites(src) == {"w[0] *= 2"}


def test_instance_of_a_local_module_class():
    src = HEADER + """
class MF(nn.Module):
    def __init__(self, n, k):
        super().__init__()
        self.U = nn.Parameter(torch.randn(n, k))
        self.register_buffer("V", torch.randn(n, k))

model = MF(3, 2)
model.U[0] = 1.0
model.V[0] = 1.0
"""
    assert leaf_sites(src) == {"model.U[0] = 1.0"}


def test_module_container_items_and_loops():
    src = HEADER + """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, 12, 1) for _ in range(3)])
        self.mixed = nn.ModuleList([nn.Conv2d(3, 12, 1), nn.ReLU()])
        self.seq = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))

    def bias_init(self, strides):
        for conv, s in zip(self.convs, strides):
            b = conv.bias.view(3, -1)
            b[:, 4] += 1.0
        for i, m in enumerate(self.mixed):
            m.bias.zero_()
        self.seq[0].weight.zero_()
"""
    sites = written_leaves(src)
    assert sites == {"b[:, 4] += 1.0": True, "m.bias.zero_()": False, "self.seq[0].weight.zero_()": True}


def test_module_trees_from_factories_unless_frozen():
    src = """
import torch
import timm
import torchvision
from transformers import AutoModel, AutoTokenizer

def edit(j, v):
    model = AutoModel.from_pretrained("bert-base-uncased")
    model.encoder.layer[3].output.dense.weight[:, j] -= v
    tok = AutoTokenizer.from_pretrained("bert-base-uncased")
    tok.weight[0] = 1
    net = torchvision.models.resnet18()
    net.fc.bias.zero_()
    backbone = timm.create_model("resnet18").eval()
    backbone.requires_grad_(False)
    backbone.fc.bias.zero_()
    hub = torch.hub.load("repo", "model")
    for p in hub.parameters():
        p.requires_grad = False
    hub.head.weight.mul_(0.5)
"""
    sites = written_leaves(src)
    assert sites == {"model.encoder.layer[3].output.dense.weight[:, j] -= v": True, "tok.weight[0] = 1": False,
                     "net.fc.bias.zero_()": True, "backbone.fc.bias.zero_()": False, "hub.head.weight.mul_(0.5)": False}


def test_requires_grad_flag_is_conditional():
    src = HEADER + """
def make(shape, flag):
    w = torch.empty(shape, requires_grad=flag)
    w.normal_()
    return w
"""
    model = model_of(src)
    site = next(s for s in model.inplace if model.text(s.node) == "w.normal_()")
    leaf = model.site_leaf(site)
    assert leaf is not None and leaf.when == "flag"


def test_returned_parameter_lists_carry_the_callers_module():
    src = HEADER + """
def named_state(m):
    return list(m.named_parameters()) + list(m.named_buffers())

def plain_list(m):
    return list(m.parameters())

def buffers(m):
    return list(m.buffers())

net = nn.Linear(2, 2)
for name, t in named_state(net):
    t.add_(1.0)
for p in plain_list(m=net):
    p.mul_(2.0)
for b in buffers(net):
    b.zero_()
with torch.no_grad():
    for p in plain_list(net):
        p.sub_(1.0)
"""
    # the helpers give the caller the parameters of the module it passes (by position or name);
    # a list of buffers is not a list of parameters, and no_grad still holds at the caller
    assert leaf_sites(src) == {"t.add_(1.0)", "p.mul_(2.0)"}


def test_requires_grad_on_a_copy_makes_a_leaf():
    src = HEADER + """
def fit(x, y):
    a = x.detach().requires_grad_()
    a += 1
    b = x[0].clone().float().requires_grad_(True)
    b.zero_()
    c = x.clone()
    c += 1
    d = y.requires_grad_()
    d += 1
    e = x.detach()
    e += 1
"""
    # a copy marked to require grad is a leaf; a plain copy, or an argument whose grad state is
    # unknown (it may be a non-leaf, on which requires_grad_() does nothing), is not known to be one
    assert leaf_sites(src) == {"a += 1", "b.zero_()"}
def graph_argument_writes(src: str) -> dict[str, str]:
    """Each helper's `.data` write judged at a call -> the call (by text)."""
    model = model_of(src)
    return {model.text(w.node): model.text(model.graph_argument_call(w))
            for w in model.data_writes if model.graph_argument_call(w) is not None}


def test_data_write_on_a_graph_argument_before_backward():
    src = """
import torch
from torch import nn

G = nn.Linear(4, 4)

def squash(x):
    y = (x + 1) * 0.5
    y.data[0] = y.data[0] * 4
    return y

def fix_range(t):
    t.data.clamp_(-1, 1)

def outer(t):
    fix_range(t)

def step(z):
    out = squash(G(z))
    out.sum().backward()

def step2(z, post):
    fake = G(z)
    outer(fake)
    post(fake).sum().backward()

step2(torch.randn(2, 4), squash)
"""
    assert graph_argument_writes(src) == {
        "y.data[0] = y.data[0] * 4": "squash(G(z))",
        "t.data.clamp_(-1, 1)": "outer(fake)",
    }


def test_data_write_on_an_argument_that_is_not_judged_harmful():
    src = """
import torch
from torch import nn

G = nn.Linear(4, 4)

def fix_range(t):
    t.data.clamp_(-1, 1)
    return t

def sample(z):
    return fix_range(G(z))

def on_inputs(x):
    loss = G(fix_range(x)).sum()
    loss.backward()

def detached(z):
    fake = fix_range(G(z).detach())
    fake.sum().backward()

def late(z):
    loss = G(z).sum()
    loss.backward()
    fix_range(G(z))

def frozen(z):
    with torch.no_grad():
        fake = fix_range(G(z))
    G(fake).sum().backward()
"""
    assert graph_argument_writes(src) == {}
