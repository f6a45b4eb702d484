"""The collector's half that reads calls: the call sites it records for the call graph and the
summaries (``CallRef``, ``ArgCall``), and what a call of a function or method of this file returns.

A call records the functions it may run: ``helper(x)``, ``self.helper(x)``, ``obj.method(x)`` on an
instance of a class of this file, ``Cls.helper(x)``, a function of another module of the project,
and a function of this file handed to a call outside it together with its arguments
(``executor.submit(fn, a, b)``: a call ``fn(a, b)``).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.facts import ArgCall, CallRef, Context
from leaflint.model.flow import common_return
from leaflint.model.imports import dotted
from leaflint.model.roots import graph_roots
from leaflint.model.syntax import argument_for
from leaflint.model.values import Attr, Fresh, ModuleInstance, ParamIter, PlainTensor, SelfRef, Value, Arg


class CallFacts:
    """Mixed into ``leaflint.model.collect.Collector`` (whose state it reads and fills)."""

    def call_summary(self, name: str, call: Optional[cst.Call] = None) -> Optional[Value]:
        """A fresh leaf, a module, or the parameters of an argument, when every ``return`` of the
        called function (read earlier in the file, and not being read now) gives the same one;
        otherwise unknown.

        A function that returns its argument's parameters (``list(m.named_parameters())``) gives
        its caller the parameters of what the caller passed."""
        callees = None
        for scope in reversed(self.funcs):
            if name in scope.nested:
                callees = scope.nested[name]
                break
        if callees is None:
            callees = self.module_functions.get(name)
        if not callees:
            # not read yet: a function defined further down (known after a first walk), or unknown
            self.late_calls.add(name)
            value = self.known_returns.get(name) if self.known_returns is not None else None
            # the parameters of an argument need the callee's parameter list: not kept for later ones
            return None if isinstance(value, ParamIter) and isinstance(value.base, Arg) else value
        if len(callees) != 1 or callees[0] in self.funcs:
            return None
        value = common_return(callees[0].returns)
        if isinstance(value, ParamIter) and isinstance(value.base, Arg):
            if call is None:
                return None
            params = [p for p in callees[0].params if p != callees[0].self_name]
            argument = argument_for(params, call, value.base.name)
            return ParamIter(self.value_of(argument) if argument is not None else None, named=value.named)
        return value

    def method_summary(self, cls: str, name: str) -> Optional[Value]:
        """What every ``return`` of the one method ``name`` of ``cls`` (or of its first base of this
        file that has one), read earlier in the file and not being read now, gives; else unknown.
        Only what does not depend on the call's arguments (a fresh leaf, a plain tensor, a module)."""
        seen: set[str] = set()
        stack = [cls]
        while stack:
            current = stack.pop(0)
            info = self.classes.get(current)
            if info is None or current in seen or info.node is None:
                continue
            seen.add(current)
            defs = info.methods.get(name)
            if defs:
                if len(defs) != 1 or defs[0] in self.funcs:
                    return None
                value = common_return(defs[0].returns)
                return value if isinstance(value, (Fresh, PlainTensor, ModuleInstance)) else None
            stack.extend(info.bases)
        return None

    def _record_call_refs(self, node: cst.Call, ctx: Context) -> None:
        candidates = [node.func] + [a.value for a in node.args]
        for expr in candidates:
            key = None
            pid = self.project.function_id(self.qualname(expr)) if self.project is not None else None
            if pid is not None:
                key = ("project", pid)  # a function of another module of the project
            elif isinstance(expr, cst.Name):
                key = ("name", expr.value)
            elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
                owner = self.lookup(expr.value.value)
                if isinstance(owner, SelfRef):
                    key = ("method", owner.cls, expr.attr.value)
                elif owner is None and expr is node.func and expr.value.value in self.classes \
                        and self.classes.get(expr.value.value).node is not None:
                    key = ("static", expr.value.value, expr.attr.value)  # ``Cls.helper(x)``
            scope = tuple(f for f in self.funcs if f is not self.module_func)
            if key is not None:
                self.calls.append(CallRef(key, scope, ctx))
            elif expr is node.func and isinstance(expr, cst.Attribute):
                # ``obj.method(x)`` on an instance of a class of this file: for summaries only
                receiver = self.value_of(expr.value)
                if isinstance(receiver, ModuleInstance) and receiver.kind[0] == "local":
                    key = ("method", receiver.kind[1], expr.attr.value)
            if key is not None and expr is node.func:
                self.arg_calls.append(self._arg_call(key, scope, ctx, node, node.args))
        if isinstance(node.func, cst.Attribute):
            self._record_receiver_call(node.func)
        given = [i for i, a in enumerate(node.args[:-1]) if a.keyword is None and self._names_function(a.value)]
        if given and not any(a.star for a in node.args) and self._forwards(node):
            self._forwarded_calls(node, given, scope, ctx)

    def _record_receiver_call(self, func: cst.Attribute) -> None:
        """``q.fit(x)`` / ``self.target.fit(x)``: a method called on a path rooted in a parameter
        that still holds what the caller gave (``leaflint.model.reach``); not ``self.fit(x)``,
        which the call graph has."""
        path = dotted(func.value)
        if path is None:
            return
        root, *chain = path.split(".")
        value = self.lookup(root)
        if isinstance(value, Arg) and value.name == root or isinstance(value, SelfRef) and chain \
                and root == self.func.self_name:
            self.func.receiver_calls.add((root, tuple(chain), func.attr.value))

    def _names_function(self, node: cst.BaseExpression) -> bool:
        """A name bound to a function of this file read so far (module level or enclosing)."""
        if not isinstance(node, cst.Name) or self.lookup(node.value) is not None:
            return False
        return node.value in self.module_functions or any(node.value in f.nested for f in self.funcs)

    def _arg_call(self, key: tuple, scope: tuple, ctx: Context, node: cst.Call, arguments) -> ArgCall:
        args = tuple((a.keyword.value if a.keyword is not None else None, self.value_of(a.value), a.value)
                     for a in arguments if not a.star)
        roots = tuple(graph_roots(self, a.value) for a in arguments if not a.star)
        return ArgCall(key, scope, ctx, node, args, roots, self.seq)

    def _forwards(self, node: cst.Call) -> bool:
        """Whether ``node`` is a call of something outside this file that may call a function it is
        given with the arguments given after it (``executor.submit(fn, a, b)``,
        ``functools.partial(fn, a)``, ``pytest.raises(E, fn, a)``). Not the builtins that call it
        with the *elements* of what follows (``map(fn, xs)``), nor a function of this file or the
        project (its own summary says what it does)."""
        func = node.func
        name = dotted(func) or ""
        if name.rsplit(".", 1)[-1] in api.ELEMENT_CALLERS:
            return False
        if isinstance(func, cst.Name) and (func.value in self.module_functions or self.lookup(func.value) is not None
                                           or func.value in self.classes):
            return False
        if self.project is not None and self.project.resolve(self.qualname(func)) is not None:
            return False
        return not isinstance(self.value_of(func), (SelfRef, ModuleInstance, Attr))

    def _forwarded_calls(self, node: cst.Call, given: list[int], scope: tuple, ctx: Context) -> None:
        """``g(fn, a, b)`` with ``g`` a forwarding call (``_forwards``): a call ``fn(a, b)`` for the
        summaries, for each function ``fn`` of this file given positionally, with the positional
        arguments after it and the keyword arguments."""
        for index in given:
            arg = node.args[index]
            rest = [a for a in node.args[index + 1:] if a.keyword is None] + [a for a in node.args if a.keyword is not None]
            if rest:
                self.arg_calls.append(self._arg_call(("name", arg.value.value), scope, ctx, node, rest))

