"""LL4: what calls do to abstract values (torch functions, tensor methods, modules, optimizers).

A mixin of the statement walker in ``leaflint.model.saved``: it reads ``self.model``,
``self.table``, ``self.loop_depth`` and calls the walker's ``expr``, ``attribute``, ``write``,
``write_roots``, ``backward``, ``unknown_op`` and ``rebind_name``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import libcst as cst

from leaflint.model import torchapi as api
from leaflint.model.semantic import Grad
from leaflint.model.saved_values import (
    Module, Optimizer, Params, Save, State, Tensor, Value, Write, any_rg, flow, ids, is_literal, is_true,
)
from leaflint.model.values import Attr, ModuleInstance, SelfRef

# Tensor methods and torch functions whose result aliases the input's storage and version
# counter (a write through either is seen by autograd's check).
ALIAS_METHODS = api.VIEW_METHODS | {"detach", "__getitem__", "view_as", "expand_as", "as_strided",
                                    "split", "chunk", "unbind"}
NOT_WRITES = api.NOT_INPLACE_METHODS | {"zero_grad", "requires_grad_", "train", "eval", "apply",
                                        "register_buffer", "to_", "share_memory_"}
OPTIMIZER_PREFIX = "torch.optim."


class CallEffects:
    """Calls: the saves they record, the writes they make, the values they return."""

    def module_value(self, root: str, module: ModuleInstance, built: Optional[cst.Call] = None) -> Module:
        layers, last_op = 0, None
        if module.kind[0] == "local":
            cls = self.model.classes.get(module.kind[1])
            if cls is not None:
                layers = len(cls.params) + sum(1 for sub in cls.submodules.values()
                                               if self._owns_parameters(sub, {cls.name}))
                last_op = self.forward_saved_op(cls.name)
        elif built is not None:
            layers, last_op = self._container_facts(module.kind[1], [a.value for a in built.args if a.keyword is None])
        elif module.kind[1] in api.LAYER_PARAMETERS:
            layers = 1
        return Module(root, module.kind, module.inplace, not module.frozen, layers, last_op)

    def _owns_parameters(self, module: ModuleInstance, seen: set) -> bool:
        """Whether a submodule holds trainable parameters (a class that contains itself stops)."""
        if module.frozen:
            return False
        kind, name = module.kind
        if kind == "torch":
            return name in api.LAYER_PARAMETERS
        if name in seen:
            return False
        cls = self.model.classes.get(name)
        if cls is None:
            return False
        seen = seen | {name}
        return bool(cls.params) or any(self._owns_parameters(sub, seen) for sub in cls.submodules.values())

    def _built_by(self, semantic) -> Optional[cst.Call]:
        """The ``nn.Sequential(...)`` call that ``self.x = ...`` assigned in the class."""
        if not isinstance(semantic, Attr) or not isinstance(semantic.base, SelfRef):
            return None
        for assign in self.model.attr_assigns:
            if isinstance(assign.owner, SelfRef) and assign.owner.cls == semantic.base.cls \
                    and assign.attr == semantic.name and isinstance(assign.value_node, cst.Call):
                return assign.value_node
        return None

    def _container_facts(self, layer: str, arg_nodes: list) -> tuple[int, Optional[str]]:
        """Parameter-owning layers of a ``Sequential(...)`` and the op of its last layer."""
        if layer not in ("Sequential", "ModuleList"):
            return (1 if layer in api.LAYER_PARAMETERS else 0), None
        layers, last_op = 0, None
        for arg_node in arg_nodes:
            last_op = None
            if isinstance(arg_node, cst.Call):
                inner = api.torch_nn_layer(self.model.imports.qualname(arg_node.func))
                if inner in api.LAYER_PARAMETERS or (isinstance(arg_node.func, cst.Name)
                                                     and arg_node.func.value in self.model.classes):
                    layers += 1
                spec = self.table.modules.get(inner or "")
                if spec is not None and "weight_arg" not in spec:
                    last_op = spec["op"]
        return layers, last_op


    def call(self, node: cst.Call, state: State, grad: Grad, stmt: cst.CSTNode) -> Optional[Value]:
        func = node.func
        args = [(self.expr(a.value, state, grad, stmt), a.value) for a in node.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: (self.expr(a.value, state, grad, stmt), a.value)
                  for a in node.args if a.keyword is not None}
        for a in node.args:
            if a.star:
                self.expr(a.value, state, grad, stmt)
        qual = self.model.imports.qualname(func)
        if isinstance(func, cst.Attribute) and qual is None:
            return self.method_call(node, func, args, kwargs, state, grad, stmt)
        if qual is not None:
            return self.torch_call(node, qual, args, kwargs, state, grad, stmt)
        callee = self.expr(func, state, grad, stmt)
        if isinstance(func, cst.Name) and func.value in self.model.classes:
            cls = self.model.classes[func.value]
            module = ModuleInstance(("local", cls.name))
            return self.module_value(f"m{next(ids)}", module)
        if isinstance(callee, Module):
            return self.module_call(node, callee, args, kwargs, state, grad, stmt)
        inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
        if any(isinstance(i, Tensor) for i in inputs):
            return self.unknown_op(inputs, grad)
        return None

    def method_call(self, node: cst.Call, func: cst.Attribute, args, kwargs, state: State, grad: Grad,
                    stmt: cst.CSTNode) -> Optional[Value]:
        method = func.attr.value
        callee = self.attribute(func, state, grad, stmt)
        if isinstance(callee, Module):
            return self.module_call(node, callee, args, kwargs, state, grad, stmt)
        receiver = self.expr(func.value, state, grad, stmt)
        if isinstance(receiver, Module):
            if method == "parameters":
                return Params(receiver.root)
            if method == "forward" or method == "__call__":
                return self.module_call(node, receiver, args, kwargs, state, grad, stmt)
            return None
        if isinstance(receiver, Optimizer):
            if method == "step":
                write = Write(node, func.value, "step", f"{self.model.text(func.value)}.step()",
                              self.loop_depth > 0, stmt)
                self.write_roots(receiver.roots, write, state)
            return None
        if not isinstance(receiver, Tensor):
            if method in ("backward",) and receiver is None:
                return None
            inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
            return self.unknown_op(inputs, grad) if any(isinstance(i, Tensor) for i in inputs) else None
        if method == "backward":
            retain = is_true(kwargs.get("retain_graph", (None, None))[1]) or \
                (len(args) >= 2 and is_true(args[1][1]))
            self.backward(node, receiver, bool(retain), state)
            return None
        if method in ("detach",):
            return replace(receiver, rg=False, graph=frozenset())
        if method in ("clone", "contiguous") or method in ("item", "tolist", "numpy", "cpu", "to", "float",
                                                            "double", "half", "size", "dim", "numel"):
            if method in ("item", "tolist", "numpy", "size", "dim", "numel"):
                return None
            rg, srcs = flow([receiver], grad)
            return Tensor(rg, f"t{next(ids)}", receiver.graph, srcs=srcs, known=receiver.known)
        if method.endswith("_") and not method.startswith("_") and method not in NOT_WRITES:
            # torch's in-place convention: no dict, list or str has a method ending in ``_``
            receiver = replace(receiver, known=True)
            self.write(receiver, Write(node, func.value, "method", method, self.loop_depth > 0, stmt), state)
            result = self.apply(method[:-1], node, [(receiver, func.value)] + list(args), kwargs, grad, state,
                                result_root=receiver.root)
            updated = replace(receiver, graph=receiver.graph | (result.graph if isinstance(result, Tensor) else frozenset()),
                              rg=True if (grad is Grad.ON and any_rg([v for v, _ in args]) ) else receiver.rg)
            self.rebind_name(func.value, updated, state)
            return updated
        if method in ALIAS_METHODS:
            base = receiver
            if grad is not Grad.ON:
                base = replace(base, rg=False if not base.param else base.rg)
            return base
        if method in api.INDEX_RESULT_OPS or self.table.has_method(method) or method in self.table.composites:
            return self.apply(method, node, [(receiver, func.value)] + list(args), kwargs, grad, state)
        return self.unknown_op([receiver] + [v for v, _ in args], grad)

    def rebind_name(self, node: cst.BaseExpression, value: Tensor, state: State) -> None:
        while isinstance(node, cst.Subscript):
            node = node.value
        if isinstance(node, cst.Name) and isinstance(state.env.get(node.value), Tensor):
            old = state.env[node.value]
            state.env[node.value] = replace(old, graph=old.graph | value.graph, rg=old.rg or value.rg)

    def torch_call(self, node: cst.Call, qual: str, args, kwargs, state: State, grad: Grad,
                   stmt: cst.CSTNode) -> Optional[Value]:
        name = qual.rsplit(".", 1)[-1]
        if qual in api.PARAMETER:
            frozen = is_true(kwargs.get("requires_grad", (None, None))[1]) is False
            return Tensor(not frozen, f"t{next(ids)}", param=not frozen)
        if qual in ("torch.autograd.backward",) and args:
            retain = is_true(kwargs.get("retain_graph", (None, None))[1])
            self.backward(node, args[0][0], bool(retain), state)
            return None
        if qual == "torch.autograd.grad" and args:
            retain = is_true(kwargs.get("retain_graph", (None, None))[1])
            self.backward(node, args[0][0], bool(retain), state)
            return None
        layer = api.torch_nn_layer(qual)
        if layer is not None:
            return self.construct(node, layer, args, kwargs, state)
        if qual.startswith(OPTIMIZER_PREFIX) and name[:1].isupper() and args:
            return Optimizer(self.optimizer_roots(args[0][1], args[0][0], state, grad, stmt))
        if not qual.startswith("torch."):
            inputs = [v for v, _ in args] + [v for v, _ in kwargs.values()]
            return self.unknown_op(inputs, grad) if any(isinstance(i, Tensor) for i in inputs) else None
        if name in api.FACTORIES or name in ("stack", "cat", "zeros_like", "ones_like", "empty_like"):
            rg_arg = kwargs.get("requires_grad")
            if name in api.FACTORIES:
                rg = is_true(rg_arg[1]) if rg_arg is not None else False
                return Tensor(rg, f"t{next(ids)}")
        inplace_kw = kwargs.get("inplace")
        if inplace_kw is not None and is_true(inplace_kw[1]) and args and isinstance(args[0][0], Tensor):
            target = args[0][0]
            self.write(target, Write(node, args[0][1], "inplace_fn", f"{name}(..., inplace=True)",
                                     self.loop_depth > 0, stmt), state)
            return self.apply(name, node, list(args), {}, grad, state, result_root=target.root)
        if name.endswith("_") and not name.startswith("_") and args and isinstance(args[0][0], Tensor) \
                and not qual.startswith(api.NOT_INPLACE_FUNCTION_PREFIXES):
            target = args[0][0]
            self.write(target, Write(node, args[0][1], "inplace_fn", name, self.loop_depth > 0, stmt), state)
            return self.apply(name[:-1], node, list(args), {}, grad, state, result_root=target.root)
        out = kwargs.get("out")
        if out is not None and isinstance(out[0], Tensor):
            self.write(out[0], Write(node, out[1], "out", f"{name}(..., out=...)", self.loop_depth > 0, stmt), state)
        return self.apply(name, node, list(args), kwargs, grad, state)

    def construct(self, node: cst.Call, layer: str, args, kwargs, state: State) -> Module:
        inplace = is_true(kwargs.get("inplace", (None, None))[1]) is True
        layers, last_op = self._container_facts(layer, [n for _, n in args])
        return Module(f"m{next(ids)}", ("torch", layer), inplace, True, layers, last_op)

    def optimizer_roots(self, node: cst.BaseExpression, value: Optional[Value], state: State, grad: Grad,
                        stmt: cst.CSTNode) -> tuple[str, ...]:
        if isinstance(value, Params):
            return (value.root,)
        roots = []
        if isinstance(node, (cst.List, cst.Tuple)):
            for element in node.elements:
                sub = self.expr(element.value, state, grad, stmt)
                if isinstance(sub, Params):
                    roots.append(sub.root)
                elif isinstance(sub, Tensor) and sub.param:
                    roots.append(sub.root)
        if isinstance(node, cst.BinaryOperation):  # list(a.parameters()) + list(b.parameters())
            for side in (node.left, node.right):
                roots.extend(self.optimizer_roots(side, self.expr(side, state, grad, stmt), state, grad, stmt))
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("list", "tuple") \
                and node.args:
            inner = node.args[0].value
            roots.extend(self.optimizer_roots(inner, self.expr(inner, state, grad, stmt), state, grad, stmt))
        return tuple(roots)

    def module_call(self, node: cst.Call, module: Module, args, kwargs, state: State, grad: Grad,
                    stmt: cst.CSTNode) -> Optional[Value]:
        x, x_node = args[0] if args else (None, None)
        inputs = [v for v, _ in args]
        spec = self.table.modules.get(module.kind[1]) if module.kind[0] == "torch" else None
        if spec is not None:
            if module.inplace and isinstance(x, Tensor):
                self.write(x, Write(node, x_node, "inplace_fn", f"{module.kind[1]}(inplace=True)",
                                    self.loop_depth > 0, stmt), state)
                return self.apply(spec["op"], node, [(x, x_node)], {}, grad, state, result_root=x.root)
            if "weight_arg" in spec:
                weight = Tensor(module.trainable, module.root, param=module.trainable)
                named = {spec["input_arg"]: (x, x_node), spec["weight_arg"]: (weight, node.func)}
                return self.apply(spec["op"], node, [], named, grad, state, by_name=True)
            return self.apply(spec["op"], node, [(x, x_node)], {}, grad, state)
        # a local module class or a Sequential: its parameters are saved by its layers
        tensors = [i for i in inputs if isinstance(i, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        if grad is not Grad.ON:
            return Tensor(False, f"t{next(ids)}", frozenset(), known=False)
        in_rg, srcs = flow(tensors, grad)
        rg = True if module.trainable and module.param_layers else in_rg
        if module.trainable and module.param_layers and (in_rg is True or module.param_layers >= 2):
            save = Save(next(ids), module.root, "params", f"{self.model.text(node.func)}(...)", node,
                        f"the parameters of `{self.model.text(node.func)}`")
            state.live[save.id] = save
            graph = graph | {save.id}
        root = f"t{next(ids)}"
        known = False  # a module of this file may return anything (a dict of outputs, a tuple)
        if module.last_op is not None and self.table.saves_output(module.last_op) and rg is not False:
            known = True
            # the container's output is its last layer's, which that layer saved for its backward
            save = Save(next(ids), root, "output", module.last_op, node, self.model.text(node),
                        srcs if rg is None else frozenset())
            state.live[save.id] = save
            graph = graph | {save.id}
        return Tensor(rg, root, graph, srcs=srcs if rg is None else frozenset(), known=known)

    def apply(self, name: str, node: cst.CSTNode, args: list, kwargs: dict, grad: Grad, state: State,
              result_root: Optional[str] = None, by_name: bool = False) -> Tensor:
        """Apply op ``name``: record the saves the table promises for the known requires-grad facts."""
        if name in api.INDEX_RESULT_OPS:
            for value, _ in list(args) + list(kwargs.values()):
                if isinstance(value, Tensor):
                    state.tensors.add(value.root)
            return Tensor(False, result_root or f"t{next(ids)}")  # indices, masks: no graph
        composite = self.table.composites.get(name)
        op_name = name
        named: dict[str, tuple] = {}
        if by_name:
            named = dict(kwargs)
            if name in self.table.composites:
                op_name = composite["op"]
        elif composite is not None:
            op_name = composite["op"]
            for arg_name, index in composite["args"].items():
                if index < len(args):
                    named[arg_name] = args[index]
        resolved = None
        if not named or by_name:
            flags = [isinstance(v, Tensor) if v is not None or not is_literal(n) else False for v, n in args]
            resolved = self.table.resolve(op_name, flags, set(kwargs)) if not by_name else None
            if resolved is None and by_name:
                found = self.table.overloads(op_name)
                resolved = found[0] if found else None
            if resolved is not None and not by_name:
                for i, (value, value_node) in enumerate(args):
                    if i < len(resolved[1].positional):
                        named[resolved[1].positional[i]] = (value, value_node)
                for key, item in kwargs.items():
                    named.setdefault(key, item)
        else:
            found = self.table.overloads(op_name)
            resolved = found[0] if found else None
        tensors = [v for v, _ in list(args) + list(kwargs.values()) if isinstance(v, Tensor)]
        graph = frozenset().union(*(t.graph for t in tensors)) if tensors else frozenset()
        rg, srcs = flow(tensors, grad)
        root = result_root or f"t{next(ids)}"
        if resolved is None:
            return Tensor(rg, root, graph, srcs=srcs, known=composite is not None or bool(self.table.overloads(op_name)))
        overload = resolved[1]
        for arg_name in overload.args:  # the op took these as tensors: they are tensors
            value = named.get(arg_name, (None, None))[0]
            if isinstance(value, Tensor):
                state.tensors.add(value.root)
        if rg is False:
            return Tensor(rg, root, graph, srcs=srcs)
        saves = []
        for arg_name, condition in overload.saves_inputs.items():
            value, value_node = named.get(arg_name, (None, None))
            if not isinstance(value, Tensor) or not value.versioned:
                continue
            if result_root is not None and value.root == result_root:
                # an in-place op keeps the original of the tensor it overwrites (measured:
                # ``x.mul_(w).add_(b)``, ``x.pow_(2).mul_(c)``, ``x.clamp_(0, 6).div_(6)`` backpropagate)
                continue
            cond = srcs
            if condition is not None:
                needed = [named.get(c, (None, None))[0] for c in condition]
                need_rg, need_srcs = flow([n for n in needed if isinstance(n, Tensor)], grad)
                if need_rg is False:
                    continue
                cond = need_srcs
            saves.append(Save(next(ids), value.root, "params" if value.param else "input", op_name, node,
                              self.model.text(value_node) if value_node is not None else arg_name, cond))
        if overload.saves_output:
            saves.append(Save(next(ids), root, "output", op_name, node, self.model.text(node), srcs))
        for save in saves:
            state.live[save.id] = save
        return Tensor(rg, root, graph | {s.id for s in saves}, srcs=srcs)
