"""SARIF 2.1.0 (the format GitHub code scanning and other CI tools read).

One run; ``tool.driver.rules`` holds every rule and diagnostic with its docs; each result points
at a region of a file relative to ``%SRCROOT%`` (the working directory). Columns count Unicode
code points, 1-based, end exclusive (``columnKind: unicodeCodePoints``), as leaflint's do.
A notebook finding's region is its place in the ``.ipynb`` JSON text (so annotations land on
the right line of the file); the cell and the cell-relative position are in the result's
``properties`` and in the message.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from leaflint import __version__
from leaflint.findings import Finding, Fix
from leaflint.findings import INTERNAL_ERROR, SYNTAX_ERROR, UNREADABLE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"

DIAGNOSTICS = {
    SYNTAX_ERROR[0]: (SYNTAX_ERROR[1], "The file does not parse as Python.",
                      "A syntax error stops the analysis of the file; fix it to have the file checked."),
    UNREADABLE[0]: (UNREADABLE[1], "The file cannot be read as Python source or as a notebook.",
                    "The file is unreadable, binary, in an encoding that cannot be decoded, or a "
                    "malformed notebook; it was not checked."),
    INTERNAL_ERROR[0]: (INTERNAL_ERROR[1], "leaflint failed on this file.",
                        "An internal error in leaflint while checking this file; the other files were "
                        "checked. Run with --verbose for the traceback and please report it."),
}

_URL = re.compile(r"https://\S+")


def _section(docs: str, heading: str) -> Optional[str]:
    match = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", docs, re.MULTILINE | re.DOTALL)
    if match is None:
        return None
    return " ".join(match.group(1).split()) or None


def rule_descriptor(code: str) -> dict:
    from leaflint.rules import REGISTRY  # the rules' docs: imported only for this format

    cls = REGISTRY.get(code)
    if cls is None:
        name, short, full = DIAGNOSTICS[code]
        return {"id": code, "name": name, "shortDescription": {"text": short}, "fullDescription": {"text": full},
                "help": {"text": full}, "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["diagnostic"]}}
    docs = cls.docs.strip()
    document = cls.document()
    descriptor = {
        "id": cls.code,
        "name": cls.name,
        "shortDescription": {"text": cls.summary},
        "fullDescription": {"text": _section(docs, "What it does") or cls.summary},
        "help": {"text": document, "markdown": document},
        "defaultConfiguration": {"level": "error", "enabled": bool(cls.default)},
        "properties": {"tags": ["autograd", "correctness", "pytorch"], "precision": "high",
                       "problem.severity": "error"},
    }
    references = docs[docs.find("References"):] if "References" in docs else docs
    url = _URL.search(references)
    if url is not None:
        descriptor["helpUri"] = url.group(0).rstrip(").,")
    return descriptor


def _uri(filename: str) -> dict:
    path = filename.replace(os.sep, "/")
    if os.path.isabs(filename):
        return {"uri": Path(filename).as_uri()}
    return {"uri": quote(path), "uriBaseId": SRCROOT}


def _region(start: tuple[int, int], end: tuple[int, int]) -> dict:
    region = {"startLine": start[0], "startColumn": start[1]}
    if end != start and end >= start:
        region.update(endLine=end[0], endColumn=end[1])
    return region


def _notebook_region(finding: Finding) -> Optional[dict]:
    from leaflint.notebook import raw_location

    start = raw_location(finding.filename, finding.cell, finding.location.row, finding.location.column)
    if start is None:
        return None
    end = raw_location(finding.filename, finding.cell, finding.end_location.row, finding.end_location.column)
    return _region(start, end if end is not None else start)


def _fix(finding: Finding, fix: Fix) -> dict:
    return {
        "description": {"text": f"{fix.message} ({fix.applicability} fix)"},
        "artifactChanges": [{
            "artifactLocation": _uri(finding.filename),
            "replacements": [{
                "deletedRegion": {"startLine": e.start.row, "startColumn": e.start.column,
                                  "endLine": e.end.row, "endColumn": e.end.column},
                "insertedContent": {"text": e.content},
            } for e in fix.edits],
        }],
    }


def result(finding: Finding, index: dict[str, int]) -> dict:
    message = finding.message
    location: dict = {"artifactLocation": _uri(finding.filename)}
    properties = {}
    if finding.cell is None:
        location["region"] = _region((finding.location.row, finding.location.column),
                                     (finding.end_location.row, finding.end_location.column))
    else:
        region = _notebook_region(finding)
        if region is not None:
            location["region"] = region
        message = f"cell {finding.cell}:{finding.location.row}:{finding.location.column}: {message}"
        properties = {"cell": finding.cell, "cellLine": finding.location.row, "cellColumn": finding.location.column}
    out = {
        "ruleId": finding.code,
        "level": "error",
        "message": {"text": message},
        "locations": [{"physicalLocation": location}],
    }
    if finding.code in index:
        out["ruleIndex"] = index[finding.code]
    if properties:
        out["properties"] = properties
    if finding.fix is not None and finding.fix.edits and finding.cell is None:
        out["fixes"] = [_fix(finding, finding.fix)]
    return out


def sarif(findings: list[Finding], **_options) -> str:
    from leaflint.rules import REGISTRY

    codes = sorted(DIAGNOSTICS) + sorted(REGISTRY)
    codes += sorted({f.code for f in findings} - set(codes))
    rules = [rule_descriptor(code) if code in REGISTRY or code in DIAGNOSTICS else {"id": code} for code in codes]
    index = {code: i for i, code in enumerate(codes)}
    run = {
        "tool": {"driver": {"name": "leaflint", "version": __version__, "semanticVersion": __version__,
                            "rules": rules}},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(os.getcwd()).as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [result(f, index) for f in findings],
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
