"""The language server: diagnostics, quick fixes, fix-all and hover over the engine, on stdio.

Start it with `serialint lsp` (needs the `lsp` extra: pygls and lsprotocol).

Behaviour worth knowing:

- Linting runs on one worker thread, never on the event loop; a result computed for a document
  version that is no longer current is dropped. Edits are debounced (`DEBOUNCE_SECONDS`); open
  and save lint at once.
- A document that does not parse keeps its last good diagnostics, plus one diagnostic for the
  syntax error, so that findings do not flicker while typing.
- Configuration is the nearest `.serialint.toml`, `serialint.toml` or `pyproject.toml` (with a
  `[tool.serialint]` table), as for `serialint check`. Before each lint the server compares the
  modification times of every configuration file candidate above the document, so an edited
  configuration applies at the next lint without a restart; a `workspace/didChangeWatchedFiles`
  notification for one re-lints every open document at once. A bad configuration becomes a
  diagnostic on the document and a log message.
- Classes defined in other files are resolved through an index of the workspace folder's Python
  files, built once per folder (as `serialint check` would discover them); open documents take
  the place of their file with their buffer text, and watched file changes refresh single entries.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from serialint import __version__
from serialint.config import CONFIG_FILES, ConfigError, ConfigResolver
from serialint.engine import Linter, Project, SourceFile, fix_source, parse_for_index, pickled_classes, read_source
from serialint.findings import Applicability, Edit, Finding, LintError, Severity
from serialint.fixes import applicable, line_starts, newline_of
from serialint.index import FileSummary, ProjectIndex, module_name_in_memory

SOURCE = "serialint"
DEBOUNCE_SECONDS = 0.3
FIX_ALL_KIND = "source.fixAll.serialint"
_ORIGIN = types.Position(line=0, character=0)


# -- positions --------------------------------------------------------------------------------


class LineMap:
    """Converts between serialint positions (1-based line, 0-based code point column) and LSP
    positions (0-based line, 0-based column in the negotiated encoding, UTF-16 by default)."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.starts = line_starts(text)
        self.encoding = str(encoding)

    def _units(self, chunk: str) -> int:
        if self.encoding == types.PositionEncodingKind.Utf32:
            return len(chunk)
        if self.encoding == types.PositionEncodingKind.Utf8:
            return len(chunk.encode("utf-8", "surrogatepass"))
        return len(chunk.encode("utf-16-le", "surrogatepass")) // 2

    def offset(self, line: int, column: int) -> int:
        """The text offset of a serialint position (clamped to the text)."""
        index = min(max(line - 1, 0), len(self.starts) - 1)
        return min(self.starts[index] + max(column, 0), len(self.text))

    def position(self, offset: int) -> types.Position:
        offset = min(max(offset, 0), len(self.text))
        index = bisect.bisect_right(self.starts, offset) - 1
        line_start = self.starts[index]
        return types.Position(line=index, character=self._units(self.text[line_start:offset]))

    def range(self, line: int, column: int, end_line: int, end_column: int) -> types.Range:
        start = self.position(self.offset(line, column))
        return types.Range(start=start, end=self.position(self.offset(end_line, end_column)))

    def line_end(self, line: int) -> int:
        """The offset just before the line ending of a 1-based line."""
        index = min(max(line - 1, 0), len(self.starts) - 1)
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        while end > self.starts[index] and self.text[end - 1] in "\r\n":
            end -= 1
        return end

    def whole(self) -> types.Range:
        return types.Range(start=_ORIGIN, end=self.position(len(self.text)))


# -- the engine side: used from the worker thread only ---------------------------------------


@dataclass
class _Entry:
    summary: FileSummary
    pickled_refs: FrozenSet[str]


@dataclass
class LintRun:
    """What one lint of a document text produced."""

    findings: List[Finding] = field(default_factory=list)
    errors: List[LintError] = field(default_factory=list)  # syntax errors, internal errors
    config_error: Optional[LintError] = None
    fixed: Optional[str] = None  # the text after every safe fix, when asked for
    excluded: bool = False


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _inside(path: str, folder: Optional[str]) -> bool:
    if folder is None:
        return False
    folder = _key(folder)
    return _key(path).startswith(folder.rstrip(os.sep) + os.sep)


class _Engine:
    """The engine state of the server: linter, configuration and per-folder class index.

    Not thread-safe by design: the server calls it from a single worker thread.
    """

    def __init__(self) -> None:
        self._linter: Optional[Linter] = None
        self._resolver: Optional[ConfigResolver] = None
        self._stamps: Dict[str, Tuple[Tuple[str, int, int], ...]] = {}
        self._folders: Dict[str, Dict[str, _Entry]] = {}
        self._buffers: Dict[str, _Entry] = {}  # open documents, from their last text that parsed

    @property
    def linter(self) -> Linter:
        if self._linter is None:
            self._linter = Linter()
        return self._linter

    def resolver_for(self, path: str) -> ConfigResolver:
        """The resolver, renewed when a configuration file above `path` appeared, changed or went."""
        directory = os.path.dirname(os.path.abspath(path))
        stamp = _config_stamp(directory)
        known = self._stamps.get(directory)
        if self._resolver is None or (known is not None and known != stamp):
            # the resolver caches settings per file and directory: any of them may be stale now
            self._resolver = ConfigResolver(self.linter.codes)
            self._stamps.clear()
        self._stamps[directory] = stamp
        return self._resolver

    def invalidate_config(self) -> None:
        self._resolver = None
        self._stamps.clear()

    def refresh_file(self, path: str, deleted: bool) -> None:
        """A watched Python file changed on disk: update the folder indexes holding it."""
        for folder, entries in self._folders.items():
            if not _inside(path, folder):
                continue
            entries.pop(_key(path), None)
            if not deleted:
                entry = _read_entry(path)
                if entry is not None:
                    entries[_key(path)] = entry

    def forget(self, path: str) -> None:
        self._buffers.pop(_key(path), None)

    def _folder_entries(self, folder: str) -> Dict[str, _Entry]:
        entries = self._folders.get(folder)
        if entries is None:
            from serialint.discovery import discover

            entries = {}
            files, _ = discover([folder], self.resolver_for(os.path.join(folder, "x.py")))
            for path in files:
                entry = _read_entry(path)
                if entry is not None:
                    entries[_key(path)] = entry
            self._folders[folder] = entries
        return entries

    def lint(self, path: str, text: str, folder: Optional[str], on_disk: bool, fix: bool = False) -> LintRun:
        module_name = None if on_disk else module_name_in_memory(path, [path])
        source = SourceFile(path, text=text, module_name=module_name)
        parse_for_index(source)
        if source.error is not None or source.summary is None:
            return LintRun(errors=[source.error] if source.error else [])
        entry = _Entry(source.summary, source.pickled_refs)
        self._buffers[_key(path)] = entry
        try:
            settings = self.resolver_for(path).for_path(path)
        except ConfigError as exc:
            return LintRun(config_error=exc.as_lint_error())
        if on_disk and settings.is_excluded_with_parents(path):
            return LintRun(excluded=True)
        source.settings = settings

        entries: Dict[str, _Entry] = dict(self._folder_entries(folder)) if folder is not None else {}
        for key, buffered in self._buffers.items():
            if _inside(key, folder):
                entries[key] = buffered
        entries[_key(path)] = entry  # the summary object the linted file is known by in the index
        index = ProjectIndex((e.summary for e in entries.values()), settings.module_bases)
        pickled = pickled_classes(index, (ref for e in entries.values() for ref in e.pickled_refs))
        if fix:
            outcome = fix_source(self.linter, source, Project(index, pickled), unsafe=False)
            return LintRun(findings=outcome.remaining, fixed=outcome.fixed)
        result = self.linter.lint_file(source, index, pickled)
        return LintRun(findings=list(result.findings), errors=list(result.errors))


def _read_entry(path: str) -> Optional[_Entry]:
    read = read_source(path)
    if isinstance(read, LintError):
        return None
    source = SourceFile(path, text=read[0])
    parse_for_index(source)
    source.tree = None  # only the summary is kept
    if source.summary is None:
        return None
    return _Entry(source.summary, source.pickled_refs)


def _config_stamp(directory: str) -> Tuple[Tuple[str, int, int], ...]:
    """Modification time and size of every configuration file candidate at or above `directory`."""
    found: List[Tuple[str, int, int]] = []
    while True:
        for name in CONFIG_FILES:
            candidate = os.path.join(directory, name)
            try:
                stat = os.stat(candidate)
            except OSError:
                continue
            found.append((candidate, stat.st_mtime_ns, stat.st_size))
        parent = os.path.dirname(directory)
        if parent == directory:
            return tuple(found)
        directory = parent


# -- the server -------------------------------------------------------------------------------


@dataclass
class _DocState:
    task: Optional["asyncio.Future[Any]"] = None
    # the last text that parsed, its version, findings and their diagnostics
    good_text: Optional[str] = None
    good_version: Optional[int] = None
    findings: List[Finding] = field(default_factory=list)
    diagnostics: List[types.Diagnostic] = field(default_factory=list)
    fixed: Dict[int, Optional[str]] = field(default_factory=dict)  # version -> fix-all result


class SerialintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("serialint", __version__)
        self.engine = _Engine()
        # one worker: the engine state is confined to it, and lints run in arrival order
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serialint-lint")
        self.states: Dict[str, _DocState] = {}
        self._rules: Optional[Dict[str, Any]] = None

    # -- helpers ----------------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def rule_classes(self) -> Dict[str, Any]:
        if self._rules is None:
            from serialint.rules import all_rules

            self._rules = {r.code: r for r in all_rules()}
        return self._rules

    def locate(self, uri: str) -> Tuple[str, Optional[str], bool]:
        """The document's file path, its workspace folder, and whether it is a file on disk."""
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path is None:
            name = uri.rsplit("/", 1)[-1] or "untitled"
            return (name if name.endswith(".py") else name + ".py"), None, False
        folder: Optional[str] = None
        for folder_uri in self.workspace.folders:
            candidate = to_fs_path(folder_uri)
            if candidate and _inside(path, candidate) and (folder is None or len(candidate) > len(folder)):
                folder = candidate
        return path, folder, True

    async def run_engine(self, uri: str, text: str, fix: bool = False) -> LintRun:
        path, folder, on_disk = self.locate(uri)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.engine.lint, path, text, folder, on_disk, fix)

    def log(self, kind: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=f"serialint: {message}"))

    def schedule(self, uri: str, delay: float) -> None:
        state = self.states.setdefault(uri, _DocState())
        if state.task is not None and not state.task.done():
            state.task.cancel()
        state.task = asyncio.ensure_future(self._lint_later(uri, delay))

    def current(self, uri: str) -> Optional[Tuple[str, Optional[int]]]:
        if uri not in self.workspace.text_documents:
            return None
        document = self.workspace.get_text_document(uri)
        return document.source, document.version

    async def _lint_later(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        snapshot = self.current(uri)
        if snapshot is None:
            return
        text, version = snapshot
        try:
            run = await self.run_engine(uri, text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a defect must reach the user as a message, never end the server
            self.log(types.MessageType.Error, f"internal error linting {uri}: {type(exc).__name__}: {exc}")
            return
        if self.current(uri) != (text, version):
            return  # a newer version arrived meanwhile; its own lint publishes
        self.publish(uri, text, version, run)

    def publish(self, uri: str, text: str, version: Optional[int], run: LintRun) -> None:
        state = self.states.setdefault(uri, _DocState())
        lines = LineMap(text, self.encoding)
        syntax = [e for e in run.errors if e.message.startswith(("syntax error", "cannot decode"))]
        for error in run.errors:
            if error not in syntax:
                self.log(types.MessageType.Warning, error.render())
        if run.config_error is not None:
            self.log(types.MessageType.Error, f"configuration error: {run.config_error.render()}")
            diagnostics = [
                types.Diagnostic(
                    range=types.Range(start=_ORIGIN, end=_ORIGIN),
                    message=f"serialint configuration error: {run.config_error.render()}",
                    severity=types.DiagnosticSeverity.Error,
                    source=SOURCE,
                )
            ]
        elif syntax:
            # keep the last good findings while the text does not parse: typing should not make them flicker
            diagnostics = [*state.diagnostics, *(self._error_diagnostic(lines, e) for e in syntax)]
        else:
            state.good_text, state.good_version = text, version
            state.fixed = {}  # settings or other files may have changed what the fixes do
            state.findings = [] if run.excluded else run.findings
            state.diagnostics = [self._diagnostic(lines, f) for f in state.findings]
            diagnostics = list(state.diagnostics)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    def _diagnostic(self, lines: LineMap, finding: Finding) -> types.Diagnostic:
        fix = finding.fix.applicability.value if finding.fix is not None and finding.fix.edits else None
        return types.Diagnostic(
            range=lines.range(finding.line, finding.column, finding.end_line, finding.end_column),
            message=finding.message,
            severity=types.DiagnosticSeverity.Error
            if finding.severity is Severity.ERROR
            else types.DiagnosticSeverity.Warning,
            code=finding.code,
            source=SOURCE,
            data={"name": finding.name, "fix": fix},
        )

    def _error_diagnostic(self, lines: LineMap, error: LintError) -> types.Diagnostic:
        line = error.line or 1
        start = lines.offset(line, error.column or 0)
        end = max(start, lines.line_end(line))
        return types.Diagnostic(
            range=types.Range(start=lines.position(start), end=lines.position(end)),
            message=error.message,
            severity=types.DiagnosticSeverity.Error,
            source=SOURCE,
        )

    async def findings_now(self, uri: str) -> Optional[Tuple[str, Optional[int], List[Finding]]]:
        """Findings for the current text: the last lint's when it is current, else a fresh one."""
        snapshot = self.current(uri)
        if snapshot is None:
            return None
        text, version = snapshot
        state = self.states.setdefault(uri, _DocState())
        if state.good_text == text:
            return text, version, state.findings
        run = await self.run_engine(uri, text)
        if run.errors or run.config_error is not None:
            return None
        return text, version, run.findings

    def edit_for(self, uri: str, version: Optional[int], edits: List[types.TextEdit]) -> types.WorkspaceEdit:
        supports = self.client_capabilities.workspace
        versioned = bool(
            supports and supports.workspace_edit and supports.workspace_edit.document_changes
        )
        if versioned and version is not None:
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                        edits=edits,  # type: ignore[arg-type]
                    )
                ]
            )
        return types.WorkspaceEdit(changes={uri: edits})


server = SerialintServer()


def _text_edits(lines: LineMap, edits: Sequence[Edit]) -> List[types.TextEdit]:
    newline = newline_of(lines.text)
    result = []
    seen = set()
    for edit in edits:
        key = (edit.line, edit.column, edit.end_line, edit.end_column, edit.content)
        if key in seen:  # the engine applies identical edits once, so do clients
            continue
        seen.add(key)
        content = edit.content.replace("\n", newline) if newline != "\n" else edit.content
        result.append(
            types.TextEdit(range=lines.range(edit.line, edit.column, edit.end_line, edit.end_column), new_text=content)
        )
    return result


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> Tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wanted(only: Optional[Sequence[str]], kind: str) -> bool:
    if not only:
        return True
    return any(kind == k or kind.startswith(str(k) + ".") for k in only)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: SerialintServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: SerialintServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_SECONDS)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: SerialintServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: SerialintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    state = ls.states.pop(uri, None)
    if state is not None and state.task is not None:
        state.task.cancel()
    path, _, on_disk = ls.locate(uri)
    ls.executor.submit(ls.engine.forget, path)
    if on_disk:
        ls.executor.submit(ls.engine.refresh_file, path, not os.path.isfile(path))
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: SerialintServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if path is None:
            continue
        if os.path.basename(path) in CONFIG_FILES:
            ls.executor.submit(ls.engine.invalidate_config)
        elif path.endswith(".py") and change.uri not in ls.workspace.text_documents:
            ls.executor.submit(ls.engine.refresh_file, path, change.type == types.FileChangeType.Deleted)
    for uri in list(ls.states):
        ls.schedule(uri, 0)


@server.feature(types.INITIALIZED)
async def initialized(ls: SerialintServer, params: types.InitializedParams) -> None:
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    patterns = ["**/*.py", *(f"**/{name}" for name in CONFIG_FILES)]
    try:
        await ls.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id="serialint-watched-files",
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=types.DidChangeWatchedFilesRegistrationOptions(
                            watchers=[types.FileSystemWatcher(glob_pattern=p) for p in patterns]
                        ),
                    )
                ]
            )
        )
    except Exception as exc:  # a client that refuses only loses the watching; the mtime check remains
        ls.log(types.MessageType.Warning, f"cannot watch configuration files: {exc}")


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND]),
)
async def code_action(ls: SerialintServer, params: types.CodeActionParams) -> List[types.CodeAction]:
    uri = params.text_document.uri
    only = params.context.only
    wants_quick = _wanted(only, types.CodeActionKind.QuickFix)
    wants_all = _wanted(only, FIX_ALL_KIND)
    if not (wants_quick or wants_all):
        return []
    found = await ls.findings_now(uri)
    if found is None:
        return []
    text, version, findings = found
    lines = LineMap(text, ls.encoding)
    actions: List[types.CodeAction] = []
    if wants_quick:
        for finding in findings:
            if finding.fix is None or not applicable(finding.fix, unsafe=True):
                continue
            diagnostic = ls._diagnostic(lines, finding)
            if not _overlaps(diagnostic.range, params.range):
                continue
            unsafe = finding.fix.applicability is Applicability.UNSAFE
            title = f"Fix {finding.code}: {finding.fix.description}" + (" (unsafe)" if unsafe else "")
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=not unsafe,
                    edit=ls.edit_for(uri, version, _text_edits(lines, finding.fix.edits)),
                )
            )
    if wants_all and any(applicable(f.fix, unsafe=False) for f in findings):
        state = ls.states.setdefault(uri, _DocState())
        if version is None or version not in state.fixed:
            fixed = (await ls.run_engine(uri, text, fix=True)).fixed
            if version is not None:
                state.fixed = {version: fixed}
        else:
            fixed = state.fixed[version]
        if fixed is not None and fixed != text and ls.current(uri) == (text, version):
            actions.append(
                types.CodeAction(
                    title="Fix all safe serialint findings",
                    kind=FIX_ALL_KIND,
                    edit=ls.edit_for(uri, version, [types.TextEdit(range=lines.whole(), new_text=fixed)]),
                )
            )
    return actions


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: SerialintServer, params: types.HoverParams) -> Optional[types.Hover]:
    state = ls.states.get(params.text_document.uri)
    if state is None:
        return None
    point = (params.position.line, params.position.character)
    parts: List[str] = []
    hit: Optional[types.Range] = None
    shown = set()
    for diagnostic in state.diagnostics:
        start, end = diagnostic.range.start, diagnostic.range.end
        if not ((start.line, start.character) <= point <= (end.line, end.character)):
            continue
        rule = ls.rule_classes().get(str(diagnostic.code))
        if rule is None or rule.code in shown:
            continue
        shown.add(rule.code)
        hit = hit or diagnostic.range
        parts.append(f"**{rule.code}** `{rule.name}`: {diagnostic.message}\n\n{rule.documentation()}")
    if not parts:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)),
        range=hit,
    )


def main() -> None:
    server.start_io()


if __name__ == "__main__":
    main()
