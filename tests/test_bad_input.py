"""Bad input, through the real command: each case sits beside a good file with one known finding.

Every bad file must give exit status 2 and one message naming it (with line and column where
there is one), and must not stop the good file from being linted. Inputs that only look odd (a
BOM, an empty file, a very large file, a directory named `x.py`) must lint normally.
"""

from __future__ import annotations

import builtins
import codecs
import errno
import os
from pathlib import Path
from typing import Dict, List, Sequence, Union

import pytest

import serialint.engine
from clitools import Run, run
from serialint.config import _KNOWN_KEYS as KNOWN_KEYS

GOOD = """\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = lambda x: x
"""


def finding(path: str = "good.py", line: int = 7, attr: str = "f", cls: str = "Net") -> str:
    """The concise line for GOOD's SER201 finding (or the same hazard elsewhere)."""
    return (
        f"{path}:{line}:9: SER201 lambda stored on self.{attr}: torch.save(model) and pickle fail "
        f"(Can't pickle local object '{cls}.__init__.<locals>.<lambda>')"
    )


def lay_out(root: Path, files: Dict[str, Union[str, bytes]]) -> None:
    """Create files (text or bytes) under `root`, beside GOOD as good.py."""
    for rel, content in {"good.py": GOOD, **files}.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def check(root: Path, *paths: str) -> Run:
    """`serialint check` in `root`, pinned to SER201 so rules added later cannot change the output."""
    return run(["check", "--select", "SER201", *paths], root, pin=False)


def assert_one_error(result: Run, error: str, findings: Sequence[str] = (finding(),)) -> None:
    assert result.status == 2, (result.out, result.err)
    assert result.out_lines == list(findings)
    count = len(findings)
    summary = f"Found {count} finding{'s' if count != 1 else ''}; 1 error." if count else "No findings; 1 error."
    assert result.err_lines == [f"serialint: error: {error}", summary]


def assert_clean_besides_good(result: Run, findings: Sequence[str] = (finding(),)) -> None:
    assert result.status == 1, (result.out, result.err)
    assert result.out_lines == list(findings)
    assert result.err_lines == [f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''}."]


# -- syntax errors -------------------------------------------------------------------------------------


def python_verdict(name: str, source: bytes, kind: type) -> str:
    """What CPython says about the file, in serialint's `path:line:col: message` form.

    The message text and column are CPython's own (they differ between versions); the test pins
    the line and the exception type, which do not.
    """
    try:
        compile(source, name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        assert type(exc) is kind, (type(exc), exc)
        return f"{name}:{exc.lineno}:{exc.offset or 1}: syntax error: {exc.msg}"
    raise AssertionError(f"{name} compiles")


@pytest.mark.parametrize(
    "source, line, kind",
    [
        pytest.param("import torch\n\nweights = torch.zeros((3,\n", 3, SyntaxError, id="unclosed-bracket"),
        pytest.param("values = dict(a=[1, 2,\n    3)\n", 2, SyntaxError, id="mismatched-bracket"),
        pytest.param('x = 1\nname = "abc\n', 2, SyntaxError, id="unterminated-string"),
        pytest.param('x = 1\ndoc = """abc\n\n', 2, SyntaxError, id="unterminated-triple-quoted-string"),
        pytest.param("def f():\nreturn 1\n", 2, IndentationError, id="missing-indentation"),
        pytest.param("x = 1\n    y = 2\n", 2, IndentationError, id="unexpected-indent"),
        pytest.param("if x:\n        a = 1\n    b = 2\n", 3, IndentationError, id="unindent-mismatch"),
        pytest.param("if x:\n\ta = 1\n        b = 2\n", 3, TabError, id="tabs-and-spaces"),
        pytest.param("x = 1 $ 2\n", 1, SyntaxError, id="invalid-token"),
        pytest.param("x = 1\ny = 2 \u2192 3\n", 2, SyntaxError, id="invalid-character"),
        pytest.param("mode = 0777\n", 1, SyntaxError, id="leading-zero-literal"),
        pytest.param('import sys\nprint "loading"\n', 2, SyntaxError, id="python2-print"),
        pytest.param("try:\n    pass\nexcept ValueError, e:\n    pass\n", 3, SyntaxError, id="python2-except"),
        pytest.param('width = 3\nlabel = f"{}"\n', 2, SyntaxError, id="fstring-empty-expression"),
        pytest.param('label = f"{width!z}"\n', 1, SyntaxError, id="fstring-bad-conversion"),
    ],
)
def test_syntax_error(tmp_path: Path, source: str, line: int, kind: type) -> None:
    lay_out(tmp_path, {"broken.py": source})
    expected = python_verdict("broken.py", source.encode(), kind)
    assert expected.startswith(f"broken.py:{line}:")
    assert_one_error(check(tmp_path), expected)


def test_nul_byte(tmp_path: Path) -> None:
    lay_out(tmp_path, {"nul.py": b"import os\nx = 1\x00\n"})
    assert_one_error(check(tmp_path), "nul.py:2:6: syntax error: source contains a NUL byte")


@pytest.mark.parametrize(
    "source, error",
    [
        pytest.param("x = " + "-" * 50000 + "1\n", "deep.py:1:1: syntax error: too deeply nested to parse", id="unary"),
        pytest.param(
            "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
            None,  # CPython's own parser limit: its message and column
            id="parentheses",
        ),
    ],
)
def test_deeply_nested_expression(tmp_path: Path, source: str, error: str) -> None:
    lay_out(tmp_path, {"deep.py": source})
    expected = error or python_verdict("deep.py", source.encode(), SyntaxError)
    assert_one_error(check(tmp_path), expected)


def test_valid_deep_nesting_is_linted(tmp_path: Path) -> None:
    # CPython compiles this (its own limit is 200 nested brackets), so it is a valid file to lint
    deep = "x = " + "[" * 150 + "]" * 150 + "\n" + GOOD.replace("Net", "Deep")
    compile(deep, "deep.py", "exec")
    lay_out(tmp_path, {"deep.py": deep})
    assert_clean_besides_good(check(tmp_path), [finding("deep.py", 8, cls="Deep"), finding()])


def test_long_operator_chain_is_linted(tmp_path: Path) -> None:
    # generated code does this; CPython compiles it, each `+` nesting one level deeper in the tree
    long = "x = " + " + ".join(["'a'"] * 1000) + "\n" + GOOD.replace("Net", "Long")
    compile(long, "long.py", "exec")
    lay_out(tmp_path, {"long.py": long})
    assert_clean_besides_good(check(tmp_path), [finding(), finding("long.py", 8, cls="Long")])


# -- decoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, error",
    [
        pytest.param(
            b"import os\nname = 'caf\xe9'\n",
            "latin.py:2:12: cannot decode as utf-8: byte 0xe9 is invalid",
            id="invalid-utf8",
        ),
        pytest.param(
            b"# -*- coding: ascii -*-\nname = 'caf\xc3\xa9'\n",
            "latin.py:2:12: cannot decode as ascii: byte 0xc3 is invalid",
            id="cookie-does-not-match-the-bytes",
        ),
        pytest.param(
            b"# -*- coding: klingon -*-\nx = 1\n",
            "latin.py:1:1: cannot decode: unknown encoding: klingon",
            id="unknown-cookie",
        ),
        pytest.param(
            b"x = '\xff'\n# -*- coding: latin-1 -*-\n",
            "latin.py:1:1: cannot decode: invalid or missing encoding declaration",
            id="invalid-utf8-before-a-second-line-cookie",
        ),
    ],
)
def test_undecodable_bytes(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(SyntaxError):  # CPython refuses these files too
        compile(data, "latin.py", "exec")
    lay_out(tmp_path, {"latin.py": data})
    assert_one_error(check(tmp_path), error)


def test_undecodable_bytes_after_a_bom(tmp_path: Path) -> None:
    lay_out(tmp_path, {"bom.py": codecs.BOM_UTF8 + b"x = 1\ny = 2\nz = '\xff'\n"})
    assert_one_error(check(tmp_path), "bom.py:3:6: cannot decode as utf-8-sig: byte 0xff is invalid")


def test_bom_with_a_conflicting_coding_cookie(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + b"# -*- coding: latin-1 -*-\n" + GOOD.replace("Net", "Bom").encode()
    with pytest.raises(SyntaxError, match="encoding problem"):  # CPython refuses the file
        compile(data, "bom.py", "exec")
    lay_out(tmp_path, {"bom.py": data})
    result = check(tmp_path)
    assert (result.status, result.out_lines) == (2, [finding()])
    assert result.err_lines[0].startswith("serialint: error: bom.py:1:1: cannot decode: "), result.err_lines


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    lay_out(tmp_path, {"bom.py": codecs.BOM_UTF8 + GOOD.replace("Net", "Bom").encode()})
    assert_clean_besides_good(check(tmp_path), [finding("bom.py", cls="Bom"), finding()])


# -- sizes -----------------------------------------------------------------------------------------------


def test_empty_file_is_clean(tmp_path: Path) -> None:
    lay_out(tmp_path, {"empty.py": b""})
    assert_clean_besides_good(check(tmp_path))


def test_five_megabyte_file_is_read_to_the_end(tmp_path: Path) -> None:
    # one string literal of many lines: cheap to parse, and it moves the hazard far down
    padding = "padding inside one string literal; nothing here is code\n"
    count = 5 * 2**20 // len(padding) + 1
    text = 'DATA = """\n' + padding * count + '"""\n' + GOOD.replace("Net", "Big")
    lay_out(tmp_path, {"big.py": text})
    assert (tmp_path / "big.py").stat().st_size >= 5 * 2**20
    hazard_line = count + 2 + 7
    assert text.splitlines()[hazard_line - 1] == "        self.f = lambda x: x"
    assert_clean_besides_good(check(tmp_path), [finding("big.py", hazard_line, cls="Big"), finding()])


# -- paths -----------------------------------------------------------------------------------------------


def test_symlink_loop_is_skipped_while_walking(tmp_path: Path) -> None:
    lay_out(tmp_path, {})
    os.symlink("b.py", tmp_path / "a.py")
    os.symlink("a.py", tmp_path / "b.py")
    assert_clean_besides_good(check(tmp_path))


def test_symlink_loop_named_on_the_command_line(tmp_path: Path) -> None:
    lay_out(tmp_path, {})
    os.symlink("b.py", tmp_path / "a.py")
    os.symlink("a.py", tmp_path / "b.py")
    assert_one_error(check(tmp_path, "a.py", "good.py"), "a.py: broken symbolic link")


def test_directory_link_to_its_parent_is_not_followed_while_walking(tmp_path: Path) -> None:
    lay_out(tmp_path, {"sub/inner.py": GOOD.replace("Net", "Inner")})
    os.symlink("..", tmp_path / "sub" / "up")
    assert_clean_besides_good(check(tmp_path), [finding(), finding("sub/inner.py", cls="Inner")])


def test_directory_link_to_its_parent_named_on_the_command_line_is_walked_once(tmp_path: Path) -> None:
    lay_out(tmp_path, {"sub/inner.py": GOOD.replace("Net", "Inner")})
    os.symlink("..", tmp_path / "sub" / "up")
    result = check(tmp_path, "sub/up")
    assert_clean_besides_good(result, [finding("sub/up/good.py"), finding("sub/up/sub/inner.py", cls="Inner")])


def test_file_deleted_while_the_run_is_in_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay_out(tmp_path, {"vanishing.py": GOOD.replace("Net", "Gone")})
    deleted: List[str] = []
    real_open = builtins.open

    def open_after_deleting(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        # found by discovery, gone by the time its bytes are read
        if os.path.basename(os.fspath(file)) == "vanishing.py" and not deleted:
            os.remove(file)
            deleted.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(serialint.engine, "open", open_after_deleting, raising=False)
    result = check(tmp_path)
    assert deleted == ["vanishing.py"]
    assert_one_error(result, "vanishing.py: no such file or directory")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lay_out(tmp_path, {"locked.py": GOOD.replace("Net", "Locked")})
    locked = tmp_path / "locked.py"
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            # root reads anything: refuse the read where the engine opens the file instead
            real_open = builtins.open

            def refusing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
                if os.path.basename(os.fspath(file)) == "locked.py":
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
                return real_open(file, *args, **kwargs)

            monkeypatch.setattr(serialint.engine, "open", refusing_open, raising=False)
        result = check(tmp_path)
    finally:
        locked.chmod(0o644)
    assert_one_error(result, "locked.py: permission denied")


def test_directory_named_like_a_python_file_is_walked(tmp_path: Path) -> None:
    lay_out(tmp_path, {"x.py/inner.py": GOOD.replace("Net", "Inner")})
    (tmp_path / "y.py").mkdir()
    expected = [finding(), finding("x.py/inner.py", cls="Inner")]
    assert_clean_besides_good(check(tmp_path), expected)
    assert_clean_besides_good(check(tmp_path, "good.py", "x.py", "y.py"), expected)


def test_missing_path_argument(tmp_path: Path) -> None:
    lay_out(tmp_path, {})
    assert_one_error(check(tmp_path, "good.py", "missing.py"), "missing.py: no such file or directory")


# -- configuration ---------------------------------------------------------------------------------------
# The bad configuration governs bad/ only: ok/ beside it is still linted, bad/m.py is not.
assert {"select", "ignore", "target-torch", "per-file-ignores"} <= KNOWN_KEYS

CONFIG_CASES = [
    pytest.param(
        "serialint.toml",
        'select = ["SER201"]\nignore = [\n  "SER1",\n  oops\n]\n',
        "bad/serialint.toml:4:3: invalid TOML: Invalid value",
        id="invalid-toml",
    ),
    pytest.param(
        "serialint.toml",
        'select = ["SER201"\n',
        "bad/serialint.toml:1:19: invalid TOML: Unclosed array at the end of the file",
        id="invalid-toml-at-the-end",
    ),
    pytest.param(
        "pyproject.toml",
        '[project]\nname = "demo"\n\n[tool.serialint]\nselect = ["SER201"\nignore = []\n',
        "bad/pyproject.toml:6:1: invalid TOML: Unclosed array",
        id="invalid-toml-in-pyproject",
    ),
    pytest.param(
        "serialint.toml",
        'select = "SER201"\n',
        "bad/serialint.toml: 'select' must be a list of strings, got a string",
        id="string-for-a-list",
    ),
    pytest.param(
        "pyproject.toml",
        '[tool.serialint]\nignore = "SER1"\n',
        "bad/pyproject.toml: 'tool.serialint.ignore' must be a list of strings, got a string",
        id="string-for-a-list-in-pyproject",
    ),
    pytest.param(
        "serialint.toml",
        "line-length = 88\n",
        # the list grows with new settings; the message must list them all
        f"bad/serialint.toml: unknown key 'line-length' (known: {', '.join(sorted(KNOWN_KEYS))})",
        id="unknown-key",
    ),
    pytest.param(
        "serialint.toml",
        "target-torch = 2\n",
        "bad/serialint.toml: 'target-torch' must be a version specifier string, got an integer",
        id="number-for-a-version",
    ),
    pytest.param(
        "serialint.toml",
        'target-torch = "two"\n',
        "bad/serialint.toml: 'target-torch': 'two' is not a version specifier (e.g. \">=2.1\")",
        id="word-for-a-version",
    ),
    pytest.param(
        "serialint.toml",
        'select = ["SER999"]\n',
        "bad/serialint.toml: 'select': unknown rule code or prefix 'SER999'",
        id="unknown-code",
    ),
]


@pytest.mark.parametrize("name, text, error", CONFIG_CASES)
def test_bad_configuration(tmp_path: Path, name: str, text: str, error: str) -> None:
    lay_out(tmp_path, {"ok/good.py": GOOD, "bad/m.py": GOOD.replace("Net", "Governed"), f"bad/{name}": text})
    (tmp_path / "good.py").unlink()
    assert_one_error(check(tmp_path), error, [finding("ok/good.py")])


@pytest.mark.parametrize("name, text, error", CONFIG_CASES[:3])
def test_bad_configuration_for_a_file_named_on_the_command_line(
    tmp_path: Path, name: str, text: str, error: str
) -> None:
    lay_out(tmp_path, {"bad/m.py": GOOD.replace("Net", "Governed"), f"bad/{name}": text})
    assert_one_error(check(tmp_path, "bad/m.py", "good.py"), error)


@pytest.mark.xfail(strict=True, reason="a configuration value of the wrong type names its key but not its line")
def test_configuration_type_error_names_the_line(tmp_path: Path) -> None:
    lay_out(tmp_path, {"bad/m.py": GOOD, "bad/serialint.toml": '# selection\n\nselect = "SER201"\n'})
    result = check(tmp_path)
    assert result.status == 2
    assert result.err_lines[0].startswith("serialint: error: bad/serialint.toml:3:"), result.err_lines
