"""pytest plugin: ``pytest --leaflint-probe`` runs the test session under the probe.

Registered through the ``pytest11`` entry point. Inert unless ``--leaflint-probe`` is given:
importing this module imports neither torch nor the static engine. Events are tagged with
the running test's id; at the end the same report as ``leaflint probe`` is printed in the
terminal summary (and written as JSON with ``--leaflint-probe-output FILE``), with the count of
the monitor's own failures, and where they happened with pytest's ``-v``. The test session's
own exit status is not changed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile


def pytest_addoption(parser):
    group = parser.getgroup("leaflint", "leaflint probe (autograd mutation monitor)")
    group.addoption("--leaflint-probe", action="store_true", default=False,
                    help="Run the tests under the leaflint probe and report a verdict per static finding.")
    group.addoption("--leaflint-probe-root", default=None, metavar="DIR",
                    help="Project root to check statically (default: pytest's rootdir).")
    group.addoption("--leaflint-probe-select", action="append", default=None, metavar="CODES",
                    help="Rule codes or prefixes (as `leaflint check --select`).")
    group.addoption("--leaflint-probe-output", default=None, metavar="FILE",
                    help="Also write the report as JSON to FILE.")
    group.addoption("--leaflint-probe-keep-going", action="store_true", default=False,
                    help="Re-run failing in-place ops on leaves under no_grad (changes test outcomes).")


def pytest_configure(config):
    if not config.getoption("leaflint_probe", default=False):
        return
    config.pluginmanager.register(_ProbeSession(config), "leaflint-probe-session")


class _ProbeSession:
    def __init__(self, config):
        from leaflint.probe import bootstrap, runner
        from leaflint.probe.cli import static_findings, targets_of

        self.config = config
        self.root = config.getoption("leaflint_probe_root") or str(config.rootpath)
        select = config.getoption("leaflint_probe_select")
        self.select = [p.strip() for v in select for p in v.split(",") if p.strip()] if select else None
        self.static, self.enabled = static_findings(self.root, self.select)
        self.dir = tempfile.mkdtemp(prefix="leaflint-probe-pytest-")
        targets_file = runner.write_targets(self.dir, targets_of(self.static.findings))
        keep_going = config.getoption("leaflint_probe_keep_going")
        # Subprocesses (spawned workers, torchrun, pytester) are probed through the env.
        env = runner.probe_env(self.dir, self.root, keep_going, targets_file)
        self._saved_env = {k: os.environ.get(k) for k in env if os.environ.get(k) != env[k]}
        os.environ.update({k: env[k] for k in self._saved_env})
        bootstrap.activate(self.dir, self.root, keep_going=keep_going, targets_file=targets_file)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        from leaflint.probe import reconcile, report, runner, schema
        from leaflint.probe.events import read_coverage, read_events

        monitor_state = sys.modules.get("leaflint.probe.state")  # never imports torch here
        if monitor_state is not None:  # the monitor runs in this process: record its failures so far
            monitor_state.write_failure_total()
        events = read_events(self.dir)
        coverage = read_coverage(self.dir)
        cwd = os.getcwd()
        result = reconcile.reconcile(self.static.findings, events, coverage, enabled_codes=self.enabled, cwd=cwd)
        terminalreporter.write_sep("=", "leaflint probe")
        procs = {e.get("pid") for e in events if e.get("k") == schema.PROC}
        terminalreporter.write_line(
            f"torch.compile disabled for subprocesses (TORCH_COMPILE_DISABLE=1); "
            f"{len(procs)} process{'es' if len(procs) != 1 else ''} with torch monitored")
        verbose = (config.getoption("verbose", default=0) or 0) > 0
        for line in report.monitor_error_lines(*runner.monitor_errors(events), verbose=verbose):
            terminalreporter.write_line(line)
        for line in report.render_text(result).rstrip("\n").splitlines():
            terminalreporter.write_line(line)
        out = self.config.getoption("leaflint_probe_output")
        if out:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(report.render_json(result))

    def pytest_unconfigure(self, config):
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.dir, ignore_errors=True)
