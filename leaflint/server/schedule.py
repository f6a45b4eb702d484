"""Linting documents as they change, one at a time, never publishing a stale result.

Each document has at most one lint in flight. A change while it runs does not queue another:
when the lint finishes, its snapshot's token (document version, configuration generation) is
compared with the document's current one; if they differ the result is dropped and the current
state is linted instead, so a burst of keystrokes costs at most one extra lint and the editor
never sees diagnostics of a version older than one it already sent. A closed document's lint is
dropped. Lints run on one worker thread (the engine is not made to run two files at once in
one process), so the event loop keeps reading messages meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Callable, Generic, Hashable, Optional, TypeVar

S = TypeVar("S")  # a snapshot: what is linted
R = TypeVar("R")  # a result


class Scheduler(Generic[S, R]):
    """``snapshot(key)`` gives a document's current state (None: closed), ``token(snapshot)``
    what makes it current, ``lint(snapshot)`` runs on ``executor``, ``publish(result)`` runs on
    the event loop for current results only."""

    def __init__(self, snapshot: Callable[[Hashable], Optional[S]], token: Callable[[S], Hashable],
                 lint: Callable[[S], R], publish: Callable[[R], None], executor: Executor) -> None:
        self._snapshot = snapshot
        self._token = token
        self._lint = lint
        self._publish = publish
        self._executor = executor
        self._running: dict[Hashable, asyncio.Task] = {}
        self.dropped = 0  # results dropped as stale (for the tests and the log)

    def request(self, key: Hashable) -> None:
        """Lint ``key``'s current state (soon); a lint already running for it will notice."""
        if key not in self._running:
            self._running[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def _run(self, key: Hashable) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                snapshot = self._snapshot(key)
                if snapshot is None:
                    return
                result = await loop.run_in_executor(self._executor, self._lint, snapshot)
                current = self._snapshot(key)
                if current is None:
                    return
                if self._token(current) != self._token(snapshot):
                    self.dropped += 1
                    continue
                self._publish(result)
                return
        finally:
            self._running.pop(key, None)

    async def idle(self) -> None:
        """Wait until no lint is in flight."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)
