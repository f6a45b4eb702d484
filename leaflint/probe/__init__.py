"""leaflint probe: run the user's program under autograd monitoring and confirm static findings.

Nothing in this package is imported by ``leaflint check`` but ``schema`` (no torch: the event
kind names, which each rule declares as its ``probe_kinds``). Modules that need torch (the
monitor: ``monitor``, ``state``, ``frames``, ``describe``, ``inplace``, ``data_writes``,
``data_reads``, ``registration``; and ``saved``) import it themselves; everything else (runner,
reconcile, report, cli, pytest_plugin, bootstrap, coverage, events, schema, kinds, fallback)
imports without torch.
"""
