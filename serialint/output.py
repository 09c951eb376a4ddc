"""Output formats. Each converts serialint's positions (1-based line, 0-based column) once."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Type
from urllib.parse import quote

from serialint import __version__
from serialint.findings import Finding, LintError

if TYPE_CHECKING:
    from serialint.rule import Rule

FORMATS = ("concise", "full", "json", "sarif", "github")
_LINE_END = re.compile(r"\r\n|\r|\n")


def render(
    fmt: str,
    findings: Sequence[Finding],
    errors: Sequence[LintError],
    rules: Sequence[Type[Rule]],
    sources: Optional[Dict[str, str]] = None,
) -> str:
    if fmt == "concise":
        return "".join(f"{concise_line(f)}\n" for f in findings)
    if fmt == "full":
        return render_full(findings, rules, sources or {})
    if fmt == "json":
        return json.dumps([finding_to_json(f) for f in findings], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(render_sarif(findings, errors, rules), indent=2) + "\n"
    if fmt == "github":
        return "".join(github_line(f) + "\n" for f in findings) + "".join(github_error(e) + "\n" for e in errors)
    raise ValueError(f"unknown output format {fmt!r}")


def concise_line(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}:{finding.column + 1}: {finding.code} {finding.message}"


def render_full(findings: Sequence[Finding], rules: Sequence[Type[Rule]], sources: Dict[str, str]) -> str:
    hints = {rule.code: rule.summary for rule in rules}
    out: List[str] = []
    lines_cache: Dict[str, List[str]] = {}
    for finding in findings:
        out.append(concise_line(finding))
        text = sources.get(finding.path)
        if text is not None:
            lines = lines_cache.get(finding.path)
            if lines is None:
                # Python's line ends only: str.splitlines also splits at form feeds and U+2028
                lines = lines_cache[finding.path] = _LINE_END.split(text)
            if 0 < finding.line <= len(lines):
                source_line = lines[finding.line - 1]
                gutter = f"{finding.line:>4} | "
                width = (
                    finding.end_column - finding.column
                    if finding.end_line == finding.line
                    else len(source_line) - finding.column
                )
                # keep tabs in the caret's indent so it lines up under tab-indented code
                indent = "".join(ch if ch == "\t" else " " for ch in source_line[: finding.column])
                out.append(f"{gutter}{source_line}")
                out.append(" " * (len(gutter) - 2) + "| " + indent + "^" * max(width, 1))
        hint = hints.get(finding.code)
        if hint:
            out.append(f"  = help: {hint}")
        if finding.fix is not None:
            out.append(f"  = fix ({finding.fix.applicability.value}): {finding.fix.description}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def finding_to_json(finding: Finding) -> dict:
    data = {
        "path": finding.path,
        "line": finding.line,
        "column": finding.column + 1,
        "end_line": finding.end_line,
        "end_column": finding.end_column + 1,
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "severity": finding.severity.value,
        "fix": None,
    }
    if finding.fix is not None:
        data["fix"] = {
            "applicability": finding.fix.applicability.value,
            "description": finding.fix.description,
            "edits": [
                {
                    "line": e.line,
                    "column": e.column + 1,
                    "end_line": e.end_line,
                    "end_column": e.end_column + 1,
                    "content": e.content,
                }
                for e in finding.fix.edits
            ],
        }
    return data


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(finding: Finding) -> str:
    return (
        f"::error file={_escape_property(finding.path)},line={finding.line},col={finding.column + 1},"
        f"endLine={finding.end_line},endColumn={finding.end_column + 1},"
        f"title={_escape_property(finding.code)}::{_escape_data(finding.message)}"
    )


def github_error(error: LintError) -> str:
    props = f"file={_escape_property(error.path)}"
    if error.line is not None:
        props += f",line={error.line},col={(error.column or 0) + 1}"
    return f"::error {props},title=serialint::{_escape_data(error.message)}"


def render_sarif(findings: Sequence[Finding], errors: Sequence[LintError], rules: Sequence[Type[Rule]]) -> dict:
    rule_index = {rule.code: i for i, rule in enumerate(rules)}
    sarif_rules = []
    for rule in rules:
        sections = rule.doc_sections()
        what = sections.get("What it does", rule.summary).split("\n\n")[0]
        sarif_rules.append(
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": " ".join(what.split())},
                "fullDescription": {"text": sections.get("Why is this bad?", rule.summary)},
                # the documentation itself, since the project publishes no rule pages to link to
                "help": {"text": rule.documentation(), "markdown": rule.documentation()},
                "defaultConfiguration": {
                    "enabled": rule.default_enabled,
                    "level": "error" if rule.severity.value == "error" else "warning",
                },
                "properties": {"fix": rule.fix_applicability.value if rule.fix_applicability else "none"},
            }
        )
    results = []
    for finding in findings:
        result = {
            "ruleId": finding.code,
            "level": "error" if finding.severity.value == "error" else "warning",
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(finding.path),
                        "region": {
                            "startLine": finding.line,
                            "startColumn": finding.column + 1,
                            "endLine": finding.end_line,
                            "endColumn": finding.end_column + 1,
                        },
                    }
                }
            ],
        }
        if finding.code in rule_index:
            result["ruleIndex"] = rule_index[finding.code]
        if finding.fix is not None and finding.fix.edits:
            result["fixes"] = [_sarif_fix(finding)]
        results.append(result)
    notifications = []
    for error in errors:
        note: dict = {"level": "error", "message": {"text": error.message}}
        location: dict = {"physicalLocation": {"artifactLocation": _artifact(error.path)}}
        if error.line is not None:
            location["physicalLocation"]["region"] = {"startLine": error.line, "startColumn": (error.column or 0) + 1}
        note["locations"] = [location]
        notifications.append(note)
    run: dict = {
        "tool": {
            "driver": {
                "name": "serialint",
                "version": __version__,
                "rules": sarif_rules,
            }
        },
        # libcst counts columns in code points; SARIF's default is UTF-16 code units
        "columnKind": "unicodeCodePoints",
        "originalUriBaseIds": {"%SRCROOT%": {"uri": _directory_uri(os.getcwd())}},
        "results": results,
        "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }


def _sarif_fix(finding: Finding) -> dict:
    """A SARIF fix: each edit replaces a region (an empty region is an insertion point)."""
    fix = finding.fix
    assert fix is not None
    return {
        "description": {"text": f"{fix.description} ({fix.applicability.value})"},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(finding.path),
                "replacements": [
                    {
                        "deletedRegion": {
                            "startLine": edit.line,
                            "startColumn": edit.column + 1,
                            "endLine": edit.end_line,
                            "endColumn": edit.end_column + 1,
                        },
                        "insertedContent": {"text": edit.content},
                    }
                    for edit in fix.edits
                ],
            }
        ],
    }


def _artifact(path: str) -> dict:
    """A relative path is relative to %SRCROOT% (the working directory); an absolute one is a file URI."""
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.replace(os.sep, "/")), "uriBaseId": "%SRCROOT%"}


def _directory_uri(path: str) -> str:
    uri = Path(path).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def statistics(findings: Sequence[Finding], rules: Sequence[Type[Rule]]) -> str:
    names = {rule.code: rule.name for rule in rules}
    counts = Counter(f.code for f in findings)
    width = max((len(str(n)) for n in counts.values()), default=1)
    return "".join(
        f"{count:>{width}}\t{code}\t{names.get(code, '')}\n" for code, count in sorted(counts.items())
    )
