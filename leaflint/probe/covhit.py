"""Target-line hits recorded by instrumented code (see ``coverage.instrument``)."""

_SINK = None  # set by coverage.LineCoverage: a callable (realpath, line) -> None
_SEEN: set = set()


def hit(real, lines):
    for line in lines:
        key = (real, line)
        if key not in _SEEN:
            _SEEN.add(key)
            if _SINK is not None:
                _SINK(real, line)
