"""leaflint: find the mutations that break PyTorch autograd.

PYTEST_DONT_REWRITE: `leaflint probe -m pytest` imports leaflint before pytest loads its
plugin; nothing here relies on assertion rewriting, and pytest would otherwise warn that
"leaflint" was imported too early in the user's test output.
"""

__version__ = "0.1.0"
