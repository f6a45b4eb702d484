"""``leaflint server``: the real server over stdio, driven by a real LSP client (pytest-lsp).

Every wait is on a notification or a response, bounded by a generous timeout that only keeps a
hung server from hanging the suite; nothing measures speed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pygls.protocol import default_converter  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features  # noqa: E402

from leaflint.findings import Finding, Position  # noqa: E402
from leaflint.report.sarif import rule_descriptor  # noqa: E402
from leaflint.rules import REGISTRY  # noqa: E402
from leaflint.server import documents  # noqa: E402
from leaflint.server.schedule import Scheduler  # noqa: E402

HANG = 180  # seconds: only bounds a hang (server start-up imports libcst on a loaded machine)
SERVER = [sys.executable, "-m", "leaflint", "server"]

MODEL = textwrap.dedent('''\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3))
            self.w.mul_(2)

        def forward(self, x):
            self.w += 1
            return x * self.w


    w = torch.randn(3, requires_grad=True)
    w.zero_()
    ''')
# (code, 0-based line) of MODEL's findings
MODEL_FINDINGS = {("LL101", 8), ("LL102", 11), ("LL101", 16)}


# --------------------------------------------------------------------------------- the client
def _record_diagnostics(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)
    client.changed.set()


def _record_log(client: LanguageClient, params: types.LogMessageParams) -> None:
    client.log_messages.append(params)
    client.changed.set()


def _register_capability(client: LanguageClient, params: types.RegistrationParams) -> None:
    client.registrations.extend(params.registrations)


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_diagnostics
    features[types.WINDOW_LOG_MESSAGE] = _record_log
    features[types.CLIENT_REGISTER_CAPABILITY] = _register_capability
    register_lsp_features(client, features)
    client.published = []
    client.registrations = []
    client.changed = asyncio.Event()
    return client


async def wait_for(client: LanguageClient, predicate):
    """Wait until ``predicate()`` is true, re-checking it on each notification."""
    async def loop():
        while True:
            result = predicate()
            if result:
                return result
            client.changed.clear()
            await client.changed.wait()
    return await asyncio.wait_for(loop(), HANG)


def publishes(client: LanguageClient, uri: str) -> list[types.PublishDiagnosticsParams]:
    return [p for p in client.published if p.uri == uri]


async def published(client: LanguageClient, uri: str, version=None, after: int = 0) -> list[types.Diagnostic]:
    """The diagnostics of the first publish for ``uri`` (of ``version``, if given) among the
    publishes after the first ``after`` ones for that uri."""
    def find():
        for params in publishes(client, uri)[after:]:
            if version is None or params.version == version:
                return params
        return None
    return list((await wait_for(client, find)).diagnostics)


async def start(client: LanguageClient, root: Path, capabilities=None) -> None:
    await asyncio.wait_for(client.initialize_session(types.InitializeParams(
        capabilities=capabilities or client_capabilities("visual_studio_code"),
        root_uri=root.as_uri(), workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")])), HANG)


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=uri, language_id="python", version=version, text=text)))
    return uri


def change_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def found(diagnostics) -> set[tuple[str, int]]:
    return {(d.code, d.range.start.line) for d in diagnostics}


def _offset(text: str, position: types.Position) -> int:
    """A UTF-16 LSP position as an offset into ``text`` (what an editor does)."""
    lines = text.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[:position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return offset + index
        units += 2 if ord(char) > 0xFFFF else 1
    return offset + len(line.rstrip("\r\n")) if units >= position.character else offset + len(line)


def apply_edit(texts: dict[str, str], edit: types.WorkspaceEdit) -> dict[str, str]:
    """The texts after a WorkspaceEdit (``documentChanges`` or, for clients without them, ``changes``)."""
    out = dict(texts)
    changes = [(c.text_document.uri, c.edits) for c in edit.document_changes or []]
    changes += list((edit.changes or {}).items())
    assert changes
    for uri, edits in changes:
        text = out[uri]
        spans = sorted(((_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in edits),
                       reverse=True)
        for start, end, new in spans:
            text = text[:start] + new + text[end:]
        out[uri] = text
    return out


async def code_actions(client: LanguageClient, uri: str, line: int, only=None) -> list[types.CodeAction]:
    result = await asyncio.wait_for(client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line, 0), end=types.Position(line, 0)),
        context=types.CodeActionContext(diagnostics=[], only=only))), HANG)
    return list(result or [])


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, client_factory=make_client))
async def client(lsp_client: LanguageClient):
    yield
    await asyncio.wait_for(lsp_client.shutdown_session(), HANG)


# ------------------------------------------------------------------------------------- tests
@pytest.mark.asyncio
async def test_open_publishes_diagnostics_with_code_link_severity_and_source(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    diagnostics = await published(client, uri, version=1)
    assert found(diagnostics) == MODEL_FINDINGS
    for d in diagnostics:
        assert d.source == "leaflint"
        assert d.severity == types.DiagnosticSeverity.Error
        assert d.code_description is not None
        assert d.code_description.href == rule_descriptor(d.code)["helpUri"]
    first = next(d for d in diagnostics if d.range.start.line == 8)
    assert (first.range.start.character, first.range.end.character) == (8, 22)  # `self.w.mul_(2)`
    # The client asked the server to watch the configuration files.
    await wait_for(client, lambda: client.registrations)
    [registration] = client.registrations
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    assert [w["globPattern"] for w in registration.register_options["watchers"]] == ["**/pyproject.toml", "**/.gitignore"]


@pytest.mark.asyncio
async def test_positions_are_utf16_code_units(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    text = 'import torch\nw = torch.randn(3, requires_grad=True)\ns = "\U0001F600\u00e9"; w.zero_()\n'
    uri = open_doc(client, tmp_path / "emoji.py", text)
    [diagnostic] = await published(client, uri, version=1)
    # `w.zero_()` starts at character 10 (code points); the emoji takes two UTF-16 units.
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (2, 11)
    assert (diagnostic.range.end.character) == 20


@pytest.mark.asyncio
async def test_changes_publish_each_version_own_results_in_order(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    clean = "import torch\nw = torch.randn(3, requires_grad=True)\n"
    versions = {1: MODEL, 2: clean, 3: clean + "w.add_(1)\n", 4: clean + "\n\nw.add_(1)\n"}
    expected = {1: MODEL_FINDINGS, 2: set(), 3: {("LL101", 2)}, 4: {("LL101", 4)}}
    uri = open_doc(client, tmp_path / "model.py", versions[1])
    for version in (2, 3, 4):  # sent back to back, without waiting
        change_doc(client, uri, versions[version], version)
    await published(client, uri, version=4)
    seen = [p.version for p in publishes(client, uri)]
    assert seen == sorted(set(seen)), f"a stale or repeated publish: {seen}"
    for params in publishes(client, uri):
        assert found(params.diagnostics) == expected[params.version]


@pytest.mark.asyncio
async def test_configuration_is_reloaded_when_pyproject_changes(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    assert found(await published(client, uri, version=1)) == MODEL_FINDINGS

    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.leaflint]\nper-file-ignores = { "model.py" = ["LL101"] }\n')
    count = len(publishes(client, uri))
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=config.as_uri(), type=types.FileChangeType.Created)]))
    assert found(await published(client, uri, after=count)) == {("LL102", 11)}

    # Saved in the editor (no watcher needed): excluded like `leaflint check --force-exclude`.
    config.write_text('[tool.leaflint]\nextend-exclude = ["model.py"]\n')
    count = len(publishes(client, uri))
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=config.as_uri())))
    assert await published(client, uri, after=count) == []

    config.write_text('[tool.leaflint]\nselect = ["LL102"]\n')
    count = len(publishes(client, uri))
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=config.as_uri(), type=types.FileChangeType.Changed)]))
    assert found(await published(client, uri, after=count)) == {("LL102", 11)}

    # .gitignore decides exclusion too (respect-gitignore): watched as well.
    ignore = tmp_path / ".gitignore"
    ignore.write_text("model.py\n")
    count = len(publishes(client, uri))
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=ignore.as_uri(), type=types.FileChangeType.Created)]))
    assert await published(client, uri, after=count) == []


@pytest.mark.asyncio
async def test_configuration_error_is_shown_and_logged(client: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.leaflint]\nselekt = ["LL1"]\n')
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    assert await published(client, uri, version=1) == []
    await wait_for(client, lambda: any("selekt" in m.message for m in client.log_messages))
    assert any("unknown key 'selekt'" in m.message for m in client.messages)


@pytest.mark.asyncio
async def test_safe_fix_is_the_preferred_quick_fix_and_applies(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    await published(client, uri, version=1)
    actions = await code_actions(client, uri, 8)
    fixes = [a for a in actions if a.title.startswith("LL101: Wrap")]
    assert len(fixes) == 1 and fixes[0].is_preferred and "(unsafe)" not in fixes[0].title
    assert fixes[0].kind == types.CodeActionKind.QuickFix
    [change] = fixes[0].edit.document_changes
    assert change.text_document.version == 1
    after = apply_edit({uri: MODEL}, fixes[0].edit)[uri]
    assert after.splitlines()[8:10] == ["        with torch.no_grad():", "            self.w.mul_(2)"]
    change_doc(client, uri, after, 2)
    assert found(await published(client, uri, version=2)) == {("LL102", 12), ("LL101", 17)}

    unsafe = [a for a in await code_actions(client, uri, 12) if a.title.startswith("LL102: Wrap")]
    assert len(unsafe) == 1 and unsafe[0].title.endswith("(unsafe)") and not unsafe[0].is_preferred


@pytest.mark.asyncio
async def test_fix_all_mirrors_check_fix(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    await published(client, uri, version=1)
    actions = await code_actions(client, uri, 0, only=[types.CodeActionKind.SourceFixAll])
    [fix_all] = actions
    assert fix_all.kind == "source.fixAll.leaflint"
    after = apply_edit({uri: MODEL}, fix_all.edit)[uri]

    disk = tmp_path / "disk" / "model.py"
    disk.parent.mkdir()
    disk.write_text(MODEL)
    subprocess.run([sys.executable, "-m", "leaflint", "check", "--fix", "--no-cache", str(disk)],
                   capture_output=True, text=True, timeout=HANG, env=os.environ)
    assert after == disk.read_text() != MODEL


@pytest.mark.asyncio
async def test_noqa_action_silences_the_finding(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    await published(client, uri, version=1)
    [noqa] = [a for a in await code_actions(client, uri, 16) if "noqa" in a.title]
    after = apply_edit({uri: MODEL}, noqa.edit)[uri]
    assert after.splitlines()[16] == "w.zero_()  # noqa: LL101"
    change_doc(client, uri, after, 2)
    assert found(await published(client, uri, version=2)) == MODEL_FINDINGS - {("LL101", 16)}


@pytest.mark.asyncio
async def test_hover_shows_the_rule_docs(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    await published(client, uri, version=1)
    hover = await asyncio.wait_for(client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(11, 10))), HANG)
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert REGISTRY["LL102"].document() in hover.contents.value
    nothing = await asyncio.wait_for(client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 3))), HANG)
    assert nothing is None


@pytest.mark.asyncio
async def test_the_project_index_is_read_and_refreshed_when_a_module_is_saved(client: LanguageClient, tmp_path):
    """``model.U[0] = v`` is a finding because models.py (not open) makes U a Parameter; when
    models.py is saved with U a buffer, the open document is linted again without it."""
    (tmp_path / "pyproject.toml").write_text("")
    models = tmp_path / "models.py"
    models.write_text("import torch\nfrom torch import nn\n\n\nclass MF(nn.Module):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.U = nn.Parameter(torch.ones(3))\n")
    await start(client, tmp_path)
    train = "import torch\nfrom models import MF\n\nmodel = MF()\nmodel.U[0] = 2.0\n"
    uri = open_doc(client, tmp_path / "train.py", train)
    assert found(await published(client, uri, version=1)) == {("LL103", 4)}

    models.write_text(models.read_text().replace("self.U = nn.Parameter(torch.ones(3))",
                                                 "self.register_buffer(\"U\", torch.ones(3))"))
    count = len(publishes(client, uri))
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=models.as_uri())))
    assert await published(client, uri, after=count) == []


@pytest.mark.asyncio
async def test_close_clears_diagnostics(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    assert await published(client, uri, version=1)
    count = len(publishes(client, uri))
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    assert await published(client, uri, after=count) == []


@pytest.mark.asyncio
async def test_syntax_error_is_a_diagnostic(client: LanguageClient, tmp_path):
    await start(client, tmp_path)
    uri = open_doc(client, tmp_path / "broken.py", "import torch\n\ndef f(:\n    pass\n")
    [diagnostic] = await published(client, uri, version=1)
    assert diagnostic.code == "LL001" and diagnostic.range.start.line == 2
    assert not [a for a in await code_actions(client, uri, 2) if "noqa" in a.title]  # cannot be silenced
    change_doc(client, uri, "import torch\n\ndef f():\n    pass\n", 2)
    assert await published(client, uri, version=2) == []


# The server with a fault injected into its own pipeline (not the engine's): a document whose
# name contains "boom" makes the lint raise.
FAULTY_SERVER = [sys.executable, "-c", textwrap.dedent("""\
    from leaflint.server import documents, server
    real = documents.lint
    def lint(snapshot, project):
        if "boom" in snapshot.path:
            raise RuntimeError("injected failure")
        return real(snapshot, project)
    documents.lint = lint
    server.serve()
    """)]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=FAULTY_SERVER, client_factory=make_client))
async def faulty_client(lsp_client: LanguageClient):
    yield
    await asyncio.wait_for(lsp_client.shutdown_session(), HANG)


@pytest.mark.asyncio
async def test_a_failure_in_one_document_is_logged_not_fatal(faulty_client: LanguageClient, tmp_path):
    client = faulty_client
    await start(client, tmp_path)
    open_doc(client, tmp_path / "boom.py", MODEL)
    message = await wait_for(client, lambda: next((m for m in client.log_messages if "injected failure" in m.message), None))
    assert message.type == types.MessageType.Error and "boom.py" in message.message
    uri = open_doc(client, tmp_path / "model.py", MODEL)
    assert found(await published(client, uri, version=1)) == MODEL_FINDINGS


NOTEBOOK_CAPABILITIES = types.ClientCapabilities(
    notebook_document=types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities()),
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(code_action_literal_support=types.ClientCodeActionLiteralOptions(
            code_action_kind=types.ClientCodeActionKindOptions(value_set=list(types.CodeActionKind))))))


@pytest.mark.asyncio
async def test_notebook_cells_are_linted_as_one_module(client: LanguageClient, tmp_path):
    await start(client, tmp_path, NOTEBOOK_CAPABILITIES)
    nb_uri = (tmp_path / "train.ipynb").as_uri()
    sources = ["import torch\nw = torch.randn(3, requires_grad=True)\n", "# Training\n", "%matplotlib inline\nw.zero_()\n"]
    kinds = [types.NotebookCellKind.Code, types.NotebookCellKind.Markup, types.NotebookCellKind.Code]
    cells = [f"vscode-notebook-cell:{tmp_path}/train.ipynb#cell{i}" for i in range(3)]
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=nb_uri, notebook_type="jupyter-notebook", version=1, cells=[
            types.NotebookCell(kind=kind, document=cell) for kind, cell in zip(kinds, cells)]),
        cell_text_documents=[types.TextDocumentItem(uri=cell, language_id="python" if kind == types.NotebookCellKind.Code else "markdown",
                                                    version=1, text=text)
                             for cell, kind, text in zip(cells, kinds, sources)]))
    [diagnostic] = await published(client, cells[2])
    assert diagnostic.code == "LL101" and diagnostic.range.start.line == 1  # cell 3, after the magic
    assert await published(client, cells[0]) == []

    [fix] = [a for a in await code_actions(client, cells[2], 1) if a.title.startswith("LL101: Wrap")]
    assert fix.edit.changes and not fix.edit.document_changes  # this client did not offer documentChanges
    after = apply_edit(dict(zip(cells, sources)), fix.edit)
    assert after[cells[2]] == "%matplotlib inline\nwith torch.no_grad():\n    w.zero_()\n"

    # fix-all on the notebook: `--fix` on the cells as one module, the magic kept, other cells untouched
    [fix_all] = await code_actions(client, cells[2], 0, only=["source.fixAll.leaflint"])
    assert apply_edit(dict(zip(cells, sources)), fix_all.edit) == after

    # A change in cell 1 (w no longer requires grad) clears cell 3.
    count = len(publishes(client, cells[2]))
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=nb_uri, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cells[0], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text="import torch\nw = torch.randn(3)\n")])]))))
    assert await published(client, cells[2], after=count) == []

    client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=nb_uri),
        cell_text_documents=[types.TextDocumentIdentifier(uri=cell) for cell in cells]))
    count = len(publishes(client, cells[2]))
    assert await published(client, cells[2], after=count) == []


# ------------------------------------------------------------------- in-process, deterministic
@pytest.mark.asyncio
async def test_scheduler_drops_a_result_that_a_newer_change_superseded():
    """A lint held open while two changes arrive: its result is dropped, the newest state is
    linted once, and only that is published (no timing: the lint waits on an event)."""
    from concurrent.futures import ThreadPoolExecutor
    import threading

    state = {"version": 1}
    started, release = threading.Event(), threading.Event()
    linted, shown = [], []

    def lint(version):
        linted.append(version)
        if version == 1:
            started.set()
            release.wait(HANG)
        return version

    with ThreadPoolExecutor(max_workers=1) as executor:
        scheduler = Scheduler(lambda key: state["version"], lambda v: v, lint, shown.append, executor)
        scheduler.request("doc")
        await asyncio.get_running_loop().run_in_executor(None, started.wait, HANG)
        for version in (2, 3):
            state["version"] = version
            scheduler.request("doc")  # a lint is in flight: noticed when it ends, not queued
        release.set()
        await asyncio.wait_for(scheduler.idle(), HANG)
    assert linted == [1, 3] and shown == [3] and scheduler.dropped == 1


def _finding(row: int, end_row: int = None, code: str = "LL101") -> Finding:
    return Finding(code, "x", "m", "f.py", Position(row, 1), Position(end_row or row, 2))


@pytest.mark.parametrize("text, finding, line, expected", [
    ("w.zero_()\n", _finding(1), 1, "w.zero_()  # noqa: LL101"),
    ("w.zero_()   \n", _finding(1), 1, "w.zero_()  # noqa: LL101"),
    ("w.zero_()  # noqa: LL2\n", _finding(1), 1, "w.zero_()  # noqa: LL2, LL101"),
    ("w.zero_()  # why\n", _finding(1), 1, "w.zero_()  # why  # noqa: LL101"),
    # the first row ends inside a multi-line string: the comment goes on the last row
    ('f(w.add_("""a\nb"""))\n', _finding(1, 2), 2, 'b"""))  # noqa: LL101'),
    # the first row ends with a backslash continuation
    ("x = w.add_(1) + \\\n    1\n", _finding(1, 2), 2, "    1  # noqa: LL101"),
])
def test_noqa_edit_goes_where_a_comment_can_be(text, finding, line, expected):
    from leaflint.fix import apply_edits
    from leaflint.suppress import parse

    edit = documents.noqa_edit(text, finding)
    after = apply_edits(text, [edit])
    assert after.splitlines()[line - 1] == expected
    assert parse(after).suppresses(finding.code, (finding.location.row, finding.end_location.row))


def test_no_noqa_for_diagnostics():
    assert documents.noqa_edit("def f(:\n", _finding(1, code="LL001")) is None


def test_notebook_bytes_read_back_with_the_notebook_reader():
    from leaflint import notebook

    snapshot = documents.Snapshot("nb", "/x/nb.ipynb", 1, 0, cells=(
        documents.Cell("c1", "import torch\n", 1, True), documents.Cell("c2", "# text", 1, False),
        documents.Cell("c3", "x = 1", 1, True)), notebook=True)
    parsed = notebook.parse(documents.notebook_bytes(snapshot))
    assert [cell.number for cell in parsed.cells] == [1, 3]
    assert parsed.source == "import torch\nx = 1\n"
    assert json.loads(documents.notebook_bytes(snapshot))["cells"][1]["cell_type"] == "markdown"


def test_code_action_kinds_follow_the_lsp_prefix_rule():
    from leaflint.server.server import _wanted

    assert _wanted("source.fixAll.leaflint", None)
    assert _wanted("source.fixAll.leaflint", [types.CodeActionKind.SourceFixAll])
    assert _wanted("source.fixAll.leaflint", ["source"])
    assert not _wanted("source.fixAll.leaflint", [types.CodeActionKind.QuickFix])
    assert not _wanted("source.fixAll.leaflintx", ["source.fixAll.leaflint.more"])
    assert _wanted(types.CodeActionKind.QuickFix, [types.CodeActionKind.QuickFix])
    assert not _wanted(types.CodeActionKind.QuickFix, ["source.fixAll"])


def test_server_command_without_the_extra_says_how_to_install_it():
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['pygls'] = None\n"
                           "from leaflint.cli import main; main(['server'])"],
                          capture_output=True, text=True, timeout=HANG)
    assert proc.returncode == 2
    assert "pip install 'leaflint[server]'" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("cookie", ["", "# -*- coding: latin-1 -*-\n", "# coding: utf-8\n"])
def test_editor_text_is_linted_as_the_file_it_would_be(cookie, tmp_path):
    """The editor's text (already decoded) reaches the engine as the bytes it would be on disk,
    in its declared encoding, so columns after a non-ASCII character stay right."""
    text = cookie + "import torch\nw = torch.randn(3, requires_grad=True)\ns = '\u00e9\u00e8'; w.zero_()\n"
    snapshot = documents.Snapshot("file:///m.py", str(tmp_path / "m.py"), 1, 0, text=text)
    outcome = documents.lint(snapshot, documents.Project())
    [problem] = outcome.problems
    row = 3 + cookie.count("\n")
    assert (problem.finding.code, problem.finding.location) == ("LL101", Position(row, 11))
