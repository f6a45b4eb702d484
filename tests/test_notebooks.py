"""Notebooks: code cells linted as one module, magics skipped, positions per cell, malformed
notebooks as one diagnostic, notebook positions in CI formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leaflint import notebook
from leaflint.checking import check_paths
from leaflint.engine import lint_source
from leaflint.rules import select_rules
from cli_inprocess import run


def code(source, **extra):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    cell.update(extra)
    return cell


def markdown(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def notebook_json(cells, language="python") -> str:
    document = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": language,
                                                              "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"  # the layout Jupyter writes


CELLS = [
    markdown(["# Training\n", "Some text.\n"]),
    code(["%matplotlib inline\n", "import torch\n", "!pip install torch\n",
          "w = torch.zeros(3, requires_grad=True)"]),
    code("%%bash\necho w.add_(1)\n"),  # a shell cell: never linted
    code(["for step in range(3):\n", "    !echo step\n", "    w.add_(1)\n", "w?\n", "files = !ls\n",
          "total = (step\n", "         % 2)\n"]),
    code(["%%time\n", "w -= 1\n"]),  # a Python cell magic: the body is linted
]


@pytest.fixture()
def nb_project(tmp_path):
    (tmp_path / "train.ipynb").write_text(notebook_json(CELLS), encoding="utf-8")
    return tmp_path


def test_notebook_findings_per_cell(nb_project):
    proc = run("check", ".", cwd=nb_project)
    assert proc.returncode == 1, proc.stderr
    # cells are numbered among all cells (the markdown cell is cell 1); rows are cell-relative;
    # `w` is defined in cell 2 and known in cells 4 and 5
    assert [line.split(": ")[0] + ": " + line.split(": ")[1].split()[0] for line in proc.stdout.splitlines()] == [
        "train.ipynb:cell 4:3:5: LL101",
        "train.ipynb:cell 5:2:1: LL102",
    ]
    assert "Found 2 findings in 1 file checked." in proc.stderr


def test_notebook_json_carries_the_cell(nb_project):
    data = json.loads(run("check", "--output-format", "json", "train.ipynb", cwd=nb_project).stdout)
    assert [(d["code"], d["cell"], d["location"], d["end_location"]) for d in data] == [
        ("LL101", 4, {"row": 3, "column": 5}, {"row": 3, "column": 14}),
        ("LL102", 5, {"row": 2, "column": 1}, {"row": 2, "column": 7}),
    ]
    assert all(d["filename"] == "train.ipynb" for d in data)


def test_full_format_shows_the_cell_source(nb_project):
    out = run("check", "--output-format", "full", "train.ipynb", cwd=nb_project).stdout
    assert "3 |     w.add_(1)\n" in out
    assert "  |     ^^^^^^^^^\n" in out


def test_ci_formats_point_into_the_ipynb_text(nb_project):
    text = (nb_project / "train.ipynb").read_text(encoding="utf-8").splitlines()
    line_of_add = next(i for i, line in enumerate(text, start=1) if '"    w.add_(1)' in line)
    column_of_add = text[line_of_add - 1].index("w.add_") + 1

    github = run("check", "--output-format", "github", "train.ipynb", cwd=nb_project).stdout.splitlines()[0]
    assert github.startswith(f"::error title=leaflint (LL101),file=train.ipynb,line={line_of_add},col={column_of_add},"
                             f"endLine={line_of_add},endColumn={column_of_add + 9}::train.ipynb:cell 4:3:5: LL101 ")

    sarif = json.loads(run("check", "--output-format", "sarif", "train.ipynb", cwd=nb_project).stdout)
    schema_path = Path(__file__).resolve().parent.parent.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
    jsonschema = pytest.importorskip("jsonschema") if schema_path.is_file() else None
    if jsonschema is not None:
        jsonschema.validate(sarif, json.loads(schema_path.read_text(encoding="utf-8")))
    result = sarif["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": line_of_add, "startColumn": column_of_add, "endLine": line_of_add, "endColumn": column_of_add + 9}
    assert result["properties"] == {"cell": 4, "cellLine": 3, "cellColumn": 5}
    assert result["message"]["text"].startswith("cell 4:3:5: ")


def test_raw_location_with_escapes_and_a_string_source(tmp_path):
    # a source given as one string, with characters JSON escapes
    source = 'import torch\ns = "tab\\there é"\nw = torch.zeros(2, requires_grad=True); w.add_(1)\n'
    path = tmp_path / "one.ipynb"
    path.write_text(json.dumps({"cells": [code(source)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
                    encoding="utf-8")
    findings = check_paths([str(path)], jobs=1).findings
    assert [(f.cell, f.location.row, f.location.column) for f in findings] == [(1, 3, 41)]
    line, column = notebook.raw_location(str(path), 1, 3, 41)
    raw = path.read_text(encoding="utf-8")
    assert line == 1
    assert raw[column - 1:].startswith("w.add_(1)")


def test_magics_keep_rows_and_columns():
    lines = ["%time x = 1", "  !ls -la", "y = 1 % 2", "z = (1", "     %2)", "obj?", "??obj", "a = %who_ls",
             "b = !ls", "!ls \\", "   -la", "c = 1"]
    out = notebook._python_lines(lines)
    assert out == ["pass", "  pass", "y = 1 % 2", "z = (1", "     %2)", "pass", "pass", "pass", "pass", "pass", "",
                   "c = 1"]
    assert notebook._python_lines(["%%bash", "ls", "echo hi"]) == ["", "", ""]
    assert notebook._python_lines(["%%capture out", "x = 1"]) == ["", "x = 1"]
    # inside a triple-quoted string nothing is touched
    assert notebook._python_lines(['s = """', "%not a magic", '"""']) == ['s = """', "%not a magic", '"""']


def test_names_from_earlier_cells_and_noqa_in_a_cell(tmp_path):
    cells = [code(["import torch\n", "from torch import nn\n"]),
             code(["lin = nn.Linear(2, 2)\n"]),
             code(["lin.weight.add_(1)  # noqa: LL101\n", "lin.bias.zero_()\n"])]
    (tmp_path / "n.ipynb").write_text(notebook_json(cells))
    findings = check_paths([str(tmp_path / "n.ipynb")], jobs=1).findings
    assert [(f.code, f.cell, f.location.row) for f in findings] == [("LL101", 3, 2)]


def test_syntax_error_in_a_cell(tmp_path):
    (tmp_path / "s.ipynb").write_text(notebook_json([code("import torch\n"), markdown("x"), code("def f(:\n  pass\n")]))
    proc = run("check", "s.ipynb", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("s.ipynb:cell 3:1:7: LL001 SyntaxError")


@pytest.mark.parametrize("content,needle", [
    ("{not json", "invalid JSON at line 1"),
    ("[1, 2]", "top level is not a JSON object"),
    ('{"cells": 3}', '"cells" is not a list'),
    ('{"metadata": {}}', 'no "cells" list'),
    ('{"cells": [{"cell_type": "code", "source": 7}]}', "the source of cell 1 must be a string or a list of strings"),
    ('{"cells": [{"source": "x"}]}', "cell 1 is not an object with a \"cell_type\""),
    ('{"worksheets": []}', "nbformat 3"),
    (b"\xff\xfe\x00garbage", "malformed notebook"),
])
def test_malformed_notebook_is_one_diagnostic_and_the_run_goes_on(tmp_path, content, needle):
    target = tmp_path / "broken.ipynb"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "bad.py").write_text("import torch\nw = torch.zeros(3, requires_grad=True)\nw.add_(1)\n")
    proc = run("check", "--output-format", "json", ".", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert [(d["filename"], d["code"]) for d in data] == [("bad.py", "LL101"), ("broken.ipynb", "LL002")]
    assert needle in data[1]["message"]
    assert "cell" not in data[1]


def test_non_python_notebook_and_empty_notebook_are_clean(tmp_path):
    (tmp_path / "r.ipynb").write_text(notebook_json([code("w.add_(1)\ntorch\n")], language="R"))
    (tmp_path / "empty.ipynb").write_text(notebook_json([]))
    proc = run("check", ".", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 files checked" in proc.stderr


def test_notebook_on_stdin(nb_project):
    source = (nb_project / "train.ipynb").read_text(encoding="utf-8")
    proc = run("check", "-", "--stdin-filename", "from_stdin.ipynb", cwd=nb_project, stdin=source)
    assert proc.returncode == 1
    assert proc.stdout.startswith("from_stdin.ipynb:cell 4:3:5: LL101 ")


def test_lint_maps_fix_edits_to_the_cell():
    from leaflint.findings import Edit, Finding, Fix, Position

    nb = notebook.Notebook("a\nb\nc\n", [notebook.Cell(2, 1, 1), notebook.Cell(5, 2, 2)])
    finding = Finding("LL101", "n", "m", "x.ipynb", Position(3, 1), Position(3, 4),
                      Fix("f", "safe", [Edit(Position(3, 1), Position(3, 1), "x")]))
    mapped = nb.to_cell(finding)
    assert (mapped.cell, mapped.location, mapped.end_location) == (5, Position(2, 1), Position(2, 4))
    assert mapped.fix.edits[0].start == Position(2, 1)
    rules = select_rules()
    assert notebook.lint(notebook_json([]).encode(), "x.ipynb", lambda t, f: lint_source(t, f, rules)) == []
