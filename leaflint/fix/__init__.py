"""The fix stage: the fixes the rules attach to their findings, and applying them.

- ``context``: ``LazyFix`` (a fix whose edits wait for the module's positions) and
  ``FixContext`` (the module's text, positions, top-level names; where an import goes);
- ``nodes``: small questions about the nodes a fix rewrites;
- ``wrap``: the ``with torch.no_grad():`` wrap and whether it is safe where it stands;
- ``inplace``, ``data``, ``forward``: the builders of the LL1, LL2 and LL3 fixes, which the
  rules call beside their checks (the LL4 builders live in ``leaflint.rules.saved``);
- ``edits``: applying edits to text, conflicts between fixes;
- ``rounds``: fixing one text (apply, re-lint, verify, retry);
- ``files``: fixing files and notebooks (the notebook round trip is ``leaflint.notebook``'s),
  diffs, the atomic write, ``--show-fixes``.

What each family gets is told to users in the README's "Fixes" section. This package's
``__init__`` imports no libcst: the applying side (``rounds``, ``files``) works on text.
"""

from leaflint.findings import Applicability
from leaflint.fix.edits import apply_edits
from leaflint.fix.files import FileFix, FixRun, fix_bytes, fix_paths, summarize, write_atomic
from leaflint.fix.rounds import MAX_ROUNDS, Rejected, TextFix, applicable, fix_text, verify

__all__ = ["Applicability", "apply_edits", "FileFix", "FixRun", "fix_bytes", "fix_paths", "summarize",
           "write_atomic", "MAX_ROUNDS", "Rejected", "TextFix", "applicable", "fix_text", "verify"]
