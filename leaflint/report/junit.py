"""JUnit XML, the test-report format most CI systems display.

One ``<testsuite name="leaflint">``; one ``<testcase>`` per checked file (a clean file is a
passing test case); one ``<failure>`` per finding (an internal error, LL003, is an ``<error>``).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Optional, Sequence

from leaflint.findings import Finding
from leaflint.report.text import location
from leaflint.findings import INTERNAL_ERROR

# Characters XML 1.0 does not allow, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _classname(filename: str) -> str:
    stem, _ = os.path.splitext(filename.replace(os.sep, "/"))
    return _clean(stem.strip("./").replace("/", ".")) or "leaflint"


def junit(findings: list[Finding], files: Optional[Sequence[str]] = None, **_options) -> str:
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.filename, []).append(finding)
    order = sorted(set(files or ()) | set(by_file))
    failed = sum(1 for name in order if any(f.code != INTERNAL_ERROR[0] for f in by_file.get(name, ())))
    errors = sum(1 for name in order if any(f.code == INTERNAL_ERROR[0] for f in by_file.get(name, ())))
    counts = {"tests": str(len(order)), "failures": str(failed), "errors": str(errors), "skipped": "0"}
    root = ET.Element("testsuites", name="leaflint", **counts)
    suite = ET.SubElement(root, "testsuite", name="leaflint", **counts)
    for name in order:
        case = ET.SubElement(suite, "testcase", name=_clean(name), classname=_classname(name), file=_clean(name))
        for finding in by_file.get(name, ()):
            tag = "error" if finding.code == INTERNAL_ERROR[0] else "failure"
            element = ET.SubElement(case, tag, type=finding.code,
                                    message=_clean(f"{finding.code} {finding.message}"))
            element.text = _clean(f"{location(finding)}: {finding.code} {finding.message}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
