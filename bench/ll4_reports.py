"""LL4 on real reports: what fraction the static rule finds, and where the probe names the write.

Each ``bench/ll4_reports/r*.py`` is a small program reconstructed from a public report of
"one of the variables needed for gradient computation has been modified by an inplace
operation" (its URL is in the docstring). The line that writes carries ``# write``. For each:

- it must reproduce torch's error without leaflint (``REPRODUCED`` on its output);
- static: ``leaflint check --select LL4`` reports an LL4xx finding on the ``# write`` line;
- probe: ``leaflint probe`` reports (confirmed or missed) an LL4 event at the ``# write`` line,
  so the user is told the line that wrote.

    python bench/ll4_reports.py            # prints a markdown table and the two fractions
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "bench" / "ll4_reports"


def _env() -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", TORCH_COMPILE_DISABLE="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def write_line(path: Path) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.rstrip().endswith("# write"):
            return number
    raise SystemExit(f"{path.name}: no '# write' marker")


def source_of(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    for word in text.split():
        if word.startswith("https://"):
            return word.rstrip(".:,)")
    return "?"


def main() -> int:
    env = _env()
    rows = []
    for path in sorted(REPORTS.glob("r*.py")):
        line = write_line(path)
        plain = subprocess.run([sys.executable, path.name], cwd=REPORTS, env=env, capture_output=True,
                               text=True, timeout=300)
        reproduced = "REPRODUCED" in plain.stdout
        check = subprocess.run([sys.executable, "-m", "leaflint", "check", "--no-cache", "--isolated", "--select",
                                "LL4", "--output-format", "json", path.name], cwd=REPORTS, env=env,
                               capture_output=True, text=True, timeout=300)
        static = [f for f in json.loads(check.stdout or "[]") if f["location"]["row"] == line]
        probe = subprocess.run([sys.executable, "-m", "leaflint", "probe", "--root", ".", "--output-format", "json",
                                "--select", "LL4", path.name], cwd=REPORTS, env=env, capture_output=True, text=True,
                               timeout=600)
        try:
            verdicts = json.loads(probe.stdout or "[]")
        except json.JSONDecodeError:
            verdicts = []
        named = [v for v in verdicts if v["location"]["row"] == line and v["code"].startswith("LL4")
                 and v["verdict"] in ("confirmed", "missed")]
        rows.append({
            "report": path.name, "source": source_of(path), "line": line, "reproduced": reproduced,
            "static": static[0]["code"] if static else None,
            "probe": named[0]["verdict"] + " " + named[0]["code"] if named else None,
            "evidence": named[0].get("evidence", "") if named else "",
        })
    total = len(rows)
    found = sum(1 for r in rows if r["static"])
    named = sum(1 for r in rows if r["probe"])
    print("| report | source | write line | reproduces | static | probe names the write |")
    print("|---|---|---:|---|---|---|")
    for r in rows:
        print(f"| {r['report']} | {r['source']} | {r['line']} | {'yes' if r['reproduced'] else 'NO'} | "
              f"{r['static'] or 'missed'} | {r['probe'] or 'no'} |")
    print()
    print(f"static rule finds {found}/{total} ({100 * found / total:.0f}%); "
          f"probe names the writing line in {named}/{total} ({100 * named / total:.0f}%); "
          f"reproduced without leaflint: {sum(r['reproduced'] for r in rows)}/{total}")
    if "-v" in sys.argv:
        for r in rows:
            print(f"\n{r['report']}: {r['evidence']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
