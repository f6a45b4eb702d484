"""Symbolic values: what an expression denotes, resolved against the model at the end.

The analyzer binds names to these while it walks a file once; whether a value is a
leaf that requires grad is decided only after the whole file has been read (a class's
``__init__`` may come after the method that uses its parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Fresh:
    """A fresh leaf that requires grad: ``nn.Parameter(t)``, ``torch.zeros(3, requires_grad=True)``.

    ``when`` names the flag of ``requires_grad=flag``: a leaf that requires grad when it is true.
    """

    origin: str
    when: Optional[str] = None


@dataclass(frozen=True)
class FrozenParameter:
    """``nn.Parameter(t, requires_grad=False)``: a Parameter, but not a leaf that requires grad."""


@dataclass(frozen=True)
class SelfRef:
    """``self`` inside a method of a class defined in this file."""

    cls: str


@dataclass(frozen=True)
class Attr:
    base: "Value"
    name: str


@dataclass(frozen=True)
class ModuleInstance:
    """An instance built by a constructor: ``("torch", "Linear")``, ``("local", "Net")``, or
    ``("tree", "timm.create_model")``: a module tree from a factory or loader, made of torch
    layers we cannot see (its ``weight``/``bias`` attributes are Parameters).

    ``item`` is the kind of every element of a container (``nn.ModuleList([nn.Conv2d(..) ...])``).

    Facts about this one instance, where it is bound (``leaflint.model.hooks``): ``hooked``, the
    dotted paths below it (``""``: itself) that carry a forward hook making their output require
    grad; ``frozen_parts``, the paths whose parameters were all switched off.
    """

    kind: tuple[str, str]
    inplace: bool = False
    frozen: bool = False
    item: Optional["ModuleInstance"] = None
    hooked: frozenset = frozenset()
    frozen_parts: frozenset = frozenset()


@dataclass(frozen=True)
class Output:
    """What calling the module ``base`` returns (``model.embed_tokens(ids)``): a leaf that requires
    grad only when the instance's facts say so (``leaflint.model.hooks.output_leaf``), else unknown."""

    base: "Value"


@dataclass(frozen=True)
class ParamIter:
    """A collection of parameters: ``m.parameters()``, ``list(...)`` of it, ``group["params"]``."""

    base: Optional["Value"]
    named: bool = False
    prefixed: bool = False  # ``named_parameters(prefix=...)``: its names are not the module's own paths


@dataclass(frozen=True)
class ParamName:
    """The name of one parameter of ``base``, from ``for name, p in base.named_parameters()``: the
    path of a Parameter below ``base`` (its own slot when the name has no dot). Not a tensor."""

    base: Optional["Value"]


@dataclass(frozen=True)
class ParamItem:
    """One parameter out of a ``ParamIter``."""

    base: Optional["Value"]


@dataclass(frozen=True)
class GroupList:
    """``optimizer.param_groups``."""


@dataclass(frozen=True)
class GroupItem:
    """One param group (a dict with a ``"params"`` list)."""


@dataclass(frozen=True)
class View:
    base: "Value"


@dataclass(frozen=True)
class DataOf:
    """``x.data``: the same storage with autograd's version tracking bypassed. ``node`` is the
    ``.data`` read it came from (not part of the value's identity)."""

    base: Optional["Value"]
    path: Optional[str]
    node: Optional[object] = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class PlainTensor:
    """A tensor that is not a Parameter: a torch op result, ``.detach()``, arithmetic."""


@dataclass(frozen=True)
class Arg:
    """A parameter of the enclosing function (its summary records in-place writes into it)."""

    name: str


@dataclass(frozen=True)
class Item:
    """One element of a container reached by iteration: ``for layer in self.layers``."""

    base: "Value"


@dataclass(frozen=True)
class TensorList:
    """A list (or tuple) of values: ``[w1, w2]``, a list filled by ``append``, a function's
    ``*args``."""

    items: tuple


@dataclass(frozen=True)
class Key:
    """``base[k]`` that is not a tensor view: a lookup in a mapping or a list (``edge["alpha"]``).
    ``key`` is the literal key (a string or an int), or None when the key is not a literal."""

    base: "Value"
    key: Optional[Union[str, int]] = None


@dataclass(frozen=True)
class Values:
    """``base.values()``: iterating it gives the mapping's values, not its keys."""

    base: "Value"


@dataclass(frozen=True)
class DictOf:
    """A dict built here and filled by item assignment: ``d = {}; d["alpha"] = nn.Parameter(..)``.
    ``entries`` are (literal key or None, value) in the order they were stored."""

    entries: tuple = ()


Value = Union[Fresh, FrozenParameter, SelfRef, Attr, ModuleInstance, ParamIter, ParamItem, ParamName, GroupList,
              GroupItem, View, DataOf, PlainTensor, TensorList, Arg, Item, Key, Values, DictOf, Output]

# Steps of a path into an argument: what the summaries substitute the caller's value into.
PATH_STEPS = (View, Attr, Key, Item, Values, Output)


def path_root(value: Optional[Value]) -> Optional[Value]:
    """The value a chain of views, attributes, lookups and elements starts from."""
    while isinstance(value, PATH_STEPS):
        value = value.base
    return value
