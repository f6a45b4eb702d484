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
from leaflint.cache import Cache, content_digest
from leaflint.files import Discovery
from leaflint.findings import UNREADABLE
from leaflint.index.layout import Imports, Layout, scan
from leaflint.index.order import digest, waves
from leaflint.index.store import Facts, IndexStore, canonical
from leaflint.source import UnreadableSource, decode, read_bytes


@dataclass
class Node:
    rel: str
    path: str  # as the user named it (checked files) or absolute (imported modules)
    digest: str  # leaflint.cache.content_digest of its bytes
    imports: Imports
    may_hold: bool  # passes the prefilter: parsed (else its summary is its imports alone)
    text: Optional[str] = None  # when read in this run


class IndexRun:
    def __init__(self, root: str, discovery: Optional[Discovery] = None, cache: Optional[Cache] = None) -> None:
        self.layout = Layout(root, discovery)
        self.cache = cache
        self.store = IndexStore(cache, self.layout.root)
        self.nodes: dict[str, Node] = {}
        self.digests: dict[str, str] = {}
        self.summaries: dict[str, dict] = {}

    def node(self, rel: str, path: str) -> Optional[Node]:
        """The module's node: from the index's entry when its file's signature is unchanged
        (``leaflint/index/store.py``), else read, hashed and scanned. None when unreadable."""
        if rel in self.nodes:
            return self.nodes[rel]
        try:
            st = os.stat(path)  # before reading: a write after it changes what is recorded next
        except OSError:
            st = None
        facts = self.store.known(rel, st) if st is not None else None
        text = None
        if facts is None:
            try:
                data = read_bytes(path)
                text = decode(data).text
            except (OSError, UnreadableSource):
                self.store.forget(rel)
                return None  # a checked file gets its LL002 from the plain pipeline
            facts = Facts(content_digest(data), engine.PREFILTER.search(text) is not None, scan(text))
            self.store.remember(rel, st, facts)
        node = Node(rel, path, facts.digest, self.layout.resolve_all(path, facts.scanned), facts.may_hold, text)
        self.nodes[rel] = node
        return node

    def request(self, node: Node, reads: list[str]) -> engine.IndexRequest:
        module, package = self.layout.module_of(node.path)
        return engine.IndexRequest(self.layout.root, node.rel, module, package, dict(node.imports.modules),
                                   "".join(self.digests[d] for d in reads))

    def publish(self, node: Node, summary: Optional[dict], reads: list[str], text: Optional[str] = None) -> None:
        """Make a module's summary (with what its imports re-export) readable by the next waves;
        ``text``: the summary's ``canonical`` text, when known."""
        summary = summary or {}
        full = dict(summary)
        full["exports"] = node.imports.exports
        full["star"] = node.imports.star
        self.summaries[node.rel] = full
        engine.PROJECT_SUMMARIES[node.rel] = full
        said = (text if text is not None else canonical(summary)) + "\0" + canonical(
            {"exports": node.imports.exports, "star": node.imports.star})
        self.digests[node.rel] = digest(said, (self.digests[d] for d in reads))

    def lint(self, items: list, results: list, jobs: int, progress: Optional[Callable[[int], None]]) -> set[int]:
        """Fill ``results`` for the items (``(path, codes, None)``) that are Python files under the
        root; returns their indexes (the caller lints the others as before)."""
        checked: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}
        for index, (path, codes, _) in enumerate(items):
            rel = self.layout.rel(path)
            if rel is None:
                continue
            if self.node(rel, path) is not None:
                checked.setdefault(rel, []).append((index, path, codes))
        if not checked:
            return set()
        handled: set[int] = set()
        try:
            self._analyse(list(checked), checked, items[next(iter(checked.values()))[0][0]][1], results, handled,
                          jobs, progress)
        finally:
            engine.PROJECT_SUMMARIES.clear()
            self.store.save()
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
        summaries: dict[str, dict] = {}
        texts: dict[str, str] = {}  # canonical texts of the summaries read from the index's entry
        summary_keys: dict[str, str] = {}

        def done(index: Optional[int], result: engine.FileResult) -> None:
            if index is not None:
                results[index] = result
                handled.add(index)
                if progress is not None:
                    progress(1)

        for rel in wave:
            node = self.nodes[rel]
            targets = checked.get(rel) or [(None, node.path, default_codes)]
            if not node.may_hold:  # no rule finding possible: no parse, its imports are its summary
                summaries[rel] = {}
                for index, path, _ in targets:
                    if index is not None:
                        done(index, self._syntax_errors(node, path))
                continue
            request = self.request(node, reads[rel])
            if self.cache is not None:
                # the key of its summary in the index's entry: the per-file key without the
                # rule codes (a summary does not depend on them)
                skey = summary_keys[rel] = self.cache.keys(()).key_of(node.digest, node.path, request.extra)
                known = self.store.summary(rel, skey) if rel not in checked else None
                if known is not None:  # a module read for its summary alone: no entry opened
                    summaries[rel], texts[rel] = known
                    continue
            for index, path, codes in targets:
                entry = None
                if self.cache is not None:
                    key = self.cache.keys(codes).key_of(node.digest, path, request.extra)
                    entry = self.cache.get_entry(key, path, self.layout.root)
                if entry is not None and entry[1] is not None:
                    summaries.setdefault(rel, entry[1])
                    done(index, engine.FileResult(path, entry[0]))
                    continue
                parse.append((path, codes, request))
                owners.append((rel, index))
        if parse:
            out: list = [None] * len(parse)
            todo = [(i, _size(path)) for i, (path, _, _) in enumerate(parse)]
            engine.parse_all(parse, todo, out, jobs, None, self.cache)
            for (rel, index), result in zip(owners, out):
                if result.summary is not None and not result.internal_error:
                    summaries.setdefault(rel, result.summary)
                done(index, result)
        parsed = {rel for rel, _ in owners}
        for rel in wave:
            summary = summaries.get(rel)
            text = texts.get(rel)
            if summary is not None and text is None:
                text = canonical(summary)
                # a parse reads the file again: its summary is kept under the recorded digest
                # only if the file has not changed since it was recorded
                if rel in summary_keys and (rel not in parsed or self._unchanged(rel)):
                    self.store.keep_summary(rel, summary_keys[rel], text)
            self.publish(self.nodes[rel], summary, reads[rel], text)

    def _unchanged(self, rel: str) -> bool:
        try:
            return self.store.known(rel, os.stat(self.nodes[rel].path)) is not None
        except OSError:
            return False

    def _syntax_errors(self, node: Node, path: str) -> engine.FileResult:
        """LL001 of a checked file that the prefilter skips (CPython's parser; never cached)."""
        text = node.text
        if text is None:
            try:
                text = decode(read_bytes(path)).text
            except OSError as exc:
                return engine.FileResult(path, [engine.diagnostic(
                    UNREADABLE, path, 1, 1, f"cannot read file: {exc.strerror or exc}")])
            except UnreadableSource as exc:
                return engine.FileResult(path, [engine.diagnostic(UNREADABLE, path, 1, 1, str(exc))])
        return engine.FileResult(path, engine.syntax_errors(text, path))


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
