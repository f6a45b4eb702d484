"""A whole check run as ``leaflint check`` makes it: ``engine.check_paths`` with the project index.

The engine lints files; the project index (``leaflint.index.run``) orders them by their imports
and hands each one the summaries of the modules it imports, using the engine to lint them. This
module sits above both and wires one into the other, so that neither imports the other's user.
"""

from __future__ import annotations

from leaflint import engine
from leaflint.engine import CheckResult, index_root, lint_groups  # noqa: F401  (re-exported)
from leaflint.index.run import IndexRun


def check_paths(paths, *args, index: bool = True, **kwargs) -> CheckResult:
    """``engine.check_paths``, with the project index unless ``index`` is false."""
    return engine.check_paths(paths, *args, indexer=IndexRun if index else None, **kwargs)


def lint_groups_indexed(groups, jobs=None, progress=None, cache=None, index_root=None, discovery=None):
    """``engine.lint_groups`` with the project index rooted at ``index_root``."""
    return engine.lint_groups(groups, jobs, progress, cache, index_root, discovery, indexer=IndexRun)
