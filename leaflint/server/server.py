"""The language server: pygls over stdio, the engine in this process.

Documents are linted as they open and change (``leaflint.server.schedule``: one lint in flight
per document, stale results dropped), with the configuration ``leaflint check`` would use,
reloaded when a ``pyproject.toml`` changes (watched files, or saved in the editor). Diagnostics
carry the document version they were computed for; closing a document clears them. Code actions:
each finding's fix (a safe fix is the preferred quick fix, an unsafe one says so in its title),
``# noqa: CODE``, and ``source.fixAll.leaflint`` (``--fix``: safe fixes, verified). Hover on a
finding shows its rule's docs. A failure while handling one document is logged to the client
(``window/logMessage``) and the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Hashable, Optional
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from leaflint import __version__
from leaflint.server import convert, documents
from leaflint.server.documents import Cell, Outcome, Project, Snapshot
from leaflint.server.schedule import Scheduler

logger = logging.getLogger("leaflint.server")

CONFIG_WATCHER_ID = "leaflint-pyproject-watcher"
CODE_ACTION_KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, convert.FIX_ALL_KIND]


class LeaflintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "leaflint", __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(
                    cells=[types.NotebookCellLanguage(language="python")], notebook="*")]))
        self.project = Project()
        # One worker: lints, fix-alls and code actions run one at a time, off the event loop.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leaflint-lint")
        self.python_documents: set[str] = set()  # uris of the open Python documents
        self.notebooks: set[str] = set()  # uris of the open notebooks
        self.results: dict[str, Outcome] = {}  # the last published outcome per document/notebook
        self.scheduler: Scheduler[Snapshot, Outcome] = Scheduler(
            self.snapshot, lambda snapshot: snapshot.token, self.lint, self.publish, self.executor)
        self._shown_errors: set[tuple[int, str]] = set()

    # ------------------------------------------------------------------------------ snapshots
    def path_of(self, uri: str) -> str:
        path = to_fs_path(uri)
        if path is not None and uri.startswith("file:"):
            return os.path.abspath(path)
        # an unsaved document: configured like a file of that name in the workspace root
        name = unquote(uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1]) or "untitled.py"
        root = self.workspace.root_path if self.workspace.root_path else os.getcwd()
        return os.path.join(root, name)

    def snapshot(self, key: Hashable) -> Optional[Snapshot]:
        """The current state of an open Python document or notebook (None: not open)."""
        uri = str(key)
        generation = self.project.generation
        if uri in self.notebooks:
            notebook = self.workspace.get_notebook_document(notebook_uri=uri)
            if notebook is None:
                return None
            cells = []
            for cell in notebook.cells:
                document = self.workspace.text_documents.get(unquote(cell.document))
                text = document.source if document is not None else ""
                code = cell.kind == types.NotebookCellKind.Code and (
                    document is None or documents.is_python(cell.document, document.language_id))
                cells.append(Cell(cell.document, text, document.version if document is not None else None, code))
            metadata = notebook.metadata if isinstance(notebook.metadata, dict) else {}
            return Snapshot(uri, self.path_of(uri), notebook.version, generation, cells=tuple(cells),
                            metadata=metadata, notebook=True)
        if uri in self.python_documents:
            document = self.workspace.text_documents.get(unquote(uri))
            if document is None:
                return None
            return Snapshot(uri, self.path_of(uri), document.version, generation, text=document.source)
        return None

    def owner(self, uri: str) -> str:
        """The key a document is linted under: its notebook's uri for a cell, else its own."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return notebook.uri if notebook is not None and notebook.uri in self.notebooks else uri

    # ------------------------------------------------------------------------ lint, publish
    def lint(self, snapshot: Snapshot) -> Outcome:
        """Runs on the worker thread. Never raises: a failure is an outcome to log."""
        try:
            return documents.lint(snapshot, self.project)
        except Exception:  # a bug in leaflint: log it, keep serving the other documents
            return Outcome(snapshot, failed=True, traceback=traceback.format_exc())

    def lines(self, text: str) -> convert.Lines:
        return convert.Lines(text, self.workspace.position_codec.client_num_units)

    def report(self, outcome: Outcome) -> None:
        """Log an internal error (with its traceback); show a configuration error once per
        configuration generation."""
        if outcome.traceback is not None:
            what = "leaflint failed on" if outcome.failed else "internal error (LL003) while checking"
            self.log(types.MessageType.Error, f"{what} {outcome.snapshot.path}:\n{outcome.traceback}")
        if outcome.error is not None and (outcome.snapshot.generation, outcome.error) not in self._shown_errors:
            self._shown_errors.add((outcome.snapshot.generation, outcome.error))
            self.log(types.MessageType.Error, f"configuration error: {outcome.error}")
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error, message=f"leaflint: {outcome.error}"))

    def publish(self, outcome: Outcome) -> None:
        snapshot = outcome.snapshot
        self.report(outcome)
        if outcome.failed:
            return
        self.results[snapshot.uri] = outcome
        texts = snapshot.texts()
        for uri, version in snapshot.targets():
            lines = self.lines(texts[uri])
            diagnostics = [convert.diagnostic(p, lines) for p in outcome.problems if p.target == uri]
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def clear(self, uris) -> None:
        for uri in uris:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def log(self, kind: types.MessageType, message: str) -> None:
        logger.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, "%s", message)
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    async def current(self, key: str) -> Optional[Outcome]:
        """The outcome for the document's current state: the published one if still current,
        else a fresh lint."""
        snapshot = self.snapshot(key)
        if snapshot is None:
            return None
        stored = self.results.get(key)
        if stored is not None and stored.snapshot.token == snapshot.token:
            return stored
        outcome = await asyncio.get_running_loop().run_in_executor(self.executor, self.lint, snapshot)
        self.report(outcome)
        return outcome

    def reload(self, reason: str) -> None:
        """The configuration changed: resolve it afresh and lint every open document again."""
        self.project.reload()
        self.log(types.MessageType.Info, f"configuration reloaded ({reason})")
        for key in list(self.python_documents) + list(self.notebooks):
            self.scheduler.request(key)

    # ----------------------------------------------------------------------- code actions
    async def code_actions(self, params: types.CodeActionParams) -> Optional[list[types.CodeAction]]:
        uri = params.text_document.uri
        outcome = await self.current(self.owner(uri))
        if outcome is None or outcome.failed:
            return None
        snapshot = outcome.snapshot
        texts = snapshot.texts()
        if uri not in texts:
            return None
        cache: dict[str, convert.Lines] = {}

        def lines_of(target: str) -> convert.Lines:
            if target not in cache:
                cache[target] = self.lines(texts[target])
            return cache[target]

        versions = dict(snapshot.targets()) if self.document_changes() else None
        only = params.context.only
        actions: list[types.CodeAction] = []
        if _wanted(types.CodeActionKind.QuickFix, only):
            lines = lines_of(uri)
            start, end = lines.leaflint(params.range.start), lines.leaflint(params.range.end)
            for problem in outcome.problems:
                if problem.target != uri or not convert.on_rows(problem.finding, start, end):
                    continue
                diagnostic = convert.diagnostic(problem, lines)
                action = convert.fix_action(problem, lines_of, versions, diagnostic)
                if action is not None:
                    actions.append(action)
                edit = documents.noqa_edit(texts[uri], problem.finding)
                if edit is not None:
                    actions.append(convert.noqa_action(problem, edit, lines, versions, diagnostic))
        if _wanted(convert.FIX_ALL_KIND, only) and any(
                p.finding.fix is not None and p.finding.fix.applicability == "safe" for p in outcome.problems):
            try:
                changed = await asyncio.get_running_loop().run_in_executor(
                    self.executor, documents.fix_all, snapshot, self.project)
            except Exception:  # a bug in leaflint: no fix-all for this document, the rest stands
                self.log(types.MessageType.Error, f"leaflint failed to fix {snapshot.path}:\n{traceback.format_exc()}")
                changed = None
            if changed:
                actions.append(convert.fix_all_action(changed, lines_of, versions))
        return actions

    def document_changes(self) -> bool:
        """Whether the client takes versioned edits (``documentChanges``) in a WorkspaceEdit."""
        workspace = self.client_capabilities.workspace
        edit = workspace.workspace_edit if workspace is not None else None
        return bool(edit is not None and edit.document_changes)

    async def hover(self, params: types.HoverParams) -> Optional[types.Hover]:
        uri = params.text_document.uri
        outcome = await self.current(self.owner(uri))
        if outcome is None or outcome.failed:
            return None
        texts = outcome.snapshot.texts()
        if uri not in texts:
            return None
        lines = self.lines(texts[uri])
        here = lines.leaflint(params.position)
        return convert.hover([p for p in outcome.problems if p.target == uri and convert.covers(p.finding, here, here)],
                             lines)

    async def watch_configuration(self) -> None:
        """Ask the client to tell us about ``pyproject.toml`` and ``.gitignore`` changes (when it can)."""
        workspace = self.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace is not None else None
        if watched is None or not watched.dynamic_registration:
            return
        try:
            await self.client_register_capability_async(types.RegistrationParams(registrations=[types.Registration(
                id=CONFIG_WATCHER_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern=f"**/{name}") for name in documents.WATCHED_NAMES]))]))
        except JsonRpcException as exc:
            self.log(types.MessageType.Warning, f"cannot watch {' and '.join(documents.WATCHED_NAMES)} files: {exc}")


def _wanted(kind: str, only: Optional[list]) -> bool:
    """LSP's rule: a kind is wanted when ``only`` is absent or names it or one of its parents."""
    if not only:
        return True
    kind = getattr(kind, "value", kind)  # CodeActionKind members: their string
    wanted = [getattr(o, "value", o) for o in only]
    return any(kind == o or kind.startswith(f"{o}.") for o in wanted)


def build() -> LeaflintServer:
    server = LeaflintServer()

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        root = server.workspace.root_path
        if root and os.path.isdir(root):
            os.chdir(root)  # relative settings and the default project root, as `leaflint check` run there

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await server.watch_configuration()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        document = params.text_document
        if server.workspace.get_notebook_document(cell_uri=document.uri) is not None:
            return  # a notebook's cell: linted with its notebook
        if documents.is_python(document.uri, document.language_id):
            server.python_documents.add(document.uri)
            server.scheduler.request(document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        if params.text_document.uri in server.python_documents:
            server.scheduler.request(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        path = to_fs_path(params.text_document.uri)
        if documents.is_config(path):
            server.reload(f"{params.text_document.uri} saved")
        elif path is not None and path.endswith(".py"):
            # the project index reads the saved file again; the other open documents may
            # import it, so they are linted again with what it now says
            server.project.saved(path)
            for key in list(server.python_documents):
                if key != params.text_document.uri:
                    server.scheduler.request(key)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in server.python_documents:
            server.python_documents.discard(uri)
            server.results.pop(uri, None)
            server.clear([uri])

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_open(params: types.DidOpenNotebookDocumentParams) -> None:
        server.notebooks.add(params.notebook_document.uri)
        server.scheduler.request(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_change(params: types.DidChangeNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        if params.change.cells is not None and params.change.cells.structure is not None:
            server.clear(cell.uri for cell in params.change.cells.structure.did_close or [])
        if uri in server.notebooks:
            server.scheduler.request(uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        server.notebooks.discard(uri)
        server.results.pop(uri, None)
        server.clear(cell.uri for cell in params.cell_text_documents)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        changed = [c.uri for c in params.changes if documents.is_config(to_fs_path(c.uri))]
        if changed:
            server.reload(f"changed: {', '.join(changed)}")

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS, resolve_provider=False))
    async def code_action(params: types.CodeActionParams):
        return await server.code_actions(params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(params: types.HoverParams):
        return await server.hover(params)

    return server


def serve() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="leaflint server: %(levelname)s %(message)s")
    build().start_io()
