"""LL4 abstract values: tensors (requires grad, storage, the saves their graph holds), modules,
optimizers; saves, writes, hits; the per-path state and how two paths merge."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import libcst as cst

from leaflint.model.semantic import FuncInfo, Grad

ids = itertools.count(1)  # fresh storage names


@dataclass(frozen=True)
class Save:
    id: int
    root: str                  # the storage it keeps (an alias of its version counter)
    kind: str                  # "input" | "output" | "params"
    op: str                    # the op that saved it (``sigmoid``, ``mm``, ``D(...)``)
    node: cst.CSTNode          # the call or operator that saved it
    what: str                  # the saved expression's text
    # Empty: the save certainly happens. Otherwise the unknown-requires-grad values (function
    # arguments) any of which requiring grad makes it happen.
    cond: frozenset = frozenset()


@dataclass(frozen=True)
class Tensor:
    rg: Optional[bool]                      # requires grad (None: unknown)
    root: str                               # storage identity: views and detach() share it
    graph: frozenset = frozenset()          # ids of the saves its graph holds
    versioned: bool = True                  # False for a ``.data`` alias (writes bypass autograd)
    param: bool = False                     # a parameter (or a view of one)
    srcs: frozenset = frozenset()           # when rg is None: the arguments it may require grad through
    # Known to be a tensor: made by a factory, a Parameter, an op of the table, a torch layer, or
    # annotated as a tensor. Unknown-kind values (an unannotated argument, an unknown call's
    # result, a list, an element of a container) may be dicts or lists: an item assignment into
    # one is not a tensor write (``inputs[key] = ...``) unless a table op took it as a tensor.
    known: bool = True


@dataclass(frozen=True)
class Module:
    root: str
    kind: tuple                             # ("torch", "Linear") | ("local", "Net") | ("seq", n)
    inplace: bool = False
    trainable: bool = True
    param_layers: int = 0                   # parameter-owning layers inside (local / Sequential)
    last_op: Optional[str] = None           # a Sequential's last layer's op (its output is the container's)


@dataclass(frozen=True)
class Optimizer:
    roots: tuple[str, ...]


@dataclass(frozen=True)
class Params:
    root: str


Value = Union[Tensor, Module, Optimizer, Params]


@dataclass(frozen=True)
class Write:
    node: cst.CSTNode          # the statement or call that writes
    target: cst.CSTNode        # the written expression
    kind: str                  # method | augassign | setitem | inplace_fn | out | step | update | layer
    detail: str                # ``mul_``, ``+=``, ``opt_D.step()``
    in_loop: bool
    stmt: Optional[cst.CSTNode]


@dataclass(frozen=True)
class Hit:
    """A confirmed LL4 event: ``write`` changed what ``save`` keeps before ``backward`` ran."""

    save: Save
    write: Write
    backward: Optional[cst.CSTNode]     # the backward() call, or None for a module's forward
    func: FuncInfo
    retained: bool = False              # the save survived an earlier backward(retain_graph=True)


@dataclass
class State:
    env: dict = field(default_factory=dict)
    live: dict = field(default_factory=dict)        # save id -> Save
    hits: list = field(default_factory=list)        # (Save, Write)
    retained: set = field(default_factory=set)      # save ids kept by retain_graph=True
    tensors: set = field(default_factory=set)       # roots a table op took as a tensor argument
    dead: bool = False                              # the path returned (or raised)

    def copy(self) -> "State":
        return State(dict(self.env), dict(self.live), list(self.hits), set(self.retained), set(self.tensors),
                     self.dead)

    def merge(self, other: "State") -> None:
        """Join another path into this one; a path that returned does not reach the join."""
        if other.dead:
            return
        if self.dead:
            self.env, self.live, self.hits = dict(other.env), dict(other.live), list(other.hits)
            self.retained, self.tensors, self.dead = set(other.retained), set(other.tensors), False
            return
        for name in set(self.env) | set(other.env):
            a, b = self.env.get(name), other.env.get(name)
            if a != b:
                self.env[name] = join(a, b)
        self.live.update(other.live)
        self.hits.extend(h for h in other.hits if h not in self.hits)
        self.retained |= other.retained
        self.tensors |= other.tensors  # a root names one value: a tensor on one path is one on all


def join(a: Optional[Value], b: Optional[Value]) -> Optional[Value]:
    """Merge two paths' values. A tensor and a non-tensor (``total = 0`` before a loop that adds
    losses) stay the tensor: ``backward()`` and in-place writes only work on that path."""
    if a is None or b is None:
        other = a if b is None else b
        return other if isinstance(other, Tensor) else None
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        rg = a.rg if a.rg == b.rg else None
        root = a.root if a.root == b.root else f"t{next(ids)}"
        return Tensor(rg, root, a.graph | b.graph, a.versioned and b.versioned, a.param and b.param,
                      a.srcs | b.srcs, a.known and b.known)
    return None


def related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")




def is_true(node: Optional[cst.BaseExpression]) -> Optional[bool]:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def is_literal(node: Optional[cst.BaseExpression]) -> bool:
    return isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)) or \
        (isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float)))


def flow(tensors: list, grad: Grad) -> tuple[Optional[bool], frozenset]:
    """requires_grad of an op's result, and (when unknown) the arguments it depends on."""
    if grad is not Grad.ON:
        return False, frozenset()
    rg = any_rg(tensors)
    if rg is None:
        return None, frozenset().union(*(t.srcs for t in tensors if isinstance(t, Tensor) and t.rg is None))
    return rg, frozenset()


def certain(save: Save, loss: Optional[Tensor]) -> bool:
    """Whether the save happened, given that ``loss`` is backpropagated (so it requires grad).

    A save known to happen is certain. A save that happens when any of the arguments in
    ``save.cond`` requires grad is certain when the loss requires grad only through those
    arguments: its backward() would otherwise raise that nothing requires grad.
    """
    if not save.cond:
        return True
    return loss is not None and loss.rg is None and bool(loss.srcs) and loss.srcs <= save.cond


def any_rg(values: Iterable) -> Optional[bool]:
    flags = [v.rg for v in values if isinstance(v, Tensor)]
    if any(f is True for f in flags):
        return True
    if flags and all(f is False for f in flags):
        return False
    return None if flags else False
