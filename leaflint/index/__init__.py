"""The project index: which modules of the project each file imports, in which order files are
analysed so that every file reads the summaries of the modules it imports, and the summaries'
place in the cache. The summaries themselves (what a module's classes and functions do) come
from the model (``leaflint.model.project``); this module reads no syntax tree and no libcst.

**Layout.** The project root is the directory the cache and the configuration use (the nearest
at or above the first path holding ``pyproject.toml`` or ``.git``; a checked path outside it is
its own root). A file's module name is its path from its *source root*, the first directory
above it without an ``__init__.py`` (``src/pkg/models.py`` is ``pkg.models``; a script's
sibling ``models.py`` is ``models``). An absolute import is looked up as Python would find it
from the file (its source root, which is where a script's ``sys.path[0]`` is), then from the
project root and ``<root>/src``; a relative one from the file's package. Only ``.py`` files
under the root that the configuration does not exclude are part of the index.

**Imports** are found by a scan of the text (``scan``, a regular expression over ``import``
and ``from ... import`` statements, parenthesised lists included): no parse. A match inside a
string only adds an edge that orders the work; what the analysis resolves comes from the
parsed imports (``leaflint.model.imports``), looked up in the modules the scan found.

**Order.** Files are analysed in waves: a file's wave comes after the waves of every module it
imports. In an import cycle a file reads the summaries of the cycle's members whose paths sort
before its own (a fixed rule, so a one-file run and a whole-project run see the same facts).
A file's cache key holds the *digests* of the summaries it reads, and a summary's digest holds
its own imports' digests: an edit that changes what ``models.py`` says invalidates every file
that reads it, directly or through others; an edit that changes nothing it says (a comment, a
body) invalidates nothing else.

**The index's own entry** (``store``): one file per project root in the cache directory keeps,
per module, its stat signature, content digest, prefilter verdict and scanned imports, and its
summary under its key. A run reads only the files whose signature changed (or that were too
young to trust: the racy margin) and opens no per-file entry for a module it reads only for its
summary; what the summaries say, and so every key, is the same as if every file had been read.
"""

