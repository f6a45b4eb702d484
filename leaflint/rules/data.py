"""LL2xx: ``.data`` misuse (writes that bypass autograd, reads that cut a parameter off)."""

from __future__ import annotations

from typing import Iterable, Optional

import libcst as cst

from leaflint.model import SemanticModel
from leaflint.model.imports import dotted
from leaflint.model.judge import Harm, harm
from leaflint.model.nograd import cut_calls
from leaflint.model.semantic import DataWrite, Grad
from leaflint.model.syntax import contains
from leaflint.model.torchapi import nn_init_name
from leaflint.blocks import loop_of_writes, move_after_backward
from leaflint.probe import schema
from leaflint.rules.base import Applicability, Invalid, Report, Rule, Valid, deferred, register, short

_REFERENCES = """
References:
- PyTorch 0.4 migration guide, "What about .data?":
  https://pytorch.org/blog/pytorch-0_4_0-migration-guide/#what-about-data
- Autograd mechanics, in-place correctness checks:
  https://pytorch.org/docs/stable/notes/autograd.html#in-place-correctness-checks
- torch.Tensor.copy_: https://pytorch.org/docs/stable/generated/torch.Tensor.copy_.html
"""

# What the probe records for a ``.data`` write (LL201, LL202): the write, and the backward it corrupts.
DATA_WRITE_KINDS = (schema.DATA_SET, schema.DATA_INPLACE, schema.DATA_HARM)


def copy_advice(text: str) -> str:
    return (f"use `with torch.no_grad(): {text}.copy_(value)`, which keeps autograd's version tracking "
            f"so misuse raises")


def _target(model: SemanticModel, write: DataWrite) -> str:
    return model.text(write.target_node) if write.target_node is not None else "x"


def _write_text(model: SemanticModel, write: DataWrite, width: int = 1000) -> str:
    if write.target_node is None:
        return ".data"
    return f"{short(model.text(write.target_node), width)}.data"


def write_advice(model: SemanticModel, write: DataWrite) -> str:
    """LL202's advice for this kind of write: the same in-place call on the tensor itself under
    no_grad (or ``nn.init``), the same item write, or ``copy_`` for an assignment."""
    text = _target(model, write)
    if write.kind == "inplace" and write.detail:
        init = nn_init_name(write.detail)
        alternative = f", or `{init}({text}, ...)`" if init else ""
        return (f"call `{text}.{write.detail}(...)` itself under `with torch.no_grad():`{alternative}; "
                f"version tracking is kept, so a misplaced write raises")
    if write.kind == "setitem":
        return f"write `{text}[...] = value` under `with torch.no_grad():`, which keeps version tracking"
    if write.kind == "augassign":
        return f"update `{text}` itself under `with torch.no_grad():`, which keeps version tracking"
    return copy_advice(text)


def _mentions(path: Optional[str]):
    """A test: does a statement mention ``path`` (itself, a prefix of it, or an attribute of it)?"""
    def mentions(stmt: cst.CSTNode) -> bool:
        if path is None:
            return True
        stack = [stmt]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.Name, cst.Attribute)):
                text = dotted(node)
                if text is not None and (text == path or text.startswith(path + ".") or path.startswith(text + ".")):
                    return True
            stack.extend(node.children)
        return False
    return mentions


def move_plan(model: SemanticModel, write: DataWrite):
    """Where a write between a forward and its backward() can go (``leaflint.blocks``), or None."""
    stmt = write.ctx.stmt
    if stmt is None:
        return None
    root = write.ctx.func.node if write.ctx.func.node is not None else model.module
    writes = {id(w.ctx.stmt) for w in model.data_writes}
    loop = loop_of_writes(root, stmt, lambda s: id(s) in writes)
    return move_after_backward(root, loop if loop is not None else stmt, _mentions(write.path))


def graph_advice(model: SemanticModel, write: DataWrite, found: Harm, plan) -> str:
    """LL201's advice, for the context it is given in. (``copy_`` under no_grad is no advice
    here: between a forward and its backward() backward then raises; in forward the value's
    producers still get no gradient.)"""
    text = _target(model, write)
    if found.kind == "before-backward":
        if plan is not None:
            where = f"`{model.text(plan.backward)}`" + (f" and `{model.text(plan.step)}`" if plan.step is not None else "")
            return f"move the write after {where}: the gradient is then computed from the values the loss used"
        return ("move the write after the `backward()` call (and after `optimizer.step()` when one follows): "
                "the gradient is then computed from the values the loss used")
    if found.kind == "graph-argument":
        return (f"compute the new values out of place so that autograd sees them (`y = y * scale`, "
                f"`y[i] = y[i].clone() * s`), or write `{text}` only after the backward()")
    if found.kind == "discards-graph":
        return (f"to train `{found.source}`, compute with the value instead of storing it (e.g. "
                f"`F.linear(x, value, bias)`) or register a parametrization "
                f"(`torch.nn.utils.parametrize.register_parametrization`); to store it on purpose, "
                f"write `{text}.data = value.detach()`")
    if found.kind == "noise-in-forward":
        return ("add the noise to a copy used for this call only (e.g. `F.linear(x, w + torch.randn_like(w) * std, b)`): "
                "the stored weights stay clean and the gradient sees the noise")
    if found.kind == "mask-in-forward":
        return ("apply the mask functionally on every call instead (e.g. `F.linear(x, F.dropout(w_raw, p), b)`), "
                "or register a parametrization")
    return ("compute with the new value instead of writing it in forward (e.g. `F.linear(x, value, bias)`), "
            "or make the write before the forward pass, under `torch.no_grad()`")


@register
class DataWriteInGraphContext(Rule):
    code = "LL201"
    name = "data-write-in-graph-context"
    # (model, write, plan): when a move plan exists
    fix_builder = deferred("leaflint.fix.data", "build_move_after_backward_fix")
    fix_applicability = (Applicability.UNSAFE,)
    probe_kinds = DATA_WRITE_KINDS
    summary = "A `.data` write where autograd is using the tensor: in forward, before backward(), or discarding a graph."
    docs = f"""
## What it does
Flags writes through `.data` (`x.data = v`, `x.data.mul_(m)`, `x.data[i] = v`, and writes
through an alias `c = x.data; c.zero_()`), with grad mode on, in the contexts where they
corrupt training:
- inside `forward` of an `nn.Module` (and helpers reached only from it), on a parameter:
  after its use, as a mask or dropout, or with a value computed from the parameter itself
  (`self.w.data = torch.mul(self.w, mask)`: stored into the weights on every call);
- after the tensor was used by a differentiable op and before the `backward()` that follows
  in the same function;
- when the assigned value carries a graph from another tensor that requires grad, or from a
  module's output, which the assignment throws away (`lin.weight.data = lin.weight * mask`:
  `mask` never trains; `target.weight.data = hyper(z)`: `hyper` never trains);
- in a helper, on a value computed from one of its parameters, when a caller passes it a
  module's output and calls `backward()` after the call (reported at the write, naming the
  call): `fake = G(z); clamp_data(fake); D(fake).mean().backward()`, where `clamp_data` does
  `x.data.clamp_(-1, 1)`. Functions passed as arguments (`post(fake)`, with `post` a parameter)
  are followed to the functions of the file that the callers pass.

## Why is this bad?
`.data` bypasses autograd's version counter. A tensor saved for backward and then
overwritten through `.data` gives a wrong gradient with no error; dropout or masks written
through `.data` in forward end up permanently in the weights; the producers of the value get
no gradient.

## Example
```python
y = (w * w).sum()
w.data = torch.zeros(3)      # backward now uses the zeros: w.grad is wrong
y.backward()
```

## Use instead
```python
y = (w * w).sum()
y.backward()
with torch.no_grad():
    w.copy_(torch.zeros(3))  # version tracking kept: a misplaced write raises
```
Between a forward and its `backward()`, move the write after the `backward()` (and after
`optimizer.step()` when one follows): the gradient is then the loss's own. Writing with
`copy_` under no_grad there instead makes `backward()` raise ("one of the variables needed for
gradient computation has been modified by an inplace operation"). The unsafe fix moves the
write (or the loop of writes over `D.parameters()`) when the `backward()` call is a plain
statement of the same block.
In forward, compute with the value instead of storing it: `F.linear(x, F.dropout(w_raw, p), b)`.

## LL201 and LL202
`.data =` is also a common, deliberate idiom outside training (weight merging, casts,
offloading, `__init__`): 430 sites in major libraries, none a bug. LL201 (default) reports only
the contexts above. LL202 (opt-in, `--select LL202`) is the literal rule: every `.data` write
on a tensor that requires grad, outside no_grad.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\ny = (w * w).sum()\ny.backward()\nwith torch.no_grad():\n    w.copy_(torch.ones(3))\n"),
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nw.data = w.data.half()\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\ny = (w * w).sum()\nw.data = torch.ones(3)\ny.backward()\n",
                fixed='import torch\n'
                      'w = torch.zeros(3, requires_grad=True)\n'
                      'y = (w * w).sum()\n'
                      'y.backward()\n'
                      'w.data = torch.ones(3)\n'),
        Invalid("import torch\nfrom torch import nn\nimport torch.nn.functional as F\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n        self.raw = nn.Parameter(torch.ones(2, 2))\n    def forward(self, x):\n        self.lin.weight.data = F.dropout(self.raw, 0.5)\n        return self.lin(x)\n",
                fixed=None),
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n        self.register_buffer('keep', torch.ones(2, 2))\n    def forward(self, x):\n        self.lin.weight.data = torch.mul(self.lin.weight, self.keep)\n        return self.lin(x)\n",
                fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for write in model.data_writes:
            found = harm(model, write)
            if found is None:
                continue
            plan = move_plan(model, write) if found.kind == "before-backward" else None
            yield Report(write.node, f"`{_write_text(model, write, 24)}` written {found.why}",
                         fix=self.fix(model, write, plan) if plan is not None else None,
                         detail=f"`{_write_text(model, write)}` is written behind autograd's back {found.reason}; "
                                f"{graph_advice(model, write, found, plan)}")


@register
class DataWriteOutsideNoGrad(Rule):
    code = "LL202"
    name = "data-write-outside-no-grad"
    fix_builder = deferred("leaflint.fix.data", "build_data_write_fix")
    fix_applicability = (Applicability.UNSAFE,)
    probe_kinds = DATA_WRITE_KINDS
    summary = "Any `.data` write on a tensor that requires grad, outside no_grad (opt-in)."
    default = False
    docs = f"""
## What it does
The literal rule: flags every write through `.data` (`x.data = v`, `x.data.add_()`,
`x.data[i] = v`, a `.data` alias mutated) where `x` is a parameter or another tensor that
requires grad and grad mode is on. Off by default; select it with `--select LL202` (or `ALL`).

## Why is this bad?
`.data` hides the write from autograd's version counter. Where no graph holds the tensor it
is harmless, which is why LL201 (default) reports only the contexts where a graph does; this
rule is for codebases that want `.data` gone entirely, as the PyTorch 0.4 migration guide
recommends.

## Example
```python
w.data = w - lr * w.grad
```

## Use instead
```python
with torch.no_grad():
    w.copy_(w - lr * w.grad)     # or: w -= lr * w.grad
```
{_REFERENCES}"""
    valid = [
        Valid("import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.copy_(torch.ones(3))\n"),
    ]
    invalid = [
        Invalid("import torch\nw = torch.zeros(3, requires_grad=True)\nw.data = torch.ones(3)\n",
                fixed=None),
        Invalid('import torch\nw = torch.zeros(3, requires_grad=True)\nw.grad = torch.ones(3)\nw.data = w - 0.1 * w.grad\n',
                fixed='import torch\n'
                      'w = torch.zeros(3, requires_grad=True)\n'
                      'w.grad = torch.ones(3)\n'
                      'with torch.no_grad():\n'
                      '    w.copy_(w - 0.1 * w.grad)\n'),
        Invalid('import torch\nw = torch.zeros(3, requires_grad=True)\nw.data.mul_(0.5)\n',
                fixed='import torch\nw = torch.zeros(3, requires_grad=True)\nwith torch.no_grad():\n    w.mul_(0.5)\n'),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for write in model.data_writes:
            if model.grad_at(write.ctx) is not Grad.ON or model.leaf(write.target) is None:
                continue
            yield Report(write.node, f"`{_write_text(model, write, 32)}` written outside no_grad: bypasses autograd's "
                                     f"version counter", fix=self.fix(model, write),
                         detail=f"`{_write_text(model, write)}` writes a tensor that requires grad outside no_grad, "
                                f"bypassing autograd's version counter; {write_advice(model, write)}")


def _record_value(value: cst.BaseExpression, target: cst.CSTNode) -> bool:
    """Whether ``target`` is ``value`` itself or reaches it only through conversions and
    choices (``x.data``, ``item(x.data)``, ``x.data.item()``, ``a if c else x.data``): no
    arithmetic that could make it part of a computed result."""
    if value is target:
        return True
    if isinstance(value, cst.IfExp):
        return _record_value(value.body, target) or _record_value(value.orelse, target)
    if isinstance(value, cst.Call):
        name = value.func.attr.value if isinstance(value.func, cst.Attribute) else getattr(value.func, "value", "")
        if name not in _RECORD_CONVERSIONS:
            return False
        if isinstance(value.func, cst.Attribute) and _record_value(value.func.value, target):
            return True
        return len(value.args) == 1 and _record_value(value.args[0].value, target)
    return False


# Conversions a logged value goes through (``loss.data.item()``, ``utils.item(loss.data)``).
_RECORD_CONVERSIONS = frozenset({"item", "cpu", "tolist", "numpy", "clone", "detach", "float", "int", "double"})


def _feeds_record(stmt: cst.CSTNode, node: cst.CSTNode) -> bool:
    """A ``.data`` read that is a value of a dict display (``{"loss": loss.data}``): a record for
    logging or metrics, not a term of what forward computes."""
    stack = [stmt]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Dict):
            for element in current.elements:
                if isinstance(element, cst.DictElement) and _record_value(element.value, node):
                    return True
        stack.extend(current.children)
    return False


def _copied_out(stmt: cst.CSTNode, node: cst.CSTNode) -> bool:
    """``backup.copy_(p.data)``: the read is copied into another tensor's storage (a snapshot):
    a value transfer, not a term of what forward computes."""
    stack = [stmt]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute) \
                and current.func.attr.value == "copy_" and len(current.args) >= 1 and current.args[0].value is node:
            return True
        stack.extend(current.children)
    return False


def computes_output(read) -> bool:
    """False for a ``.data`` that is not a read feeding the computation: the target of an
    assignment (``self.w.data, scale = quantize(w)`` writes it), or a read whose value only
    flows back into a ``.data`` write of the same tensor (``self.w.data = self.w.data.half()``,
    ``self.w.data = torch.renorm(self.w.data, 2, 0, c)``): the forward's output does not
    depend on it through that statement."""
    stmt = read.ctx.stmt
    if stmt is not None and (_feeds_record(stmt, read.node) or _copied_out(stmt, read.node)):
        return False
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return True
    small = stmt.body[0]
    if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
        if any(contains(target, read.node) for target in targets):
            return False
        base = dotted(read.node.value)
        if isinstance(small, cst.Assign) and base is not None and all(
                isinstance(t, cst.Attribute) and t.attr.value == "data" and dotted(t.value) == base for t in targets):
            return False  # the value goes back into the same tensor's .data
    return True


@register
class DataReadInForward(Rule):
    code = "LL203"
    name = "data-read-in-forward"
    fix_builder = deferred("leaflint.fix.data", "build_data_read_fix")
    fix_applicability = (Applicability.UNSAFE,)
    probe_kinds = (schema.DATA_GET, schema.DATA_FLOW, schema.DATA_CUT)
    summary = "A `.data` read inside forward that cuts the graph: a parameter's, used to compute the output, or the whole output's."
    docs = f"""
## What it does
Flags `self.weight.data` (any parameter's `.data`) read inside `forward` (and helpers reached
only from it) where the value feeds the computation: `x @ self.weight.data`,
`F.linear(x, self.lin.weight.data)`, `self.h = self.h0.data` as a recurrence's initial state.
Metadata reads (`.data.shape`, `.dtype`, `.device`, `.size()`, `.data_ptr()`) are not flagged,
nor is `.detach()`, which is a deliberate stop-gradient.

It also flags a `forward` whose output is a `.data` read of any tensor: every `return` gives
`<value>.data` (`logits = torch.stack(steps, 1).data; return logits`). A `.data` term next to
a graph-carrying one (the straight-through `x + (q - x).data`) and reads that only feed
logging are not the output and are not flagged.

## Why is this bad?
`.data` returns the values without their autograd history: the output no longer depends on
the parameter as far as autograd knows, so the parameter's `.grad` stays `None` and it never
trains, silently.

## Example
```python
def forward(self, x):
    return x @ self.weight.data
```

## Use instead
```python
def forward(self, x):
    return x @ self.weight
```
If blocking the gradient is intended, say so with `self.weight.detach()`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(2, 2))\n    def forward(self, x):\n        assert self.w.data.shape[0] == 2\n        return x @ self.w\n"),
        Valid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n    def forward(self, x):\n        h = self.lin(x)\n        return h + (h.round() - h).data\n"),
    ]
    invalid = [
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(2, 2))\n    def forward(self, x):\n        return x @ self.w.data\n",
                fixed='import torch\n'
                      'from torch import nn\n'
                      'class M(nn.Module):\n'
                      '    def __init__(self):\n'
                      '        super().__init__()\n'
                      '        self.w = nn.Parameter(torch.ones(2, 2))\n'
                      '    def forward(self, x):\n'
                      '        return x @ self.w\n'),
        Invalid("import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.lin = nn.Linear(2, 2)\n    def forward(self, x):\n        out = torch.tanh(self.lin(x)).data\n        return out\n",
                fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        for read in model.data_reads:
            if model.cuts_forward_output(read):
                text = model.text(read.node.value)
                yield Report(read.node, f"`{short(text, 32)}.data` is the whole output of forward: nothing that "
                                        f"computed it gets a gradient",
                             detail=f"forward returns `{text}.data`, which carries no graph: the loss computed from "
                                    f"this module's output cannot backpropagate into it (backward() raises, or the "
                                    f"parameters that produced it silently get no gradient); return `{text}` (or "
                                    f"`{text}.detach()` if a stop-gradient is intended)")
                continue
            if not model.in_forward(read.ctx) or model.grad_at(read.ctx) is not Grad.ON:
                continue
            if model.leaf(read.target) is None or not computes_output(read):
                continue
            text = model.text(read.node.value)
            yield Report(read.node, f"`{short(text, 32)}.data` read in forward: no gradient reaches "
                                    f"`{short(text, 32)}` through this use",
                         fix=self.fix(model, read),
                         detail=f"`{text}.data` in forward reads the parameter outside autograd: `{text}` gets no "
                                f"gradient from this use and silently never trains through it; use `{text}` "
                                f"(or `{text}.detach()` if a stop-gradient is intended)")


@register
class ParameterCutByNoGrad(Rule):
    code = "LL204"
    name = "parameter-cut-by-no-grad"
    probe_kinds = (schema.GRAD_CUT,)
    summary = "A Parameter passed, with grad on, to a module whose forward output depends on it only through `no_grad`."
    docs = f"""
## What it does
Flags a `with torch.no_grad():` block (or `inference_mode()`, `set_grad_enabled(False)`) in a
module's `forward` whose return value depends on one of its arguments only through that block,
when a caller with grad on calls the module with a tensor that requires grad (a Parameter):
`kernel = self.constraint(self.kernel)`, where the constraint's forward clamps `kernel` under
`no_grad` and returns the clamped values. The finding is on the block, naming the call.

## Why is this bad?
Values computed under `no_grad` carry no graph. The caller's Parameter reaches the output only
through them, so it gets no gradient from this use: if nothing else uses it, its `.grad` stays
`None` and it never trains, silently.

## Example
```python
class Clamp(nn.Module):
    def forward(self, w):
        with torch.no_grad():
            w = w.clamp(0.0, 1.0)
        return w
# elsewhere, in a forward: scale = self.clamp(self.scale)
```

## Use instead
Compute the value with grad on (`torch.clamp` has a gradient inside the range), or project the
Parameter in place after the optimizer step (`with torch.no_grad(): p.clamp_(0.0, 1.0)`) and use
it directly; if a straight-through value is meant, say so: `w + (w.clamp(0, 1) - w).detach()`.
{_REFERENCES}"""
    valid = [
        Valid("import torch\nfrom torch import nn\nclass Clamp(nn.Module):\n    def forward(self, w):\n"
              "        with torch.no_grad():\n            lo = w.min()\n        return w - lo\n"
              "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.w = nn.Parameter(torch.ones(3))\n        self.clamp = Clamp()\n"
              "    def forward(self, x):\n        return x * self.clamp(self.w)\n"),
    ]
    invalid = [
        Invalid("import torch\nfrom torch import nn\nclass Clamp(nn.Module):\n    def forward(self, w):\n"
                "        with torch.no_grad():\n            w = w.clamp(0.0, 1.0)\n        return w\n"
                "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                "        self.w = nn.Parameter(torch.ones(3))\n        self.clamp = Clamp()\n"
                "    def forward(self, x):\n        return x * self.clamp(self.w)\n", fixed=None),
    ]

    def check(self, model: SemanticModel) -> Iterable[Report]:
        seen = set()
        for cut in cut_calls(model):
            if (id(cut.block), cut.param) in seen:
                continue
            seen.add((id(cut.block), cut.param))
            call = short(model.text(cut.call), 48)
            where = f"{cut.callee.cls.name}.{cut.callee.name}" if cut.callee.cls is not None else cut.callee.name
            yield Report(cut.block, (
                f"`{short(where, 28)}` returns `{short(cut.param, 16)}` only through this no_grad block: "
                f"`{short(cut.arg_text, 24)}` passed in gets no gradient"), detail=(
                f"the value `{where}` returns depends on its parameter `{cut.param}` only through this "
                f"`no_grad` block, and `{call}` passes `{cut.arg_text}`, which requires grad, with grad on: no "
                f"gradient reaches `{cut.arg_text}` through this call, so if nothing else uses it, it never trains; "
                f"compute the value with grad on, or project the Parameter in place after the optimizer step and "
                f"use it directly"))
