"""The cheap first look at a file: its imports and its classes (with their kinds)."""

from __future__ import annotations

from typing import Iterable, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.facts import ClassInfo
from leaflint.model.imports import ImportTable, dotted
from leaflint.model.project import ClassTable, ProjectView


def prepass(module: cst.Module, project: Optional[ProjectView] = None) -> tuple[ImportTable, ClassTable]:
    """Imports anywhere at module level and in functions, and the classes of the file.

    With the project index (``project``), relative imports are made absolute and a base class
    defined in another module of the project is named by its project id."""
    imports = ImportTable(project.package if project is not None else None)
    classes = ClassTable(project)

    def walk(body: Iterable[cst.CSTNode]) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        imports.add(small)
            elif isinstance(stmt, cst.ClassDef):
                bases = []
                for arg in stmt.bases:
                    name = imports.qualname(arg.value) or dotted(arg.value) or ""
                    if project is not None:
                        name = project.class_id(name) or name
                    bases.append(name)
                classes.setdefault(stmt.name.value, ClassInfo(stmt.name.value, stmt, bases))
                walk(stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ())
            elif isinstance(stmt, (cst.If, cst.Try, cst.With)):
                walk(stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ())
                if isinstance(stmt, cst.If) and stmt.orelse is not None:
                    walk([stmt.orelse] if isinstance(stmt.orelse, cst.If) else stmt.orelse.body.body)
                if isinstance(stmt, cst.Try):
                    for handler in stmt.handlers:
                        walk(handler.body.body if isinstance(handler.body, cst.IndentedBlock) else ())
            elif isinstance(stmt, cst.FunctionDef):
                if isinstance(stmt.body, cst.IndentedBlock):
                    for inner in stmt.body.body:
                        if isinstance(inner, cst.SimpleStatementLine):
                            for small in inner.body:
                                if isinstance(small, (cst.Import, cst.ImportFrom)):
                                    imports.add(small)

    walk(module.body)
    # class kinds need every class's bases, so compute after collection
    for info in list(classes.values()):
        for base in info.bases:
            if base in api.AUTOGRAD_FUNCTION or base.endswith("autograd.Function"):
                info.is_autograd_function = True
            if base in api.PARAMETER:
                info.is_parameter_class = True
        body = info.node.body.body if isinstance(info.node.body, cst.IndentedBlock) else ()
        info.has_forward = any(isinstance(s, cst.FunctionDef) and s.name.value == "forward" for s in body)
        info.defines_new = any(isinstance(s, cst.FunctionDef) and s.name.value == "__new__" for s in body)
    changed = True
    while changed:
        changed = False
        for info in classes.values():
            if info.is_autograd_function:
                continue
            if any(base in classes and classes[base].is_autograd_function for base in info.bases):
                info.is_autograd_function = True
                changed = True
            parents = [classes[base] for base in info.bases if base in classes and base != info.name]
            if not info.is_parameter_class and any(p.is_parameter_class for p in parents):
                info.is_parameter_class = True
                info.defines_new = info.defines_new or any(p.defines_new for p in parents)
                changed = True
    return imports, classes
