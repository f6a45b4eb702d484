"""One run of the checker with the project index: the files to check and the project modules they
import (read, scanned, never imported), analysed wave by wave (``order.waves``), each file's
findings and summary from the cache or from one parse (``engine``: in this process or in a pool
of workers per wave), the summaries shared with the next waves through ``PROJECT_SUMMARIES``.

A module that is not checked but is imported by one that is (a one-file run: pre-commit passes
only the changed files) is analysed for its summary alone; its findings are not reported, but
are cached like any file's, so the next run reads them from the cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from leaflint import engine
from leaflint.cache import Cache
from leaflint.files import Discovery
from leaflint.index.layout import Imports, Layout
from leaflint.index.order import digest, waves
from leaflint.source import UnreadableSource, decode, read_bytes


@dataclass
class Node:
    rel: str
    path: str  # as the user named it (checked files) or absolute (imported modules)
    data: bytes
    text: str
    imports: Imports
    may_hold: bool  # passes the prefilter: parsed (else its summary is its imports alone)


class IndexRun:
    def __init__(self, root: str, discovery: Optional[Discovery] = None, cache: Optional[Cache] = None) -> None:
        self.layout = Layout(root, discovery)
        self.cache = cache
        self.nodes: dict[str, Node] = {}
        self.digests: dict[str, str] = {}
        self.summaries: dict[str, dict] = {}

    def node(self, rel: str, path: str, data: Optional[bytes] = None) -> Optional[Node]:
        if rel in self.nodes:
            return self.nodes[rel]
        try:
            if data is None:
                data = read_bytes(path)
            text = decode(data).text
        except (OSError, UnreadableSource):
            return None  # a checked file gets its LL002 from the plain pipeline
        node = Node(rel, path, data, text, self.layout.imports(path, text), engine.PREFILTER.search(text) is not None)
        self.nodes[rel] = node
        return node

    def request(self, node: Node, reads: list[str]) -> engine.IndexRequest:
        module, package = self.layout.module_of(node.path)
        return engine.IndexRequest(self.layout.root, node.rel, module, package, dict(node.imports.modules),
                                   "".join(self.digests[d] for d in reads))

    def publish(self, node: Node, summary: Optional[dict], reads: list[str]) -> None:
        """Make a module's summary (with what its imports re-export) readable by the next waves."""
        full = dict(summary or {})
        full["exports"] = node.imports.exports
        full["star"] = node.imports.star
        self.summaries[node.rel] = full
        engine.PROJECT_SUMMARIES[node.rel] = full
        self.digests[node.rel] = digest(full, (self.digests[d] for d in reads))

    def lint(self, items: list, results: list, jobs: int, progress: Optional[Callable[[int], None]]) -> set[int]:
        """Fill ``results`` for the items (``(path, codes, None)``) that are Python files under the
        root; returns their indexes (the caller lints the others as before)."""
        checked: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}
        for index, (path, codes, _) in enumerate(items):
            rel = self.layout.rel(path)
            if rel is None:
                continue
            try:
                data = read_bytes(path)
            except OSError:
                continue
            if self.node(rel, path, data) is not None:
                checked.setdefault(rel, []).append((index, path, codes))
        if not checked:
            return set()
        handled: set[int] = set()
        try:
            self._analyse(list(checked), checked, items[next(iter(checked.values()))[0][0]][1], results, handled,
                          jobs, progress)
        finally:
            engine.PROJECT_SUMMARIES.clear()
        return handled

    def _closure(self, rels: list[str]) -> None:
        todo = list(rels)
        while todo:
            for dep in self.nodes[todo.pop()].imports.deps:
                if dep not in self.nodes and self.node(dep, self.layout.path(dep)) is not None:
                    todo.append(dep)

    def _analyse(self, rels: list[str], checked: dict, codes: tuple[str, ...], results: list, handled: set[int],
                 jobs: int, progress: Optional[Callable[[int], None]]) -> dict[str, list[str]]:
        """Summaries (and, for ``checked`` files, findings) of ``rels`` and of what they import,
        for every module not summarised yet; returns what each module reads."""
        self._closure(rels)
        order, reads = waves({rel: [d for d in node.imports.deps if d in self.nodes] for rel, node in self.nodes.items()})
        engine.PROJECT_SUMMARIES.clear()
        engine.PROJECT_SUMMARIES.update(self.summaries)
        for wave in order:
            wave = [rel for rel in wave if rel not in self.digests or rel in checked]
            if wave:
                self._wave(wave, reads, checked, codes, results, handled, jobs, progress)
        return reads

    # ---------------------------------------------------------------- the editor server
    def request_for(self, path: str, text: str, codes: tuple[str, ...]) -> Optional[engine.IndexRequest]:
        """The index request of a document (its unsaved ``text``), every project module it
        imports summarised first (from the cache, or analysed in this process);
        ``PROJECT_SUMMARIES`` then holds what it reads. None outside the root."""
        rel = self.layout.rel(path)
        if rel is None:
            return None
        imports = self.layout.imports(path, text)
        deps = []
        for dep in imports.deps:
            if dep == rel or self.node(dep, self.layout.path(dep)) is not None:
                deps.append(dep)
        self._analyse([d for d in deps if d != rel], {}, codes, [], set(), 1, None)
        module, package = self.layout.module_of(path)
        own = [d for d in deps if d != rel and d in self.digests]
        return engine.IndexRequest(self.layout.root, rel, module, package, dict(imports.modules),
                                   "".join(self.digests[d] for d in own))

    def forget(self, path: str) -> None:
        """A file changed on disk (saved): its entry, and the summaries of every module that read
        it (directly or not), are computed again when next needed."""
        rel = self.layout.rel(path)
        if rel is None:
            return
        stale = {rel}
        changed = True
        while changed:
            changed = False
            for other, node in self.nodes.items():
                if other not in stale and stale.intersection(node.imports.deps):
                    stale.add(other)
                    changed = True
        self.nodes.pop(rel, None)
        for other in stale:
            self.digests.pop(other, None)
            self.summaries.pop(other, None)

    def _wave(self, wave: list[str], reads: dict[str, list[str]], checked: dict, default_codes: tuple[str, ...],
              results: list, handled: set[int], jobs: int, progress: Optional[Callable[[int], None]]) -> None:
        parse: list = []  # (path, codes, request) to lint in this wave
        owners: list[tuple[str, Optional[int]]] = []  # (rel, index in results or None)
        summaries: dict[str, Optional[dict]] = {}
        for rel in wave:
            node = self.nodes[rel]
            targets = checked.get(rel) or [(None, node.path, default_codes)]
            if not node.may_hold:  # no rule finding possible: no parse, its imports are its summary
                summaries[rel] = {}
                for index, path, _ in targets:
                    if index is not None:
                        results[index] = engine.FileResult(path, engine.syntax_errors(node.text, path))
                        handled.add(index)
                        if progress is not None:
                            progress(1)
                continue
            request = self.request(node, reads[rel])
            for index, path, codes in targets:
                entry = None
                if self.cache is not None:
                    key = self.cache.keys(codes).key(node.data, path, request.extra)
                    entry = self.cache.get_entry(key, path, self.layout.root)
                if entry is not None and entry[1] is not None:
                    summaries.setdefault(rel, entry[1])
                    if index is not None:
                        results[index] = engine.FileResult(path, entry[0])
                        handled.add(index)
                        if progress is not None:
                            progress(1)
                    continue
                parse.append((path, codes, request))
                owners.append((rel, index))
        if parse:
            out: list = [None] * len(parse)
            todo = [(i, len(self.nodes[rel].data)) for i, (rel, _) in enumerate(owners)]
            engine.parse_all(parse, todo, out, jobs, None, self.cache)
            for (rel, index), result in zip(owners, out):
                if result.summary is not None:
                    summaries.setdefault(rel, result.summary)
                if index is not None:
                    results[index] = result
                    handled.add(index)
                    if progress is not None:
                        progress(1)
        for rel in wave:
            self.publish(self.nodes[rel], summaries.get(rel), reads[rel])
