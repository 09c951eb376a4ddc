"""`serialint check`, `serialint rule`, `serialint rules`: options, output, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clitools import BAD, BAD_TWICE, CLEAN, line, message, run, validate_sarif, write
from serialint import __version__
from serialint.rules import all_rules

# -- exit status and the summary line ---------------------------------------------------------


def test_findings_exit_1_and_print_concise_lines(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check"], tmp_path)
    assert result.status == 1
    assert result.out_lines == [line("model.py")]
    assert result.err_lines == ["Found 1 finding."]


def test_clean_project_exits_0(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": CLEAN})
    result = run(["check"], tmp_path)
    assert (result.status, result.out, result.err_lines) == (0, "", ["All checks passed."])


def test_findings_are_sorted_by_path_then_line(tmp_path: Path) -> None:
    write(tmp_path, {"b.py": BAD_TWICE, "a/z.py": BAD, "a.py": BAD})
    result = run(["check", "b.py", "a", "a.py"], tmp_path)
    assert result.status == 1
    assert result.out_lines == [
        line("a.py"),
        line("a/z.py"),
        line("b.py", 8, "mean"),
        line("b.py", 9, "std"),
    ]
    assert result.err_lines == ["Found 4 findings."]


def test_exit_zero_keeps_the_findings(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", "--exit-zero"], tmp_path)
    assert (result.status, result.out_lines) == (0, [line("model.py")])


def test_errors_win_over_findings(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD, "broken.py": "def f(:\n    pass\n"})
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line("model.py")]
    assert result.err_lines == [
        "serialint: error: broken.py:1:7: syntax error: invalid syntax",
        "Found 1 finding; 1 error.",
    ]


def test_exit_zero_does_not_hide_errors(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD, "broken.py": "x = (\n"})
    result = run(["check", "--exit-zero"], tmp_path)
    assert result.status == 2
    assert result.err_lines == [
        "serialint: error: broken.py:1:5: syntax error: '(' was never closed",
        "Found 1 finding; 1 error.",
    ]


def test_errors_without_findings_say_no_findings(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": CLEAN, "broken.py": "def f(:\n", "other.py": "class (:\n"})
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.out == ""
    assert result.err_lines == [
        "serialint: error: broken.py:1:7: syntax error: invalid syntax",
        "serialint: error: other.py:1:7: syntax error: invalid syntax",
        "No findings; 2 errors.",
    ]


def test_quiet_drops_the_summary_but_not_errors(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD, "broken.py": "def f(:\n"})
    result = run(["check", "-q"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line("model.py")]
    assert result.err_lines == ["serialint: error: broken.py:1:7: syntax error: invalid syntax"]
    assert run(["check", "--quiet", "model.py"], tmp_path).err == ""


def test_no_python_files_is_a_warning_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"notes.txt": "x", "stub.pyi": "x: int\n"})
    result = run(["check"], tmp_path)
    assert result.status == 0
    assert result.err_lines == ["serialint: warning: no Python files found", "All checks passed."]
    assert run(["check", "-q"], tmp_path).err == ""


def test_version() -> None:
    result = run(["--version"], Path.cwd())
    assert (result.status, result.out) == (0, f"serialint {__version__}\n")


# -- rule selection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--select", "SER101"], 1),
        (["--select", "ser101"], 1),
        (["--select", "SER1"], 1),
        (["--select", "SER"], 1),
        (["--select", "ALL"], 1),
        (["--ignore", "SER101"], 0),
        (["--ignore", "SER1"], 0),
        (["--ignore", "SER"], 0),
        # the most specific selector wins
        (["--select", "SER1", "--ignore", "SER101"], 0),
        (["--select", "SER101", "--ignore", "SER1"], 1),
        (["--ignore", "SER1", "--extend-select", "SER101"], 1),
        # ignore wins a tie
        (["--select", "SER101", "--ignore", "SER101"], 0),
        # comma-separated and repeated forms
        (["--ignore", "SER2,SER101"], 0),
        (["--ignore", "SER2", "--ignore", "SER101"], 0),
        (["--select", " SER101 , SER2 "], 1),
        (["--select", "SER2", "--select", "SER101"], 1),
    ],
)
def test_selection_options(tmp_path: Path, args: list, expected: int) -> None:
    if "SER2" in " ".join(args) and not any(code.startswith("SER2") for code in _codes()):
        pytest.skip("no SER2xx rule exists yet")
    write(tmp_path, {"model.py": BAD})
    result = run(["check", *args], tmp_path, pin=False)
    assert result.status == expected, result.err
    assert result.out_lines == ([line("model.py")] if expected else [])


def _codes() -> list:
    return [rule.code for rule in all_rules()]


@pytest.mark.parametrize(
    "option, value, shown",
    [
        ("--select", "SER999", "SER999"),
        ("--select", "SER9", "SER9"),
        ("--ignore", "E501", "E501"),
        ("--extend-select", "SER101,BOGUS", "BOGUS"),
        ("--select", "SER1010", "SER1010"),
    ],
)
def test_unknown_code_is_a_usage_error(tmp_path: Path, option: str, value: str, shown: str) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", option, value], tmp_path, pin=False)
    assert result.status == 2
    assert result.out == ""
    assert result.err_lines[-1] == f"Error: Invalid value for '{option}': unknown rule code or prefix '{shown}'"
    assert result.err_lines[0] == "Usage: serialint check [OPTIONS] [PATHS]..."


def test_unknown_output_format_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["check", "--output-format", "xml"], tmp_path)
    assert result.status == 2
    assert "Invalid value for '--output-format': 'xml' is not one of" in result.err


# -- --statistics ---------------------------------------------------------------------------------


def test_statistics_counts_per_code(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": BAD_TWICE, "b.py": BAD})
    result = run(["check", "--statistics"], tmp_path)
    assert result.status == 1
    assert result.out_lines == ["3\tSER101\tregister-buffer-none"]
    assert result.err_lines == ["Found 3 findings."]


def test_statistics_on_a_clean_project_prints_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": CLEAN})
    result = run(["check", "--statistics"], tmp_path)
    assert (result.status, result.out, result.err_lines) == (0, "", ["All checks passed."])


# -- --config -------------------------------------------------------------------------------------


def test_config_option_overrides_discovered_configuration(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "project/pyproject.toml": '[tool.serialint]\nselect = ["SER101"]\n',
            "project/model.py": BAD,
            "elsewhere/quiet.toml": 'ignore = ["SER101"]\n',
        },
    )
    assert run(["check", "project"], tmp_path, pin=False).status == 1
    result = run(["check", "--config", "elsewhere/quiet.toml", "project"], tmp_path, pin=False)
    assert (result.status, result.out) == (0, "")


def test_config_option_with_a_missing_file(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", "--config", "missing.toml"], tmp_path)
    assert result.status == 2
    assert result.out == ""
    assert result.err_lines[-1] == "Error: Invalid value for '--config': missing.toml: no such file"


def test_config_option_with_a_directory(tmp_path: Path) -> None:
    write(tmp_path, {"conf/": ""})
    result = run(["check", "--config", "conf"], tmp_path)
    assert result.status == 2
    assert result.err_lines[-1] == "Error: Invalid value for '--config': conf: is a directory, not a configuration file"


def test_config_option_with_a_bad_file(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": BAD, "b.py": BAD, "bad.toml": "selct = []\n"})
    result = run(["check", "--config", "bad.toml", "a.py", "b.py"], tmp_path)
    assert result.status == 2
    assert result.out == ""
    # one message, although both paths use the file
    assert result.err_lines == [
        "serialint: error: bad.toml: unknown key 'selct' (known: cache-dir, exclude, extend-exclude, extend-select, "
        "ignore, module-bases, per-file-ignores, respect-gitignore, select, target-torch)",
        "No findings; 1 error.",
    ]


# -- standard input -----------------------------------------------------------------------------


def test_stdin_with_a_filename(tmp_path: Path) -> None:
    result = run(["check", "-", "--stdin-filename", "pkg/model.py"], tmp_path, stdin=BAD)
    assert result.status == 1
    assert result.out_lines == [line("pkg/model.py")]


def test_stdin_without_a_filename_is_reported_as_dash(tmp_path: Path) -> None:
    result = run(["check", "-"], tmp_path, stdin=BAD)
    assert (result.status, result.out_lines) == (1, [line("-")])


def test_stdin_filename_alone_reads_stdin(tmp_path: Path) -> None:
    write(tmp_path, {"other.py": BAD})  # not linted: the source comes from stdin
    result = run(["check", "--stdin-filename", "model.py"], tmp_path, stdin=BAD)
    assert (result.status, result.out_lines) == (1, [line("model.py")])


def test_stdin_together_with_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": BAD})
    result = run(["check", "a.py", "-", "--stdin-filename", "z.py"], tmp_path, stdin=BAD)
    assert result.out_lines == [line("a.py"), line("z.py")]


def test_stdin_filename_finds_the_configuration(tmp_path: Path) -> None:
    write(tmp_path, {"quiet/serialint.toml": 'ignore = ["SER101"]\n'})
    result = run(["check", "-", "--stdin-filename", "quiet/model.py"], tmp_path, stdin=BAD, pin=False)
    assert (result.status, result.out) == (0, "")
    result = run(["check", "-", "--stdin-filename", "loud/model.py"], tmp_path, stdin=BAD, pin=False)
    assert (result.status, result.out_lines) == (1, [line("loud/model.py")])


def test_stdin_filename_is_matched_by_per_file_ignores(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.serialint]\nper-file-ignores = { "tests/**" = ["SER101"] }\n'})
    result = run(["check", "-", "--stdin-filename", "tests/unit/test_model.py"], tmp_path, stdin=BAD)
    assert (result.status, result.out) == (0, "")
    result = run(["check", "-", "--stdin-filename", "src/model.py"], tmp_path, stdin=BAD)
    assert (result.status, result.out_lines) == (1, [line("src/model.py")])


def test_config_option_applies_to_stdin(tmp_path: Path) -> None:
    write(tmp_path, {"quiet.toml": 'ignore = ["SER101"]\n'})
    result = run(["check", "--config", "quiet.toml", "-", "--stdin-filename", "m.py"], tmp_path, stdin=BAD, pin=False)
    assert (result.status, result.out) == (0, "")


def test_stdin_named_twice_is_read_once(tmp_path: Path) -> None:
    result = run(["check", "-", "-"], tmp_path, stdin=BAD)
    assert (result.status, result.out_lines) == (1, [line("-")])


def test_stdin_with_a_bad_configuration(tmp_path: Path) -> None:
    write(tmp_path, {"serialint.toml": "respect-gitignore = 1\n"})
    result = run(["check", "-", "--stdin-filename", "m.py"], tmp_path, stdin=BAD)
    assert result.status == 2
    assert result.err_lines == [
        "serialint: error: serialint.toml: 'respect-gitignore' must be true or false, got an integer",
        "No findings; 1 error.",
    ]


def test_stdin_with_a_syntax_error_names_the_filename(tmp_path: Path) -> None:
    result = run(["check", "-", "--stdin-filename", "m.py"], tmp_path, stdin="x = 1\nif x\n")
    assert result.status == 2
    assert result.err_lines == ["serialint: error: m.py:2:5: syntax error: expected ':'", "No findings; 1 error."]


def test_force_exclude_applies_to_the_stdin_filename(tmp_path: Path) -> None:
    write(tmp_path, {"serialint.toml": 'extend-exclude = ["generated"]\n'})
    args = ["check", "-", "--stdin-filename", "generated/m.py"]
    assert run(args, tmp_path, stdin=BAD).status == 1
    result = run([*args, "--force-exclude"], tmp_path, stdin=BAD)
    assert (result.status, result.out) == (0, "")


# -- bad input ------------------------------------------------------------------------------------


def test_missing_path_is_an_error_and_the_rest_is_linted(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", "missing.py", "model.py", "gone/"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line("model.py")]
    assert result.err_lines == [
        "serialint: error: gone/: no such file or directory",
        "serialint: error: missing.py: no such file or directory",
        "Found 1 finding; 2 errors.",
    ]


def test_undecodable_file(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    (tmp_path / "latin.py").write_bytes(b"# comment\nx = 1\nname = '\xe9t\xe9'\n")
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line("model.py")]
    assert result.err_lines == [
        "serialint: error: latin.py:3:9: cannot decode as utf-8: byte 0xe9 is invalid",
        "Found 1 finding; 1 error.",
    ]


def test_undecodable_first_line(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    (tmp_path / "bytes.py").write_bytes(b"x = '\xff'\n")
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [line("model.py")]
    assert result.err_lines[0].startswith("serialint: error: bytes.py:1:")
    assert "decode" in result.err_lines[0]
    assert result.err_lines[1:] == ["Found 1 finding; 1 error."]


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + BAD.encode() + b"name = '\xe9'\n")
    result = run(["check"], tmp_path)
    assert (result.status, result.out_lines) == (1, [line("latin.py", 9)])


def test_a_directory_named_like_a_python_file_is_walked(tmp_path: Path) -> None:
    write(tmp_path, {"weird.py/inner.py": BAD})
    for args in (["check"], ["check", "weird.py"]):
        result = run(args, tmp_path)
        assert (result.status, result.out_lines) == (1, [line("weird.py/inner.py")])


def test_a_file_without_py_suffix_named_explicitly_is_linted(tmp_path: Path) -> None:
    write(tmp_path, {"train": BAD})
    result = run(["check", "train"], tmp_path)
    assert (result.status, result.out_lines) == (1, [line("train")])


def test_null_bytes_are_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    result = run(["check"], tmp_path)
    assert result.status == 2
    assert result.err_lines == [
        "serialint: error: nul.py:1:6: syntax error: source contains a NUL byte",
        "No findings; 1 error.",
    ]


def test_a_failing_rule_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from serialint.rules.ser101_register_buffer_none import RegisterBufferNone

    def explode(self, ctx):  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    monkeypatch.setattr(RegisterBufferNone, "check", explode)
    write(tmp_path, {"model.py": BAD})
    result = run(["check"], tmp_path)
    assert result.status == 2
    # the failing rule is named with the file, and the run goes on
    assert result.err_lines == [
        "serialint: error: model.py: internal error in SER101: ValueError: boom",
        "No findings; 1 error.",
    ]


# -- output formats through the command ------------------------------------------------------------


def test_full_output(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", "--output-format", "full"], tmp_path)
    assert result.status == 1
    hint = all_rules()[0].summary
    assert result.out_lines == [
        line("model.py"),
        '   8 |         self.register_buffer("mean", None)',
        "     |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        f"  = help: {hint}",
        '  = fix (safe): materialise buffer "mean" from the checkpoint in a load_state_dict pre-hook',
        "",
    ]
    assert result.err_lines == ["Found 1 finding."]


def test_full_output_for_stdin_shows_the_source(tmp_path: Path) -> None:
    result = run(["check", "--output-format", "full", "-", "--stdin-filename", "m.py"], tmp_path, stdin=BAD)
    assert result.out_lines[1] == '   8 |         self.register_buffer("mean", None)'


def test_json_output(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD})
    result = run(["check", "--output-format", "json"], tmp_path)
    assert result.status == 1
    assert json.loads(result.out) == [
        {
            "path": "model.py",
            "line": 8,
            "column": 9,
            "end_line": 8,
            "end_column": 43,
            "code": "SER101",
            "name": "register-buffer-none",
            "message": message(),
            "severity": "error",
            "fix": {
                "applicability": "safe",
                "description": 'materialise buffer "mean" from the checkpoint in a load_state_dict pre-hook',
                "edits": [
                    {
                        "line": 5,
                        "column": 1,
                        "end_line": 5,
                        "end_column": 2,
                        "content": "def _serialint_load_compat_Normalizer(module, state_dict, prefix, *args):\n"
                        '    if prefix + "mean" in state_dict and module.mean is None:\n'
                        '        module.mean = torch.empty_like(state_dict[prefix + "mean"])\n\n\nc',
                    },
                    {
                        "line": 9,
                        "column": 1,
                        "end_line": 9,
                        "end_column": 1,
                        "content": "        self.register_load_state_dict_pre_hook(_serialint_load_compat_Normalizer)\n",
                    },
                ],
            },
        }
    ]
    assert result.err == ""  # machine formats print no summary


def test_json_output_when_clean_is_an_empty_list(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": CLEAN})
    result = run(["check", "--output-format", "json"], tmp_path)
    assert (result.status, json.loads(result.out)) == (0, [])


def test_github_output(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD, "broken.py": "def f(:\n"})
    result = run(["check", "--output-format", "github"], tmp_path)
    assert result.status == 2
    assert result.out_lines == [
        f"::error file=model.py,line=8,col=9,endLine=8,endColumn=43,title=SER101::{message()}",
        "::error file=broken.py,line=1,col=7,title=serialint::syntax error: invalid syntax",
    ]
    assert result.err_lines == ["serialint: error: broken.py:1:7: syntax error: invalid syntax"]


def test_sarif_output_is_valid(tmp_path: Path) -> None:
    write(tmp_path, {"model.py": BAD, "broken.py": "def f(:\n"})
    result = run(["check", "--output-format", "sarif"], tmp_path)
    assert result.status == 2
    log = json.loads(result.out)
    validate_sarif(log)
    run_ = log["runs"][0]
    assert [r["ruleId"] for r in run_["results"]] == ["SER101"]
    assert run_["results"][0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "model.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 8, "startColumn": 9, "endLine": 8, "endColumn": 43},
    }
    assert run_["invocations"][0]["executionSuccessful"] is False
    assert [n["message"]["text"] for n in run_["invocations"][0]["toolExecutionNotifications"]] == [
        "syntax error: invalid syntax"
    ]


# -- rule and rules ---------------------------------------------------------------------------------


def test_rule_prints_the_documentation() -> None:
    result = run(["rule", "SER101"], Path.cwd())
    assert result.status == 0
    lines = result.out_lines
    assert lines[:4] == ["# SER101 register-buffer-none", "", "Fix: safe. Enabled by default: yes.", ""]
    rule = next(r for r in all_rules() if r.code == "SER101")
    assert result.out == "\n".join(lines[:4]) + "\n" + rule.documentation() + "\n"
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
        assert section in lines


def test_rule_accepts_lowercase_code_and_name() -> None:
    expected = run(["rule", "SER101"], Path.cwd()).out
    assert run(["rule", "ser101"], Path.cwd()).out == expected
    assert run(["rule", "register-buffer-none"], Path.cwd()).out == expected


def test_rule_unknown_code() -> None:
    result = run(["rule", "SER999"], Path.cwd())
    assert result.status == 2
    assert result.out == ""
    assert result.err == "serialint: error: unknown rule 'SER999' (see `serialint rules`)\n"


def test_rules_lists_every_rule() -> None:
    result = run(["rules"], Path.cwd())
    assert result.status == 0
    rules = all_rules()
    width = max(len(r.name) for r in rules)
    assert result.out_lines[0] == f"{'code':<7} {'name':<{width}} {'fix':<12} default"
    assert len(result.out_lines) == len(rules) + 1
    row = next(text for text in result.out_lines if text.startswith("SER101 "))
    assert row.split() == ["SER101", "register-buffer-none", "safe", "on"]


def test_rules_as_json() -> None:
    result = run(["rules", "--output-format", "json"], Path.cwd())
    assert result.status == 0
    data = json.loads(result.out)
    assert [r["code"] for r in data] == [r.code for r in all_rules()]
    ser101 = next(r for r in data if r["code"] == "SER101")
    assert ser101 == {
        "code": "SER101",
        "name": "register-buffer-none",
        "fix": "safe",
        "default": True,
        "summary": "register the buffer with a tensor, or add a load_state_dict pre-hook that materialises it",
    }


# -- the installed command, end to end ---------------------------------------------------------------


def _serialint(args: list, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serialint", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_subprocess_findings_and_errors(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/model.py": BAD, "pkg/broken.py": "def f(:\n"})
    done = _serialint(["check", "--select", "SER101", "pkg"], tmp_path)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [line(os.path.join("pkg", "model.py"))]
    assert done.stderr.splitlines() == [
        f"serialint: error: {os.path.join('pkg', 'broken.py')}:1:7: syntax error: invalid syntax",
        "Found 1 finding; 1 error.",
    ]


def test_subprocess_stdin(tmp_path: Path) -> None:
    done = _serialint(["check", "--select", "SER101", "-", "--stdin-filename", "m.py"], tmp_path, stdin=BAD)
    assert (done.returncode, done.stdout.splitlines()) == (1, [line("m.py")])
    assert done.stderr == "Found 1 finding.\n"


def test_subprocess_usage_error_and_no_traceback(tmp_path: Path) -> None:
    done = _serialint(["check", "--select", "NOPE"], tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "Error: Invalid value for '--select': unknown rule code or prefix 'NOPE'"


def test_subprocess_clean_and_version(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": CLEAN})
    done = _serialint(["check"], tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "All checks passed.\n")
    done = _serialint(["--version"], tmp_path)
    assert (done.returncode, done.stdout) == (0, f"serialint {__version__}\n")


def test_subprocess_output_closed_by_the_reader(tmp_path: Path) -> None:
    # `serialint check | head -0`: the reader is gone before anything is written
    write(tmp_path, {"m.py": BAD})
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "serialint", "check", "--select", "SER101"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")
