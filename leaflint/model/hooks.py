"""Forward hooks that make a module's output require grad (the collector's half that records
them, a mixin of ``Collector``, and the query the model answers from them).

The Hugging Face ``enable_input_require_grads`` idiom registers, on an embedding table, a forward
hook whose body is ``output.requires_grad_(True)``. Measured on torch 2.13: when no input and no
parameter of the module requires grad, its output has no ``grad_fn``, so the hook makes it a
*leaf* that requires grad, and an in-place write into it or into a view of it raises ("a leaf
Variable that requires grad is being used in an in-place operation" / "a view of a leaf
Variable"). When the table trains, the output is a non-leaf and the same write is fine; when the
input carries a graph (a frozen ``nn.Linear`` fed a graph value) the output is a non-leaf too.
So the model claims a leaf only for a module that takes integer indices (an embedding table)
whose parameters are all known to be switched off, and is silent otherwise.

The facts are flow-sensitive and travel with the instance's value: ``ModuleInstance.hooked``
(sub-paths with such a hook) and ``ModuleInstance.frozen_parts`` (sub-paths switched off), updated
where the registration or the switch happens (an unconditional one; a switch back on, anywhere,
removes them). A call of a module (``model.embed_tokens(ids)``) gives ``Output(<module value>)``;
a function that receives the model as a parameter gives ``Output`` rooted in its ``Arg``, which
the summaries substitute at each call with the caller's instance, as for any write into an
argument (``summaries.call_site_writes``). Registration through a helper is a summary fact too:
``FuncInfo.output_hooks`` (the helper's parameter and the path below it it hooks), applied where
the helper is called. A function "makes its parameter require grad" (``FuncInfo.grad_params``)
when it does so unconditionally in its own body.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.facts import FuncInfo
from leaflint.model.imports import dotted
from leaflint.model.syntax import argument_for, is_true, kwarg, positional
from leaflint.model.values import Arg, Attr, ModuleInstance, Output, ParamItem, SelfRef, Value

if TYPE_CHECKING:
    from leaflint.model.semantic import SemanticModel

# Layers whose input is integer indices (never requires grad): with every parameter switched
# off, nothing the output is computed from requires grad.
INDEX_LAYERS = frozenset({"Embedding", "EmbeddingBag"})


def main_guard(node: cst.If) -> bool:
    """``if __name__ == "__main__":``."""
    test = node.test
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1 \
            or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = {type(test.left), type(test.comparisons[0].comparator)}
    texts = {getattr(test.left, "value", None), getattr(test.comparisons[0].comparator, "value", None)}
    return sides == {cst.Name, cst.SimpleString} and "__name__" in texts and bool(
        texts & {'"__main__"', "'__main__'"})


def _covers(part: str, path: str) -> bool:
    return part == "" or path == part or path.startswith(part + ".")


def _below(path: str, root: str) -> str:
    return path[len(root) + 1:] if path != root else ""


class HookFacts:
    """Mixed into ``leaflint.model.collect.Collector`` (whose state it reads and fills)."""

    # ----------------------------------------------------------------- the hook function
    def _unconditional(self) -> bool:
        """Not inside an ``if`` of the function being read (a script's ``if __name__ ==
        "__main__":`` body is the script itself)."""
        return all(in_body and main_guard(node) for node, in_body in self.branches[self.branch_base[-1]:])

    def _note_grad_param(self, node: cst.BaseExpression, flag: Optional[bool]) -> None:
        """``output.requires_grad_(True)`` on a parameter ``output``, unconditionally."""
        if flag is True and isinstance(node, cst.Name) and self.lookup(node.value) == Arg(node.value) \
                and node.value in self.func.params and self._unconditional():
            self.func.grad_params.add(node.value)

    def _hook_function(self, node: Optional[cst.BaseExpression]) -> Optional[FuncInfo]:
        """The one function of this file read so far that a name denotes (enclosing or module level)."""
        if not isinstance(node, cst.Name) or self.lookup(node.value) is not None:
            return None
        for scope in reversed(self.funcs):
            if node.value in scope.nested:
                found = scope.nested[node.value]
                return found[0] if len(found) == 1 else None
        found = self.module_functions.get(node.value, [])
        if found:
            return found[0] if len(found) == 1 and found[0] not in self.funcs else None
        pid = self.project.function_id(self.qualname(node)) if self.project is not None else None
        return self.project.function_info(pid) if pid is not None else None  # another module's, by its summary

    def _makes_output_require_grad(self, hook: Optional[cst.BaseExpression], index: int) -> bool:
        """Whether ``hook`` turns requires_grad on for its positional parameter ``index``."""
        if isinstance(hook, cst.Lambda):
            params = [p.name.value for p in hook.params.params]
            body = hook.body
            return len(params) > index and isinstance(body, cst.Call) and isinstance(body.func, cst.Attribute) \
                and body.func.attr.value == "requires_grad_" and isinstance(body.func.value, cst.Name) \
                and body.func.value.value == params[index] \
                and is_true(positional(body, 0) or getattr(kwarg(body, "requires_grad"), "value", None)
                            or cst.Name("True")) is True
        func = self._hook_function(hook)
        if func is None:
            return False
        params = func.params if func.node is None else \
            [p.name.value for p in list(func.node.params.posonly_params) + list(func.node.params.params)]
        return len(params) > index and params[index] in func.grad_params

    # ----------------------------------------------------------------- registration
    def _forward_hook(self, node: cst.Call) -> None:
        """``m.register_forward_hook(hook[, with_kwargs=True])`` with a hook that makes its output
        require grad (the output is the hook's third parameter, its fourth with ``with_kwargs``)."""
        hook = positional(node, 0) or getattr(kwarg(node, "hook"), "value", None)
        with_kwargs = kwarg(node, "with_kwargs")
        index = 3 if with_kwargs is not None and is_true(with_kwargs.value) is True else 2
        if with_kwargs is not None and is_true(with_kwargs.value) is None:
            return
        if isinstance(node.func, cst.Attribute) and self._makes_output_require_grad(hook, index):
            self._hook_path(dotted(node.func.value))

    def _hook_path(self, path: Optional[str]) -> None:
        if path is None or not self._unconditional():
            return
        root, _, below = path.partition(".")
        value = self.lookup(root)
        if isinstance(value, Arg) and root in self.func.params and root != self.func.self_name \
                or isinstance(value, SelfRef) and root == self.func.self_name:
            if (root, below) not in self.func.output_hooks:
                self.func.output_hooks.append((root, below))  # registered on what the caller passes
        if isinstance(value, ModuleInstance) and root in self.envs[-1]:
            self.envs[-1][root] = dataclasses.replace(value, hooked=value.hooked | {below})

    def _hook_summary_call(self, node: cst.Call) -> None:
        """A call of a helper read earlier that registers such a hook on its argument
        (``enable_input_require_grads(model)``, ``model.enable_input_require_grads()``): the hook is
        registered on what this call passes."""
        func = node.func
        callee: Optional[FuncInfo] = None
        receiver: Optional[cst.BaseExpression] = None
        if isinstance(func, cst.Name):
            callee = self._hook_function(func)
        elif isinstance(func, cst.Attribute):
            owner = self.lookup(func.value.value) if isinstance(func.value, cst.Name) else None
            if isinstance(owner, ModuleInstance) and owner.kind[0] == "local":
                cls = self.classes.get(owner.kind[1])
                defs = cls.methods.get(func.attr.value, []) if cls is not None else []
                callee = defs[0] if len(defs) == 1 and defs[0] not in self.funcs else None
                receiver = func.value
        if callee is None or not callee.output_hooks:
            return
        params = [p for p in callee.params if p != callee.self_name]
        for param, below in callee.output_hooks:
            given = receiver if param == callee.self_name else argument_for(params, node, param)
            path = dotted(given) if given is not None else None
            if path is not None:
                self._hook_path(f"{path}.{below}" if below else path)

    # ----------------------------------------------------------------- switches
    def _note_switch(self, node: cst.BaseExpression, flag: Optional[bool]) -> None:
        """``x.requires_grad_(flag)``: record, on the instance the path starts from, the part
        switched off (unconditionally), or forget the parts a switch back on (or an unknown
        flag) may touch. ``p`` of ``for p in X.parameters()`` stands for all of ``X``."""
        path = dotted(node)
        if isinstance(node, cst.Name) and isinstance(self.lookup(node.value), ParamItem):
            path = self._parameters_owner(node.value)
        if path is None:
            return
        root = path.split(".", 1)[0]
        value = self.lookup(root)
        if not isinstance(value, ModuleInstance) or root not in self.envs[-1]:
            return
        below = _below(path, root)
        if flag is False and self._unconditional():
            parts = value.frozen_parts | {below}
        elif flag is False:
            return
        else:
            parts = frozenset(p for p in value.frozen_parts if not (_covers(below, p) or _covers(p, below)))
        if parts != value.frozen_parts:
            self.envs[-1][root] = dataclasses.replace(value, frozen_parts=parts)

    # ----------------------------------------------------------------- calls
    def module_output(self, func: cst.BaseExpression) -> Optional[Value]:
        """What calling the module ``func`` (a dotted path) gives, when it may be a hooked leaf:
        ``Output`` of the module's value (read past the switches, which the instance records)."""
        path = dotted(func)
        if path is None:
            return None
        names = path.split(".")
        value: Optional[Value] = self.lookup(names[0])
        if isinstance(value, ModuleInstance):
            if ".".join(names[1:]) not in value.hooked:
                return None
        elif not isinstance(value, Arg) or names[0] == self.func.self_name:
            return None
        for name in names[1:]:
            value = Attr(value, name)
        return Output(value)


def output_leaf(model: "SemanticModel", module: Value) -> bool:
    """Whether calling ``module`` gives a leaf that requires grad: it is an embedding table whose
    instance says a forward hook makes its output require grad and all its parameters are off."""
    chain = []
    root = module
    while isinstance(root, Attr):
        chain.append(root.name)
        root = root.base
    if not isinstance(root, ModuleInstance):
        return False
    below = ".".join(reversed(chain))
    if below not in root.hooked:
        return False
    layer = model.module_of(module)
    if layer is None or layer.kind[0] != "torch" or layer.kind[1] not in INDEX_LAYERS:
        return False
    names = api.LAYER_PARAMETERS.get(layer.kind[1], frozenset())
    return bool(names) and all(
        any(_covers(part, f"{below}.{name}" if below else name) for part in root.frozen_parts) for name in names)
