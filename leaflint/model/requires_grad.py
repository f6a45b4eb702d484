"""The collector's half that follows ``requires_grad`` switches in statement order: turning it
on makes a plain local tensor a fresh leaf; turning it off holds for the rest of the function on
that path and class-wide for ``self`` attributes, or, inside one ``if flag:`` branch, only there
(class-wide the attribute then requires grad unless ``flag`` held: ``ClassInfo.frozen_when``).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.model.imports import dotted
from leaflint.model.values import Attr, Fresh, ParamItem, PlainTensor, SelfRef


class RequiresGradFacts:
    """Mixed into ``leaflint.model.collect.Collector`` (whose state it reads and fills)."""

    def _set_requires_grad(self, node: cst.BaseExpression, flag: Optional[bool]) -> None:
        """``x.requires_grad = flag`` / ``x.requires_grad_(flag)``, in statement order.

        Turning it off holds for the rest of the function on that path (and class-wide for
        ``self`` attributes); turning it on makes a plain local tensor a fresh leaf.
        """
        self._note_grad_param(node, flag)  # leaflint.model.hooks: a hook's output made to require grad
        self._note_switch(node, flag)
        path = dotted(node)
        frozen = self.frozen_paths[-1]
        if flag is True:
            if path is not None:
                frozen.discard(path)
            if isinstance(node, cst.Name) and isinstance(self.lookup(node.value), PlainTensor):
                self.bind(node.value, Fresh(".requires_grad_()"))
            return
        when = self._unless_branch()
        self._freeze(node, when)  # before the path is frozen: it reads what the path held
        if path is not None:
            # under ``if freeze:``, frozen to the end of that branch only
            (self.branch_frozen[-1] if when is not None else frozen).add(path)

    def _unless_branch(self) -> Optional[str]:
        """Inside exactly one ``if`` (or its ``else``) of this function: the condition under which
        that branch does not run (``not freeze`` for the body of ``if freeze:``); else None."""
        if len(self.branches) - self.branch_base[-1] != 1:
            return None
        node, in_body = self.branches[-1]
        if not in_body and not isinstance(node.orelse, cst.Else):
            return None
        test = node.test
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            text = cst.Module([]).code_for_node(test.expression).strip()
            return text if in_body else f"not {text}"
        text = cst.Module([]).code_for_node(test).strip()
        if not in_body:
            return text
        return f"not {text}" if isinstance(test, (cst.Name, cst.Attribute, cst.Call)) else f"not ({text})"

    def _freeze(self, node: cst.BaseExpression, when: Optional[str] = None) -> None:
        """``x.requires_grad = False`` / ``x.requires_grad_(False)``: x no longer requires grad."""
        value = self.value_of(node)
        path = dotted(node)
        cls = self.func.cls
        if isinstance(value, ParamItem):
            value = value.base
            path = None
            if isinstance(value, SelfRef) and cls is not None:
                cls.frozen_all = True
                return
            if not isinstance(value, SelfRef):
                # parameters of some module, frozen through a loop (under ``if flag:``, in that branch)
                (self.branch_frozen[-1] if when is not None else self.frozen_paths[-1]).add("*")
        if cls is None or self.func.self_name is None:
            return
        below = None
        if path is not None and path.startswith(self.func.self_name + "."):
            below = path.split(".", 1)[1]
        elif path == self.func.self_name:
            cls.frozen_all = True
        elif isinstance(value, Attr):
            chain = []
            while isinstance(value, Attr):
                chain.append(value.name)
                value = value.base
            if isinstance(value, SelfRef):
                below = ".".join(reversed(chain))
        if below is not None and when is not None:
            cls.frozen_when.setdefault(below, when)  # requires grad unless the condition held
        elif below is not None:
            cls.frozen.add(below)

