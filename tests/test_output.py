"""Each output format, from findings built by hand: positions, escaping, schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Type

import pytest

from clitools import validate_sarif
from serialint.findings import Applicability, Edit, Finding, Fix, LintError, Severity
from serialint.output import (
    FORMATS,
    concise_line,
    finding_to_json,
    github_error,
    github_line,
    render,
    render_sarif,
    statistics,
)
from serialint.rule import Rule
from serialint.rules import all_rules


class Demo(Rule):
    """
    ## What it does
    Flags a demonstration
    across two lines.

    Second paragraph.

    ## Why is this bad?
    It is only a demonstration.

    ## Example
    ```python
    x = 1
    ```

    ## Use instead
    ```python
    x = 2
    ```

    ## Fix safety
    Safe.

    ## Known limits
    None.
    """

    code = "SER901"
    name = "demo-rule"
    summary = "write the other thing"
    severity = Severity.WARNING
    default_enabled = False
    fix_applicability = Applicability.SAFE


RULES: List[Type[Rule]] = [*all_rules(), Demo]


def finding(
    path: str = "pkg/model.py",
    line: int = 3,
    column: int = 4,
    end_line: int = 3,
    end_column: int = 9,
    code: str = "SER101",
    message: str = "buffer \"mean\" is registered as None",
    fix: "Fix | None" = None,
) -> Finding:
    name = "demo-rule" if code == "SER901" else "register-buffer-none"
    severity = Severity.WARNING if code == "SER901" else Severity.ERROR
    return Finding(path, line, column, end_line, end_column, code, name, message, severity, fix)


# -- concise ---------------------------------------------------------------------------------------


def test_concise_uses_one_based_columns() -> None:
    assert concise_line(finding()) == 'pkg/model.py:3:5: SER101 buffer "mean" is registered as None'
    assert concise_line(finding(line=1, column=0)) == 'pkg/model.py:1:1: SER101 buffer "mean" is registered as None'


def test_concise_render_prints_in_the_given_order_one_per_line() -> None:
    out = render("concise", [finding(line=1), finding(line=2, column=0)], [], RULES)
    assert out == (
        'pkg/model.py:1:5: SER101 buffer "mean" is registered as None\n'
        'pkg/model.py:2:1: SER101 buffer "mean" is registered as None\n'
    )
    assert render("concise", [], [], RULES) == ""


# -- full ---------------------------------------------------------------------------------------------

SOURCE = "a = 1\nb = 2\n    value = compute(x)\n"


def test_full_shows_source_caret_and_hint() -> None:
    out = render("full", [finding(column=12, end_column=22)], [], RULES, {"pkg/model.py": SOURCE})
    assert out.splitlines() == [
        'pkg/model.py:3:13: SER101 buffer "mean" is registered as None',
        "   3 |     value = compute(x)",
        "     |             ^^^^^^^^^^",
        f"  = help: {all_rules()[0].summary}",
        "",
    ]


def test_full_caret_runs_to_the_end_of_the_line_for_a_multiline_finding() -> None:
    out = render("full", [finding(column=12, end_line=5, end_column=1)], [], RULES, {"pkg/model.py": SOURCE})
    assert out.splitlines()[2] == "     |             ^^^^^^^^^^"


def test_full_caret_is_at_least_one_wide() -> None:
    out = render("full", [finding(line=1, column=5, end_line=1, end_column=5)], [], RULES, {"pkg/model.py": SOURCE})
    assert out.splitlines()[1:3] == ["   1 | a = 1", "     |      ^"]


def test_full_caret_keeps_tabs_of_the_indent() -> None:
    tabbed = {"pkg/model.py": "\t\tx = 1\n"}
    out = render("full", [finding(line=1, column=2, end_line=1, end_column=5)], [], RULES, tabbed)
    assert out.splitlines()[1:3] == ["   1 | \t\tx = 1", "     | \t\t^^^"]


def test_full_counts_lines_as_python_does() -> None:
    # a form feed is not a line end for Python, so line 2 is the one after the \n
    text = "a = 1\x0c  # page\nb = 2\r\nc = 3\rd = 4\n"
    out = render("full", [finding(line=4, column=0, end_line=4, end_column=1)], [], RULES, {"pkg/model.py": text})
    assert out.splitlines()[1:3] == ["   4 | d = 4", "     | ^"]


def test_full_with_a_fix_and_without_source() -> None:
    fix = Fix(Applicability.UNSAFE, "register a tensor instead")
    out = render("full", [finding(fix=fix)], [], RULES, {})
    assert out.splitlines() == [
        'pkg/model.py:3:5: SER101 buffer "mean" is registered as None',
        f"  = help: {all_rules()[0].summary}",
        "  = fix (unsafe): register a tensor instead",
        "",
    ]


def test_full_separates_findings_with_a_blank_line() -> None:
    out = render("full", [finding(line=1), finding(line=2)], [], RULES, {})
    assert out.count("\n\n") == 2 and out.endswith("\n\n")


# -- json ------------------------------------------------------------------------------------------


def test_json_fields_and_positions() -> None:
    fix = Fix(Applicability.SAFE, "use a tensor", (Edit(3, 4, 3, 9, "torch.zeros(1)"),))
    data = json.loads(render("json", [finding(fix=fix)], [LintError("x.py", "bad")], RULES))
    assert data == [
        {
            "path": "pkg/model.py",
            "line": 3,
            "column": 5,
            "end_line": 3,
            "end_column": 10,
            "code": "SER101",
            "name": "register-buffer-none",
            "message": 'buffer "mean" is registered as None',
            "severity": "error",
            "fix": {
                "applicability": "safe",
                "description": "use a tensor",
                "edits": [{"line": 3, "column": 5, "end_line": 3, "end_column": 10, "content": "torch.zeros(1)"}],
            },
        }
    ]


def test_json_severity_of_a_warning_rule() -> None:
    assert finding_to_json(finding(code="SER901"))["severity"] == "warning"


# -- github ------------------------------------------------------------------------------------------


def test_github_annotation() -> None:
    assert github_line(finding()) == (
        "::error file=pkg/model.py,line=3,col=5,endLine=3,endColumn=10,title=SER101::"
        'buffer "mean" is registered as None'
    )


def test_github_escapes_data_and_properties() -> None:
    f = finding(path="dir,x/a:b%c.py", message="50% done,\r\nnext: line")
    assert github_line(f) == (
        "::error file=dir%2Cx/a%3Ab%25c.py,line=3,col=5,endLine=3,endColumn=10,title=SER101::"
        "50%25 done,%0D%0Anext: line"
    )


def test_github_errors() -> None:
    assert github_error(LintError("a.py", "syntax error: x", 2, 0)) == (
        "::error file=a.py,line=2,col=1,title=serialint::syntax error: x"
    )
    assert github_error(LintError("b,c.py", "no such file or directory")) == (
        "::error file=b%2Cc.py,title=serialint::no such file or directory"
    )


# -- sarif -------------------------------------------------------------------------------------------


def test_sarif_validates_against_the_schema() -> None:
    fix = Fix(Applicability.SAFE, "use a tensor", (Edit(3, 4, 3, 9, "x"),))
    log = render_sarif(
        [finding(fix=fix), finding(code="SER901", path="/abs/dir/m.py")],
        [LintError("bad.py", "syntax error: x", 4, 2), LintError("gone.py", "no such file or directory")],
        RULES,
    )
    validate_sarif(log)
    validate_sarif(render_sarif([], [], RULES))


def test_sarif_rule_metadata() -> None:
    log = render_sarif([], [], RULES)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "serialint"
    assert [r["id"] for r in driver["rules"]] == [r.code for r in RULES]
    demo = driver["rules"][-1]
    assert demo == {
        "id": "SER901",
        "name": "demo-rule",
        "shortDescription": {"text": "Flags a demonstration across two lines."},
        "fullDescription": {"text": "It is only a demonstration."},
        "help": {"text": Demo.documentation(), "markdown": Demo.documentation()},
        "defaultConfiguration": {"enabled": False, "level": "warning"},
        "properties": {"fix": "safe"},
    }
    ser101 = driver["rules"][[r.code for r in RULES].index("SER101")]
    assert ser101["shortDescription"]["text"].startswith('Flags `self.register_buffer("p", None)` in a Module')
    assert "\n" not in ser101["shortDescription"]["text"]
    assert ser101["defaultConfiguration"] == {"enabled": True, "level": "error"}


def test_sarif_results_and_locations() -> None:
    log = render_sarif([finding(), finding(code="SER901", path="/abs/dir/m.py", line=1, column=0)], [], RULES)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}}
    first, second = run["results"]
    assert first == {
        "ruleId": "SER101",
        "ruleIndex": [r.code for r in RULES].index("SER101"),
        "level": "error",
        "message": {"text": 'buffer "mean" is registered as None'},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "pkg/model.py", "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 10},
                }
            }
        ],
    }
    assert second["level"] == "warning"
    assert second["ruleIndex"] == len(RULES) - 1
    assert second["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///abs/dir/m.py"}
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_sarif_quotes_uris() -> None:
    log = render_sarif([finding(path="my dir/a#b.py")], [], RULES)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "my%20dir/a%23b.py", "uriBaseId": "%SRCROOT%"}


def test_sarif_reports_errors_as_notifications() -> None:
    log = render_sarif([], [LintError("bad.py", "syntax error: x", 4, 2), LintError("gone.py", "missing")], RULES)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [
        {
            "level": "error",
            "message": {"text": "syntax error: x"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "bad.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 4, "startColumn": 3},
                    }
                }
            ],
        },
        {
            "level": "error",
            "message": {"text": "missing"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "gone.py", "uriBaseId": "%SRCROOT%"}}}],
        },
    ]


def test_sarif_render_is_json() -> None:
    out = render("sarif", [finding()], [], RULES)
    assert json.loads(out)["runs"][0]["results"][0]["ruleId"] == "SER101"


def test_sarif_schema_rejects_a_broken_log() -> None:
    # the validation the other tests rely on really checks something
    jsonschema = pytest.importorskip("jsonschema")
    log = render_sarif([finding()], [], RULES)
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(log)


# -- statistics and dispatch ----------------------------------------------------------------------------


def test_statistics() -> None:
    findings = [finding(code="SER901")] + [finding(line=i) for i in range(1, 12)]
    assert statistics(findings, RULES) == "11\tSER101\tregister-buffer-none\n 1\tSER901\tdemo-rule\n"
    assert statistics([], RULES) == ""


def test_every_format_renders_and_unknown_raises() -> None:
    for fmt in FORMATS:
        assert isinstance(render(fmt, [finding()], [], RULES, {}), str)
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        render("xml", [], [], RULES)


def test_sarif_results_carry_their_fixes_including_display_only_ones() -> None:
    replace = Edit(3, 4, 3, 9, "x")
    insert = Edit(5, 0, 5, 0, "import functools\n")
    for applicability in (Applicability.SAFE, Applicability.UNSAFE, Applicability.DISPLAY_ONLY):
        fix = Fix(applicability, "use a tensor", (replace, insert))
        log = render_sarif([finding(fix=fix)], [], RULES)
        validate_sarif(log)
        assert log["runs"][0]["results"][0]["fixes"] == [
            {
                "description": {"text": f"use a tensor ({applicability.value})"},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": "pkg/model.py", "uriBaseId": "%SRCROOT%"},
                        "replacements": [
                            {
                                "deletedRegion": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 10},
                                "insertedContent": {"text": "x"},
                            },
                            {
                                "deletedRegion": {"startLine": 5, "startColumn": 1, "endLine": 5, "endColumn": 1},
                                "insertedContent": {"text": "import functools\n"},
                            },
                        ],
                    }
                ],
            }
        ]
    assert "fixes" not in render_sarif([finding()], [], RULES)["runs"][0]["results"][0]
