"""LL3xx: module state replaced inside ``forward``."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from leaflint.model import SemanticModel
from leaflint.model.semantic import AttrAssign
from leaflint.model.evaluate import unknown_root
from leaflint.model.lifecycle import lazily_guarded
from leaflint.model.named_slots import over_parameter
from leaflint.model.values import Attr, DataOf, Fresh, ModuleInstance, PlainTensor, SelfRef, View
from leaflint.probe import schema
from leaflint.rules.base import Applicability, Invalid, Report, Rule, Valid, deferred, register, short

_REFERENCES = """
References:
- Parametrizations tutorial: https://pytorch.org/tutorials/intermediate/parametrizations.html
- torch.nn.utils.parametrize.register_parametrization:
  https://pytorch.org/docs/stable/generated/torch.nn.utils.parametrize.register_parametrization.html
- torch.func.functional_call: https://pytorch.org/docs/stable/generated/torch.func.functional_call.html
"""

def self_rooted(value) -> bool:
    while isinstance(value, Attr):
        value = value.base
    return isinstance(value, SelfRef)


def _target_text(model: SemanticModel, assign: AttrAssign) -> str:
    return f"{model.text(assign.owner_node)}.{assign.attr}"


_FUNCTIONAL_ADVICE = ("compute with the value functionally (e.g. `F.linear(x, new_weight, bias)`), or use "
                      "`torch.nn.utils.parametrize.register_parametrization` / `torch.func.functional_call`")


def _replacement_messages(model: SemanticModel, assign: AttrAssign, target: str) -> tuple[str, str]:
    """LL301's concise message and detail, naming what is actually assigned: a new
    ``nn.Parameter``, or a plain leaf tensor (``torch.tensor(..., requires_grad=True)``), which
    nn.Module refuses over a Parameter and which no optimizer knows of elsewhere."""
    origin = assign.value.origin if isinstance(assign.value, Fresh) else "nn.Parameter(...)"
    brief = short(target, 32)
    if origin == "nn.Parameter(...)":
        return (f"`{brief}` replaced by a new nn.Parameter in forward: the optimizer keeps stepping the old one",
                f"`{target}` is replaced by a new nn.Parameter inside forward: whatever produced the value gets no "
                f"gradient, and the optimizer keeps stepping the old Parameter (its grad stays None); "
                f"{_FUNCTIONAL_ADVICE}")
    what = f"`{origin}`" if origin.startswith(".") is False else f"a tensor made a leaf by `{origin}`"
    if model.is_parameter_slot(assign.owner, assign.attr):
        return (f"`{brief}` is an nn.Parameter and is assigned a new leaf tensor in forward: nn.Module raises TypeError",
                f"`{target}` is a registered nn.Parameter and is assigned a plain tensor ({what}) inside forward: "
                f"nn.Module raises \"TypeError: cannot assign ... as parameter '{assign.attr}' (torch.nn.Parameter "
                f"or None expected)\"; {_FUNCTIONAL_ADVICE}")
    return (f"`{brief}` gets a new leaf tensor on every forward: no optimizer updates it, its producers get no grad",
            f"`{target}` is assigned a new leaf tensor ({what}) inside forward, on every call: it is not a "
            f"registered parameter, so no optimizer built from `parameters()` updates it, and whatever "
            f"produced its value gets no gradient; register it once in __init__ as an nn.Parameter, or "
            f"{_FUNCTIONAL_ADVICE}")


@register
class ParameterReplacedInForward(Rule):
    code = "LL301"
    name = "parameter-replaced-in-forward"
    probe_kinds = (schema.PARAM_SET, schema.OPT_STEP)
    fix_builder = deferred("leaflint.fix.forward", "build_param_replaced_fix")
    fix_applicability = (Applicability.UNSAFE,)
    summary = "A new `nn.Parameter` assigned to a module attribute inside forward."
    docs = f"""
## What it does
Flags `self.lin.weight = nn.Parameter(f(w))`, `setattr(self.lin, "weight", nn.Parameter(...))`
and `self.register_parameter("w", nn.Parameter(...))` inside `forward` of an `nn.Module` (and
helpers reached only from it). Lazy one-time creation is not flagged: inside `if self.w is
None:` / `hasattr`, after an early `if self.w is not None: return`, or in a setup method every
call of which sits under a test the method itself makes false (`if self.trace is None:
self._setup()`, `_setup` assigning `self.trace`). Nor are `requires_grad=False` Parameters, or
a new leaf handed right after to an optimizer built over it (`torch.optim.SGD([self.t])`).

## Why is this bad?
`nn.Parameter(...)` makes a new leaf: whatever produced the value (a trainable scale, an
`autograd.Function`) is cut off and gets no gradient. The optimizer was built with the old
Parameter object and keeps stepping it, though its `.grad` is now always `None`. Every call
makes yet another leaf.

## Example
```python
def forward(self, x):
    self.linear.weight = nn.Parameter(self.linear.weight * self.scale)
    return self.linear(x)
```

## Use instead
```python
def forward(self, x):
    return F.linear(x, self.linear.weight * self.scale, self.linear.bias)
```
or `torch.nn.utils.parametrize.register_parametrization(self.linear, "weight", Scale())`, or
`torch.func.functional_call(self.linear, {{"weight": w}}, (x,))`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nfrom torch import nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n        self.s = nn.Parameter(torch.ones(1))\n    def forward(self, x):\n        return F.linear(x, self.lin.weight * self.s, self.lin.bias)\n"),
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = None\n    def forward(self, x):\n        if self.w is None:\n            self.w = nn.Parameter(torch.ones(x.shape[-1]))\n        return x * self.w\n"),
    ]
    invalid = [
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n        self.s = nn.Parameter(torch.ones(1))\n    def forward(self, x):\n        self.lin.weight = nn.Parameter(self.lin.weight * self.s)\n        return self.lin(x)\n",
                fixed='import torch\n'
                      'from torch import nn\n'
                      'import torch.nn.functional as F\n'
                      'class M(nn.Module):\n'
                      '    def __init__(self):\n'
                      '        super().__init__()\n'
                      '        self.lin = nn.Linear(2, 2)\n'
                      '        self.s = nn.Parameter(torch.ones(1))\n'
                      '    def forward(self, x):\n'
                      '        return F.linear(x, self.lin.weight * self.s, self.lin.bias)\n'),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for assign in model.attr_assigns:
            if not isinstance(assign.value, Fresh) or not model.in_forward(assign.ctx):
                continue
            if not self_rooted(assign.owner) or lazily_guarded(assign) or model.created_once(assign):
                continue
            if model.optimizer_built_after(assign):
                continue  # the new Parameter is handed to an optimizer built right after: it trains
            if model.leaf(Attr(assign.owner, assign.attr)) is None and model.is_parameter_slot(assign.owner, assign.attr):
                continue  # the slot is made non-trainable (`requires_grad = False`) in the class
            target = _target_text(model, assign)
            concise, detail = _replacement_messages(model, assign, target)
            yield Report(assign.node, concise, fix=self.fix(model, assign), detail=detail)


@register
class ModuleCreatedInForward(Rule):
    code = "LL302"
    name = "module-created-in-forward"
    probe_kinds = (schema.MODULE_SET, schema.MODULE_BUILT)
    summary = "A parameter-owning module built inside forward: assigned to `self`, or applied unregistered."
    docs = f"""
## What it does
Flags a module that owns trainable parameters (a torch.nn layer such as `nn.Linear`, `nn.ConvNd`,
`nn.Embedding`, an affine norm layer, or a same-file module class that owns parameters) built
inside `forward` (or a helper reached only from it), in two forms:
- assigned to an attribute: `self.table = nn.Embedding(n, d)`;
- never registered, only applied: `nn.Linear(a, b)(x)` inline, or a local
  `conv = nn.Conv2d(...).to(dev)` whose only uses are calls `conv(x)`.

Not flagged: lazy initialisation guarded by `if self.table is None:` (built once, then kept);
a frozen module (`.requires_grad_(False)`); parameterless modules (`nn.ReLU()`, `nn.Dropout`,
`nn.Upsample`, `nn.LayerNorm(d, elementwise_affine=False)`); a local that is stored, passed,
or returned (it may be registered elsewhere).

## Why is this bad?
Every call builds fresh, randomly initialised parameters. Assigned to `self`, they replace the
module built in `__init__` (the one the optimizer steps, whose gradient now stays `None`).
Never registered, they are not in `model.parameters()` at all: no optimizer trains them,
`state_dict()` does not save them, and two calls on the same input give different outputs.
A real case in a major library rebuilt a relative-position bias table in forward.

## Example
```python
def forward(self, x):
    self.bias_table = nn.Embedding(self.num_buckets, self.heads)
    h = nn.Linear(self.d, self.d)(x)
    return h + self.bias_table(self.buckets)
```

## Use instead
Build the module once in `__init__` (`self.proj = nn.Linear(d, d)`) and only call it in
forward; if its size depends on the input, size it for the maximum in `__init__` or use a
lazy module (`nn.LazyLinear`).
{_REFERENCES}"""
    valid = [
        Valid("from torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.emb = nn.Embedding(10, 4)\n    def forward(self, i):\n        return self.emb(i)\n"),
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def forward(self, x):\n        x = nn.ReLU()(x)\n        return nn.LayerNorm(x.shape[-1], elementwise_affine=False)(x)\n"),
        Valid("from torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.layers = nn.ModuleList()\n    def forward(self, x):\n        layer = nn.Linear(4, 4)\n        self.layers.append(layer)\n        return layer(x)\n"),
    ]
    invalid = [
        Invalid("from torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.emb = nn.Embedding(10, 4)\n    def forward(self, i):\n        self.emb = nn.Embedding(10, 4)\n        return self.emb(i)\n",
                fixed=None),
        Invalid("from torch import nn\nclass M(nn.Module):\n    def forward(self, x):\n        return nn.Linear(4, 2)(x)\n",
                fixed=None),
        Invalid("from torch import nn\nclass M(nn.Module):\n    def forward(self, x):\n        conv = nn.Conv1d(4, 4, 3).to(x.device)\n        return conv(x)\n",
                fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for assign in model.attr_assigns:
            if not isinstance(assign.value, ModuleInstance) or not model.in_forward(assign.ctx):
                continue
            if not model.module_owns_parameters(assign.value):
                continue
            if not self_rooted(assign.owner) or lazily_guarded(assign) or model.created_once(assign):
                continue
            target = _target_text(model, assign)
            yield Report(assign.node, (
                f"`{short(target, 32)}` rebuilt as a new `{short(assign.value.kind[1], 24)}` in forward: its new "
                f"parameters never train"), detail=(
                f"`{target}` is rebuilt as a new `{assign.value.kind[1]}` inside forward: its fresh random parameters "
                f"are not in the optimizer and never train, and the module built in __init__ is discarded; build it "
                f"once in __init__ and only call it in forward"))
        for built in model.built_in_forward():
            what = f"{short(model.text(built.node.func), 24)}(...)"
            how = f"bound to the local `{built.local}` and only called" if built.local else "applied inline"
            yield Report(built.node, (
                f"`{what}` built inside forward and never registered: its parameters are new on every call, "
                f"never trained"), detail=(
                f"`{what}` is built inside forward and {how}, never registered on the module: its parameters are "
                f"initialised afresh on every call, `model.parameters()` does not list them, so no optimizer trains them "
                f"and `state_dict()` does not save them; build it once in __init__ (`self.name = "
                f"{short(model.text(built.node.func), 24)}(...)`) and only call it in forward"))


def _registers(assign: AttrAssign) -> bool:
    """``owner.register_parameter(name, value)``: whatever the slot held before."""
    node = assign.node
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
        and node.func.attr.value == "register_parameter"


def _stores_into_parameters(assign: AttrAssign) -> bool:
    """``owner._parameters[name] = value``: registration that bypasses nn.Module's type check."""
    node = assign.node
    return isinstance(node, cst.Assign) and any(
        isinstance(t.target, cst.Subscript) and isinstance(t.target.value, cst.Attribute)
        and t.target.value.attr.value == "_parameters" for t in node.targets)


def _plain_tensor(value, in_forward: bool) -> bool:
    """A tensor that is not an nn.Parameter. A fresh leaf that requires grad
    (``torch.zeros(n, requires_grad=True)``) is one too; inside forward LL301 reports it."""
    if isinstance(value, Fresh):
        return value.origin != "nn.Parameter(...)" and not in_forward
    return isinstance(value, (PlainTensor, DataOf, View)) and not unknown_root(value)


@register
class TensorAssignedToParameter(Rule):
    code = "LL303"
    name = "tensor-assigned-to-parameter"
    probe_kinds = (schema.PARAM_ASSIGN,)
    fix_builder = deferred("leaflint.fix.forward", "build_tensor_to_param_fix")
    fix_applicability = (Applicability.UNSAFE,)
    summary = "A plain tensor assigned over a registered `nn.Parameter` attribute."
    docs = f"""
## What it does
Flags `self.weight = <tensor expression>` (a torch op result, `.detach()`, `.data`, a slice or
view, arithmetic) where `self.weight` is a registered Parameter (`self.weight =
nn.Parameter(...)` in the class, or the weight/bias of a torch.nn layer), anywhere in the
code, not only in forward. The `weight_norm`/parametrize pattern, which first removes the
Parameter (`del self._parameters["weight"]`), is not flagged.

Names known only at run time count too: `setattr(m, name, t)` where `name` comes from
`m.named_parameters()` and the name has no dot there (the module owns Parameters itself, which
`named_parameters()` yields first, or the write sits on the undotted branch of `"." in name`).
A helper handed the module, the name and the value (`set_param(mod, name, value)`, also one that
walks a dotted name down `named_children()` by calling itself, and one of another module) is
judged at each call; the finding is at the `setattr`, where torch raises. Names from
`named_buffers()` and values wrapped in `nn.Parameter(...)` are not flagged.

## Why is this bad?
`nn.Module.__setattr__` refuses it: `TypeError: cannot assign 'torch.FloatTensor' as
parameter 'weight' (torch.nn.Parameter or None expected)`, on whatever path reaches the line.

## Example
```python
self.weight = self.weight[: self.n]
```

## Use instead
```python
self.weight = nn.Parameter(self.weight[: self.n])     # outside forward (module surgery)
```
or, to change the values in place, `with torch.no_grad(): self.weight.copy_(t)`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(3))\n    def crop(self, n):\n        self.w = nn.Parameter(self.w[:n])\n"),
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(3))\n    def halve(self):\n        for n, p in list(self.named_parameters()):\n            setattr(self, n, nn.Parameter(p.detach() / 2))\n"),
    ]
    invalid = [
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(3))\n    def crop(self, n):\n        self.w = self.w[:n]\n",
                fixed='import torch\n'
                      'from torch import nn\n'
                      'class M(nn.Module):\n'
                      '    def __init__(self):\n'
                      '        super().__init__()\n'
                      '        self.w = nn.Parameter(torch.ones(3))\n'
                      '    def crop(self, n):\n'
                      '        self.w = nn.Parameter(self.w[:n])\n'),
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(3))\n    def halve(self):\n        for n, p in list(self.named_parameters()):\n            setattr(self, n, p.detach() / 2)\n",
                fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for assign in model.attr_assigns:
            if not _plain_tensor(model.value_assigned(assign), model.in_forward(assign.ctx)):
                continue
            if model.falls_back_on(assign.ctx, "TypeError"):
                continue  # a deliberate fallback: the except branch handles the TypeError
            if _registers(assign):
                yield self._registered(model, assign)
                continue
            if _stores_into_parameters(assign):
                if model.in_forward(assign.ctx):
                    yield self._stored(model, assign)
                continue  # outside forward: a deliberate swap (functional calls, meta-learning clones)
            if not model.holds_parameter_before(assign):
                continue
            target = _target_text(model, assign)
            yield Report(assign.node, (
                f"`{short(target, 32)}` is an nn.Parameter and is assigned a plain tensor: nn.Module raises TypeError"),
                fix=self.fix(model, assign), detail=(
                f"`{target}` is a registered nn.Parameter and is assigned a plain tensor: nn.Module raises "
                f"\"TypeError: cannot assign ... as parameter '{assign.attr}' (torch.nn.Parameter or None expected)\"; "
                f"wrap the value in `nn.Parameter(...)` (outside forward) or update in place with "
                f"`with torch.no_grad(): {target}.copy_(value)`"))

        yield from self._named(model)

    def _named(self, model: SemanticModel) -> Iterable[Report]:
        """``setattr(m, name, t)`` with ``name`` from ``m.named_parameters()`` (``model/named_slots.py``),
        in this function or through the calls that hand a helper the object, the name and the value.
        No fix: the value is usually meant to stay differentiable (a meta-learning step), which
        `nn.Parameter(...)` would cut; the remedy is a functional call."""
        for write in model.named_slot_writes:
            assign = write.assign
            if not _plain_tensor(write.value, model.in_forward(assign.ctx)) or not over_parameter(model, write):
                continue
            if model.falls_back_on(assign.ctx, "TypeError"):
                continue
            owner = model.text(assign.owner_node)
            name = model.text(assign.node.args[1].value) if isinstance(assign.node, cst.Call) else "name"
            via = f" (through `{short(model.text(write.via_call), 60)}`" if write.via_call is not None else ""
            if write.foreign is not None:
                via += f" in module `{write.foreign.caller}`"  # type: ignore[attr-defined]
            via += ")" if via else ""
            yield Report(assign.node, (
                f"`setattr({short(owner, 20)}, {short(name, 12)}, ...)` puts a plain tensor over a Parameter named by "
                f"named_parameters(): TypeError"), detail=(
                f"`{name}` names a registered nn.Parameter of `{owner}` (it comes from `named_parameters()`"
                f"{via}), and the value is a plain tensor: nn.Module raises \"TypeError: cannot assign ... as "
                f"parameter ... (torch.nn.Parameter or None expected)\"; compute with the new values functionally "
                f"(`torch.func.functional_call(module, new_params, args)`), wrap them in `nn.Parameter(...)` "
                f"when they are meant to be the new leaves, or remove the Parameter first "
                f"(`del {owner}._parameters[{name}]`)"), at=write.foreign)

    def _stored(self, model: SemanticModel, assign: AttrAssign) -> Report:
        owner = short(model.text(assign.owner_node), 24)
        value = model.text(assign.value_node)
        return Report(assign.node, (
            f"`{owner}._parameters[...]` is given a computed tensor in forward: parameters() lists a non-leaf"),
            detail=(
            f"`{owner}._parameters[...] = {short(value, 60)}` inside forward stores a tensor that is not an "
            f"nn.Parameter straight into the module's parameter table, past nn.Module's check: after a forward, "
            f"`parameters()` yields this computed tensor (an optimizer built then raises \"can't optimize a "
            f"non-leaf Tensor\", state_dict saves it), and the real parameter it came from is no longer listed; "
            f"remove the Parameter once (`del {owner}._parameters[name]`) and set the computed tensor as a plain "
            f"attribute (`setattr({owner}, name, value)`), or use `torch.nn.utils.parametrize`"))

    def _registered(self, model: SemanticModel, assign: AttrAssign) -> Report:
        owner = short(model.text(assign.owner_node), 24)
        value = model.text(assign.value_node)
        return Report(assign.node, (
            f"`{owner}.register_parameter('{short(assign.attr, 20)}', ...)` is given a plain tensor: nn.Module raises "
            f"TypeError"), detail=(
            f"`{owner}.register_parameter('{assign.attr}', {short(value, 60)})` is given a plain tensor, not an "
            f"nn.Parameter: register_parameter raises \"TypeError: cannot assign ... object to parameter "
            f"'{assign.attr}' (torch.nn.Parameter or None required)\", whether or not the tensor requires grad; "
            f"wrap it: `register_parameter('{assign.attr}', nn.Parameter(...))` (or `register_buffer` for a "
            f"tensor that should not train)"))


@register
class ReplacedAfterOptimizer(Rule):
    code = "LL304"
    name = "replaced-after-optimizer"
    probe_kinds = (schema.OPT_STEP,)
    summary = "A parameter or parameter-owning submodule replaced after an optimizer was built over it, then the same optimizer used."
    docs = f"""
## What it does
Flags, in one function, a statement that replaces state of a module after
`opt = torch.optim.X(model.parameters(), ...)` was built over it, when `opt` is used again
afterwards without being rebuilt. Replacing means assigning a new `nn.Parameter` or a new module
that owns parameters under `model` (`model.fc = nn.Linear(...)`, `setattr(model, name, layer)`,
`model.scale = nn.Parameter(...)`), directly or through a call of a function or method of the
file that does so to the argument given `model` (or to `self`, for `model.method(...)`),
followed through the calls it makes, and through the methods a call reaches on the objects it is
given: a helper that calls `layer.calibrate()` on its argument, a wrapper whose `__init__` keeps
its argument (`self.target = target`) and whose method calls `self.target.calibrate()`
(`Calibrator(model).run(x)`), in this file or in another module of the project. The finding is at
that statement, in the function that holds the optimizer.

Not flagged: an optimizer built (or rebuilt) after the replacement; `opt.add_param_group(...)`
right after it; a one-time lazy creation; `__init__`.

## Why is this bad?
An optimizer keeps the Parameter objects it was given. After the replacement, forward uses the
new ones, which no optimizer steps, while the optimizer keeps stepping the old ones (their
gradients stay `None`): training silently changes nothing, or only part of the model.

## Example
```python
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
prune_layers(model)          # setattr(model, "fc1", nn.Linear(8, 4)) inside
train(model, optimizer)
```

## Use instead
```python
prune_layers(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)   # built over the new parameters
train(model, optimizer)
```
or change the values in place (`with torch.no_grad(): model.scale.copy_(v)`) so the optimizer's
Parameter objects stay the module's.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2))\nmodel.head = nn.Linear(2, 1)\n"
              "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nopt.step()\n"),
        Valid("import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2))\n"
              "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nmodel.head = nn.Linear(2, 1)\n"
              "opt.add_param_group({'params': model.head.parameters()})\nopt.step()\n"),
    ]
    invalid = [
        Invalid("import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2))\n"
                "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nmodel.head = nn.Linear(2, 1)\nopt.step()\n",
                fixed=None),
        Invalid("import torch\nfrom torch import nn\ndef shrink(m):\n    setattr(m, 'fc', nn.Linear(2, 1))\n"
                "def run(model):\n    opt = torch.optim.Adam(model.parameters())\n    shrink(model)\n    opt.step()\n",
                fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for stale in model.stale_optimizers(lazily_guarded):
            built = short(model.text(stale.built), 60)
            yield Report(stale.node, (
                f"{short(stale.what, 40)} replaces parameters `{short(stale.optimizer, 16)}` was built over: "
                f"it keeps stepping the old ones"), detail=(
                f"{stale.what} replaces a parameter or a parameter-owning submodule of `{stale.owner}` after "
                f"`{built}`, and `{stale.optimizer}` is used again at `{short(model.text(stale.used), 60)}`: the "
                f"optimizer holds the old Parameter objects, so it keeps stepping them (their grad stays None) while "
                f"forward uses new ones that nothing trains; build the optimizer after the replacement (or rebuild "
                f"it), hand the new parameters over with `{stale.optimizer}.add_param_group(...)`, or change the "
                f"values in place under `torch.no_grad()`"))
