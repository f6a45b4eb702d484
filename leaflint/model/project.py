"""The project index, as the model sees it: other modules' summaries, and this module's own.

A module's *summary* is plain JSON data (it is cached with the file's findings, and read by the
analysis of every module that imports it):

- ``classes``: per class, its bases, which attributes hold Parameters (and whether they require
  grad), buffers, submodules (their kinds), frozen paths, containers, and its kind (a Module, an
  ``autograd.Function``, a subclass of ``nn.Parameter``);
- ``functions``: per module-level function, its parameters, the in-place writes into them (with
  the grad mode they run under and *where* the write is, so a call in another module that passes
  a leaf is reported at the write, as in one file), what it returns (a fresh leaf, a module), the
  parameters it makes require grad and the forward hooks it registers on them
  (``leaflint.model.hooks``);
- ``exports`` and ``star``: names the module imports from other modules of the project
  (``from .models import MF`` in a package's ``__init__``), filled by the index from its import
  scan (``leaflint.index``), so a re-exporting module needs no parse.

Names that leave a module are *project ids*: ``<path relative to the root>:<name>``
(``pkg/models.py:MF``), never a dotted module name, so two scripts' ``models.py`` never meet.

``ProjectView`` is what one file's analysis reads: its own module's dotted name and package, the
dotted modules its imports resolve to (``modules``: dotted name -> relative path, decided by the
index from the file system), and the summaries of every module it can reach. It answers
``resolve("pkg.models.MF")`` with ``("class", "pkg/models.py:MF")``, and builds, on demand, the
``ClassInfo`` / ``FuncInfo`` the rest of the model already knows how to query. It never reads a
file and never imports anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from leaflint.model.facts import ClassInfo, Context, FuncInfo, Grad, InplaceSite
from leaflint.model.values import Arg, Attr, Fresh, Item, Key, ModuleInstance, Output, Value, Values, View

if TYPE_CHECKING:
    from leaflint.model.named_slots import SetattrFlow
    from leaflint.model.semantic import SemanticModel
    from leaflint.model.summaries import ParamWrite

_MAX_HOPS = 8  # re-exports of re-exports: bounded (an import cycle of re-exports ends here)
# The LL1 rule of each kind of in-place site (for the noqa codes recorded at a write).
INPLACE_CODES = {"method": "LL101", "augassign": "LL102", "setitem": "LL103", "out": "LL104",
                 "inplace_fn": "LL105", "foreach": "LL106"}


@dataclass(frozen=True)
class Spot:
    """Where a write is, in another module: its file (relative to the project root), its span
    (row, column, end row, end column; columns 1-based), its target's text, the LL1 codes a
    suppression comment there silences, and the module of the call that passes the leaf."""

    file: str
    span: tuple[int, int, int, int]
    target: str
    noqa: tuple[str, ...] = ()
    caller: str = ""


def project_id(rel: str, name: str) -> str:
    return f"{rel}:{name}"


def _instance_data(value: ModuleInstance, local: Callable[[str], str]) -> dict:
    kind = value.kind
    if kind[0] == "local":
        kind = ("local", local(kind[1]))
    return {"kind": list(kind), "inplace": value.inplace, "frozen": value.frozen,
            "item": _instance_data(value.item, local) if value.item is not None else None}


def _instance(data: Optional[dict]) -> Optional[ModuleInstance]:
    if not data:
        return None
    return ModuleInstance(tuple(data["kind"]), data.get("inplace", False), data.get("frozen", False),  # type: ignore[arg-type]
                          _instance(data.get("item")))


def path_data(value: Optional[Value]) -> list:
    """The steps from a parameter to a write's target, innermost first: ``["attr", "P"]``,
    ``["key", "alpha"]``, ``["item"]``, ``["values"]``, ``["view"]``, ``["output"]``."""
    steps: list = []
    while not isinstance(value, Arg) and value is not None:
        if isinstance(value, Attr):
            steps.append(["attr", value.name])
        elif isinstance(value, Key):
            steps.append(["key", value.key])
        else:
            steps.append([{Item: "item", Values: "values", View: "view", Output: "output"}[type(value)]])
        value = value.base  # type: ignore[union-attr]
    steps.reverse()
    return steps


def path_from(root: Value, steps: list) -> Value:
    value = root
    for step in steps:
        kind = step[0]
        if kind == "attr":
            value = Attr(value, step[1])
        elif kind == "key":
            value = Key(value, step[1])
        else:
            value = {"item": Item, "values": Values, "view": View, "output": Output}[kind](value)
    return value


def value_data(value: Optional[Value], local: Callable[[str], str]) -> Optional[dict]:
    if isinstance(value, Fresh):
        return {"fresh": value.origin, "when": value.when}
    if isinstance(value, ModuleInstance):
        return {"module": _instance_data(value, local)}
    return None


def value_from(data: Optional[dict]) -> Optional[Value]:
    if not data:
        return None
    if "fresh" in data:
        return Fresh(data["fresh"], data.get("when"))
    return _instance(data.get("module"))


class ProjectView:
    """The index as one file's analysis sees it (see the module docstring)."""

    def __init__(self, rel: str, module: str, package: Optional[str], modules: dict[str, str],
                 summaries: dict[str, dict]) -> None:
        self.rel = rel
        self.module = module
        self.package = package
        self.modules = modules
        self.summaries = summaries
        self._classes: dict[str, Optional[ClassInfo]] = {}
        self._funcs: dict[str, Optional[FuncInfo]] = {}
        self._writes: dict[str, list] = {}
        self._replacements: dict[int, tuple[set[str], set]] = {}  # id of a FuncInfo built here -> LL304 facts

    # ------------------------------------------------------------ names
    def resolve(self, qual: Optional[str]) -> Optional[tuple[str, str]]:
        """``("class" | "function" | "module", project id or path)`` for a dotted name that an
        import of this file binds to a module of the project (or to a name inside one)."""
        if not qual or qual.startswith("."):
            return None
        parts = qual.split(".")
        for cut in range(len(parts), 0, -1):
            rel = self.modules.get(".".join(parts[:cut]))
            if rel is None:
                continue
            found: Optional[tuple[str, str]] = ("module", rel)
            for name in parts[cut:]:
                if found is None or found[0] != "module":
                    return None
                found = self._find(found[1], name)
            return found
        return None

    def _find(self, rel: str, name: str, hops: int = 0) -> Optional[tuple[str, str]]:
        summary = self.summaries.get(rel)
        if summary is None or hops > _MAX_HOPS:
            return None
        if name in summary.get("classes", ()):
            return "class", project_id(rel, name)
        if name in summary.get("functions", ()):
            return "function", project_id(rel, name)
        target = summary.get("exports", {}).get(name)
        if target is not None:
            if ":" in target:
                where, inner = target.rsplit(":", 1)
                return self._find(where, inner, hops + 1)
            return ("module", target) if target in self.summaries else None
        for star in summary.get("star", ()):
            found = self._find(star, name, hops + 1)
            if found is not None:
                return found
        return None

    def class_id(self, qual: Optional[str]) -> Optional[str]:
        found = self.resolve(qual)
        return found[1] if found is not None and found[0] == "class" else None

    def function_id(self, qual: Optional[str]) -> Optional[str]:
        found = self.resolve(qual)
        return found[1] if found is not None and found[0] == "function" else None

    def _entry(self, pid: str, section: str) -> Optional[dict]:
        rel, _, name = pid.rpartition(":")
        summary = self.summaries.get(rel)
        return summary.get(section, {}).get(name) if summary is not None else None

    # ------------------------------------------------------------ classes
    def class_info(self, pid: str) -> Optional[ClassInfo]:
        """The class ``pid`` as a ``ClassInfo`` (no syntax node: its facts come from the summary)."""
        if pid in self._classes:
            return self._classes[pid]
        data = self._entry(pid, "classes")
        info = None
        if data is not None:
            info = ClassInfo(pid, None, list(data.get("bases", ())))  # type: ignore[arg-type]
            info.params = dict(data.get("params", {}))
            info.buffers = set(data.get("buffers", ()))
            info.submodules = {k: m for k, v in data.get("submodules", {}).items()
                               if (m := _instance(v)) is not None}
            info.frozen = set(data.get("frozen", ()))
            info.frozen_when = dict(data.get("frozen_when", {}))
            info.frozen_all = bool(data.get("frozen_all"))
            info.deleted_params = set(data.get("deleted", ()))
            info.containers = set(data.get("containers", ()))
            info.is_autograd_function = bool(data.get("autograd_function"))
            info.has_forward = bool(data.get("forward"))
            info.is_parameter_class = bool(data.get("parameter_class"))
            info.defines_new = bool(data.get("defines_new"))
            for name, method in data.get("methods", {}).items():
                func = FuncInfo(name=name, node=None, cls=info, parent=None)
                func.params = list(method.get("params", ()))
                func.self_name = method.get("self")
                func.star = method.get("star")
                info.methods[name] = [func]
                self._replacements[id(func)] = _replacement_facts(method)
        self._classes[pid] = info
        return info

    def class_stores(self, pid: str) -> dict[str, str]:
        """The attributes ``__init__`` of the class ``pid`` binds to its parameters (``model.reach``)."""
        data = self._entry(pid, "classes")
        return dict(data.get("stores", {})) if data is not None else {}

    def replacement_of(self, func: FuncInfo) -> Optional[tuple[set[str], set]]:
        """For a function or method of another module (built here from its summary): the
        parameters whose state it replaces, and the methods it calls on paths rooted in its
        parameters (``model.optimizers``, ``model.reach``)."""
        return self._replacements.get(id(func))

    # ------------------------------------------------------------ functions
    def returns(self, pid: str) -> Optional[Value]:
        data = self._entry(pid, "functions")
        return value_from(data.get("returns")) if data is not None else None

    def function_info(self, pid: str) -> Optional[FuncInfo]:
        if pid in self._funcs:
            return self._funcs[pid]
        data = self._entry(pid, "functions")
        info = None
        if data is not None:
            info = FuncInfo(name=pid.rpartition(":")[2], node=None, cls=None, parent=None)
            info.params = list(data.get("params", ()))
            info.star = data.get("star")
            info.grad_params = set(data.get("grad_params", ()))
            info.output_hooks = [(h[0], h[1]) for h in data.get("output_hooks", ())]
            self._replacements[id(info)] = _replacement_facts(data)
        self._funcs[pid] = info
        return info

    def function_setattrs(self, pid: str) -> list:
        """The ``setattr`` calls of ``pid`` on its parameters (``leaflint.model.named_slots``)."""
        func = self.function_info(pid)
        data = self._entry(pid, "functions") or {}
        flows = []
        for item in data.get("setattrs", ()) if func is not None else ():
            at = item["at"]
            spot = Spot(at["file"], tuple(at["span"]), at["target"], tuple(at.get("noqa", ())), self.module)  # type: ignore[arg-type]
            flow = setattr_flow_from(item, func, spot)
            if flow is not None:
                flows.append(flow)
        return flows

    def function_writes(self, pid: str) -> list["ParamWrite"]:
        """The in-place writes of ``pid`` into its parameters, as the summaries module reads them."""
        if pid in self._writes:
            return self._writes[pid]
        import libcst as cst

        from leaflint.model.summaries import ParamWrite

        func = self.function_info(pid)
        data = self._entry(pid, "functions") or {}
        writes = []
        for write in data.get("writes", ()) if func is not None else ():
            target: Value = path_from(Arg(write["param"]), write.get("path", [["view"]] * write.get("views", 0)))
            grad = Grad.ON if write.get("grad") == "on" else Grad.INHERIT
            at = write["at"]
            try:
                target_node = cst.parse_expression(at["target"])
            except cst.ParserSyntaxError:
                continue
            spot = Spot(at["file"], tuple(at["span"]), at["target"], tuple(at.get("noqa", ())),  # type: ignore[arg-type]
                        self.module)
            handled = frozenset(write.get("handled", ()))
            ctx = Context(func, grad, None, handled=handled)  # type: ignore[arg-type]
            site = InplaceSite(write["kind"], target_node, target, target_node, write["detail"], ctx, foreign=spot)
            writes.append(ParamWrite(target, site, grad, handled))
        self._writes[pid] = writes
        return writes


def _replacement_facts(data: dict) -> tuple[set[str], set]:
    return (set(data.get("replaces", ())),
            {(r[0], tuple(r[1]), r[2]) for r in data.get("reaches", ()) if isinstance(r, list) and len(r) == 3})


def _replacement_data(func: FuncInfo, found: dict[int, set[str]], reach: dict[int, set]) -> dict:
    return {"replaces": sorted(found.get(id(func), ())),
            "reaches": sorted([root, list(chain), method] for root, chain, method in reach.get(id(func), ()))}


def setattr_flow_data(flow: SetattrFlow) -> Optional[dict]:
    """A flow as the project index keeps it (without where it is: the caller adds ``at``), or
    None when its value is neither a parameter nor a plain tensor."""
    from leaflint.model.summaries import arg_root
    from leaflint.model.values import PlainTensor

    root = arg_root(flow.owner)
    if root is None:
        return None
    if isinstance(flow.value, Arg):
        value = ["arg", flow.value.name]
    elif isinstance(flow.value, PlainTensor):
        value = ["plain"]
    else:
        return None
    return {"owner": root.name, "path": path_data(flow.owner), "name": flow.name, "value": value,
            "undotted": flow.undotted, "handled": sorted(flow.assign.ctx.handled)}


def setattr_flow_from(data: dict, func: FuncInfo, spot: object) -> Optional[SetattrFlow]:
    """The flow of a function of another module, from its summary (``setattr_flow_data`` and ``at``)."""
    import libcst as cst

    from leaflint.model.facts import AttrAssign
    from leaflint.model.named_slots import SetattrFlow
    from leaflint.model.values import PlainTensor

    try:
        node = cst.parse_expression(data["at"]["target"])
    except cst.ParserSyntaxError:
        return None
    if not isinstance(node, cst.Call) or len(node.args) != 3:
        return None
    value = data.get("value") or []
    given: Optional[Value] = Arg(value[1]) if value[:1] == ["arg"] and len(value) == 2 else \
        PlainTensor() if value == ["plain"] else None
    if given is None:
        return None
    owner = path_from(Arg(data["owner"]), data.get("path", []))
    ctx = Context(func, Grad.INHERIT, None, handled=frozenset(data.get("handled", ())))
    assign = AttrAssign(node, None, node.args[0].value, "<name>", given, node.args[2].value, ctx, Arg(data["name"]))
    return SetattrFlow(owner, data["name"], given, bool(data.get("undotted")), assign, spot)


class ClassTable(dict):
    """This file's classes by name, and the project's classes by id (built when first asked).

    Iterating it (``values()``) gives this file's classes only."""

    def __init__(self, view: Optional[ProjectView]) -> None:
        super().__init__()
        self.view = view

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if self.view is not None and isinstance(key, str) and ":" in key:
            info = self.view.class_info(key)
            if info is not None:
                return info
        return default

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: Any) -> Any:
        info = self.get(key)
        if info is None:
            raise KeyError(key)
        return info


# ---------------------------------------------------------------- this module's summary
def summarise(model: "SemanticModel", rel: str, where: Callable[[Any], tuple[int, int, int, int]],
              noqa: Callable[[str, tuple[int, int, int, int]], bool]) -> dict:
    """The summary of the module ``model`` analysed (see the module docstring). ``where(node)``
    gives a node's span; ``noqa(code, span)`` whether a suppression comment silences the code
    there."""
    from leaflint.model.flow import common_return
    from leaflint.model.optimizers import replacement_summary
    from leaflint.model.reach import stores
    from leaflint.model.summaries import arg_root

    found, reach = replacement_summary(model)

    local_classes = {name for name, info in dict.items(model.classes) if info.node is not None}

    def local(name: str) -> str:
        return project_id(rel, name) if name in local_classes else name

    classes = {}
    for name in local_classes:
        info = model.classes[name]
        classes[name] = {
            "bases": [local(b) for b in info.bases],
            "params": dict(info.params),
            "buffers": sorted(info.buffers),
            "submodules": {k: _instance_data(v, local) for k, v in sorted(info.submodules.items())},
            "frozen": sorted(info.frozen),
            "frozen_when": dict(sorted(info.frozen_when.items())),
            "frozen_all": info.frozen_all,
            "deleted": sorted(info.deleted_params),
            "containers": sorted(info.containers),
            "autograd_function": info.is_autograd_function,
            "forward": info.has_forward,
            "parameter_class": info.is_parameter_class,
            "defines_new": info.defines_new,
            "stores": dict(sorted(stores(model, info).items())),
            "methods": {m: {"params": list(defs[0].params), "self": defs[0].self_name, "star": defs[0].star,
                            **_replacement_data(defs[0], found, reach)}
                        for m, defs in sorted(info.methods.items()) if len(defs) == 1},
        }
    functions = {}
    for name, defs in model.module_functions().items():
        if len(defs) != 1:
            continue
        func = defs[0]
        writes = []
        for write in model.param_writes.get(id(func), ()):
            root = arg_root(write.target)
            if root is None:
                continue
            site = write.site
            if site.foreign is not None:
                spot = site.foreign
                at = {"file": spot.file, "span": list(spot.span), "target": spot.target, "noqa": list(spot.noqa)}
            else:
                span = where(site.node)
                code = INPLACE_CODES.get(site.kind, "")
                at = {"file": rel, "span": list(span), "target": model.text(site.target_node),
                      "noqa": [code] if code and noqa(code, span) else []}
            writes.append({"param": root.name, "path": path_data(write.target), "kind": site.kind, "detail": site.detail,
                           "grad": "on" if write.grad is Grad.ON else "inherit",
                           "handled": sorted(write.handled), "at": at})
        setattrs = []
        for flow in model.setattr_flows.get(id(func), ()):
            item = setattr_flow_data(flow)
            if item is None:
                continue
            if flow.foreign is not None:
                spot = flow.foreign
                item["at"] = {"file": spot.file, "span": list(spot.span), "target": spot.target, "noqa": list(spot.noqa)}
            else:
                span = where(flow.assign.node)
                item["at"] = {"file": rel, "span": list(span), "target": model.text(flow.assign.node),
                              "noqa": ["LL303"] if noqa("LL303", span) else []}
            setattrs.append(item)
        functions[name] = {"params": list(func.params), "star": func.star, "writes": writes, "setattrs": setattrs,
                           "returns": value_data(common_return(func.returns), local),
                           "grad_params": sorted(func.grad_params),  # leaflint.model.hooks
                           "output_hooks": [list(h) for h in func.output_hooks],
                           **_replacement_data(func, found, reach)}
    return {"classes": classes, "functions": functions}
