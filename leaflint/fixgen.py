"""The fixes the rules attach to their findings.

A rule calls one builder per finding (``Report(node, message, fix=build_xxx(model, site))``).
A builder decides from the model whether a sound fix exists and returns a ``LazyFix`` (or
``None``); the engine resolves it into a ``Fix`` with positions once it has resolved the
positions of the module (``LazyFix.resolve``), so no builder re-parses anything.

What each family gets (the README's "Fixes" section says the same for users):

- LL1: the statement is wrapped in ``with torch.no_grad():`` (safe in ``__init__``, at module
  level and after a ``backward()`` earlier in the same function; unsafe elsewhere), or, for
  ``uniform_``/``normal_``/``zero_``/``fill_`` called as a statement on a parameter, rewritten to
  the ``nn.init`` function (safe outside forward). An ``inplace=True`` functional whose result is
  used becomes its out-of-place form (unsafe).
- LL2: ``x.data = v`` becomes ``with torch.no_grad(): x.copy_(v)`` and ``x.data.op_()`` becomes
  ``with torch.no_grad(): x.op_()`` (unsafe). Only where the write is a plain update: not in
  forward and not in one of LL201's contexts, where the same rewrite would keep the bug (the value's
  producers still get no gradient) or turn it into an error at ``backward()``. A ``.data`` read in
  forward (LL203) loses its ``.data`` (unsafe: the parameter starts to train through that use).
- LL3: ``self.lin.weight = nn.Parameter(expr)`` followed by calls ``self.lin(x)`` in the same
  forward becomes ``F.linear(x, expr, self.lin.bias)`` (``F.conv1d/2d/3d`` with the layer's
  stride, padding, dilation and groups), unsafe. A plain tensor assigned over a Parameter (LL303)
  is wrapped in ``nn.Parameter`` in ``__init__`` or module surgery, else copied in under no_grad.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import libcst as cst

from leaflint.findings import Edit, Fix, Position
from leaflint.model.imports import dotted
from leaflint.model.judge import backward_before, harmful_reason
from leaflint.model.torchapi import NN_INIT
from leaflint.model.walk import children

if TYPE_CHECKING:
    from leaflint.positions import Positions

SAFE = "safe"
UNSAFE = "unsafe"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# Methods (and attributes) whose result may differ from the target in shape, dtype, device or
# memory layout: `x.data = x.data.half()` is a cast that `x.copy_(...)` would silently undo.
_LAYOUT_METHODS = frozenset({
    "to", "type", "type_as", "float", "double", "half", "bfloat16", "int", "long", "short", "bool",
    "byte", "char", "cpu", "cuda", "contiguous", "pin_memory", "view", "view_as", "reshape",
    "reshape_as", "t", "transpose", "permute", "expand", "expand_as", "repeat", "flatten",
    "unflatten", "squeeze", "unsqueeze", "narrow", "to_sparse", "to_dense", "coalesce",
})
_LAYOUT_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag"})
# ... and functions or methods whose result generally has another shape than their input.
_SHAPE_CHANGING = _LAYOUT_METHODS | frozenset({
    "sum", "mean", "max", "min", "prod", "std", "var", "norm", "amax", "amin", "argmax", "argmin", "all",
    "any", "median", "mode", "logsumexp", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split",
    "chunk", "matmul", "mm", "bmm", "mv", "einsum", "outer", "kron", "tensordot", "repeat_interleave", "tile",
    "index_select", "gather", "masked_select", "nonzero", "unique", "topk", "diag", "pad", "interpolate",
    "cumsum", "new_empty", "new_zeros", "new_ones", "new_full", "new_tensor", "item", "tolist", "numpy",
})

_CONV = {"Conv1d": "conv1d", "Conv2d": "conv2d", "Conv3d": "conv3d"}

# Nodes under which an expression is not evaluated once, right there.
_DEFERRED = (cst.Lambda, cst.FunctionDef, cst.ClassDef, cst.GeneratorExp)
_REPEATED_OR_CONDITIONAL = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
                            cst.IfExp, cst.BooleanOperation, cst.If, cst.Try, cst.With, cst.Match)


# ----------------------------------------------------------------------------------- plumbing
class LazyFix:
    """A fix whose edits need positions: ``make(context)`` returns the ``Fix`` or None."""

    def __init__(self, make: Callable[["FixContext"], Optional[Fix]]) -> None:
        self._make = make

    def resolve(self, module: cst.Module, positions: Positions) -> Optional[Fix]:
        try:
            return self._make(_context(module, positions))
        except Exception:  # a bug in a builder must not cost the finding itself
            if os.environ.get("LEAFLINT_DEBUG_FIXES"):
                raise
            return None


def resolve(fix, module: cst.Module, positions: Positions) -> Optional[Fix]:
    """What the engine calls on ``Report.fix``: a plain ``Fix`` passes through."""
    if isinstance(fix, LazyFix):
        return fix.resolve(module, positions)
    return fix


_LAST: list = []  # (module, positions, context): the context of the module being linted


def _context(module: cst.Module, positions: Positions) -> "FixContext":
    if _LAST and _LAST[0] is module and _LAST[1] is positions:
        return _LAST[2]
    context = FixContext(module, positions)
    _LAST[:] = [module, positions, context]
    return context


@dataclass
class Scope:
    """Module-level names: what the imports bind, every bound name, where a new import goes."""

    imports: dict[str, str]
    bound: set[str]
    anchor: tuple[str, int]  # ("after", row): at the end of that row; ("before", row)

    def alias_of(self, qualified: str) -> Optional[str]:
        for local, full in self.imports.items():
            if full == qualified:
                return local
        return None


class FixContext:
    """The module's text, positions and top-level names, shared by the fixes of one lint."""

    def __init__(self, module: cst.Module, positions: Positions) -> None:
        self.module = module
        self.positions = positions
        self.newline = module.default_newline
        self.indent_unit = module.default_indent
        self.lines = _LINE_BREAK.split(positions.text)  # the text the module was parsed from
        self._scope: Optional[Scope] = None

    # positions (1-based rows, 1-based columns) --------------------------------------------
    def start(self, node: cst.CSTNode, outer: bool = False) -> Position:
        lpar = getattr(node, "lpar", ()) if outer else ()
        span = self.positions[node]  # (first: the positions of its parentheses come with it)
        if lpar:
            span = self.positions[lpar[0]]
        return Position(span.start.line, span.start.column + 1)

    def end(self, node: cst.CSTNode, outer: bool = False) -> Position:
        rpar = getattr(node, "rpar", ()) if outer else ()
        span = self.positions[node]
        if rpar:
            span = self.positions[rpar[-1]]
        return Position(span.end.line, span.end.column + 1)

    def line(self, row: int) -> str:
        return self.lines[row - 1] if 1 <= row <= len(self.lines) else ""

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.positions.parent(node)  # the one parent map of this module (leaflint.positions)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    @property
    def scope(self) -> Scope:
        if self._scope is None:
            self._scope = _module_scope(self)
        return self._scope

    # imports ---------------------------------------------------------------------------
    def import_edit(self, statement: str) -> Edit:
        how, row = self.scope.anchor
        if how == "after":
            at = Position(row, len(self.line(row)) + 1)
            return Edit(at, at, self.newline + statement)
        at = Position(row, 1)
        return Edit(at, at, statement + self.newline)

    def torch_name(self) -> tuple[Optional[str], list[Edit]]:
        """The local name of the torch module, adding ``import torch`` when none is bound."""
        name = self.scope.alias_of("torch")
        if name is not None:
            return name, []
        if "torch" in self.scope.bound:
            return None, []  # `torch` is something else here
        return "torch", [self.import_edit("import torch")]

    def nn_name(self) -> tuple[Optional[str], list[Edit]]:
        """An expression for torch.nn: its alias (``nn``), else ``torch.nn``."""
        name = self.scope.alias_of("torch.nn")
        if name is not None:
            return name, []
        torch, edits = self.torch_name()
        return (f"{torch}.nn" if torch else None), edits

    def functional_name(self, func: Optional[cst.FunctionDef]) -> tuple[Optional[str], list[Edit]]:
        """An expression for torch.nn.functional: its alias, else ``F`` with a new import."""
        name = self.scope.alias_of("torch.nn.functional")
        if name is not None and not _local_binding(func, name):
            return name, []
        if "F" not in self.scope.bound and not _local_binding(func, "F"):
            return "F", [self.import_edit("import torch.nn.functional as F")]
        torch = self.scope.alias_of("torch")
        if torch is not None:
            return f"{torch}.nn.functional", []
        return None, []


def _module_scope(context: FixContext) -> Scope:
    imports: dict[str, str] = {}
    bound: set[str] = set()

    def bind_import(small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Import):
            for alias in small.names:
                full = dotted(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                    imports[local] = full
                else:
                    local = full.split(".", 1)[0]
                    imports[local] = local
                bound.add(local)
        elif isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
            base = dotted(small.module)
            if isinstance(small.names, cst.ImportStar) or base is None:
                return
            for alias in small.names:
                name = dotted(alias.name)
                if name is None:
                    continue
                local = alias.asname.name.value if alias.asname is not None and isinstance(
                    alias.asname.name, cst.Name) else name
                imports[local] = f"{base}.{name}"
                bound.add(local)

    def walk(body: Sequence[cst.CSTNode]) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    bind_import(small)
                    if isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                        for target in targets:
                            bound.update(_names(target))
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                bound.add(stmt.name.value)
            elif isinstance(stmt, (cst.If, cst.Try, cst.With, cst.For, cst.While)):
                if isinstance(stmt, cst.If) and (dotted(stmt.test) or "").endswith("TYPE_CHECKING"):
                    continue  # not imported at run time
                blocks = [stmt.body]
                if isinstance(stmt, cst.Try):
                    blocks += [h.body for h in stmt.handlers]
                if getattr(stmt, "orelse", None) is not None:
                    orelse = stmt.orelse
                    blocks.append(orelse if isinstance(orelse, cst.If) else orelse.body)
                for block in blocks:
                    if isinstance(block, cst.If):
                        walk([block])
                    elif isinstance(block, cst.IndentedBlock):
                        walk(block.body)

    walk(context.module.body)
    body = context.module.body
    is_import = [isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, (cst.Import, cst.ImportFrom)) for x in s.body)
                 for s in body]
    anchor: tuple[str, int]
    if any(is_import):
        first = last = is_import.index(True)
        while last + 1 < len(body) and is_import[last + 1]:
            last += 1
        torch_lines = [i for i in range(first, last + 1) if _imports_torch(body[i])]
        anchor = ("after", context.end(body[torch_lines[-1] if torch_lines else last]).row)
    elif body and _is_docstring(body[0]):
        anchor = ("after", context.end(body[0]).row)
    elif body:
        anchor = ("before", context.start(body[0]).row)
    else:
        anchor = ("before", 1)
    return Scope(imports, bound, anchor)


def _imports_torch(stmt: cst.SimpleStatementLine) -> bool:
    for small in stmt.body:
        names = [dotted(a.name) for a in small.names] if isinstance(small, cst.Import) else [
            dotted(small.module) if small.module is not None and not small.relative else None]
        if any(name is not None and name.split(".", 1)[0] == "torch" for name in names):
            return True
    return False


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _names(node: cst.CSTNode) -> Iterator[str]:
    if isinstance(node, cst.Name):
        yield node.value
    elif isinstance(node, (cst.Tuple, cst.List)):
        for element in node.elements:
            yield from _names(element.value)
    elif isinstance(node, cst.StarredElement):
        yield from _names(node.value)


def _local_binding(func: Optional[cst.FunctionDef], name: str) -> bool:
    """Whether ``name`` is a parameter of ``func`` or assigned anywhere in it."""
    if func is None:
        return False
    for param in _all_params(func.params):
        if param.name.value == name:
            return True
    return any(name in names for names in _binding_targets(func.body))


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    found = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            found.append(star)
    return found


def _binding_targets(node: cst.CSTNode) -> Iterator[set[str]]:
    for child, _parent in _walk(node):
        if isinstance(child, cst.AssignTarget):
            yield set(_names(child.target))
        elif isinstance(child, (cst.AugAssign, cst.AnnAssign)):
            yield set(_names(child.target))
        elif isinstance(child, (cst.For, cst.CompFor)):
            yield set(_names(child.target))
        elif isinstance(child, cst.AsName):
            yield set(_names(child.name))
        elif isinstance(child, cst.NamedExpr):
            yield set(_names(child.target))
        elif isinstance(child, (cst.FunctionDef, cst.ClassDef)):
            yield {child.name.value}
        elif isinstance(child, (cst.Import, cst.ImportFrom)) and not isinstance(getattr(child, "names", None), cst.ImportStar):
            yield {(a.asname.name.value if a.asname is not None and isinstance(a.asname.name, cst.Name)
                    else (dotted(a.name) or "").split(".", 1)[0]) for a in child.names}


def _walk(root: cst.CSTNode, parent: Optional[cst.CSTNode] = None) -> Iterator[tuple[cst.CSTNode, Optional[cst.CSTNode]]]:
    stack = [(root, parent)]
    while stack:
        node, up = stack.pop()
        yield node, up
        stack.extend((child, node) for child in reversed(children(node)))


def _path_to(root: cst.CSTNode, target: cst.CSTNode) -> Optional[list[cst.CSTNode]]:
    """The nodes from ``root`` down to ``target`` (both included), by identity."""
    if root is target:
        return [root]
    for child in children(root):
        path = _path_to(child, target)
        if path is not None:
            return [root] + path
    return None


def _single_statement(stmt: Optional[cst.CSTNode]) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1


# ------------------------------------------------------------------------------ statement edits
@dataclass
class _Sub:
    """An edit inside the statement being rewritten (never adds or removes a line break)."""

    start: Position
    end: Position
    content: str


def _apply_subs(lines: list[str], first_row: int, subs: Sequence[_Sub]) -> list[str]:
    lines = list(lines)
    for sub in sorted(subs, key=lambda s: (s.start, s.end), reverse=True):
        if sub.start.row != sub.end.row:
            # spans several rows: join, edit, re-split (the content has no line break)
            first, last = sub.start.row - first_row, sub.end.row - first_row
            head = lines[first][: sub.start.column - 1]
            tail = lines[last][sub.end.column - 1:]
            lines[first:last + 1] = [head + sub.content + tail]
            continue
        index = sub.start.row - first_row
        line = lines[index]
        lines[index] = line[: sub.start.column - 1] + sub.content + line[sub.end.column - 1:]
    return lines


def _string_rows(context: FixContext, stmt: cst.CSTNode) -> set[int]:
    """Rows that start inside a multi-line string literal (their text must not be re-indented)."""
    rows: set[int] = set()
    for node, _ in _walk(stmt):
        if isinstance(node, (cst.SimpleString, cst.FormattedString)):
            start, end = context.start(node), context.end(node)
            rows.update(range(start.row + 1, end.row + 1))
    return rows


def _wrap_edit(context: FixContext, stmt: cst.SimpleStatementLine, torch: str,
               subs: Sequence[_Sub] = ()) -> Optional[Edit]:
    """Replace the statement's rows with ``with torch.no_grad():`` and the statement indented."""
    start, end = context.start(stmt), context.end(stmt)
    first_line = context.line(start.row)
    indent = first_line[: start.column - 1]
    if indent.strip():
        return None  # something precedes the statement on its line
    unit = context.indent_unit if context.indent_unit and not context.indent_unit.strip() else "    "
    if "\t" in indent:
        unit = "\t"
    elif indent and "\t" in unit:
        unit = "    "
    header: Optional[str] = f"{indent}with {torch}.no_grad():"
    new_indent = indent + unit
    block = _no_grad_block_before(context, stmt, torch)
    if block is not None:  # join the `with torch.no_grad():` block that ends right above
        header = None
        new_indent = block
    inside_string = _string_rows(context, stmt)
    rows = list(range(start.row, end.row + 1))
    lines = _apply_subs([context.line(r) for r in rows], start.row, subs)
    if len(lines) != len(rows):
        return None
    extra = new_indent[len(indent):] if new_indent.startswith(indent) else unit
    out = [header] if header is not None else []
    for row, line in zip(rows, lines):
        if row in inside_string or not line.strip():
            out.append(line)
        elif line.startswith(indent):
            out.append(new_indent + line[len(indent):])
        else:
            out.append(extra + line)
    last = context.line(end.row)
    return Edit(Position(start.row, 1), Position(end.row, len(last) + 1), context.newline.join(out))


def _no_grad_block_before(context: FixContext, stmt: cst.CSTNode, torch: str) -> Optional[str]:
    """The body indentation of a ``with torch.no_grad():`` statement right above ``stmt`` (same
    block, no line between them), else None."""
    if getattr(stmt, "leading_lines", ()):
        return None
    parent = context.parent(stmt)
    body = getattr(parent, "body", None)
    if not isinstance(parent, (cst.Module, cst.IndentedBlock)) or not isinstance(body, Sequence):
        return None
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if not index:
        return None
    previous = body[index - 1]
    if not (isinstance(previous, cst.With) and previous.asynchronous is None and len(previous.items) == 1
            and previous.items[0].asname is None
            and isinstance(previous.body, cst.IndentedBlock) and previous.body.body
            and context.end(previous).row + 1 == context.start(stmt).row):
        return None
    call = previous.items[0].item
    if not (isinstance(call, cst.Call) and not call.args and dotted_or_none(call.func) == f"{torch}.no_grad"):
        return None
    first = previous.body.body[0]
    prefix = context.line(context.start(first).row)[: context.start(first).column - 1]
    return prefix if not prefix.strip() else None


def _in_deferred_scope(path: Sequence[cst.CSTNode]) -> bool:
    """The node runs later than its statement (inside a lambda, nested def, generator)."""
    return any(isinstance(n, _DEFERRED) for n in path[1:-1])


def _safe_context(model, ctx, context: FixContext, stmt: cst.CSTNode) -> bool:
    """Safe to turn grad mode off around the statement: ``__init__``, module level, or after a
    ``backward()`` earlier in the same function; never inside forward."""
    if model.in_forward(ctx):
        return False
    func = ctx.func
    if func.node is None or func.name == "__init__":
        return True
    where = context.start(stmt)
    return backward_before(func.node, lambda call: context.end(call) <= where)


def write_loop(model, ctx, stmt: cst.CSTNode) -> Optional[cst.For]:
    """The loop around ``stmt`` whose body is only writes the rules flag (in-place ops on leaves,
    ``.data`` writes on tensors that require grad, with grad mode on): wrapping the whole loop
    in no_grad is the fix, not each write inside each iteration."""
    from leaflint.blocks import loop_of_writes
    from leaflint.model.semantic import Grad

    writes = {id(s.ctx.stmt) for s in model.inplace if model.grad_at(s.ctx) is Grad.ON and (
        model.leaf_in_collection(s.target) if s.kind == "foreach" else model.leaf(s.target)) is not None}
    writes |= {id(w.ctx.stmt) for w in model.data_writes
               if model.grad_at(w.ctx) is Grad.ON and model.leaf(w.target) is not None}
    root = ctx.func.node if ctx.func.node is not None else model.module
    return loop_of_writes(root, stmt, lambda s: id(s) in writes or _grad_write(s))


def _grad_write(stmt: cst.CSTNode) -> bool:
    """A write to a gradient (``p.grad.zero_()``, ``p.grad = None``, ``p.grad *= s``): gradients
    are not in a graph, so the write means the same under no_grad."""
    if not _single_statement(stmt):
        return False
    small = stmt.body[0]

    def is_grad(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Attribute) and node.attr.value == "grad"

    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Attribute):
        return small.value.func.attr.value.endswith("_") and is_grad(small.value.func.value)
    if isinstance(small, cst.AugAssign):
        return is_grad(small.target)
    if isinstance(small, cst.Assign):
        return all(is_grad(t.target) for t in small.targets)
    return False


def _no_grad_fix(model, ctx, stmt: cst.SimpleStatementLine, message: str,
                 subs: Callable[[FixContext], Sequence[_Sub]] = lambda c: (),
                 applicability: Optional[str] = None) -> LazyFix:
    """Wrap ``stmt`` in ``with torch.no_grad():`` (importing torch when needed); the whole loop
    when ``stmt`` is in a loop of writes (``write_loop``)."""
    loop = write_loop(model, ctx, stmt)
    if loop is not None:
        stmt = loop
        message = message.replace("Wrap the statement", "Wrap the loop")
        if "Wrap the loop" not in message:
            message += " (the whole loop)"

    def make(context: FixContext) -> Optional[Fix]:
        torch, imports = context.torch_name()
        if torch is None:
            return None
        edit = _wrap_edit(context, stmt, torch, subs(context))
        if edit is None:
            return None
        level = applicability or (SAFE if _safe_context(model, ctx, context, stmt) else UNSAFE)
        return Fix(message.replace("torch.", f"{torch}.", 1) if torch != "torch" else message, level, [edit] + imports)

    return LazyFix(make)


# ------------------------------------------------------------------------------------- LL1
def build_inplace_fix(model, site, leaf=None) -> Optional[LazyFix]:
    """LL101-LL106: ``nn.init`` / out-of-place form / ``with torch.no_grad():``."""
    stmt = site.ctx.stmt
    if not _single_statement(stmt):
        return None
    path = _path_to(stmt, site.node)
    if path is None or _in_deferred_scope(path):
        return None
    whole = isinstance(stmt.body[0], cst.Expr) and stmt.body[0].value is site.node
    if site.kind == "inplace_fn" and not whole:
        return _out_of_place_fix(model, site)
    if site.kind == "method" and whole and site.detail in NN_INIT and leaf is not None \
            and leaf.kind == "parameter" and not leaf.view:
        fix = _nn_init_fix(model, site)
        if fix is not None:
            return fix
    return _no_grad_fix(model, site.ctx, stmt, "Wrap the statement in `with torch.no_grad():`")


def _nn_init_fix(model, site) -> Optional[LazyFix]:
    call = site.node
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return None
    function, renames, max_positional = NN_INIT[site.detail]
    positional = 0
    args: list[cst.Arg] = []
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional += 1
            if positional > max_positional:
                return None
            args.append(arg)
        else:
            new = renames.get(arg.keyword.value)
            if new is None:
                return None
            args.append(arg.with_changes(keyword=cst.Name(new)) if new != arg.keyword.value else arg)
    target = call.func.value
    in_forward = model.in_forward(site.ctx)

    def make(context: FixContext) -> Optional[Fix]:
        nn, imports = context.nn_name()
        if nn is None:
            return None
        name = f"{nn}.init.{function}"
        first = cst.Arg(target, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if args else cst.MaybeSentinel.DEFAULT)
        new = cst.Call(func=cst.parse_expression(name), args=[first] + args)
        edit = Edit(context.start(call), context.end(call), context.code(new))
        return Fix(f"Use `{name}(...)`, which runs under no_grad", UNSAFE if in_forward else SAFE, [edit] + imports)

    return LazyFix(make)


def _without_inplace(call: cst.Call) -> Optional[cst.Call]:
    args = list(call.args)
    for index, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == "inplace":
            if not (isinstance(arg.value, cst.Name) and arg.value.value == "True"):
                return None
            del args[index]
            if args and index == len(args):
                args[-1] = args[-1].with_changes(comma=arg.comma)
            return call.with_changes(args=args)
    return None


def _out_of_place_fix(model, site) -> Optional[LazyFix]:
    """``F.dropout(w, p, inplace=True)`` whose result is used -> ``F.dropout(w, p)``."""
    call = site.node
    if not isinstance(call, cst.Call):
        return None
    new = _without_inplace(call)
    what = "drop `inplace=True`"
    if new is None and isinstance(call.func, cst.Call):
        inner = _without_inplace(call.func)
        if inner is not None:
            new = call.with_changes(func=inner)
    if new is None and isinstance(call.func, cst.Attribute) and call.func.attr.value.endswith("_") \
            and not call.func.attr.value.endswith("__"):
        plain = call.func.attr.value[:-1]
        new = call.with_changes(func=call.func.with_changes(attr=cst.Name(plain)))
        what = f"call `{plain}` instead of `{call.func.attr.value}`"
    if new is None:
        return None
    new = new.with_changes(lpar=[], rpar=[])

    def make(context: FixContext) -> Optional[Fix]:
        edit = Edit(context.start(call), context.end(call), context.code(new))
        return Fix(f"Use the out-of-place form ({what}): the leaf is no longer overwritten", UNSAFE, [edit])

    return LazyFix(make)


# ------------------------------------------------------------------------------------- LL2
def _changes_layout(value: cst.BaseExpression) -> bool:
    """The value may differ from the target in shape, dtype, device or layout."""
    if isinstance(value, cst.Subscript):
        return True
    if isinstance(value, cst.Attribute) and value.attr.value in _LAYOUT_ATTRIBUTES:
        return True
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in _LAYOUT_METHODS:
        return True
    return False


def _elementwise_update_of(value: cst.BaseExpression, path: Optional[str]) -> bool:
    """``value`` is computed from the tensor at ``path`` itself with no op known to change its
    shape, dtype or layout (`p - lr * p.grad`, `w.data + eps * d`, `torch.renorm(w.detach(), ...)`):
    copying it back in place is then what `.data =` did. A value from elsewhere (`= kernel`, a
    resized table, a quantized copy) may differ in shape or dtype: no fix."""
    if path is None:
        return False
    mentions = False
    stack: list[cst.CSTNode] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SubscriptElement):
            continue  # `cache[p]`: an index is not where the value comes from
        stack.extend(children(node))
        name = dotted_or_none(node)
        if name == path:
            mentions = True
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
            return False
        if isinstance(node, cst.Subscript) and dotted_or_none(node.value) in (path, f"{path}.data"):
            return False
        if isinstance(node, cst.Attribute) and node.attr.value in _LAYOUT_ATTRIBUTES:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            if last in _SHAPE_CHANGING:
                return False
    return mentions


def _data_attribute(stmt: cst.CSTNode, target: cst.CSTNode) -> Optional[cst.Attribute]:
    """The ``target.data`` node inside ``stmt``."""
    for node, _ in _walk(stmt):
        if isinstance(node, cst.Attribute) and node.value is target and node.attr.value == "data":
            return node
    return None


def _copy_subs(target: cst.BaseExpression, value: cst.BaseExpression) -> Callable[[FixContext], list[_Sub]]:
    """``target = value`` -> ``target.copy_(value)`` (``target`` without a trailing ``.data``)."""

    def subs(context: FixContext) -> list[_Sub]:
        after_target = context.end(target, outer=True)
        value_start, value_end = context.start(value, outer=True), context.end(value, outer=True)
        return [_Sub(after_target, value_start, ".copy_("), _Sub(value_end, value_end, ")")]

    return subs


def build_data_write_fix(model, write) -> Optional[LazyFix]:
    """LL202 (a ``.data`` write in none of LL201's contexts): write under no_grad instead."""
    if model.in_forward(write.ctx) or harmful_reason(model, write) is not None:
        return None
    stmt = write.ctx.stmt
    target = write.target_node
    if not _single_statement(stmt) or target is None:
        return None
    path = _path_to(stmt, write.node)
    if path is None or _in_deferred_scope(path):
        return None
    attribute = _data_attribute(stmt, target)
    if attribute is None:
        return None  # written through an alias (`w = p.data; w.zero_()`)
    text = model.text(target)
    if write.kind == "assign":
        assign = write.node
        if not (isinstance(assign, cst.Assign) and stmt.body[0] is assign and len(assign.targets) == 1
                and assign.targets[0].target is attribute) or not _elementwise_update_of(assign.value, dotted(target)):
            return None
        return _no_grad_fix(model, write.ctx, stmt,
                            f"Replace with `with torch.no_grad(): {text}.copy_(...)` (unsafe: the value must have "
                            f"the same shape and dtype as `{text}`; copy_ keeps the tensor's own)",
                            _copy_subs(target, assign.value), UNSAFE)

    def subs(context: FixContext) -> list[_Sub]:
        return [_Sub(context.end(target, outer=True), context.end(attribute), "")]

    return _no_grad_fix(model, write.ctx, stmt,
                        f"Write to `{text}` under `with torch.no_grad():` instead of through `.data`", subs, UNSAFE)


def build_move_after_backward_fix(model, write, plan) -> Optional[LazyFix]:
    """LL201 between a forward and its ``backward()`` (``plan``: ``leaflint.blocks.MovePlan``):
    move the write (or the loop of writes around it) to right after the ``backward()`` call, or
    after the optimizer's ``step()`` that follows it. Unsafe: what the write does to the
    parameters now happens after the update."""
    unit, after = plan.unit, plan.after
    where = f"`{model.text(plan.backward)}`" + (f" and `{model.text(plan.step)}`" if plan.step is not None else "")

    def make(context: FixContext) -> Optional[Fix]:
        start, end = context.start(unit), context.end(unit)
        if context.line(start.row)[: start.column - 1].strip() or not _alone_after(context, end):
            return None  # shares a line with another statement
        anchor = context.end(after)
        if not _alone_after(context, anchor):
            return None
        rows = [context.line(r) for r in range(start.row, end.row + 1)]
        moved = context.newline.join(rows)
        remove = Edit(Position(start.row, 1), Position(end.row + 1, 1), "")
        if anchor.row < len(context.lines):
            insert = Edit(Position(anchor.row + 1, 1), Position(anchor.row + 1, 1), moved + context.newline)
        else:  # the anchor is the file's last line
            at = Position(anchor.row, len(context.line(anchor.row)) + 1)
            insert = Edit(at, at, context.newline + moved)
        return Fix(f"Move the write after {where} (unsafe: the write then applies to the values after the update)",
                   UNSAFE, [remove, insert])

    return LazyFix(make)


def _alone_after(context: FixContext, end: Position) -> bool:
    """Nothing but a comment follows ``end`` on its line."""
    rest = context.line(end.row)[end.column - 1:].strip()
    return not rest or rest.startswith("#")


def build_data_read_fix(model, read) -> Optional[LazyFix]:
    """LL203: ``self.w.data`` in forward -> ``self.w`` (the parameter then gets its gradient)."""
    attribute = read.node
    if not isinstance(attribute, cst.Attribute):
        return None
    text = model.text(attribute.value)

    def make(context: FixContext) -> Optional[Fix]:
        edit = Edit(context.end(attribute.value, outer=True), context.end(attribute), "")
        return Fix(f"Use `{text}` instead of `{text}.data` (unsafe: `{text}` starts to get a gradient through this use)",
                   UNSAFE, [edit])

    return LazyFix(make)


# ------------------------------------------------------------------------------------- LL3
def _parameter_call_value(model, node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``expr`` of ``nn.Parameter(expr)`` (requires_grad left as default or True)."""
    if not isinstance(node, cst.Call) or model.imports.qualname(node.func) not in ("torch.nn.Parameter",
                                                                                    "torch.nn.parameter.Parameter"):
        return None
    value = None
    for index, arg in enumerate(node.args):
        if arg.star:
            return None
        if arg.keyword is None and index == 0:
            value = arg.value
        elif arg.keyword is not None and arg.keyword.value == "data":
            value = arg.value
        elif (arg.keyword is not None and arg.keyword.value == "requires_grad") or (arg.keyword is None and index == 1):
            if not (isinstance(arg.value, cst.Name) and arg.value.value == "True"):
                return None
        else:
            return None
    return value


def _conv_constructor_ok(model, owner) -> bool:
    """The conv layer was built with the default zero padding mode (what F.convNd does)."""
    found = False
    for assign in model.attr_assigns:
        if assign.attr != getattr(owner, "name", None) or assign.owner != getattr(owner, "base", None):
            continue
        call = assign.value_node
        if not isinstance(call, cst.Call):
            return False
        positional = 0
        for arg in call.args:
            if arg.star:
                return False
            if arg.keyword is None:
                positional += 1
            elif arg.keyword.value == "padding_mode" and not (
                    isinstance(arg.value, cst.SimpleString) and arg.value.value.strip("'\"") == "zeros"):
                return False
        if positional > 8:
            return False
        found = True
    return found


def build_param_replaced_fix(model, assign) -> Optional[LazyFix]:
    """LL301, the seed pattern: ``self.lin.weight = nn.Parameter(expr)`` then ``self.lin(x)``
    -> ``F.linear(x, expr, self.lin.bias)`` (or the layer's ``F.convNd``)."""
    stmt = assign.ctx.stmt
    func = assign.ctx.func.node
    if not _single_statement(stmt) or func is None or not isinstance(func.body, cst.IndentedBlock):
        return None
    small = stmt.body[0]
    node = assign.node
    if isinstance(node, cst.Assign):
        if small is not node or len(node.targets) != 1:
            return None
    elif isinstance(node, cst.Call):
        if not (isinstance(small, cst.Expr) and small.value is node and isinstance(node.func, cst.Name)
                and node.func.value == "setattr"):
            return None
    else:
        return None
    body = list(func.body.body)
    index = next((i for i, s in enumerate(body) if s is stmt), None)
    if index is None:
        return None  # not a top-level statement of the function
    expr = _parameter_call_value(model, assign.value_node)
    module = model.module_of(assign.owner)
    if expr is None or module is None or module.kind[0] != "torch" or assign.attr not in ("weight", "bias"):
        return None
    kind = module.kind[1]
    if kind != "Linear" and (kind not in _CONV or not _conv_constructor_ok(model, assign.owner)):
        return None
    owner = dotted(assign.owner_node)
    if owner is None:
        return None
    calls: list[tuple[cst.Call, int]] = []
    for offset, later in enumerate(body[index + 1:], start=index + 1):
        for found, parent in _walk(later):
            if dotted_or_none(found) != owner:
                continue
            if not (isinstance(parent, cst.Call) and parent.func is found and len(parent.args) == 1
                    and parent.args[0].keyword is None and not parent.args[0].star):
                return None  # the layer is used otherwise: its replaced parameter may be read
            calls.append((parent, offset))
    if not calls:
        return None
    if isinstance(expr, cst.Name):
        if any(expr.value in names for later in body[index + 1:] for names in _binding_targets(later)):
            return None
    else:
        # an expression is evaluated once, right after the assignment: so must its new place be
        if len(calls) != 1 or calls[0][1] != index + 1:
            return None
        path = _path_to(body[index + 1], calls[0][0])
        if path is None or any(isinstance(n, _REPEATED_OR_CONDITIONAL + _DEFERRED) for n in path[:-1]):
            return None

    def make(context: FixContext) -> Optional[Fix]:
        functional, imports = context.functional_name(func)
        if functional is None:
            return None
        value = context.code(expr)
        weight, bias = (value, f"{owner}.bias") if assign.attr == "weight" else (f"{owner}.weight", value)
        start, end = context.start(stmt), context.end(stmt)
        edits = [Edit(Position(start.row, 1), Position(end.row + 1, 1), "")]
        for call, _ in calls:
            x = context.code(call.args[0].value).strip()
            if kind == "Linear":
                text = f"{functional}.linear({x}, {weight}, {bias})"
            else:
                text = (f"{functional}.{_CONV[kind]}({x}, {weight}, {bias}, {owner}.stride, {owner}.padding, "
                        f"{owner}.dilation, {owner}.groups)")
            edits.append(Edit(context.start(call), context.end(call), text))
        name = "linear" if kind == "Linear" else _CONV[kind]
        return Fix(f"Call `{functional}.{name}` with the new {assign.attr} instead of replacing the Parameter "
                   f"(unsafe: `{owner}`'s hooks do not run; its other uses see the original {assign.attr})",
                   UNSAFE, edits + imports)

    return LazyFix(make)


def dotted_or_none(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, (cst.Name, cst.Attribute)):
        return dotted(node)
    return None


def build_tensor_to_param_fix(model, assign) -> Optional[LazyFix]:
    """LL303: ``self.w = tensor`` over a Parameter -> ``nn.Parameter(tensor)`` in ``__init__`` (or
    when the value is built from the Parameter itself: module surgery), else an in-place copy
    under no_grad (the optimizer keeps the same Parameter object)."""
    if model.in_forward(assign.ctx):
        return None
    stmt = assign.ctx.stmt
    node = assign.node
    if not (_single_statement(stmt) and isinstance(node, cst.Assign) and stmt.body[0] is node
            and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute)):
        return None
    target = node.targets[0].target
    value = node.value
    target_text = dotted(target)
    if target_text is None:
        return None
    requires_grad = model.parameter_slot(assign.owner, assign.attr)
    mentions_target = any(dotted_or_none(n) == target_text for n, _ in _walk(value))
    if (assign.ctx.func.name == "__init__" or mentions_target) and requires_grad is not None:
        extra = "" if requires_grad else ", requires_grad=False"

        def make(context: FixContext) -> Optional[Fix]:
            nn, imports = context.nn_name()
            if nn is None:
                return None
            text = f"{nn}.Parameter({context.code(value)}{extra})"
            edit = Edit(context.start(value, outer=True), context.end(value, outer=True), text)
            return Fix(f"Wrap the value in `{nn}.Parameter(...)` (unsafe: a new Parameter object, which an optimizer "
                       f"built before this line does not hold)", UNSAFE, [edit] + imports)

        return LazyFix(make)
    if mentions_target or _changes_layout(value):
        return None
    return _no_grad_fix(model, assign.ctx, stmt,
                        f"Replace with `with torch.no_grad(): {target_text}.copy_(...)` (unsafe: the value must have "
                        f"the same shape and dtype as the Parameter)",
                        _copy_subs(target, value), UNSAFE)
