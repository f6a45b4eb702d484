"""What a fix builder works with: ``LazyFix`` (a fix whose edits wait for positions) and
``FixContext`` (the module's text, positions and top-level names, shared by the fixes of one lint).

A rule calls one builder per finding (``Report(node, message, fix=build_xxx(model, site))``).
A builder decides from the model whether a sound fix exists and returns a ``LazyFix`` (or
``None``); the engine resolves it into a ``Fix`` with positions once it has resolved the
positions of the module (``resolve``), so no builder re-parses anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import libcst as cst

from leaflint.findings import Edit, Fix, Position
from leaflint.fix.edits import LINE_BREAK
from leaflint.fix.nodes import bound_names, local_binding
from leaflint.model.imports import dotted

if TYPE_CHECKING:
    from leaflint.positions import Positions


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
        self.lines = LINE_BREAK.split(positions.text)  # the text the module was parsed from
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
        if name is not None and not local_binding(func, name):
            return name, []
        if "F" not in self.scope.bound and not local_binding(func, "F"):
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
                            bound.update(bound_names(target))
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
