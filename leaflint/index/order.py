"""The order of analysis over the import graph, and summary digests (see
``leaflint/index/__init__.py``)."""

from __future__ import annotations

from typing import Iterable

try:  # the builtin module (see leaflint/cache.py)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b


def digest(text: str, dep_digests: Iterable[str]) -> str:
    """A summary's digest: its canonical JSON text (``store.canonical``) and the digests of the
    summaries it was computed from."""
    h = blake2b(text.encode(), digest_size=16)
    for item in dep_digests:
        h.update(item.encode())
    return h.hexdigest()


def waves(deps: dict[str, list[str]]) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The order of analysis: waves of files, each after the waves of what its files read; and,
    per file, the modules it reads (its imports, minus the members of its own import cycle whose
    paths sort after its own). ``deps`` maps every file to its imports (all keys of ``deps``)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = 0
    for start in sorted(deps):
        if start in index:
            continue
        work = [(start, iter(deps[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in deps:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(deps[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = index[node]
                    if member == node:
                        break
    reads = {node: [d for d in deps[node] if d in deps and d != node
                    and (component[d] != component[node] or d < node)] for node in deps}
    level: dict[str, int] = {}
    for node in sorted(deps):
        todo = [node]
        while todo:
            current = todo[-1]
            if current in level:
                todo.pop()
                continue
            missing = [d for d in reads[current] if d not in level]
            if missing:
                todo.extend(missing)
                continue
            level[current] = 1 + max((level[d] for d in reads[current]), default=-1)
            todo.pop()
    grouped: dict[int, list[str]] = {}
    for node, depth in level.items():
        grouped.setdefault(depth, []).append(node)
    return [sorted(grouped[d]) for d in sorted(grouped)], reads
