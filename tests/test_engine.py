"""The engine: errors are results naming file and position, positions survive BOM and CRLF."""

from __future__ import annotations

import os

import pytest

from serialint.config import ConfigResolver, Settings
from serialint.engine import Linter, SourceFile, decode_source, lint_source, lint_sources

HAZARD = """\
import torch
from torch import nn


class Stats(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def fit(self, x):
        self.mean = x.mean(0)
"""


def lint_files(tmp_path, files):
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    sources = [SourceFile(str(tmp_path / name)) for name in sorted(files)]
    return lint_sources(sources, resolver, linter)


def rel(tmp_path, path):
    return os.path.relpath(path, tmp_path)


def test_syntax_error_names_file_line_and_column_and_other_files_are_linted(tmp_path):
    run = lint_files(tmp_path, {"a_broken.py": "x = 1\ndef f(:\n    pass\n", "b_model.py": HAZARD})
    assert [(rel(tmp_path, e.path), e.line, e.column, e.message) for e in run.errors] == [
        ("a_broken.py", 2, 6, "syntax error: invalid syntax")
    ]
    assert [(rel(tmp_path, f.path), f.line, f.code) for f in run.findings] == [("b_model.py", 8, "SER101")]


def test_undecodable_bytes_name_the_line_and_column(tmp_path):
    run = lint_files(tmp_path, {"latin.py": b"x = 1\ny = '\xff'\n", "ok.py": HAZARD})
    assert [(rel(tmp_path, e.path), e.line, e.column) for e in run.errors] == [("latin.py", 2, 5)]
    assert "cannot decode as utf-8: byte 0xff is invalid" in run.errors[0].message
    assert len(run.findings) == 1


def test_coding_cookie_is_honoured():
    text = decode_source("x.py", "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n".encode("latin-1"))
    assert text == "# -*- coding: latin-1 -*-\nname = 'café'\n"


def test_unknown_coding_cookie_is_an_error():
    error = decode_source("x.py", b"# -*- coding: klingon -*-\n")
    assert not isinstance(error, str) and error.path == "x.py" and "cannot decode" in error.message


def test_nul_byte_is_a_clear_error(tmp_path):
    run = lint_files(tmp_path, {"nul.py": b"x = 1\x00\n"})
    assert len(run.errors) == 1 and run.errors[0].message.startswith("syntax error")
    assert rel(tmp_path, run.errors[0].path) == "nul.py"


def test_missing_file_and_directory_are_errors(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    linter = Linter()
    run = lint_sources(
        [SourceFile(str(tmp_path / "gone.py")), SourceFile(str(tmp_path / "pkg.py"))],
        ConfigResolver(linter.codes),
        linter,
    )
    assert sorted((rel(tmp_path, e.path), e.message) for e in run.errors) == [
        ("gone.py", "no such file or directory"),
        ("pkg.py", "is a directory, not a Python file"),
    ]


@pytest.mark.parametrize(
    "source, message",
    [
        ("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n", "syntax error: too many nested parentheses"),
        ("x = " + "-" * 50000 + "1\n", "syntax error: too deeply nested to parse"),
    ],
)
def test_deeply_nested_expression_is_an_error_not_a_crash(tmp_path, source, message):
    run = lint_files(tmp_path, {"deep.py": source, "ok.py": HAZARD})
    assert [(rel(tmp_path, e.path), e.message) for e in run.errors] == [("deep.py", message)]
    assert len(run.findings) == 1


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda s: s.encode(), id="lf"),
        pytest.param(lambda s: s.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(lambda s: b"\xef\xbb\xbf" + s.encode(), id="bom"),
        pytest.param(lambda s: s.replace("\n", "   \n").encode(), id="trailing-space"),
    ],
)
def test_positions_do_not_depend_on_line_endings_bom_or_trailing_space(tmp_path, transform):
    run = lint_files(tmp_path, {"m.py": transform(HAZARD)})
    assert not run.errors
    assert [(f.line, f.column, f.end_line, f.end_column) for f in run.findings] == [(8, 8, 8, 42)]


def test_noqa_on_any_line_of_a_multiline_statement():
    source = HAZARD.replace(
        'self.register_buffer("mean", None)', 'self.register_buffer(\n            "mean",\n            None,  # noqa: SER101\n        )'
    )
    assert lint_source(source).findings == []


def test_noqa_for_another_code_does_not_suppress():
    source = HAZARD.replace('"mean", None)', '"mean", None)  # noqa: SER2, E501')
    assert [f.code for f in lint_source(source).findings] == ["SER101"]


def test_file_level_noqa():
    assert lint_source("# serialint: noqa: SER1\n" + HAZARD).findings == []
    assert lint_source("# serialint: noqa\n" + HAZARD).findings == []
    assert len(lint_source("# serialint: noqa: SER2\n" + HAZARD).findings) == 1


def test_per_file_ignores_and_selection_apply():
    ignored = Settings(per_file_ignores=(("example*.py", ("SER101",)),))
    assert lint_source(HAZARD, path="example.py", settings=ignored).findings == []
    deselected = Settings(select=("SER2",))
    assert lint_source(HAZARD, settings=deselected).findings == []


def test_findings_are_sorted_and_unique(tmp_path):
    run = lint_files(tmp_path, {"b.py": HAZARD, "a.py": HAZARD + HAZARD.replace("Stats", "Stats2")})
    keys = [(rel(tmp_path, f.path), f.line) for f in run.findings]
    assert keys == [("a.py", 8), ("a.py", 19), ("b.py", 8)]


def test_invalid_utf8_in_the_first_lines_names_the_byte(tmp_path):
    run = lint_files(tmp_path, {"bad.py": b"x = '\xff'\n"})
    assert [(e.line, e.column, e.message) for e in run.errors] == [
        (1, 5, "cannot decode as utf-8: byte 0xff is invalid")
    ]


def test_nul_byte_position_is_reported(tmp_path):
    run = lint_files(tmp_path, {"nul.py": b"x = 1\ny = 2\x00\n"})
    assert [(e.line, e.column, e.message) for e in run.errors] == [(2, 5, "syntax error: source contains a NUL byte")]


def test_a_crashing_rule_is_an_error_naming_file_and_rule_and_other_rules_still_report(tmp_path, monkeypatch):
    from serialint.rules import rule_by_code

    def explode(self, ctx):
        raise ValueError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr(rule_by_code("SER103"), "check", explode)
    run = lint_files(tmp_path, {"m.py": HAZARD})
    assert [(rel(tmp_path, e.path), e.message) for e in run.errors] == [
        ("m.py", "internal error in SER103: ValueError: boom")
    ]
    assert [f.code for f in run.findings] == ["SER101"]


def test_linting_never_imports_torch_nor_the_linted_code(tmp_path):
    """Run the whole corpus through the command in a fresh interpreter and look at what got imported."""
    import subprocess
    import sys

    from support import CORPUS, ROOT

    marker = tmp_path / "ran.txt"
    (tmp_path / "trap.py").write_text(f"open({str(marker)!r}, 'w').write('executed')\nimport torch\n")
    probe = (
        "import sys\n"
        "from serialint.cli import main\n"
        f"sys.argv = ['serialint', 'check', '-q', {CORPUS!r}, {str(tmp_path)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') or m == 'trap'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.splitlines()[-1] == "[]"
    assert not marker.exists()
