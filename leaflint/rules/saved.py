"""LL4xx: a tensor saved for backward, then modified in place before that backward runs.

Each rule owns its message, docs, examples, probe kinds and fix builder. The facts come from
``leaflint.model.saved`` (the generated table of what each op saves, and a dataflow over each
function): a save, a later in-place write to the same storage (through any view or
``detach()``), then a ``backward()`` whose graph holds the save, in the same function, or the
write inside ``forward`` of a module on a value that reaches the returned output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

import libcst as cst

from leaflint.findings import Applicability, Edit, Fix
from leaflint.model import SemanticModel
from leaflint.model.saved import Hit, hits_for, load_table
from leaflint.model.values import SelfRef
from leaflint.probe import schema
from leaflint.rules.base import Invalid, Report, Rule, Valid, register, short

if TYPE_CHECKING:  # the fix modules are imported only where a rule reports
    from leaflint.fix.context import FixContext, LazyFix

ERROR = "one of the variables needed for gradient computation has been modified by an inplace operation"

_REFERENCES = """
References:
- PyTorch, Autograd mechanics, "In-place correctness checks":
  https://pytorch.org/docs/stable/notes/autograd.html#in-place-correctness-checks
- Saved tensors and their hooks:
  https://pytorch.org/docs/stable/notes/autograd.html#saved-tensors
- torch/csrc/autograd/derivatives.yaml (which inputs and outputs each op saves), read by
  `tools/gen_saved_table.py` into `leaflint/data/saved_tensors.json`
"""

_OPS = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "//=": "//", "**=": "**", "%=": "%",
        "&=": "&", "|=": "|", "^=": "^", "<<=": "<<", ">>=": ">>"}


def _where(model: SemanticModel, hit: Hit) -> str:
    if hit.write.kind == "layer":
        return "every backward through the container then fails"
    if hit.backward is not None:
        return f"`{model.text(hit.backward)}` then fails"
    return "the backward over this module's output then fails"


def _saver(model: SemanticModel, hit: Hit) -> str:
    save = hit.save
    if save.kind == "output":
        return f"`{model.text(save.node)}` saved its own result for backward ({save.op}'s gradient reads it)"
    if save.kind == "params":
        return f"`{model.text(save.node)}` saved {save.what} for backward"
    return f"`{model.text(save.node)}` saved `{save.what}` for backward ({save.op})"


def _write_text(model: SemanticModel, hit: Hit) -> str:
    write = hit.write
    if write.kind == "method":
        return f"`.{write.detail}()` modifies `{model.text(write.target)}` in place"
    if write.kind == "augassign":
        return f"`{write.detail}` modifies `{model.text(write.target)}` in place"
    if write.kind == "setitem":
        return f"item assignment writes into `{model.text(write.target)}` in place"
    if write.kind == "inplace_fn":
        return f"`{write.detail}` overwrites `{model.text(write.target)}`"
    if write.kind == "out":
        return f"`{write.detail}` writes into `{model.text(write.target)}`"
    if write.kind == "layer":
        return (f"`{model.text(write.node)}` overwrites its input in place, the output of "
                f"`{model.text(write.target)}` just before it in the container")
    return f"`{write.detail}` updates the parameters in place"


def _advice(hit: Hit) -> str:
    write = hit.write
    if write.kind == "layer":
        return "drop `inplace=True` from this layer (or place it after a layer that does not save its output)"
    if write.in_loop and write.kind in ("setitem", "augassign", "method"):
        return ("collect the per-step results in a list and join them with `torch.stack` (or `torch.cat`) "
                "instead of writing into one tensor, or `clone()` the tensor before the write")
    if write.kind == "inplace_fn":
        return "use the out-of-place form (drop `inplace=True` / the trailing underscore)"
    if write.kind == "setitem":
        return "`clone()` the tensor before writing into it, or build the new value out of place"
    return "use the out-of-place form (`y = y * 2` for `y.mul_(2)`), or `clone()` the value before the write"


# ------------------------------------------------------------------------------------ fixes
def _atom(model: SemanticModel, node: cst.BaseExpression) -> str:
    text = model.text(node)
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)) or node.lpar:
        return text
    return f"({text})"


def build_saved_fix(model: SemanticModel, hit: Hit) -> Optional[LazyFix]:
    """The out-of-place form of the write, where it is a rebinding of a plain name."""
    write = hit.write
    stmt = write.stmt
    if write.in_loop and write.kind != "inplace_fn":
        return None  # a list and torch.stack: advice in the message, no mechanical rewrite
    if isinstance(write.target, cst.Name) and write.target.value in _parameters(hit):
        return None  # the caller may rely on the write to its argument: no mechanical rewrite
    if write.kind == "method" and isinstance(write.target, cst.Name) and isinstance(stmt, cst.SimpleStatementLine) \
            and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) and stmt.body[0].value is write.node \
            and load_table().has_method(write.detail[:-1]):
        call = write.node
        name = write.target.value
        plain = call.func.attr.value[:-1]
        new = call.with_changes(func=call.func.with_changes(attr=cst.Name(plain)))
        text = f"{name} = {model.text(new)}"
        return _replace(call, text, f"Rebind `{name}` to the out-of-place `{plain}(...)`: the saved tensor is left as it was")
    if write.kind == "augassign" and isinstance(write.target, cst.Name) and isinstance(write.node, cst.AugAssign):
        name = write.target.value
        op = _OPS.get(write.detail)
        if op is None:
            return None
        text = f"{name} = {name} {op} {_atom(model, write.node.value)}"
        return _replace(write.node, text, f"Rebind `{name}` out of place (`{name} = {name} {op} ...`): the saved tensor is left as it was")
    if write.kind == "setitem" and isinstance(write.target, cst.Name) and isinstance(stmt, cst.SimpleStatementLine) \
            and len(stmt.body) == 1:
        name = write.target.value
        from leaflint.fix.context import LazyFix

        def make(context: FixContext) -> Optional[Fix]:
            start = context.start(stmt)
            indent = context.line(start.row)[: start.column - 1]
            edit = Edit(start, start, f"{name} = {name}.clone(){context.newline}{indent}")
            return Fix(f"Write into a clone of `{name}`: the saved tensor is left as it was", Applicability.UNSAFE, [edit])

        return LazyFix(make)
    if write.kind in ("inplace_fn", "layer") and isinstance(write.node, cst.Call):
        return _drop_inplace(model, write.node)
    return None


def _parameters(hit: Hit) -> set[str]:
    node = hit.func.node
    if node is None:
        return set()
    params = node.params
    return {p.name.value for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params)}


def _replace(node: cst.CSTNode, text: str, message: str) -> LazyFix:
    from leaflint.fix.context import LazyFix

    def make(context: FixContext) -> Optional[Fix]:
        return Fix(message, Applicability.UNSAFE, [Edit(context.start(node), context.end(node), text)])

    return LazyFix(make)


def _inplace_arg(call: cst.Call) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "inplace" and isinstance(arg.value, cst.Name) \
                and arg.value.value == "True":
            return arg
    return None


def _drop_inplace(model: SemanticModel, call: cst.Call) -> Optional[LazyFix]:
    """``F.relu(h, inplace=True)`` / ``nn.ReLU(inplace=True)(h)`` / ``self.act(h)`` built with it."""
    target = call if _inplace_arg(call) is not None else None
    if target is None and isinstance(call.func, cst.Call) and _inplace_arg(call.func) is not None:
        target = call.func
    if target is None and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name):
        for assign in model.attr_assigns:
            if isinstance(assign.owner, SelfRef) and assign.attr == call.func.attr.value \
                    and isinstance(assign.value_node, cst.Call) and _inplace_arg(assign.value_node) is not None:
                target = assign.value_node
                break
    if target is None:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value.endswith("_") and not func.attr.value.endswith("__"):
            plain = func.attr.value[:-1]
            new = call.with_changes(func=func.with_changes(attr=cst.Name(plain)))
            return _replace(call, model.text(new), f"Call `{plain}` instead of `{func.attr.value}`")
        return None
    arg = _inplace_arg(target)
    args = [a for a in target.args if a is not arg]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    new = target.with_changes(args=args)
    return _replace(target, model.text(new), "Drop `inplace=True`: the saved tensor is left as it was")


# ------------------------------------------------------------------------------------ rules
class SavedRule(Rule):
    """Shared check: the hits of one kind, each with its message and fix."""

    probe_kinds = (schema.SAVED_WRITE,)
    fix_builder = build_saved_fix
    fix_applicability = (Applicability.UNSAFE,)
    # On by default since round three: the rules need a tensor (not a dict or list slot), a
    # save that happens for requires-grad facts the model knows, and a backward over the saving
    # graph (in the function, or the output of a module's forward); tuning-half precision in
    # docs/ll4.md and docs/corpus-triage.md.
    default = True

    def wants(self, hit: Hit) -> bool:
        raise NotImplementedError

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for hit in hits_for(model):
            if self.wants(hit):
                yield Report(hit.write.node, self.concise(model, hit), fix=self.fix(model, hit),
                             detail=self.message(model, hit))

    def concise(self, model: SemanticModel, hit: Hit) -> str:
        """What and why in a phrase: the write, the save it breaks, and that backward raises."""
        write = hit.write
        if write.kind == "layer":
            return (f"`{short(write.detail, 24)}` overwrites the output of `{short(model.text(write.target), 20)}`, "
                    f"which it saved for backward: backward raises")
        if write.kind == "method":
            what = f"`.{short(write.detail, 16)}()`"
        else:
            what = f"`{short(write.detail, 16)}`" if write.kind != "setitem" else "item assignment"
        return (f"{what} writes into `{short(model.text(write.target), 20)}`, saved for backward by "
                f"`{short(model.text(hit.save.node), 24)}`: backward raises")

    def message(self, model: SemanticModel, hit: Hit) -> str:
        return (f"{_write_text(model, hit)}, but {_saver(model, hit)}; {_where(model, hit)} with "
                f"\"{ERROR}\"; {_advice(hit)}")


@register
class SavedOutputModifiedInPlace(SavedRule):
    code = "LL401"
    name = "saved-output-modified-in-place"
    summary = "The result of an op that saves its output (sigmoid, tanh, exp, relu, softmax, ...) modified in place before backward."
    docs = f"""
## What it does
Flags an in-place write (`y.mul_(2)`, `y += b`, `y[i] = v`, `F.relu(y, inplace=True)`,
`nn.ReLU(inplace=True)(y)`) on the result of an op whose gradient is computed from its own
output (`sigmoid`, `tanh`, `exp`, `relu`, `sqrt`, `rsqrt`, `softmax`, `log_softmax`,
`logsumexp`, `cumprod`, ...), when the value requires grad and a `backward()` over it follows
in the same function, or the write sits in `forward` of a module and the value reaches its
output. Which ops save their output is read from torch's own `derivatives.yaml`.

Two shapes reach past one expression. A module of the file whose forward returns the output its
last op saved (`return self.act(self.bn(self.conv(x)))` with `self.act = nn.ReLU()`) passes
that fact on to its callers: an in-place write into what it returns is a write into a saved
output. And inside one `nn.Sequential(...)` (its arguments, or a list built by consecutive
`layers.append(...)` for `nn.Sequential(*layers)`), a layer built with `inplace=True`
(`nn.Dropout(p, inplace=True)`, `nn.ReLU(inplace=True)`, ...) right after `nn.ReLU`,
`nn.Sigmoid`, `nn.Tanh`, `nn.Softmax` or `nn.LogSoftmax` is reported where it is built: every
backward through the container raises. After `nn.Linear`, a convolution or a normalisation
layer an in-place layer is fine (they do not keep their output).

## Why is this bad?
Autograd keeps the output to compute the gradient (`sigmoid'(x) = y * (1 - y)`), and checks
at backward time that it was not changed: `RuntimeError: {ERROR}: [torch.FloatTensor [8, 4]],
which is output 0 of SigmoidBackward0, is at version 1; expected version 0 instead.` torch
names neither the write nor the line that saved the tensor.

## Example
```python
y = torch.sigmoid(x @ w)
y.mul_(2)
y.sum().backward()
```

## Use instead
```python
y = torch.sigmoid(x @ w)
y = y.mul(2)               # or: y = y * 2
y.sum().backward()
```
Ops whose gradient does not read their output (`add`, `sub`, `cat`, `view`, `expand`,
`cumsum`) can be followed by an in-place write, and so can anything under `torch.no_grad()`
that no graph saved; `clone()` first when the in-place form is needed.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nx = torch.randn(3, requires_grad=True)\ny = torch.sigmoid(x)\ny = y * 2\ny.sum().backward()\n"),
        Valid("import torch\nx = torch.randn(3, requires_grad=True)\ny = x + 1\ny.mul_(2)\ny.sum().backward()\n"),
        Valid("import torch\nx = torch.randn(3, requires_grad=True)\ny = torch.sigmoid(x).clone()\ny.mul_(2)\ny.sum().backward()\n"),
        Valid("import torch.nn as nn\nhead = nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(8, 2))\n"),
    ]
    invalid = [
        Invalid("import torch\nx = torch.randn(3, requires_grad=True)\ny = torch.sigmoid(x)\ny.mul_(2)\ny.sum().backward()\n",
                fixed='import torch\n'
                      'x = torch.randn(3, requires_grad=True)\n'
                      'y = torch.sigmoid(x)\n'
                      'y = y.mul(2)\n'
                      'y.sum().backward()\n'),
        Invalid("import torch\nimport torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n    def forward(self, x):\n        e = torch.exp(self.fc(x))\n"
        "        e /= e.sum()\n        return e\n",
                fixed='import torch\n'
                      'import torch.nn as nn\n'
                      'class Net(nn.Module):\n'
                      '    def __init__(self):\n'
                      '        super().__init__()\n'
                      '        self.fc = nn.Linear(4, 4)\n'
                      '    def forward(self, x):\n'
                      '        e = torch.exp(self.fc(x))\n'
                      '        e = e / e.sum()\n'
                      '        return e\n'),
        Invalid("import torch.nn as nn\nhead = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5, inplace=True), nn.Linear(8, 2))\n",
                fixed="import torch.nn as nn\nhead = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))\n"),
    ]

    def wants(self, hit: Hit) -> bool:
        return hit.save.kind == "output" and hit.write.kind != "step"


@register
class SavedInputModifiedInPlace(SavedRule):
    code = "LL402"
    name = "saved-input-modified-in-place"
    summary = "An input that an op saved for backward (mul, mm, conv, linear, ...) modified in place before backward."
    docs = f"""
## What it does
Flags an in-place write on a tensor that an earlier op saved as an *input* for its gradient:
`b[i] = v` after `a @ b`, `h[:, t] = cell(h[:, t - 1])` in an RNN loop (the layer saved the
slice it read), `x.zero_()` after `x * w`, a manual parameter update between a forward and its
`backward()`. Whether an input is saved depends on what else requires grad (`x * w` saves `x`
only when `w` requires grad); the table records that condition and the rule uses it. Views
count both ways: a saved view changed through its base and a saved base changed through a
view share one version counter (so does `detach()`).

## Why is this bad?
The gradient of `a @ b` with respect to `a` is `grad @ b.T`: it needs `b` as it was. After the
write torch raises `RuntimeError: {ERROR}: [...] is at version 2; expected version 1 instead.`
at `backward()`, far from the write.

## Example
```python
h = torch.zeros(batch, steps, hidden)
for t in range(1, steps):
    h[:, t] = torch.tanh(cell(h[:, t - 1]))
h.sum().backward()
```

## Use instead
```python
states = [torch.zeros(batch, hidden)]
for t in range(1, steps):
    states.append(torch.tanh(cell(states[-1])))
torch.stack(states, dim=1).sum().backward()
```
or `clone()` the tensor before the write.
{_REFERENCES}"""
    valid = [
        Valid("import torch\na = torch.randn(3, 3, requires_grad=True)\nb = torch.randn(3, 3)\nout = a @ b\n"
        "b = b.clone()\nb[0] = 0\nout.sum().backward()\n"),
        Valid("import torch\na = torch.randn(3, 3, requires_grad=True)\nb = torch.randn(3, 3)\nout = a + b\nb[0] = 0\n"
        "out.sum().backward()\n"),
    ]
    invalid = [
        Invalid("import torch\na = torch.randn(3, 3, requires_grad=True)\nb = torch.randn(3, 3)\nout = a @ b\nb[0] = 0\n"
        "out.sum().backward()\n",
                fixed='import torch\n'
                      'a = torch.randn(3, 3, requires_grad=True)\n'
                      'b = torch.randn(3, 3)\n'
                      'out = a @ b\n'
                      'b = b.clone()\n'
                      'b[0] = 0\n'
                      'out.sum().backward()\n'),
    ]

    def wants(self, hit: Hit) -> bool:
        return hit.save.kind in ("input", "params") and hit.write.kind != "step"


@register
class OptimizerStepBetweenBackwards(SavedRule):
    code = "LL403"
    name = "optimizer-step-between-backwards"
    fix_builder = None  # which update to move is the user's call: advice only
    fix_applicability = ()

    def concise(self, model: SemanticModel, hit: Hit) -> str:
        return (f"`{short(hit.write.detail, 16)}` updates parameters that `{short(model.text(hit.save.node), 20)}` "
                f"saved for a backward still to run: it raises")
    summary = "`opt.step()` between `backward(retain_graph=True)` and a second backward whose graph saved the stepped parameters (the GAN pattern)."
    docs = f"""
## What it does
Flags `optimizer.step()` when a graph that saved the optimizer's parameters is still to be
backpropagated: `loss_D.backward(retain_graph=True); opt_D.step(); loss_G.backward()` where
`loss_G` came through `D(...)` before the step, or `loss.backward(retain_graph=True);
opt.step(); loss2.backward()` over the same graph.

## Why is this bad?
The step updates the parameters in place (`p.add_(...)` under no_grad); the retained graph
saved them for its backward (a linear layer keeps its weight to compute the gradient of its
input). The second backward raises `RuntimeError: {ERROR}: [torch.FloatTensor [1, 128]],
which is output 0 of AsStrided ...`. Typical of GAN training loops.

## Example
```python
fake = G(z)
out = D(fake)
loss_D = bce(out, zeros)
loss_D.backward(retain_graph=True)
opt_D.step()
loss_G = bce(out, ones)
loss_G.backward()
```

## Use instead
Update the generator first, and give the discriminator a detached fake:
```python
loss_G = bce(D(fake), ones)
opt_G.zero_grad(); loss_G.backward(); opt_G.step()
loss_D = bce(D(fake.detach()), zeros)
opt_D.zero_grad(); loss_D.backward(); opt_D.step()
```
or recompute `D(fake)` after `opt_D.step()`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nimport torch.nn as nn\nG = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))\n"
        "D = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))\nopt_D = torch.optim.SGD(D.parameters(), lr=0.1)\n"
        "fake = G(torch.randn(8, 2))\nloss_D = D(fake.detach()).mean()\nloss_D.backward()\nopt_D.step()\n"
        "loss_G = -D(fake).mean()\nloss_G.backward()\n"),
    ]
    invalid = [
        Invalid("import torch\nimport torch.nn as nn\nG = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))\n"
        "D = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))\nopt_D = torch.optim.SGD(D.parameters(), lr=0.1)\n"
        "out = D(G(torch.randn(8, 2)))\nloss_D = out.mean()\nloss_D.backward(retain_graph=True)\nopt_D.step()\n"
        "loss_G = -out.mean()\nloss_G.backward()\n",
                fixed=None),
    ]

    def wants(self, hit: Hit) -> bool:
        return hit.write.kind == "step"

    def message(self, model: SemanticModel, hit: Hit) -> str:
        return (f"`{hit.write.detail}` updates parameters in place that `{model.text(hit.save.node)}` saved for a "
                f"backward still to come ({_where(model, hit)} with \"{ERROR}\"); step the generator first and give "
                f"the discriminator `fake.detach()`, or recompute the forward after the step")
