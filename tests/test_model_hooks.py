"""Forward hooks that make a module's output require grad (model/hooks.py): when the output of a
frozen embedding table is a leaf that requires grad, and when it is not."""

from __future__ import annotations

from model_query import leaf_sites, model_of

from leaflint.model.project import path_data, path_from
from leaflint.model.values import Arg, Attr, Output, View

HEADER = "import torch\nfrom torch import nn\n\ndef lift(m, inp, out):\n    out.requires_grad_(True)\n\n"


def local(body: str) -> str:
    """``body`` inside a function, after a frozen embedding table ``emb`` is built."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return HEADER + "def run(ids):\n    emb = nn.Embedding(8, 4)\n" + lines + "\n"


def test_frozen_hooked_table_output_is_a_leaf_in_either_order():
    frozen_first = local("emb.weight.requires_grad_(False)\nemb.register_forward_hook(lift)\nout = emb(ids)\nout[0] = 0.0")
    hooked_first = local("emb.register_forward_hook(lift)\nemb.requires_grad_(False)\nout = emb(ids)\nout.mul_(2)")
    assert leaf_sites(frozen_first) == {"out[0] = 0.0"}
    assert leaf_sites(hooked_first) == {"out.mul_(2)"}


def test_views_of_the_output_are_views_of_a_leaf():
    src = local("emb.weight.requires_grad = False\nemb.register_forward_hook(lift)\n"
                "flat = emb(ids).view(-1)\nflat.index_copy_(0, ids, ids.float())")
    model = model_of(src)
    (site,) = [s for s in model.inplace if model.text(s.node).startswith("flat.index_copy_")]
    leaf = model.site_leaf(site)
    assert leaf is not None and leaf.view and leaf.kind == "output"


def test_not_a_leaf_when_it_trains_or_the_hook_is_elsewhere_or_copied():
    trains = local("emb.register_forward_hook(lift)\nout = emb(ids)\nout[0] = 0.0")
    other = local("emb.requires_grad_(False)\nproj = nn.Embedding(8, 4)\nproj.register_forward_hook(lift)\n"
                  "out = emb(ids)\nout[0] = 0.0")
    copied = local("emb.requires_grad_(False)\nemb.register_forward_hook(lift)\nout = emb(ids).clone()\nout[0] = 0.0")
    switched_back = local("emb.requires_grad_(False)\nemb.register_forward_hook(lift)\n"
                          "emb.weight.requires_grad_(True)\nout = emb(ids)\nout[0] = 0.0")
    called_before = local("emb.requires_grad_(False)\nout = emb(ids)\nemb.register_forward_hook(lift)\nout[0] = 0.0")
    for src in (trains, other, copied, switched_back, called_before):
        assert leaf_sites(src) == set(), src


def test_unknown_freezing_or_hook_is_silent():
    flag = local("if ids.numel() > 3:\n    emb.requires_grad_(False)\nemb.register_forward_hook(lift)\n"
                 "out = emb(ids)\nout[0] = 0.0")
    unknown_flag = local("emb.requires_grad_(False)\nemb.weight.requires_grad_(ids.numel() > 3)\n"
                         "emb.register_forward_hook(lift)\nout = emb(ids)\nout[0] = 0.0")
    guarded_hook = HEADER.replace("    out.requires_grad_(True)", "    if m.training:\n        out.requires_grad_(True)") \
        + "def run(ids):\n    emb = nn.Embedding(8, 4)\n    emb.requires_grad_(False)\n" \
        "    emb.register_forward_hook(lift)\n    out = emb(ids)\n    out[0] = 0.0\n"
    prints = HEADER.replace("out.requires_grad_(True)", "print(out)") \
        + "def run(ids):\n    emb = nn.Embedding(8, 4)\n    emb.requires_grad_(False)\n" \
        "    emb.register_forward_hook(lift)\n    out = emb(ids)\n    out[0] = 0.0\n"
    for src in (flag, unknown_flag, guarded_hook, prints):
        assert leaf_sites(src) == set(), src


def test_only_index_taking_tables_are_claimed():
    # a frozen Linear's output is a non-leaf whenever its input carries a graph (torch 2.13)
    src = HEADER + "def run(x):\n    lin = nn.Linear(3, 3)\n    lin.requires_grad_(False)\n" \
        "    lin.register_forward_hook(lift)\n    y = lin(x)\n    y.clamp_(0, 1)\n"
    assert leaf_sites(src) == set()


def test_hook_forms_lambda_and_with_kwargs():
    lam = local("emb.requires_grad_(False)\nemb.register_forward_hook(lambda m, i, o: o.requires_grad_())\n"
                "out = emb(ids)\nout += 1")
    kw_src = HEADER + "def lift4(m, a, k, out):\n    out.requires_grad_(True)\n\n" \
        "def run(ids):\n    emb = nn.Embedding(8, 4)\n    emb.requires_grad_(False)\n" \
        "    emb.register_forward_hook(lift4, with_kwargs=True)\n    out = emb(ids)\n    out += 1\n"
    wrong_slot = HEADER + "def run(ids):\n    emb = nn.Embedding(8, 4)\n    emb.requires_grad_(False)\n" \
        "    emb.register_forward_hook(lift, with_kwargs=True)\n    out = emb(ids)\n    out += 1\n"
    assert leaf_sites(lam) == {"out += 1"}
    assert leaf_sites(kw_src) == {"out += 1"}
    assert leaf_sites(wrong_slot) == set()  # with kwargs, the third parameter is the kwargs dict


def test_registration_and_call_through_helpers_and_methods():
    src = HEADER + """
class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(8, 4)
        self.head = nn.Linear(4, 2)

    def inputs_need_grad(self):
        self.tok.register_forward_hook(lift)

def hook_tokens(model):
    model.tok.register_forward_hook(lift)

def encode(model, ids):
    x = model.tok(ids)
    x[:, 0] = 0.0
    return model.head(x)

def encode_copy(model, ids):
    x = model.tok(ids).clone()
    x[:, 0] = 0.0
    return x

a = Tower()
a.tok.weight.requires_grad_(False)
a.inputs_need_grad()
encode(a, torch.tensor([1]))
encode_copy(a, torch.tensor([1]))
b = Tower()
b.tok.weight.requires_grad_(False)
hook_tokens(b)
encode(model=b, ids=torch.tensor([1]))
c = Tower()
hook_tokens(c)
encode(c, torch.tensor([1]))
"""
    model = model_of(src)
    funcs = {f.name: f for f in model.funcs}
    assert funcs["lift"].grad_params == {"out"}
    assert funcs["inputs_need_grad"].output_hooks == [("self", "tok")]
    assert funcs["hook_tokens"].output_hooks == [("model", "tok")]
    flagged = sorted(model.text(s.via_call) for s in model.inplace
                     if s.via_call is not None and model.site_leaf(s) is not None)
    assert flagged == ["encode(a, torch.tensor([1]))", "encode(model=b, ids=torch.tensor([1]))"]


def test_output_steps_survive_the_project_summary():
    target = View(Output(Attr(Arg("model"), "tok")))
    assert path_data(target) == [["attr", "tok"], ["output"], ["view"]]
    assert path_from(Arg("model"), path_data(target)) == target


def test_pretrained_tables_are_frozen_unless_told_otherwise():
    src = HEADER + """
def run(vectors, ids, flag):
    a = nn.Embedding.from_pretrained(vectors)
    a.weight[0] = 0.0
    a.register_forward_hook(lift)
    out_a = a(ids)
    out_a += 1
    b = nn.Embedding.from_pretrained(vectors, freeze=False)
    b.weight[1] = 0.0
    b.register_forward_hook(lift)
    out_b = b(ids)
    out_b += 1
    c = nn.EmbeddingBag.from_pretrained(vectors, flag)
    c.weight[2] = 0.0
    c.register_forward_hook(lift)
    out_c = c(ids)
    out_c += 1
"""
    # a: frozen (its weight is no leaf; its hooked output is); b: trains; c: unknown, silent both ways
    assert leaf_sites(src) == {"out_a += 1", "b.weight[1] = 0.0"}
