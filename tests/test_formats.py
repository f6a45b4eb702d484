"""Output formats: json-lines, sarif (validated against the SARIF 2.1.0 schema), github, junit;
colours, -o, LEAFLINT_OUTPUT_FORMAT, the progress bar, and ``leaflint rule``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from leaflint.findings import Edit, Finding, Fix, Position
from leaflint.report import FORMATTERS, render
from leaflint.report.github import escape_data, escape_property
from leaflint.report.progress import Progress
from leaflint.rules import REGISTRY
from hang_guard import HANG_GUARD
from cli_inprocess import run

REPO = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"

BAD = textwrap.dedent("""\
    import torch

    w = torch.zeros(3, requires_grad=True)
    w.add_(1)
    w -= 1
""")
GOOD = "import torch\nx = torch.zeros(3)\nx.add_(1)\n"


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a, b:c.py").write_text(BAD)  # a name that needs escaping
    return tmp_path


def finding_with_fix() -> Finding:
    fix = Fix("wrap the statement in `with torch.no_grad():`", "safe",
              [Edit(Position(4, 1), Position(4, 1), "with torch.no_grad():\n    "),
               Edit(Position(4, 10), Position(4, 10), "")])
    return Finding("LL101", "inplace-method-on-leaf", "`.add_()` modifies `w`", "bad.py",
                   Position(4, 1), Position(4, 10), fix)


def test_every_format_is_registered():
    assert set(FORMATTERS) == {"concise", "full", "grouped", "json", "json-lines", "sarif", "github", "junit"}


def test_json_lines_matches_json(project):
    lines = run("check", "--output-format", "json-lines", ".", cwd=project)
    array = run("check", "--output-format", "json", ".", cwd=project)
    assert lines.returncode == array.returncode == 1
    objects = [json.loads(line) for line in lines.stdout.splitlines()]
    assert objects == json.loads(array.stdout)
    assert [(o["filename"], o["location"]["row"], o["code"]) for o in objects] == [
        ("bad.py", 4, "LL101"), ("bad.py", 5, "LL102"), ("sub/a, b:c.py", 4, "LL101"), ("sub/a, b:c.py", 5, "LL102")]


# --- SARIF ---------------------------------------------------------------------------------

def _validate_sarif(document: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"SARIF schema not found at {SARIF_SCHEMA}")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_sarif_validates_and_has_rules_and_regions(project):
    proc = run("check", "--output-format", "sarif", ".", cwd=project)
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    _validate_sarif(document)
    assert document["version"] == "2.1.0"
    run_ = document["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "leaflint"
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(REGISTRY) <= set(rules) and {"LL001", "LL002", "LL003"} <= set(rules)
    ll101 = rules["LL101"]
    assert ll101["name"] == "inplace-method-on-leaf"
    assert ll101["shortDescription"]["text"] == REGISTRY["LL101"].summary
    assert "## Why is this bad?" in ll101["help"]["markdown"]
    assert ll101["fullDescription"]["text"].startswith("Flags an in-place tensor method")
    assert ll101["helpUri"].startswith("https://pytorch.org/")
    for rule in driver["rules"]:
        assert "leaflint.dev" not in rule.get("helpUri", "")
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    results = run_["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results] == [
        ("LL101", "bad.py"), ("LL102", "bad.py"), ("LL101", "sub/a%2C%20b%3Ac.py"), ("LL102", "sub/a%2C%20b%3Ac.py")]
    first = results[0]
    assert first["level"] == "error"
    assert driver["rules"][first["ruleIndex"]]["id"] == "LL101"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert location["region"] == {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 10}
    assert "fixes" not in first or first["fixes"]


def test_sarif_clean_run_validates(project):
    proc = run("check", "--output-format", "sarif", "good.py", cwd=project)
    assert proc.returncode == 0
    document = json.loads(proc.stdout)
    _validate_sarif(document)
    assert document["runs"][0]["results"] == []


def test_sarif_fixes_and_diagnostics_validate():
    syntax = Finding("LL001", "syntax-error", "SyntaxError: invalid syntax", "broken.py", Position(2, 7), Position(2, 7))
    document = json.loads(render("sarif", [finding_with_fix(), syntax]))
    _validate_sarif(document)
    fixed, diagnostic = document["runs"][0]["results"]
    change = fixed["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "bad.py"
    assert change["replacements"][0] == {
        "deletedRegion": {"startLine": 4, "startColumn": 1, "endLine": 4, "endColumn": 1},
        "insertedContent": {"text": "with torch.no_grad():\n    "}}
    assert "safe fix" in fixed["fixes"][0]["description"]["text"]
    assert diagnostic["ruleId"] == "LL001"
    assert diagnostic["locations"][0]["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 7}


def test_sarif_absolute_path_outside_cwd_is_a_file_uri(tmp_path):
    finding = Finding("LL101", "inplace-method-on-leaf", "m", str(tmp_path / "x.py"), Position(1, 1), Position(1, 2))
    document = json.loads(render("sarif", [finding]))
    _validate_sarif(document)
    artifact = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": (tmp_path / "x.py").as_uri()}


# --- GitHub --------------------------------------------------------------------------------

GITHUB_LINE = re.compile(r"^::error title=leaflint \((?P<code>LL\d{3})\),file=(?P<file>[^,]+),line=(?P<line>\d+),"
                         r"col=(?P<col>\d+),endLine=(?P<endLine>\d+),endColumn=(?P<endColumn>\d+)::(?P<message>.+)$")


def test_github_annotations(project):
    proc = run("check", "--output-format", "github", ".", cwd=project)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 4
    matches = [GITHUB_LINE.match(line) for line in lines]
    assert all(matches), lines
    first = matches[0].groupdict()
    assert first == {"code": "LL101", "file": "bad.py", "line": "4", "col": "1", "endLine": "4", "endColumn": "10",
                     "message": first["message"]}
    assert first["message"].startswith("bad.py:4:1: LL101 `.add_()` modifies `w`")
    # `,` and `:` are escaped inside properties (the file name), not in the message
    assert matches[2].group("file") == "sub/a%2C b%3Ac.py"
    assert matches[2].group("message").startswith("sub/a, b:c.py:4:1: LL101")


def test_github_escaping():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    finding = Finding("LL201", "data-write-in-graph-context", "line one\nline two: 100%", "d,ir/x:y.py",
                      Position(3, 2), Position(3, 8))
    line = render("github", [finding])
    assert line == ("::error title=leaflint (LL201),file=d%2Cir/x%3Ay.py,line=3,col=2,endLine=3,endColumn=8::"
                    "d,ir/x:y.py:3:2: LL201 line one%0Aline two: 100%25\n")
    assert line.count("\n") == 1


def test_github_point_diagnostic_has_no_end():
    finding = Finding("LL002", "unreadable-file", "binary file", "x.py", Position(1, 1), Position(1, 1))
    assert render("github", [finding]) == "::error title=leaflint (LL002),file=x.py,line=1,col=1::x.py:1:1: LL002 binary file\n"


# --- JUnit ---------------------------------------------------------------------------------

def test_junit_is_xml_with_a_testcase_per_file(project):
    proc = run("check", "--output-format", "junit", ".", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(proc.stdout.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"bad.py", "good.py", "sub/a, b:c.py"}
    assert suite.get("tests") == "3" and suite.get("failures") == "2" and suite.get("errors") == "0"
    assert cases["good.py"].findall("failure") == []
    failures = cases["bad.py"].findall("failure")
    assert [f.get("type") for f in failures] == ["LL101", "LL102"]
    assert failures[0].get("message").startswith("LL101 `.add_()` modifies `w`")
    assert failures[0].text.startswith("bad.py:4:1: LL101")
    assert cases["bad.py"].get("classname") == "bad"


def test_junit_escapes_and_strips_invalid_characters():
    finding = Finding("LL003", "internal-error", "boom <&> \"q\" \x00\x1b end", "x.py", Position(1, 1), Position(1, 1))
    text = render("junit", [finding], files=["x.py", "y.py"])
    root = ET.fromstring(text.encode("utf-8"))
    suite = root.find("testsuite")
    assert suite.get("errors") == "1" and suite.get("failures") == "0" and suite.get("tests") == "2"
    error = suite.find("testcase").find("error")
    assert error.get("type") == "LL003"
    assert "boom <&> \"q\"" in error.get("message")


# --- output file, environment, colours, progress -------------------------------------------

def test_output_file_and_env_format(project):
    proc = run("check", "-o", "out.sarif", ".", cwd=project, env={"LEAFLINT_OUTPUT_FORMAT": "sarif"})
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Found 4 findings" in proc.stderr
    document = json.loads((project / "out.sarif").read_text(encoding="utf-8"))
    assert document["version"] == "2.1.0"
    # the option wins over the environment
    proc = run("check", "--output-format", "github", ".", cwd=project, env={"LEAFLINT_OUTPUT_FORMAT": "sarif"})
    assert proc.stdout.startswith("::error ")


def test_no_colour_when_not_a_terminal(project):
    proc = run("check", "--output-format", "full", ".", cwd=project)
    assert "\033[" not in proc.stdout and "\033[" not in proc.stderr


def _run_in_pty(args, cwd, env):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "leaflint", *args], cwd=cwd, stdout=slave,
                              stderr=subprocess.PIPE, env=env, timeout=HANG_GUARD)
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return proc.returncode, b"".join(chunks).decode("utf-8", "replace")
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_colour_on_a_terminal_and_no_color_respected(project):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "LEAFLINT_OUTPUT_FORMAT")}
    code, out = _run_in_pty(["check", "bad.py"], project, env)
    assert code == 1
    assert "\033[1m\033[31mLL101\033[0m" in out
    code, out = _run_in_pty(["check", "bad.py"], project, dict(env, NO_COLOR="1"))
    assert code == 1
    assert "\033[" not in out and "bad.py:4:1: LL101" in out


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal_after_the_delay():
    quiet = Progress(io.StringIO(), delay=0)
    quiet.start(3)
    quiet.advance()
    quiet.close()
    assert quiet.stream.getvalue() == ""

    late = Progress(FakeTTY(), delay=3600)
    late.start(3)
    late.advance(3)
    late.close()
    assert late.stream.getvalue() == ""

    shown = Progress(FakeTTY(), delay=0)
    shown.start(4)
    shown.advance(2)
    shown.close()
    text = shown.stream.getvalue()
    assert "2/4 files checked" in text and "[###############---------------]" in text
    assert text.endswith("\r\033[K")


def test_check_reports_progress_to_the_callback(project):
    from leaflint.checking import check_paths

    class Recorder:
        def __init__(self):
            self.total, self.done = None, 0

        def start(self, total):
            self.total = total

        def advance(self, count=1):
            self.done += count

    recorder = Recorder()
    result = check_paths([str(project)], jobs=1, progress=recorder)
    assert recorder.total == result.files == recorder.done == 3


# --- leaflint rule ---------------------------------------------------------------------------

def test_rule_docs_list_and_json():
    proc = run("rule", "LL101")
    assert proc.returncode == 0
    for heading in ("# LL101 inplace-method-on-leaf", "## What it does", "## Why is this bad?", "## Example",
                    "## Use instead", "References"):
        assert heading in proc.stdout
    listing = run("rule", "--all").stdout.splitlines()
    assert [line.split()[0] for line in listing] == sorted(REGISTRY)
    data = json.loads(run("rule", "--all", "--output-format", "json").stdout)
    assert [d["code"] for d in data] == sorted(REGISTRY)
    assert {"code", "name", "summary", "default", "docs", "valid", "invalid"} <= set(data[0])
    one = json.loads(run("rule", "ll203", "--output-format", "json").stdout)
    assert one["code"] == "LL203"
    unknown = run("rule", "LL999")
    assert unknown.returncode == 2 and "LL999" in unknown.stderr
