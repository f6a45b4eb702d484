"""Qualified names through imports and aliases (``from torch import no_grad as ng``)."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.index.layout import absolute
from leaflint.model.torchapi import normalise

# Names a star import of these modules brings in that the rules care about.
_STAR_EXPORTS = {
    "torch": {"no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "randn", "zeros",
              "ones", "empty", "rand", "tensor", "full", "arange"},
    "torch.nn": {"Parameter", "Module", "Linear", "Conv1d", "Conv2d", "Conv3d", "Embedding",
                 "LayerNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Buffer"},
}


def dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a chain of names, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


class ImportTable:
    """Local name -> qualified name. ``package`` (the dotted package of the file, when the project
    index knows it) turns relative imports into absolute names: in ``pkg/train.py``,
    ``from .models import MF`` binds ``MF`` to ``pkg.models.MF``; without it they stay relative."""

    def __init__(self, package: Optional[str] = None) -> None:
        self.names: dict[str, str] = {}
        self.star: set[str] = set()
        self.package = package

    def add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name)
                if full is None:
                    continue
                if alias.asname is not None:
                    self.names[alias.asname.name.value] = full  # type: ignore[union-attr]
                else:
                    top = full.split(".", 1)[0]
                    self.names[top] = top
            return
        if node.relative:
            module = dotted(node.module) if node.module is not None else None
            base = absolute(self.package, len(node.relative), module) or "." * len(node.relative) + (module or "")
        else:
            base = dotted(node.module) if node.module is not None else None
        if base is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.star.add(base)
            return
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            local = alias.asname.name.value if alias.asname is not None else name  # type: ignore[union-attr]
            self.names[local] = f"{base}.{name}"

    def qualname(self, node: cst.BaseExpression) -> Optional[str]:
        """The normalised qualified name of a dotted expression, when it comes from an import."""
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        full = self.names.get(head)
        if full is None:
            for module in self.star:
                if head in _STAR_EXPORTS.get(module, ()):
                    full = f"{module}.{head}"
                    break
            else:
                return None
        return normalise(f"{full}.{rest}" if rest else full)
