"""The model's read-only walk makes libcst's visitor callbacks in libcst's order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import libcst as cst
import pytest

from leaflint.model.walk import is_token, walk

ROOT = Path(__file__).resolve().parent.parent
NODE_TYPES = [t for t in vars(cst).values()
              if isinstance(t, type) and issubclass(t, cst.CSTNode) and dataclasses.is_dataclass(t)]


def _recorder_class() -> type:
    """A CSTVisitor with visit_/leave_ callbacks for every node type and field, recording them."""

    def hook(label):
        def method(self, node):
            if not is_token(type(node)):
                self.events.append((label, id(node)))
        return method

    namespace = {"__init__": lambda self: (cst.CSTVisitor.__init__(self), setattr(self, "events", []))[0]}
    for kind in NODE_TYPES:
        if is_token(kind):
            continue
        name = kind.__name__
        namespace[f"visit_{name}"] = hook(f"visit_{name}")
        namespace[f"leave_{name}"] = hook(f"leave_{name}")
        for item in dataclasses.fields(kind):
            namespace[f"visit_{name}_{item.name}"] = hook(f"visit_{name}_{item.name}")
            namespace[f"leave_{name}_{item.name}"] = hook(f"leave_{name}_{item.name}")
    return type("Recorder", (cst.CSTVisitor,), namespace)


Recorder = _recorder_class()


def callbacks_of_libcst(module: cst.Module) -> list:
    recorder = Recorder()
    module.visit(recorder)
    return recorder.events


def callbacks_of_walk(module: cst.Module) -> list:
    recorder = Recorder()
    walk(module, recorder, [])
    return recorder.events


def _sources() -> list[Path]:
    return sorted(p for p in list((ROOT / "fixtures").rglob("*.py")) + list((ROOT / "leaflint").rglob("*.py")))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_walk_makes_libcst_callbacks_in_order(path: Path) -> None:
    module = cst.parse_module(path.read_bytes())
    libcst_events = callbacks_of_libcst(module)
    # field callbacks of token-only fields are not made by walk: drop them from libcst's side
    walked = callbacks_of_walk(module)
    walked_labels = {label for label, _ in walked}
    expected = [e for e in libcst_events if not e[0].startswith(("visit_", "leave_")) or e[0].count("_") == 1
                or e[0] in walked_labels or not _token_field(e[0])]
    assert walked == expected


def _token_field(label: str) -> bool:
    _, name, field = label.split("_", 2)
    types = {item.name: item.type for item in dataclasses.fields(getattr(cst, name))}
    from leaflint.model.walk import _token_only

    return _token_only(types.get(field))


def test_walk_skips_children_when_visit_returns_false() -> None:
    class NoCalls(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def visit_Call(self, node: cst.Call) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            self.names.append(node.value)

    module = cst.parse_module("a = f(b, c)\nd = e\n")
    expected, walked = NoCalls(), NoCalls()
    module.visit(expected)
    walk(module, walked, [])
    assert walked.names == expected.names == ["a", "d", "e"]


def test_parents_hold_the_ancestors_during_visit_and_not_during_leave() -> None:
    class Spy(cst.CSTVisitor):
        def __init__(self, parents: list) -> None:
            super().__init__()
            self.parents = parents
            self.seen: list = []

        def visit_Call(self, node: cst.Call) -> None:
            self.seen.append(("visit", [type(p).__name__ for p in self.parents]))

        def leave_Call(self, node: cst.Call) -> None:
            self.seen.append(("leave", [type(p).__name__ for p in self.parents]))

    parents: list = []
    spy = Spy(parents)
    walk(cst.parse_module("f(x)\n"), spy, parents)
    chain = ["Module", "SimpleStatementLine", "Expr", "Call"]
    assert spy.seen == [("visit", chain), ("leave", chain[:-1])]
    assert parents == []
