"""leaflint probe: run the user's program under autograd monitoring and confirm static findings.

Nothing in this package is imported by ``leaflint check``. Modules that need torch
(``monitor``) import it themselves; everything else (runner, reconcile, report, cli,
pytest_plugin, bootstrap, coverage, events) imports without torch.
"""
