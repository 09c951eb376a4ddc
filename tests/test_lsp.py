"""The language server, driven over stdio by pytest-lsp as an editor would drive it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pygls.protocol import default_converter  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features  # noqa: E402

from serialint.rules import all_rules  # noqa: E402

# one server for the module (starting one costs seconds); each test works in its own directory with
# its own file names, so that module names in the shared workspace index stay distinct
pytestmark = pytest.mark.asyncio(loop_scope="module")

SER302_MESSAGE = (
    "torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: whoever can write the "
    "file runs code here; load it with weights_only=True (allow extra trusted classes with "
    "torch.serialization.add_safe_globals)"
)
SER101_MESSAGE = (
    'buffer "mean" is registered as None and assigned a tensor later: loading a checkpoint saved after the '
    'assignment into a fresh instance fails (Unexpected key(s) in state_dict: "mean")'
)

# two non-BMP characters before the finding on its line: each is two UTF-16 code units
HAZARD = """\
import torch
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def calibrate(self, x):
        self.mean = x.mean(0)


def restore(path):
    note = "\U0001f525 checkpoint \U0001f525"; return torch.load(path, weights_only=False)
"""
LOAD_LINE = HAZARD.splitlines()[14]
LOAD_COLUMN = LOAD_LINE.index("torch.load") + 2  # in UTF-16 code units
LOAD_END = len(LOAD_LINE) + 2

BASE = """\
from torch import nn


class Base(nn.Module):
    pass
"""
SUBCLASS = """\
from base import Base


class Net(Base):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def calibrate(self, x):
        self.mean = x.mean(0)
"""


def _client() -> LanguageClient:
    """The pytest-lsp client, also keeping every publishDiagnostics in order, to wait on without races."""
    client = LanguageClient(converter_factory=default_converter)
    published: List[types.PublishDiagnosticsParams] = []
    arrived = asyncio.Event()

    def record(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        published.append(params)
        arrived.set()

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = record
    register_lsp_features(client, features)
    client.published = published  # type: ignore[attr-defined]
    client.arrived = arrived  # type: ignore[attr-defined]
    return client


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "serialint", "lsp"], client_factory=_client),
    scope="module",
)
async def client(lsp_client: LanguageClient, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    workspace = tmp_path_factory.mktemp("ws")
    capabilities = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
        ),
    )
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
        )
    )
    lsp_client.workspace = workspace  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def directory(client: LanguageClient, name: str) -> Path:
    """A fresh directory of the shared workspace for one test."""
    path: Path = client.workspace / name  # type: ignore[attr-defined]
    path.mkdir()
    return path


async def published(client: LanguageClient, uri: str, version: int, since: int = 0) -> Sequence[types.Diagnostic]:
    """The diagnostics published for `uri` at `version`, waiting for them if they have not arrived."""

    async def wait() -> Sequence[types.Diagnostic]:
        while True:
            for params in client.published[since:]:  # type: ignore[attr-defined]
                if params.uri == uri and params.version == version:
                    return params.diagnostics
            client.arrived.clear()  # type: ignore[attr-defined]
            await client.arrived.wait()  # type: ignore[attr-defined]

    # a bound on a hang, not a timing assertion: the server answers in well under a second
    return await asyncio.wait_for(wait(), 20)


def open_document(client: LanguageClient, path: Path, text: str, write: bool = True) -> str:
    if write:
        path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    return uri


def change_document(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def summary(diagnostics: Sequence[types.Diagnostic]) -> List[tuple]:
    return [
        (
            d.code,
            (d.range.start.line, d.range.start.character),
            (d.range.end.line, d.range.end.character),
            d.severity,
            d.source,
            d.message,
        )
        for d in diagnostics
    ]


def _offset(text: str, position: types.Position) -> int:
    """A UTF-16 LSP position as an offset into `text`."""
    lines = text.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[: position.line])
    units = 0
    line = lines[position.line] if position.line < len(lines) else ""
    for ch in line:
        if units >= position.character:
            break
        units += 2 if ord(ch) > 0xFFFF else 1
        offset += 1
    return offset


def apply(text: str, edit: types.WorkspaceEdit, uri: str, version: int) -> str:
    """Apply a WorkspaceEdit for one document as a client does (all edits against the original text)."""
    assert edit.changes is None
    assert edit.document_changes is not None and len(edit.document_changes) == 1
    change = edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == version
    spans = [(_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in change.edits]
    for start, end, new_text in sorted(spans, key=lambda s: (s[0], s[1]), reverse=True):
        text = text[:start] + new_text + text[end:]
    return text


HAZARD_DIAGNOSTICS = [
    ("SER101", (7, 8), (7, 42), types.DiagnosticSeverity.Error, "serialint", SER101_MESSAGE),
    ("SER302", (14, LOAD_COLUMN), (14, LOAD_END), types.DiagnosticSeverity.Error, "serialint", SER302_MESSAGE),
]


async def test_diagnostics_have_codes_and_utf16_ranges(client: LanguageClient) -> None:
    uri = open_document(client, directory(client, "diagnostics") / "train_diagnostics.py", HAZARD)
    diagnostics = await published(client, uri, 1)
    assert LOAD_COLUMN == 38 and LOAD_END == 74
    assert summary(diagnostics) == HAZARD_DIAGNOSTICS
    assert [d.data for d in diagnostics] == [
        {"name": "register-buffer-none", "fix": "safe"},
        {"name": "unsafe-load", "fix": "unsafe"},
    ]
    assert [d.code_description for d in diagnostics] == [None, None]


async def test_quick_fix_removes_the_diagnostic(client: LanguageClient) -> None:
    uri = open_document(client, directory(client, "quick") / "train_quick.py", HAZARD)
    diagnostics = await published(client, uri, 1)
    load = diagnostics[1]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=load.range,
            context=types.CodeActionContext(diagnostics=[load], only=[types.CodeActionKind.QuickFix]),
        )
    )
    assert actions is not None
    assert [(a.title, a.kind, a.is_preferred) for a in actions] == [
        ("Fix SER302: load with weights_only=True (unsafe)", types.CodeActionKind.QuickFix, False)
    ]
    assert summary(actions[0].diagnostics or []) == [HAZARD_DIAGNOSTICS[1]]
    fixed = apply(HAZARD, actions[0].edit, uri, 1)  # type: ignore[arg-type]
    assert fixed == HAZARD.replace("weights_only=False", "weights_only=True")

    change_document(client, uri, 2, fixed)
    assert summary(await published(client, uri, 2)) == [HAZARD_DIAGNOSTICS[0]]


async def test_fix_all_equals_check_fix(client: LanguageClient, tmp_path: Path) -> None:
    workspace = directory(client, "fixall")
    uri = open_document(client, workspace / "train_fixall.py", HAZARD)
    await published(client, uri, 1)
    # what `serialint check --fix` writes for the same workspace
    copy = tmp_path / "cli"
    shutil.copytree(workspace, copy)
    subprocess.run(
        [sys.executable, "-m", "serialint", "check", "--fix", "-q", "."], cwd=copy, capture_output=True, check=False
    )
    expected = (copy / "train_fixall.py").read_text(encoding="utf-8")

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[], only=["source.fixAll"]),
        )
    )
    if expected == HAZARD:  # no safe fix applies to this text
        assert actions == []
        return
    assert actions is not None
    assert [(a.title, a.kind) for a in actions] == [("Fix all safe serialint findings", "source.fixAll.serialint")]
    assert apply(HAZARD, actions[0].edit, uri, 1) == expected  # type: ignore[arg-type]


async def test_hover_shows_rule_documentation(client: LanguageClient) -> None:
    uri = open_document(client, directory(client, "hover") / "train_hover.py", HAZARD)
    await published(client, uri, 1)
    rule = next(r for r in all_rules() if r.code == "SER302")
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=14, character=LOAD_COLUMN + 3),
        )
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value == f"**SER302** `unsafe-load`: {SER302_MESSAGE}\n\n{rule.documentation()}"
    assert hover.range is not None and (hover.range.start.line, hover.range.start.character) == (14, LOAD_COLUMN)

    outside = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=14, character=LOAD_COLUMN - 1),
        )
    )
    assert outside is None


async def test_configuration_change_takes_effect(client: LanguageClient) -> None:
    workspace = directory(client, "config")
    uri = open_document(client, workspace / "train_config.py", HAZARD)
    assert summary(await published(client, uri, 1)) == HAZARD_DIAGNOSTICS

    def notify(name: str, kind: types.FileChangeType) -> int:
        mark = len(client.published)  # type: ignore[attr-defined]
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=(workspace / name).as_uri(), type=kind)])
        )
        return mark

    config = workspace / "serialint.toml"
    config.write_text('ignore = ["SER302"]\n', encoding="utf-8")
    mark = notify("serialint.toml", types.FileChangeType.Created)
    assert summary(await published(client, uri, 1, since=mark)) == [HAZARD_DIAGNOSTICS[0]]

    config.write_text('ignore = ["SER999"]\n', encoding="utf-8")
    mark = notify("serialint.toml", types.FileChangeType.Changed)
    diagnostics = await published(client, uri, 1, since=mark)
    assert summary(diagnostics) == [
        (
            None,
            (0, 0),
            (0, 0),
            types.DiagnosticSeverity.Error,
            "serialint",
            f"serialint configuration error: {config}: 'ignore': unknown rule code or prefix 'SER999'",
        )
    ]

    config.unlink()
    mark = notify("serialint.toml", types.FileChangeType.Deleted)
    assert summary(await published(client, uri, 1, since=mark)) == HAZARD_DIAGNOSTICS


async def test_module_base_from_another_workspace_file(client: LanguageClient, tmp_path: Path) -> None:
    workspace = directory(client, "base")
    (workspace / "base.py").write_text(BASE, encoding="utf-8")
    # the workspace index may have been built before base.py existed: an editor reports the new file
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "base.py").as_uri(), type=types.FileChangeType.Created)]
        )
    )
    uri = open_document(client, workspace / "model.py", SUBCLASS)
    assert summary(await published(client, uri, 1)) == [
        ("SER101", (6, 8), (6, 42), types.DiagnosticSeverity.Error, "serialint", SER101_MESSAGE)
    ]
    # the same file where no base.py exists: nothing says Base is a Module, so nothing is reported
    alone = tmp_path / "alone"
    alone.mkdir()
    other = open_document(client, alone / "model.py", SUBCLASS)
    assert summary(await published(client, other, 1)) == []


BROKEN_VERSIONS = [
    'import torch\n\ndef restore(path):\n    return torch.load(path, weights_only=False\n',
    "import torch\nclass Net(torch.nn.Module:\n",
    'x = "unterminated\n',
    "def f(:\n\tpass\n  pass\n",
    "x = " + "(" * 500 + "\n",
    "a = 1\0\n",
    "class Net(nn.Module):\n    def __init__(self",
]


async def test_broken_documents_never_crash_the_server(client: LanguageClient) -> None:
    uri = open_document(client, directory(client, "broken") / "train_broken.py", HAZARD)
    assert summary(await published(client, uri, 1)) == HAZARD_DIAGNOSTICS

    # a half-typed line keeps the last good findings and adds the syntax error
    half = HAZARD.replace("weights_only=False)", "weights_only=False")
    change_document(client, uri, 2, half)
    diagnostics = await published(client, uri, 2)
    assert summary(diagnostics) == [
        *HAZARD_DIAGNOSTICS,
        (
            None,
            (14, LOAD_COLUMN + 10),
            (14, LOAD_END - 1),
            types.DiagnosticSeverity.Error,
            "serialint",
            "syntax error: '(' was never closed",
        ),
    ]

    for version, text in enumerate(BROKEN_VERSIONS, start=3):
        change_document(client, uri, version, text)
    last = 3 + len(BROKEN_VERSIONS)
    # the last broken version: last good findings plus its syntax error
    assert [d.code for d in await published(client, uri, last - 1)] == ["SER101", "SER302", None]

    change_document(client, uri, last, SUBCLASS.replace("from base import Base", "from torch.nn import Module as Base"))
    assert summary(await published(client, uri, last)) == [
        ("SER101", (6, 8), (6, 42), types.DiagnosticSeverity.Error, "serialint", SER101_MESSAGE)
    ]
