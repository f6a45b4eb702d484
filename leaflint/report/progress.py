"""A progress bar on stderr, for long runs on a terminal only.

Nothing is drawn unless the stream is a terminal and the run has lasted ``delay`` seconds; the
bar is redrawn at most ten times a second and erased when the run ends, so short runs and
redirected output never see it.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    def __init__(self, stream: Optional[TextIO] = None, delay: float = 2.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        try:
            self.enabled = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.enabled = False

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < self.delay or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._draw()

    def _draw(self) -> None:
        width = 30
        total = max(self.total, self.done, 1)
        filled = int(width * self.done / total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{total} files checked")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
