"""leaflint.positions gives exactly libcst's PositionProvider ranges, generating one statement."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from leaflint.model.walk import children
from leaflint.positions import Positions

ROOT = Path(__file__).resolve().parent.parent

TRICKY = {
    "crlf": "import torch\r\nclass M:\r\n    def f(self):\r\n        x = 1\r\n        return x\r\n",
    "tabs": "class M:\n\tdef f(self):\n\t\tif x:\n\t\t\ty = 2\n\t\treturn y\n",
    "mixed indents": "class M:\n  def f(self):\n      for a in b:\n         c = a\n  def g(self): return 1\n",
    "decorators and comments": (
        "# header\n\n\nimport torch\n\n# before the decorator\n@torch.no_grad()\n# between\n\n@staticmethod\n"
        "def f(w):\n    # inside\n    w.add_(1)  # trailing\n"),
    "semicolons": "a = 1; b = 2; c = 3\nif a: d = 4; e = 5\nx = [\n  1,\n  2]; y = x\n",
    "nested blocks": (
        "class A:\n    class B:\n        def f(self):\n            with g() as h:\n                while h:\n"
        "                    try:\n                        pass\n                    except E:\n                        q = 1\n"
        "                    else:\n                        r = 2\n                    finally:\n                        s = 3\n"),
    "if elif else": "if a:\n    b = 1\nelif c:\n    d = 2\nelse:\n    e = 3\n",
    "async": "async def f():\n    async with a as b:\n        async for c in b:\n            await c\n",
    "match": "match x:\n    case [a, b]:\n        y = a\n    case _:\n        y = 0\n",
    "strings and continuations": (
        'def f():\n    s = """\n  text\n"""; t = 1 + \\\n        2\n    u = (1,\n'
        '         2)\n    return f"{s!r:>{t}}"\n'),
    "no trailing newline": "def f():\n    return 1",
    "form feed": "def f():\n    return 1\n\x0c\ndef g():\n    return 2\n",
    "try star": "try:\n    a()\nexcept* E as e:\n    b = e\n",
    "empty lines in blocks": "class M:\n\n    x = 1\n\n\n    def f(self):\n\n        # c\n        return 2\n",
}


def _nodes(module: cst.Module) -> list[cst.CSTNode]:
    found, stack = [], [module]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children(node))
    return found[1:]


def _check(text: str) -> Positions:
    module = cst.parse_module(text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = Positions(module, text)
    for node in _nodes(module):
        assert positions[node] == expected[node], (type(node).__name__, module.code_for_node(node))
    return positions


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_sources(name: str) -> None:
    positions = _check(TRICKY[name])
    assert not positions._whole, "fell back to the whole-module provider"


@pytest.mark.parametrize("path", sorted((ROOT / "fixtures").rglob("*.py")), ids=lambda p: p.name)
def test_fixtures(path: Path) -> None:
    assert not _check(path.read_text(encoding="utf-8"))._whole


def test_one_statement_is_generated_for_a_node_in_a_method() -> None:
    text = "class M:\n    def f(self):\n        a = 1\n        b = 2\n    def g(self):\n        c = 3\n"
    module = cst.parse_module(text)
    positions = Positions(module, text)
    method = module.body[0].body.body[0]
    second = method.body.body[1]
    assert positions[second.body[0].value].start.line == 4
    assert len(positions._done) == 1
    assert method not in positions._computed and module.body[0] not in positions._computed


def test_parentheses_of_a_node_come_with_it() -> None:
    text = "def f():\n    return (\n        (x))\n"
    module = cst.parse_module(text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = Positions(module, text)
    name = module.body[0].body.body[0].body[0].value
    assert positions[name] == expected[name]
    assert positions[name.lpar[0]] == expected[name.lpar[0]] and positions[name.rpar[-1]] == expected[name.rpar[-1]]


def test_a_text_that_is_not_the_module_s_falls_back_to_the_whole_module() -> None:
    text = "def f():\n    return 1\n"
    module = cst.parse_module(text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = Positions(module, text.replace("1", "2"))  # the regenerated code does not match
    node = module.body[0].body.body[0]
    assert positions[node] == expected[node]
    assert positions._whole
