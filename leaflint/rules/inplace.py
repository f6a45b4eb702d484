"""LL1xx: in-place operations on a leaf tensor that requires grad, with grad mode on."""

from __future__ import annotations

from typing import ClassVar, Iterable

from leaflint.model import SemanticModel
from leaflint.model.semantic import Grad, InplaceSite
from leaflint.model.torchapi import nn_init_name
from leaflint.probe import schema
from leaflint.rules.base import Applicability, Invalid, Report, Rule, Valid, deferred, register, short

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation"
VIEW_ERROR = "a view of a leaf Variable that requires grad is being used in an in-place operation"
OUT_ERROR = "functions with out=... arguments don't support automatic differentiation"

_REFERENCES = """
References:
- PyTorch, Autograd mechanics, "In-place operations with autograd":
  https://pytorch.org/docs/stable/notes/autograd.html#in-place-operations-with-autograd
- torch.no_grad: https://pytorch.org/docs/stable/generated/torch.no_grad.html
- torch.nn.init: https://pytorch.org/docs/stable/nn.init.html
"""


def condition(when: str, width: int = 1000) -> str:
    """``flag`` -> "`flag` is true"; ``not freeze`` -> "`freeze` is false"."""
    if when.startswith("not ") and not when.startswith("not ("):
        return f"`{short(when[4:], width)}` is false"
    return f"`{short(when, width)}` is true"


def describe_target(model: SemanticModel, site: InplaceSite, width: int = 1000) -> str:
    leaf = model.leaf(site.target)
    text = short(model.text(site.target_node), width)
    what = "a parameter" if leaf is not None and leaf.kind == "parameter" else "a tensor created with requires_grad=True"
    if leaf is not None and leaf.kind == "output":
        what = ("the output of a module whose parameters are all frozen and whose forward hook makes its output "
                "require grad (a leaf that requires grad)")
    elif leaf is not None and leaf.when is not None and leaf.kind == "parameter":
        what = f"a parameter (a leaf that requires grad when {condition(leaf.when)})"
    elif leaf is not None and leaf.when is not None:
        what = f"a tensor created with requires_grad={leaf.when} (a leaf that requires grad when {condition(leaf.when)})"
    elif leaf is not None:
        what += " (a leaf that requires grad)"
    described = f"`{text}`, a view of {what}" if leaf is not None and leaf.view else f"`{text}`, {what}"
    if site.via_call is not None and site.via_arg is not None:
        argument = model.text(site.via_arg)
        passed = f"passed by `{model.text(site.via_call)}`"
        if site.foreign is not None:
            passed += f" in module `{site.foreign.caller}`"  # type: ignore[attr-defined]
        described = described.replace(f"`{text}`", f"`{text}` ({passed})" if argument == text
                                      else f"`{text}` (`{argument}`, {passed})", 1)
    return described


def brief_target(model: SemanticModel, site: InplaceSite) -> str:
    """The target for a concise message: ``w`` (leaf parameter) / ``w`` (view of a leaf tensor)."""
    leaf = model.leaf(site.target)
    what = {"parameter": "parameter", "output": "hooked output"}.get(leaf.kind if leaf is not None else "", "tensor")
    view = "view of a " if leaf is not None and leaf.view else ""
    when = f" when {condition(leaf.when, 24)}" if leaf is not None and leaf.when is not None else ""
    return f"`{short(model.text(site.target_node), 24)}` ({view}leaf {what}{when})"


def advice(model: SemanticModel, site: InplaceSite) -> str:
    leaf = model.leaf(site.target)
    if leaf is not None and leaf.kind == "output":
        return ("compute a new tensor out of place (or write into a `.clone()` of the output); no_grad would hide "
                "what the write puts there from autograd")
    if model.in_forward(site.ctx):
        return ("inside forward, compute a new tensor out of place instead of mutating the parameter, "
                "or move the update out of forward under `with torch.no_grad():`")
    from leaflint.fix.wrap import write_loop  # (the fix modules only where a rule reports)

    what = "the statement" if site.foreign is not None or write_loop(model, site.ctx, site.ctx.stmt) is None \
        else "the whole `for` loop"
    init = nn_init_name(site.detail) if site.kind == "method" else None
    if init is not None:
        return f"use `{init}(...)` (it runs under no_grad) or wrap {what} in `with torch.no_grad():`"
    return f"wrap {what} in `with torch.no_grad():`"


class InplaceRule(Rule):
    """Shared check: the site's kind matches, the target is a leaf, grad mode is on."""

    kinds: ClassVar[tuple[str, ...]]
    fix_builder = deferred("leaflint.fix.inplace", "build_inplace_fix")
    fix_applicability = (Applicability.SAFE, Applicability.UNSAFE)
    probe_kinds = (schema.INPLACE,)

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for site in model.inplace:
            if site.kind not in self.kinds:
                continue
            leaf = model.site_leaf(site)
            if leaf is None or model.grad_at(site.ctx) is not Grad.ON:
                continue
            # a write into a helper's argument: no automatic fix (no_grad around the write would
            # also cut the graph where the helper is called with tensors that need one)
            # nor for a hooked output: no_grad would hide from autograd what the write puts in it
            fix = self.fix(model, site, leaf) if site.via_call is None and leaf.kind != "output" else None
            yield Report(site.node, self.concise(model, site), fix=fix, detail=self.message(model, site, leaf.view),
                         at=site.foreign)

    def error_text(self, view: bool) -> str:
        return VIEW_ERROR if view else LEAF_ERROR

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        """The full explanation: torch's error text and the advice."""
        raise NotImplementedError

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        """What and why in a phrase (at most ``MAX_MESSAGE`` characters)."""
        return f"`{short(site.detail, 24)}` writes in place to {brief_target(model, site)} with grad on: torch raises"


@register
class InplaceMethodOnLeaf(InplaceRule):
    code = "LL101"
    name = "inplace-method-on-leaf"
    summary = "In-place tensor method on a leaf that requires grad, with grad mode on."
    kinds = ("method",)
    docs = f"""
## What it does
Flags an in-place tensor method (`add_`, `mul_`, `zero_`, `uniform_`, `copy_`, `clamp_`, ...)
called on a parameter or another leaf tensor that requires grad, or on a view of one
(`w.t().add_()`, `w[0].mul_()`), where grad mode is on.

## Why is this bad?
Autograd refuses to modify a leaf that requires grad in place while it is recording: the
call raises `RuntimeError: {LEAF_ERROR}.` (or "{VIEW_ERROR}"). The crash often comes deep
into a run, on the config path that reaches the line (a `reset_parameters()` called from
`__init__`, a manual update step).

## Example
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(8))
        self.bias.zero_()
```

## Use instead
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(8))
        nn.init.zeros_(self.bias)          # or: with torch.no_grad(): self.bias.zero_()
```
A helper that writes its own argument in place (`def init_table(t): t[:, 0] = 0`), or a path
into it (`model.P[u] = v`, each element of a list or of `*args` it is given, `edge["alpha"]`),
is reported at the write, where torch raises, when some call passes it a leaf with grad on (an
instance whose class makes `P` a Parameter, a list or dict holding leaves); the message names
that call (`init_table(emb.weight)`). A function of the file handed to a call outside it together
with its arguments (`functools.partial(fn, model)`, `executor.submit(fn, model)`) counts as
called with them. A parameter whose requires_grad is switched off only under a condition
(`if freeze: emb.weight.requires_grad = False`), or created with a flag
(`nn.Parameter(t, requires_grad=learnable)`, `torch.zeros(n, requires_grad=flag)`), is reported
with that condition ("when `freeze` is false", "when `learnable` is true"). This holds for every LL1 rule, and across the
modules of a project (the project index): a helper in `utils.py` called from `model.py` is
reported at its write in `utils.py`, the message naming the call and the module that makes it.

Grad mode is off inside `torch.no_grad()`, `torch.inference_mode()`,
`torch.set_grad_enabled(False)`, functions decorated with them, `autograd.Function`
forward/backward, and same-file helpers whose every call site is in such a region; no finding
is reported there. `.data` and `.detach()` results are not leaves (see LL2 for `.data`).
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.add_(1)\n"),
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.b = nn.Parameter(torch.empty(3))\n        nn.init.zeros_(self.b)\n"),
        Valid("import torch\nx = torch.zeros(3)\nx.add_(1)\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n",
                fixed='import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.add_(1)\n'),
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.b = nn.Parameter(torch.empty(3))\n        self.b.zero_()\n",
                fixed='import torch\n'
                      'from torch import nn\n'
                      'class M(nn.Module):\n'
                      '    def __init__(self):\n'
                      '        super().__init__()\n'
                      '        self.b = nn.Parameter(torch.empty(3))\n'
                      '        nn.init.zeros_(self.b)\n'),
    ]

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        return f"`.{short(site.detail, 24)}()` modifies {brief_target(model, site)} in place with grad on: torch raises"

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"`.{site.detail}()` modifies {describe_target(model, site)} in place with grad mode on: "
                f"torch raises \"{self.error_text(view)}\"; {advice(model, site)}")


@register
class AugmentedAssignmentOnLeaf(InplaceRule):
    code = "LL102"
    name = "augmented-assignment-on-leaf"
    summary = "Augmented assignment (`-=`, `+=`, `*=`, ...) on a leaf that requires grad, with grad mode on."
    kinds = ("augassign",)
    docs = f"""
## What it does
Flags `w -= ...`, `w += ...`, `w *= ...`, `w /= ...` (every augmented operator but `@=`,
which rebinds) where `w` is a parameter, a leaf that requires grad, or a view of one, and
grad mode is on. On a tensor these operators run in place (`sub_`, `add_`, ...).

## Why is this bad?
It raises `RuntimeError: {LEAF_ERROR}.` The classic case is a manual SGD step written
without `torch.no_grad()`, or an alias of a weight scaled in an init function
(`p = m.out_proj.weight; p /= c`).

## Example
```python
for p in model.parameters():
    p -= lr * p.grad
```

## Use instead
```python
with torch.no_grad():
    for p in model.parameters():
        p -= lr * p.grad
```
or an optimizer (`torch.optim.SGD`), which updates under no_grad.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w -= 0.1\n"),
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nw = w * 2\nw += 1\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\nw -= 0.1\n",
                fixed='import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w -= 0.1\n'),
        Invalid("def step(model, lr):\n    for p in model.parameters():\n        p -= lr * p.grad\n",
                fixed='import torch\n'
                      'def step(model, lr):\n'
                      '    with torch.no_grad():\n'
                      '        for p in model.parameters():\n'
                      '            p -= lr * p.grad\n'),
    ]

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        return f"`{site.detail}` modifies {brief_target(model, site)} in place with grad on: torch raises"

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"`{site.detail}` updates {describe_target(model, site)} in place with grad mode on: "
                f"torch raises \"{self.error_text(view)}\"; {advice(model, site)}")


@register
class ItemAssignmentOnLeaf(InplaceRule):
    code = "LL103"
    name = "item-assignment-on-leaf"
    summary = "Item or slice assignment into a leaf that requires grad, with grad mode on."
    kinds = ("setitem",)
    docs = f"""
## What it does
Flags `w[i] = v`, `w[:, k] = v`, `w[mask] = v` where `w` is a parameter or another leaf that
requires grad (or a view of one), with grad mode on.

## Why is this bad?
Item assignment writes in place (through a view for basic indexing, `index_put_` for
advanced indexing); on a leaf that requires grad it raises
`RuntimeError: {VIEW_ERROR}.` (or the leaf variant).

## Example
```python
emb = nn.Embedding(10, 4)
emb.weight[0] = 0.0      # zero the padding row
```

## Use instead
```python
with torch.no_grad():
    emb.weight[0] = 0.0
```
or `nn.Embedding(10, 4, padding_idx=0)`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w[0] = 1.0\n"),
        Valid("import torch\nw = torch.zeros(3)\nw[0] = 1.0\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\nw[0] = 1.0\n",
                fixed='import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w[0] = 1.0\n'),
        Invalid("from torch import nn\nemb = nn.Embedding(10, 4)\nemb.weight[0] = 0.0\n",
                fixed='from torch import nn\n'
                      'import torch\n'
                      'emb = nn.Embedding(10, 4)\n'
                      'with torch.no_grad():\n'
                      '    emb.weight[0] = 0.0\n'),
    ]

    def error_text(self, view: bool) -> str:
        return VIEW_ERROR

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        return f"item assignment writes into {brief_target(model, site)} with grad on: torch raises"

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"item assignment writes into {describe_target(model, site)} in place with grad mode on: "
                f"torch raises \"{VIEW_ERROR}\"; {advice(model, site)}")


@register
class OutArgumentIsLeaf(InplaceRule):
    code = "LL104"
    name = "out-argument-is-leaf"
    summary = "A leaf that requires grad passed as `out=` to a torch function, with grad mode on."
    kinds = ("out",)
    docs = f"""
## What it does
Flags `torch.add(a, b, out=w)` (any torch function with `out=`) where `w` is a parameter or
another leaf that requires grad, with grad mode on.

## Why is this bad?
Functions with `out=` do not record a graph, and torch refuses when an argument requires
grad: `RuntimeError: add(): {OUT_ERROR}, but one of the arguments requires grad.`

## Example
```python
torch.mul(w, decay, out=w)
```

## Use instead
```python
with torch.no_grad():
    torch.mul(w, decay, out=w)
```
or the out-of-place form `y = torch.mul(w, decay)` when a graph is wanted.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    torch.add(w, 1, out=w)\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\ntorch.add(w, 1, out=w)\n",
                fixed='import torch\n'
                      'w = torch.zeros(3, requires_grad=True)\n'
                      'with torch.no_grad():\n'
                      '    torch.add(w, 1, out=w)\n'),
    ]

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        return f"`torch.{short(site.detail, 16)}(out=...)` writes into {brief_target(model, site)} with grad on: torch raises"

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"`torch.{site.detail}(..., out=...)` writes into {describe_target(model, site)} with grad "
                f"mode on: torch raises \"{site.detail}(): {OUT_ERROR}\"; {advice(model, site)}")


@register
class InplaceFunctionalOnLeaf(InplaceRule):
    code = "LL105"
    name = "inplace-functional-on-leaf"
    summary = "An in-place functional (`inplace=True`, `torch.relu_`) applied to a leaf that requires grad."
    kinds = ("inplace_fn",)
    docs = f"""
## What it does
Flags `F.relu(w, inplace=True)`, `F.dropout(w, inplace=True)`, `nn.ReLU(inplace=True)(w)`,
`torch.relu_(w)`, `F.leaky_relu_(w)` where `w` is a parameter or another leaf that requires
grad, with grad mode on. `nn.init.*_` functions are never flagged: they run under no_grad.

## Why is this bad?
The functional overwrites its input: `RuntimeError: {LEAF_ERROR}.`

## Example
```python
h = F.relu(self.weight, inplace=True) @ x
```

## Use instead
```python
h = F.relu(self.weight) @ x
```
{_REFERENCES}"""
    valid = [
        Valid("import torch\nimport torch.nn.functional as F\nw = torch.zeros(3, requires_grad=True)\ny = F.relu(w)\n"),
        Valid("import torch\nfrom torch import nn\nw = torch.zeros(3, requires_grad=True)\nnn.init.zeros_(w)\n"),
    ]
    invalid = [
        Invalid("import torch\nimport torch.nn.functional as F\nw = torch.zeros(3, requires_grad=True)\ny = F.relu(w, inplace=True)\n",
                fixed='import torch\n'
                      'import torch.nn.functional as F\n'
                      'w = torch.zeros(3, requires_grad=True)\n'
                      'y = F.relu(w)\n'),
    ]

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"`{site.detail}` overwrites {describe_target(model, site)} with grad mode on: "
                f"torch raises \"{self.error_text(view)}\"; use the out-of-place form (drop `inplace=True` / "
                f"the trailing underscore)")


@register
class ForeachInplaceOnLeaves(InplaceRule):
    code = "LL106"
    name = "foreach-inplace-on-leaves"
    summary = "`torch._foreach_*_` over parameters, with grad mode on."
    kinds = ("foreach",)
    docs = f"""
## What it does
Flags `torch._foreach_add_(params, ...)` (every in-place `_foreach_*_` op) whose first list is
the model's parameters (`list(model.parameters())`, `group["params"]`), with grad mode on.

## Why is this bad?
Each element is updated in place: `RuntimeError: {LEAF_ERROR}.` Optimizers call these inside
a `@torch.no_grad()` `step`; a hand-written update loop outside one crashes.

## Example
```python
params = list(model.parameters())
torch._foreach_mul_(params, 0.999)
```

## Use instead
```python
with torch.no_grad():
    torch._foreach_mul_(params, 0.999)
```
{_REFERENCES}"""
    valid = [
        Valid("import torch\n@torch.no_grad()\ndef step(model):\n    torch._foreach_mul_(list(model.parameters()), 0.9)\n"),
    ]
    invalid = [
        Invalid("import torch\ndef step(model):\n    torch._foreach_mul_(list(model.parameters()), 0.9)\n",
                fixed='import torch\n'
                      'def step(model):\n'
                      '    with torch.no_grad():\n'
                      '        torch._foreach_mul_(list(model.parameters()), 0.9)\n'),
    ]

    def concise(self, model: SemanticModel, site: InplaceSite) -> str:
        return f"`torch.{short(site.detail, 32)}` updates parameters in place with grad on: torch raises"

    def message(self, model: SemanticModel, site: InplaceSite, view: bool) -> str:
        return (f"`torch.{site.detail}` updates parameters (`{model.text(site.target_node)}`) in place with "
                f"grad mode on: torch raises \"{LEAF_ERROR}\"; {advice(model, site)}")
