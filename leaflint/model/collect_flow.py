"""The collector's flow over statements: what holds where branches join, after early exits,
and after a library call that may rewrite a module (a mixin of ``Collector``).

- Where the two paths of an ``if`` join, a name keeps its value only if every path that binds
  it agrees (``flow.merge_envs``); a path that returns or raises does not reach the join.
- ``if test: return`` holds ``not test`` for the rest of its block (``Context.exits``, and the
  requires-grad facts ``not_requiring_grad`` reads from the test).
- A library call made for its side effects on a module it is given leaves that module unknown.
"""

from __future__ import annotations

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.flow import always_exits, if_exits, merge_envs, not_requiring_grad
from leaflint.model.values import ModuleInstance


class FlowMixin:
    def visit_If_body(self, node: cst.If) -> None:
        self.narrowed.append(self._isinstance_narrowing(node.test))
        self.branch_frozen.append(not_requiring_grad(node.test, True))
        self.branches.append((node, True))

    def leave_If_body(self, node: cst.If) -> None:
        self.narrowed.pop()
        self.branch_frozen.pop()
        self.branches.pop()
        before, _ = self.if_envs[-1]
        self.if_envs[-1] = (before, (self.envs[-1], always_exits(node.body)))
        self.envs[-1] = dict(before)  # the other branch starts from what held before the ``if``

    def visit_If_orelse(self, node: cst.If) -> None:
        self.branch_frozen.append(not_requiring_grad(node.test, False))
        self.branches.append((node, False))

    def leave_If_orelse(self, node: cst.If) -> None:
        self.branch_frozen.pop()
        self.branches.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.grad.append(self.grad[-1])
        self.block_marks.append((len(self.exit_ifs), len(self.branch_frozen)))

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock) -> None:
        self.grad.pop()
        exits, frozen = self.block_marks.pop()
        del self.exit_ifs[exits:]
        del self.branch_frozen[frozen:]

    def visit_If(self, node: cst.If) -> None:
        self.guards.append(node.test)
        self.ifs.append(node)
        self.if_envs.append((dict(self.envs[-1]), None))

    def leave_If(self, original_node: cst.If) -> None:
        self.guards.pop()
        self.ifs.pop()
        node = original_node
        _, body = self.if_envs.pop()
        if body is not None:
            other_exits = node.orelse is not None and (
                if_exits(node.orelse) if isinstance(node.orelse, cst.If) else always_exits(node.orelse.body))
            self.envs[-1] = merge_envs([env for env, exits in (body, (self.envs[-1], other_exits)) if not exits]
                                       or [self.envs[-1]])
        if node.orelse is None and always_exits(node.body) and self.block_marks \
                and self.func is not self.module_func:
            # ``if test: return``: the rest of the block runs only where ``test`` is false
            self.exit_ifs.append(node)
            self.branch_frozen.append(not_requiring_grad(node.test, False))

    def leave_Call(self, original_node: cst.Call) -> None:
        node = original_node
        if not isinstance(self._parent(0), cst.Expr) or not node.args:
            return
        qual = self.qualname(node.func)
        if qual is None or "." not in qual or qual in api.INSPECTING_FUNCTIONS or qual in api.COPYING_FUNCTIONS \
                or (qual.startswith("torch.") and not qual.startswith(api.OPAQUE_MODULE_REWRITERS)):
            return
        if self.project is not None and self.project.function_id(qual) is not None:
            return  # a function of the project: its summary says what it writes
        # ``quantize_(model, config)``: a library call made for its side effects on the module it
        # is given may swap, convert or freeze its parameters: from here they are unknown
        for arg in node.args:
            if isinstance(arg.value, cst.Name) and isinstance(self.lookup(arg.value.value), ModuleInstance):
                self.bind(arg.value.value, None)
