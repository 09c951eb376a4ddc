"""Applying fixes: edits, conflicts, line endings, encodings, atomic writes, and the CLI modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from serialint.cli import main
from serialint.findings import Applicability, Edit, Fix
from serialint.fixes import apply_fixes, line_starts, newline_of, parses, write_atomically


def fix(*edits: Edit, applicability: Applicability = Applicability.SAFE) -> Fix:
    return Fix(applicability, "test", tuple(edits))


def test_line_starts_know_every_line_ending():
    assert line_starts("a\nb\r\nc\rd") == [0, 2, 5, 7]
    assert newline_of("x\r\ny\n") == "\r\n" and newline_of("x\ry") == "\r" and newline_of("x") == "\n"


def test_edits_apply_from_the_end_and_inserts_keep_their_order():
    text = "a = f(x)\nb = 2\n"
    new, accepted = apply_fixes(
        text,
        [
            fix(Edit(1, 6, 1, 7, "y")),
            fix(Edit(2, 0, 2, 0, "import os\n"), Edit(2, 4, 2, 5, "3")),
        ],
    )
    assert new == "a = f(y)\nimport os\nb = 3\n" and accepted == [0, 1]


def test_overlapping_fix_waits_for_the_next_pass():
    text = "value = compute(a, b)\n"
    new, accepted = apply_fixes(text, [fix(Edit(1, 8, 1, 21, "other()")), fix(Edit(1, 16, 1, 17, "z"))])
    assert new == "value = other()\n" and accepted == [0]


def test_identical_edits_of_two_fixes_apply_once():
    text = "x = 1\n"
    add_import = Edit(1, 0, 1, 0, "import functools\n")
    new, accepted = apply_fixes(text, [fix(add_import, Edit(1, 4, 1, 5, "2")), fix(add_import)])
    assert new == "import functools\nx = 2\n" and accepted == [0, 1]


def test_inserted_lines_take_the_files_line_ending():
    new, _ = apply_fixes("x = 1\r\ny = 2\r\n", [fix(Edit(2, 0, 2, 0, "import os\n"))])
    assert new == "x = 1\r\nimport os\r\ny = 2\r\n"


def test_parses_rejects_broken_code():
    assert parses("x = 1\n") and not parses("x = (\n")


@pytest.mark.parametrize("encoding, data", [("utf-8", "é = 1\n"), ("utf-8-sig", "é = 1\n"), ("latin-1", "# -*- coding: latin-1 -*-\ns = 'é'\n")])
def test_atomic_write_keeps_encoding_and_permissions(tmp_path, encoding, data):
    path = tmp_path / "m.py"
    path.write_bytes(data.encode(encoding))
    os.chmod(path, 0o640)
    write_atomically(str(path), data.replace("1", "2"), encoding)
    assert path.read_bytes() == data.replace("1", "2").encode(encoding)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]  # no temporary file left behind


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text("old = 1\n")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomically(str(path), "new = 1\n", "utf-8")
    assert path.read_text() == "old = 1\n" and [p.name for p in tmp_path.iterdir()] == ["m.py"]


UNSAFE_LOAD = 'import torch\n\n\ndef restore(path):\n    return torch.load(path, weights_only=False)  # trusted run\n'
FIXED_LOAD = UNSAFE_LOAD.replace("weights_only=False", "weights_only=True")


def run_cli(tmp_path, *args):
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return runner.invoke(main, ["check", "--select", "SER302", *args], catch_exceptions=False)
    finally:
        os.chdir(cwd)


def test_fix_applies_only_safe_fixes_unless_unsafe_is_asked(tmp_path):
    (tmp_path / "m.py").write_text(UNSAFE_LOAD)
    result = run_cli(tmp_path, "--fix")
    assert result.exit_code == 1 and (tmp_path / "m.py").read_text() == UNSAFE_LOAD
    assert "Fixed 0 findings (1 remaining)." in result.stderr
    result = run_cli(tmp_path, "--fix", "--unsafe-fixes")
    assert result.exit_code == 0 and (tmp_path / "m.py").read_text() == FIXED_LOAD
    assert result.stderr.strip().splitlines()[-1] == "Fixed 1 finding (0 remaining)."


def test_diff_prints_and_writes_nothing(tmp_path):
    (tmp_path / "m.py").write_text(UNSAFE_LOAD)
    result = run_cli(tmp_path, "--diff", "--unsafe-fixes")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "--- a/m.py",
        "+++ b/m.py",
        "@@ -2,4 +2,4 @@",
        " ",
        " ",
        " def restore(path):",
        "-    return torch.load(path, weights_only=False)  # trusted run",
        "+    return torch.load(path, weights_only=True)  # trusted run",
    ]
    assert (tmp_path / "m.py").read_text() == UNSAFE_LOAD
    assert run_cli(tmp_path, "--diff").exit_code == 0  # nothing safe to apply: no diff


def test_fix_only_reports_nothing_and_exits_zero(tmp_path):
    (tmp_path / "m.py").write_text(UNSAFE_LOAD)
    (tmp_path / "other.py").write_text("import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n")
    result = run_cli(tmp_path, "--fix-only", "--unsafe-fixes")
    assert result.exit_code == 0 and result.stdout == ""
    assert (tmp_path / "m.py").read_text() == FIXED_LOAD


def test_fixed_stdin_goes_to_stdout(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main, ["check", "--select", "SER302", "--fix", "--unsafe-fixes", "--stdin-filename", "m.py", "-"], input=UNSAFE_LOAD
    )
    assert result.stdout == FIXED_LOAD


def test_crlf_file_stays_crlf_after_fix(tmp_path):
    (tmp_path / "m.py").write_bytes(UNSAFE_LOAD.replace("\n", "\r\n").encode())
    run_cli(tmp_path, "--fix", "--unsafe-fixes")
    assert (tmp_path / "m.py").read_bytes() == FIXED_LOAD.replace("\n", "\r\n").encode()


def test_a_killed_fix_run_leaves_every_file_old_or_new(tmp_path):
    """Kill `--fix` while it writes many files: each file is whole, old or new."""
    count = 200
    for i in range(count):
        (tmp_path / f"m{i:03}.py").write_text(UNSAFE_LOAD * 20)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.Popen(
        [sys.executable, "-m", "serialint", "check", "--select", "SER302", "--fix-only", "--unsafe-fixes", "--no-cache", "."],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait until the first file is rewritten, then kill mid-run
    first = tmp_path / "m000.py"
    while process.poll() is None and UNSAFE_LOAD in first.read_text():
        pass
    process.kill()
    process.wait()
    fixed = 0
    for i in range(count):
        text = (tmp_path / f"m{i:03}.py").read_text()
        assert text in (UNSAFE_LOAD * 20, FIXED_LOAD * 20), f"m{i:03}.py is half-written"
        fixed += text == FIXED_LOAD * 20
    assert fixed >= 1
    # a kill between writing the temporary file and renaming it can leave that temporary file
    # (no cleanup runs on SIGKILL); every other file in the directory is a linted file
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.endswith(".py")]
    assert all(name.startswith(".serialint-") and name.endswith(".tmp") for name in leftovers)
