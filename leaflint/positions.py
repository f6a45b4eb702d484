"""Where nodes are in the source: libcst's ``PositionProvider`` ranges, for a few nodes, cheaply.

libcst nodes carry no positions: ``PositionProvider`` regenerates the whole module's code to
find them, which costs about twice the parse. A file with findings needs the positions of a
handful of nodes, so ``Positions`` regenerates only the statement that holds each one:

* the statement is the innermost one reached through the bodies of ``def``, ``class``, ``if``,
  ``for``, ``while``, ``with`` and ``try`` blocks (so a finding in a method costs the code of
  one statement of that method, not of the file);
* its first line comes from Python's ``ast`` of the same text (the statement's ``lineno``, or
  its first decorator's) minus the comment and blank lines libcst keeps in front of it; the
  indentation is the enclosing blocks' own;
* libcst's own ``PositionProvidingCodegenState`` then generates that statement from that line,
  so every range is exactly what ``PositionProvider`` gives;
* and the generated text must equal the source at that place. If it does not (or anything
  cannot be matched with the ``ast``), this file falls back to the whole-module provider.
"""

from __future__ import annotations

import ast
import types
import warnings
from typing import Optional

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvidingCodegenState

from leaflint.model.walk import children

# libcst compound statement -> the ast classes it can be (for the check that the two agree)
_AST_KIND: dict[type, tuple[type, ...]] = {
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.ClassDef: (ast.ClassDef,),
    cst.If: (ast.If,),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith),
    cst.Try: (ast.Try,),
    cst.TryStar: (ast.TryStar,),
    cst.Match: (ast.Match,),
}


class _Mismatch(Exception):
    """The libcst tree and the ast, or the regenerated code and the source, disagree."""


class Positions:
    """``positions[node]`` is the ``CodeRange`` libcst's ``PositionProvider`` gives ``node``."""

    def __init__(self, module: cst.Module, text: str) -> None:
        self.module = module
        self.text = text
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        self._parents: Optional[dict[int, cst.CSTNode]] = None
        self._tree: Optional[ast.Module] = None
        self._line_starts: Optional[list[int]] = None
        self._done: set[int] = set()  # ids of the statements already generated
        self._whole = False

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is None:
            if not self._whole:
                try:
                    self._generate_statement_of(node)
                except Exception:  # _Mismatch, a SyntaxError of ast, or a surprise: the sure way
                    self._generate_module()
            found = self._computed.get(node)
            if found is None and not self._whole:
                self._generate_module()
                found = self._computed.get(node)
            if found is None:
                raise KeyError(node)
        return found

    # ------------------------------------------------------------------------------------------
    def _generate_module(self) -> None:
        self._computed.update(MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider))
        self._whole = True

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The node's parent (among the nodes that hold code: no whitespace or punctuation)."""
        if self._parents is None:
            parents: dict[int, cst.CSTNode] = {}
            stack: list[cst.CSTNode] = [self.module]
            while stack:
                up = stack.pop()
                for child in children(up):
                    parents[id(child)] = up
                    stack.append(child)
            self._parents = parents
        return self._parents.get(id(node))

    def _generate_statement_of(self, node: cst.CSTNode) -> None:
        chain = [node]
        while chain[-1] is not self.module:
            up = self.parent(chain[-1])
            if up is None:
                raise _Mismatch("not in the module")  # a token, or a node of another tree
            chain.append(up)
        chain.reverse()  # module ... node
        if self._tree is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._tree = ast.parse(self.text)
        body, ast_body, indents = list(self.module.body), self._tree.body, []
        depth = 1
        while True:
            statement = chain[depth]
            counterpart = _counterpart(body, ast_body, statement)
            block = getattr(statement, "body", None)
            if (depth + 2 < len(chain) and chain[depth + 1] is block and isinstance(block, cst.IndentedBlock)
                    and type(statement) in _AST_KIND):
                indents.append(self.module.default_indent if block.indent is None else block.indent)
                body, ast_body, depth = list(block.body), counterpart.body, depth + 2
                continue
            break
        if id(statement) in self._done:
            raise _Mismatch("generated, yet the node has no range")
        self._generate(statement, counterpart, indents)
        self._done.add(id(statement))

    def _generate(self, statement: cst.CSTNode, counterpart: ast.stmt, indents: list[str]) -> None:
        decorators = getattr(statement, "decorators", ())
        if decorators:
            first = counterpart.decorator_list[0].lineno  # type: ignore[attr-defined]
            before = len(statement.leading_lines) + len(decorators[0].leading_lines)
        else:
            first = counterpart.lineno
            before = len(statement.leading_lines)
        start_line = first - before
        computed: dict[cst.CSTNode, CodeRange] = {}
        state = PositionProvidingCodegenState(
            default_indent=self.module.default_indent, default_newline=self.module.default_newline,
            provider=types.SimpleNamespace(_computed=computed))
        state.indent_tokens = list(indents)
        state.line = start_line
        state.column = 0
        statement._codegen(state)
        code = "".join(state.tokens)
        starts = self._starts()
        if not 1 <= start_line <= len(starts):
            raise _Mismatch("line out of range")
        offset = starts[start_line - 1]
        if self.text[offset:offset + len(code)] != code:
            # the file's last statement, without the newline libcst drops at the end of a file
            last = state.tokens[-1] if state.tokens else ""
            if (self.module.has_trailing_newline or not NEWLINE_RE.fullmatch(last)
                    or self.text[offset:] != code[:-len(last)]):
                raise _Mismatch("the regenerated statement differs from the source")
        self._computed.update(computed)

    def _starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0] + [match.end() for match in NEWLINE_RE.finditer(self.text)]
        return self._line_starts


def _counterpart(body: list[cst.CSTNode], ast_body: list[ast.stmt], statement: cst.CSTNode) -> ast.stmt:
    """The ast statement that ``statement`` of ``body`` starts with."""
    index = 0
    for item in body:
        if item is statement:
            break
        index += len(item.body) if isinstance(item, cst.SimpleStatementLine) else 1
    else:
        raise _Mismatch("statement not in its block")
    if index >= len(ast_body):
        raise _Mismatch("the ast has fewer statements")
    found = ast_body[index]
    expected = _AST_KIND.get(type(statement))
    if expected is not None and not isinstance(found, expected):
        raise _Mismatch("the ast statement is of another kind")
    if expected is None and isinstance(found, tuple(k for kinds in _AST_KIND.values() for k in kinds)):
        raise _Mismatch("a compound ast statement for a simple one")
    return found
