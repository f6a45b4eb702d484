"""The facts the collector records and the rules filter: scopes, sites, writes, grad mode."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from leaflint.model.values import ModuleInstance, Value


class Grad(enum.Enum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"
    INHERIT = "inherit"  # whatever the enclosing function was entered with


@dataclass
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: list[str]
    params: dict[str, Optional[bool]] = field(default_factory=dict)  # attr -> requires_grad
    buffers: set[str] = field(default_factory=set)
    submodules: dict[str, ModuleInstance] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)  # dotted paths below self
    frozen_all: bool = False
    deleted_params: set[str] = field(default_factory=set)
    methods: dict[str, list["FuncInfo"]] = field(default_factory=dict)
    is_autograd_function: bool = False
    has_forward: bool = False
    is_parameter_class: bool = False  # a subclass of nn.Parameter
    defines_new: bool = False  # its own ``__new__`` (which may set requires_grad)
    containers: set[str] = field(default_factory=set)  # attributes also bound to a dict/list/set
    # dotted paths below self whose requires_grad is switched off only under a condition: path ->
    # the condition under which they still require grad (``not freeze``)
    frozen_when: dict[str, str] = field(default_factory=dict)


@dataclass
class FuncInfo:
    name: str
    node: Optional[cst.FunctionDef]
    cls: Optional[ClassInfo]
    parent: Optional["FuncInfo"]
    decorator_grad: Grad = Grad.INHERIT
    self_name: Optional[str] = None
    nested: dict[str, list["FuncInfo"]] = field(default_factory=dict)
    events: list[tuple] = field(default_factory=list)  # (seq, stmt_id, kind, payload)
    entry_grad: Grad = Grad.ON
    in_forward: bool = False
    params: list[str] = field(default_factory=list)  # the parameter names, ``self`` included
    returns: list = field(default_factory=list)  # the value of each ``return`` (None: unknown)
    arg_writes: list["InplaceSite"] = field(default_factory=list)  # in-place writes into a parameter
    star: Optional[str] = None  # the ``*args`` parameter's name
    classmethod: bool = False  # its first parameter is the class, bound by any call
    grad_params: set[str] = field(default_factory=set)  # parameters it makes require grad, unconditionally
    # forward hooks making the output require grad that it registers on what a parameter holds:
    # (parameter, dotted path below it) (``leaflint.model.hooks``)
    output_hooks: list[tuple[str, str]] = field(default_factory=list)
    # methods called on paths rooted in a parameter not rebound there: (parameter, chain, method)
    receiver_calls: set = field(default_factory=set)


@dataclass
class Context:
    """Where a fact was seen: the function, the lexical grad mode, the statement."""

    func: FuncInfo
    grad: Grad
    stmt: Optional[cst.CSTNode]
    guards: tuple[cst.BaseExpression, ...] = ()
    ifs: tuple[cst.If, ...] = ()  # the enclosing ``if`` statements (their tests are ``guards``)
    handled: frozenset[str] = frozenset()  # exceptions a fallback ``except`` catches around here
    order: int = 0  # the statement's number in walk order
    exits: tuple[cst.If, ...] = ()  # earlier ``if <test>: return`` of enclosing blocks: ``not test`` holds here


@dataclass
class InplaceSite:
    kind: str  # method | augassign | setitem | out | inplace_fn | foreach
    node: cst.CSTNode
    target: Optional[Value]
    target_node: cst.CSTNode
    detail: str
    ctx: Context
    # for a write into a function's parameter: the call that passes the leaf, and its argument
    via_call: Optional[cst.Call] = None
    via_arg: Optional[cst.CSTNode] = None
    # a write in another module of the project (``leaflint.model.project.Spot``): reported there
    foreign: Optional[object] = None


@dataclass
class DataWrite:
    kind: str  # assign | inplace | setitem | augassign
    node: cst.CSTNode
    target: Optional[Value]
    target_node: Optional[cst.CSTNode]
    path: Optional[str]
    rhs: list[tuple[Value, cst.CSTNode]]
    value_node: Optional[cst.BaseExpression]
    seq: int
    stmt_id: int
    ctx: Context
    detail: str = ""  # the in-place method, for writes through .data
    roots: frozenset[str] = frozenset()  # the written tensor's graph roots (leaflint.model.roots)
    value_roots: frozenset[str] = frozenset()  # for an assignment: the new value's graph roots


@dataclass
class DataRead:
    node: cst.Attribute
    target: Optional[Value]
    ctx: Context


@dataclass
class AttrAssign:
    node: cst.CSTNode
    owner: Optional[Value]
    owner_node: cst.CSTNode
    attr: str  # ``<name>`` for ``setattr(owner, name, value)`` with a name that is not a literal
    value: Optional[Value]
    value_node: cst.CSTNode
    ctx: Context
    name_value: Optional[Value] = None  # for ``<name>``: what the name expression denotes (``ParamName``)


@dataclass
class CallRef:
    key: tuple
    scope: tuple["FuncInfo", ...]
    ctx: Context


@dataclass
class ArgCall:
    """A call of a function of this file, with its arguments' values (for summaries)."""

    key: tuple
    scope: tuple["FuncInfo", ...]
    ctx: Context
    node: cst.Call
    args: tuple  # (keyword or None, value, node)
    arg_roots: tuple = ()  # each argument's graph roots (leaflint.model.roots)
    seq: int = 0  # the event number at the call: a later backward() has a larger one


@dataclass(frozen=True)
class Leaf:
    """A tensor that is (a view of) a leaf requiring grad."""

    view: bool
    kind: str  # parameter | tensor | output (of a module a forward hook makes require grad)
    when: Optional[str] = None  # the flag it depends on (``requires_grad=flag``)

