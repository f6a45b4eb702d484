"""When a module's slot is made, made once, or replaced: the queries LL3 and LL1 ask about
the life of ``self.X`` (a mixin of ``SemanticModel``).

- ``created_once``: a lazy one-time creation (behind a guard that holds once, after an early
  ``if <made>: return``, or in a method every call of which is so guarded) is creation, not
  replacement;
- ``registered_before``: in ``__init__`` (and the construction helpers it calls) a slot holds a
  Parameter only once one was assigned on a path that reaches here (tmp-then-wrap);
- ``optimizer_built_after``: an optimizer built later over the new object leaves none stepping
  the old one.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from leaflint.model.facts import AttrAssign, ClassInfo, Context, FuncInfo
from leaflint.model.flow import assigned_paths, exit_once, guard_once, one_time_guard
from leaflint.model.imports import dotted
from leaflint.model.syntax import contains, names_in
from leaflint.model.values import Fresh, FrozenParameter, ModuleInstance, SelfRef, Value
from leaflint.model.walk import children, descendants


_LAZY_WORDS = ("init", "built", "lazy", "first", "materializ", "setup")


def lazily_guarded(assign: AttrAssign) -> bool:
    """Inside ``if self.w is None:`` / ``if not hasattr(self, "w"):`` / ``if not self.initialized:``."""
    for test in assign.ctx.guards:
        words = list(names_in(test))
        lowered = [w.lower() for w in words]
        if assign.attr in words or "None" in words or "hasattr" in words or "getattr" in words:
            return True
        if any(any(key in w for key in _LAZY_WORDS) for w in lowered):
            return True
    return False


class LifecycleQueries:
    def created_once(self, assign: AttrAssign) -> bool:
        """A lazy one-time creation: inside an ``if`` whose body makes its own test false, of an
        attribute that no other function of the class fills with a Parameter or a module (so
        nothing, and no optimizer, held one before). A one-time *replacement* of what
        ``__init__`` built is still a replacement."""
        if not (any(one_time_guard(node) for node in assign.ctx.ifs) or self._after_exit_once(assign.ctx)
                or self.runs_once(assign.ctx.func)):
            return False
        for other in self.attr_assigns:
            if other is not assign and other.attr == assign.attr and other.owner == assign.owner \
                    and other.ctx.func is not assign.ctx.func \
                    and isinstance(other.value, (Fresh, FrozenParameter, ModuleInstance)):
                return False
        return True

    def assigned_by(self, func: FuncInfo, depth: int = 0) -> set[str]:
        """The ``self.`` attribute paths a function assigns, with those of the functions it
        calls (``super()._setup(...)``, ``self._build()``), a few calls deep."""
        key = id(func)
        if key in self._assigned_memo:
            return self._assigned_memo[key]
        self._assigned_memo[key] = set()  # recursion: what is known so far
        found = self_paths(assigned_paths(func.node.body), func.self_name) if func.node is not None else set()
        if depth < 4:
            for ref in self._collector.calls:
                if ref.ctx.func is func:
                    for callee in self.callees(ref):
                        if callee is not func:
                            found |= self.assigned_by(callee, depth + 1)
            for name in super_calls(func.node) if func.node is not None and func.cls is not None else ():
                for base in self._class_chain(func.cls.name)[1:]:
                    for method in base.methods.get(name, []):
                        found |= self.assigned_by(method, depth + 1)
        self._assigned_memo[key] = found
        return found

    def _after_exit_once(self, ctx: Context) -> bool:
        """After an early ``if <made>: return`` of the same function, where the function makes
        ``<made>`` true: the rest runs once."""
        if not ctx.exits:
            return False
        assigned = self.assigned_by(ctx.func)
        return any(exit_once(node, self_paths(assigned, "self", ctx.func.self_name)) for node in ctx.exits)

    def _once_at(self, ctx: Context, assigned: set[str]) -> bool:
        """Whether code at ``ctx`` that makes ``assigned`` runs once: inside ``if <not made>:``,
        after an early ``if <made>: return``, or in a function that itself runs once."""
        local = self_paths(assigned, "self", ctx.func.self_name)
        if any(guard_once(node, ctx.stmt, local) for node in ctx.ifs):
            return True
        if any(exit_once(node, local) for node in ctx.exits):
            return True
        return self.runs_once(ctx.func)

    def runs_once(self, func: FuncInfo) -> bool:
        """A method every call of which is guarded by a one-time test that the method itself
        (or what it calls) makes false: ``if self.prototype is None: self._setup_prototype()``,
        where ``_setup_prototype`` assigns ``self.prototype``. Its Parameters are created once."""
        key = id(func)
        if key in self._once_memo:
            return self._once_memo[key]
        self._once_memo[key] = False  # recursion: not known to run once
        refs = self._sites.get(key, [])
        assigned = self.assigned_by(func)
        once = bool(refs) and bool(assigned) and func.cls is not None \
            and all(self._once_at(ref.ctx, assigned) for ref in refs)
        self._once_memo[key] = once
        return once

    def optimizer_built_after(self, assign: AttrAssign) -> bool:
        """Whether, later in the same function, an optimizer is built over the new object
        (``torch.optim.X([self.w], ...)``, ``torch.optim.X(self.parameters())``): then the new
        Parameter is the one that trains, and no optimizer is left stepping the old one."""
        func = assign.ctx.func.node
        if func is None:
            return False
        target = dotted(assign.owner_node)
        if target is None:
            return False
        wanted = {f"{target}.{assign.attr}", f"{target}.parameters"}
        seen = False
        stack: list[cst.CSTNode] = [func.body]
        while stack:
            node = stack.pop()
            if node is assign.node:
                seen = True
                continue
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                continue
            if seen and isinstance(node, cst.Call) and (self.imports.qualname(node.func) or "").startswith("torch.optim.") \
                    and node.args and wanted & paths_in(node.args[0].value):
                return True
            stack.extend(reversed(children(node)))
        return False

    def holds_parameter_before(self, assign: AttrAssign) -> bool:
        """Whether ``self.X`` may hold a registered Parameter when ``assign`` runs (see
        ``registered_before``); elsewhere than ``__init__`` the class's facts decide."""
        if not self.is_parameter_slot(assign.owner, assign.attr):
            return False
        return self.registered_before(assign.owner, assign.attr, assign.ctx)

    def registered_before(self, owner: Optional[Value], attr: str, ctx: Context) -> bool:
        """In the class's own ``__init__``, a slot holds a Parameter only once one was assigned to
        it earlier in that ``__init__`` on a path that reaches here (or a base class of this file
        registers it): a tensor first bound to the name and wrapped afterwards
        (``self.lr = torch.tensor(0.1)``, then ``self.lr = nn.Parameter(self.lr)``) is neither a
        replacement nor, before the wrap, a leaf. Anywhere else: assumed registered."""
        func = ctx.func
        if func.cls is None or not isinstance(owner, SelfRef) or owner.cls != func.cls.name:
            return True
        if func.name != "__init__":
            # a construction helper (every call from ``__init__`` or from another such helper):
            # what the slot holds there is what ``__init__`` made of it before each call
            refs = self._sites.get(id(func), [])
            if not refs or not all(self._constructing(r.ctx.func, func.cls) for r in refs):
                return True
            return self._wrapped_earlier(func, owner, attr, ctx) or any(
                self.registered_before(owner, attr, r.ctx) for r in refs)
        for base in self._class_chain(func.cls.name)[1:]:
            if attr in base.params:
                return True
        return self._wrapped_earlier(func, owner, attr, ctx)

    def _constructing(self, func: FuncInfo, cls: ClassInfo, depth: int = 0) -> bool:
        """``__init__`` of ``cls``, or a method of it called only from such code."""
        if func.cls is not cls:
            return False
        if func.name == "__init__":
            return True
        refs = self._sites.get(id(func), [])
        return depth < 4 and bool(refs) and all(self._constructing(r.ctx.func, cls, depth + 1) for r in refs)

    def _wrapped_earlier(self, func: FuncInfo, owner: Value, attr: str, ctx: Context) -> bool:
        """Whether ``func`` assigned a Parameter to ``owner.attr`` before ``ctx``, on a path that
        reaches it."""
        for earlier in self.attr_assigns:
            if earlier.ctx.order >= ctx.order:
                break
            if earlier.ctx.func is func and earlier.attr == attr and earlier.owner == owner \
                    and isinstance(earlier.value, (Fresh, FrozenParameter)) and not exclusive(earlier.ctx, ctx):
                return True
        return False


def exclusive(first: Context, second: Context) -> bool:
    """Whether two statements sit in different branches of one ``if`` (never both run)."""
    for node in first.ifs:
        if node in second.ifs and node.orelse is not None:
            in_body = contains(node.body, first.stmt), contains(node.body, second.stmt)
            if in_body[0] != in_body[1]:
                return True
    return False


def paths_in(node: cst.CSTNode) -> set[str]:
    """The dotted names and attribute paths in an expression."""
    paths = (dotted(current) for current in descendants(node) if isinstance(current, (cst.Name, cst.Attribute)))
    return {path for path in paths if path is not None}


def super_calls(node: cst.FunctionDef) -> set[str]:
    """The methods a function calls on ``super()``: ``super()._setup(...)`` -> ``_setup``."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [node.body]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute) \
                and isinstance(current.func.value, cst.Call) and isinstance(current.func.value.func, cst.Name) \
                and current.func.value.func.value == "super":
            found.add(current.func.attr.value)
        stack.extend(current.children)
    return found


def self_paths(paths: set[str], name: Optional[str], to: Optional[str] = "self") -> set[str]:
    """Attribute paths rooted at a method's own ``self`` name, renamed to ``to``."""
    if name is None or to is None:
        return set()
    return {to + path[len(name):] for path in paths if path.startswith(name + ".")}
