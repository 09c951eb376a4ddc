"""The `serialint` command. A thin shell over the engine: parse options, call, print, exit.

Exit status: 0 no findings, 1 findings, 2 an error (bad usage, bad configuration, a file that
cannot be read or parsed). Errors win over findings.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence, Tuple

import click

from serialint import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _split_codes(values: Sequence[str]) -> List[str]:
    codes: List[str] = []
    for value in values:
        codes.extend(part.strip().upper() for part in value.split(",") if part.strip())
    return codes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="serialint", message="%(prog)s %(version)s")
def main() -> None:
    """Find PyTorch serialization and checkpoint hazards in Python source."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (replaces the configured set).")
@click.option("--extend-select", multiple=True, help="Rule codes or prefixes to enable in addition.")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option(
    "--output-format",
    type=click.Choice(["concise", "full", "json", "sarif", "github"]),
    default="concise",
    show_default=True,
)
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (errors still exit 2).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary line.")
@click.option("--config", "config_path", type=click.Path(), help="Use this configuration file for every path.")
@click.option("--stdin-filename", help="The path to report (and configure) when reading source from '-'.")
@click.option("--force-exclude", is_flag=True, help="Apply exclusions to files named on the command line too.")
def check(
    paths: Tuple[str, ...],
    select: Tuple[str, ...],
    extend_select: Tuple[str, ...],
    ignore: Tuple[str, ...],
    output_format: str,
    statistics: bool,
    exit_zero: bool,
    quiet: bool,
    config_path: Optional[str],
    stdin_filename: Optional[str],
    force_exclude: bool,
) -> None:
    """Lint PATHS (files or directories; default: the current directory; '-' reads stdin)."""
    from serialint.config import ConfigError, ConfigResolver, check_selector
    from serialint.discovery import discover
    from serialint.engine import Linter, SourceFile, lint_sources
    from serialint.findings import LintError
    from serialint.output import render
    from serialint.output import statistics as render_statistics

    linter = Linter()
    selected, ignored, extended = _split_codes(select), _split_codes(ignore), _split_codes(extend_select)
    for option, values in (("--select", selected), ("--ignore", ignored), ("--extend-select", extended)):
        for value in values:
            try:
                check_selector(value, linter.codes, option, option)
            except ConfigError:
                raise click.UsageError(f"{option}: unknown rule code or prefix '{value}'") from None
    if config_path is not None and not os.path.isfile(config_path):
        click.echo(f"serialint: error: {config_path}: configuration file not found", err=True)
        sys.exit(EXIT_ERROR)
    resolver = ConfigResolver(linter.codes, config_path, selected or None, ignored, extended)

    errors: List[LintError] = []
    sources: List[SourceFile] = []
    paths = paths or (".",)
    if "-" in paths:
        display = stdin_filename or "-"
        data = sys.stdin.buffer.read()
        from serialint.engine import decode_source

        text = decode_source(display, data)
        if isinstance(text, LintError):
            errors.append(text)
        else:
            sources.append(SourceFile(display, text=text))
        paths = tuple(p for p in paths if p != "-")
    if paths:
        files, discovery_errors = discover(paths, resolver, force_exclude)
        errors.extend(discovery_errors)
        sources.extend(SourceFile(os.path.normpath(f)) for f in files)

    run = lint_sources(sources, resolver, linter)
    errors.extend(run.errors)
    findings = sorted(run.findings, key=lambda f: f.sort_key())
    errors = _unique_errors(errors)

    for error in errors:
        click.echo(f"serialint: error: {error.render()}", err=True)
    if statistics:
        click.echo(render_statistics(findings, linter.rule_classes), nl=False)
    else:
        texts = {s.path: s.text for s in sources if s.text is not None} if output_format == "full" else None
        click.echo(render(output_format, findings, errors, linter.rule_classes, texts), nl=False)
    if not quiet and output_format in ("concise", "full"):
        count = len(findings)
        summary = f"Found {count} finding{'s' if count != 1 else ''}" if count else "All checks passed"
        if errors:
            summary += f"; {len(errors)} error{'s' if len(errors) != 1 else ''}"
        click.echo(f"{summary}.", err=True)
    if errors:
        sys.exit(EXIT_ERROR)
    if findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _unique_errors(errors):  # type: ignore[no-untyped-def]
    seen = set()
    unique = []
    for error in errors:
        key = error.render()
        if key not in seen:
            seen.add(key)
            unique.append(error)
    return unique


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Print the documentation of one rule (e.g. `serialint rule SER101`)."""
    from serialint.rules import all_rules

    for rule_class in all_rules():
        if rule_class.code == code.upper() or rule_class.name == code.lower():
            fix = rule_class.fix_applicability.value if rule_class.fix_applicability else "none"
            click.echo(f"# {rule_class.code} {rule_class.name}\n")
            click.echo(f"Fix: {fix}. Enabled by default: {'yes' if rule_class.default_enabled else 'no'}.\n")
            click.echo(rule_class.documentation())
            return
    click.echo(f"serialint: error: unknown rule '{code}' (see `serialint rules`)", err=True)
    sys.exit(EXIT_ERROR)


@main.command(name="rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule: code, name, fix availability, and whether it is on by default."""
    import json

    from serialint.rules import all_rules

    rows = [
        {
            "code": r.code,
            "name": r.name,
            "fix": r.fix_applicability.value if r.fix_applicability else "none",
            "default": r.default_enabled,
            "summary": r.summary,
        }
        for r in all_rules()
    ]
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    click.echo(f"{'code':<7} {'name':<{width}} {'fix':<12} default")
    for row in rows:
        click.echo(f"{row['code']:<7} {row['name']:<{width}} {row['fix']:<12} {'on' if row['default'] else 'off'}")
