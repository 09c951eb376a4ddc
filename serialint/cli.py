"""The `serialint` command. A thin shell over the engine: parse options, call, print, exit.

Exit status: 0 no findings, 1 findings, 2 an error (bad usage, bad configuration, a file that
cannot be read or parsed). Errors win over findings.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import click

from serialint import __version__

if TYPE_CHECKING:
    from serialint.findings import Finding, LintError
    from serialint.cache import ResultCache
    from serialint.config import ConfigResolver
    from serialint.engine import Linter, SourceFile

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

# serialint.output.FORMATS, spelled out so that `--version` and `--help` need not import the
# output module (a test keeps the two equal)
FORMATS = ("concise", "full", "json", "sarif", "github")


def _split_codes(values: Sequence[str]) -> List[str]:
    codes: List[str] = []
    for value in values:
        codes.extend(part.strip().upper() for part in value.split(",") if part.strip())
    return codes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="serialint", message="%(prog)s %(version)s")
def main() -> None:
    """Find PyTorch serialization and checkpoint hazards in Python source."""


@main.command(short_help="Lint files and directories.")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--select",
    metavar="CODES",
    multiple=True,
    help="Rule codes or prefixes to enable, comma-separated or repeated (replaces the configured set).",
)
@click.option("--extend-select", metavar="CODES", multiple=True, help="Rule codes or prefixes to enable in addition.")
@click.option("--ignore", metavar="CODES", multiple=True, help="Rule codes or prefixes to disable.")
@click.option(
    "--output-format",
    type=click.Choice(FORMATS),
    default="concise",
    show_default=True,
)
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings (errors still exit 2).")
@click.option("-q", "--quiet", is_flag=True, help="Print findings and errors only: no summary, no warnings.")
@click.option("--config", "config_path", type=click.Path(), help="Use this configuration file for every path.")
@click.option(
    "--stdin-filename", metavar="PATH", help="The path to report (and configure) when reading source from '-'."
)
@click.option("--force-exclude", is_flag=True, help="Apply exclusions to paths named on the command line too.")
@click.option("--fix", is_flag=True, help="Apply safe fixes, then report what remains.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix, --fix-only or --diff: apply unsafe fixes too.")
@click.option("--diff", is_flag=True, help="Print a unified diff of what --fix would change; write nothing.")
@click.option("--fix-only", is_flag=True, help="Apply fixes and report nothing else.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Lint in N processes (default: the number of CPUs; 1 runs everything in this process).",
)
@click.option(
    "--cache-dir",
    metavar="PATH",
    help="Keep the result cache here (default: .serialint_cache in the project root; env SERIALINT_CACHE_DIR).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
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
    fix: bool,
    unsafe_fixes: bool,
    diff: bool,
    fix_only: bool,
    jobs: Optional[int],
    cache_dir: Optional[str],
    no_cache: bool,
) -> None:
    """Lint PATHS: files or directories (default: the current directory); '-' reads standard input."""
    from serialint.engine import Linter

    linter = Linter()
    selected = _checked_codes("--select", select, linter.codes)
    ignored = _checked_codes("--ignore", ignore, linter.codes)
    extended = _checked_codes("--extend-select", extend_select, linter.codes)
    if config_path is not None and not os.path.isfile(config_path):
        problem = "is a directory, not a configuration file" if os.path.isdir(config_path) else "no such file"
        raise click.BadParameter(f"{config_path}: {problem}", param_hint="'--config'")
    if not paths:
        # as ruff does: a --stdin-filename without paths means the source comes from stdin
        paths = ("-",) if stdin_filename is not None else (".",)
    try:
        status = _run_check(
            linter,
            paths,
            CheckOptions(
                select=selected or None,
                ignore=ignored,
                extend_select=extended,
                output_format=output_format,
                statistics=statistics,
                exit_zero=exit_zero,
                quiet=quiet,
                config_path=config_path,
                stdin_filename=stdin_filename,
                force_exclude=force_exclude,
                fix=fix or fix_only,
                unsafe_fixes=unsafe_fixes,
                diff=diff,
                fix_only=fix_only,
                jobs=jobs,
                cache_dir=cache_dir,
                no_cache=no_cache,
            ),
        )
    except BrokenPipeError:
        raise  # click ends quietly when the reader of stdout goes away
    except Exception as exc:  # a defect must still reach the user as a message, not a traceback
        click.echo(f"serialint: error: internal error: {type(exc).__name__}: {exc}", err=True)
        status = EXIT_ERROR
    sys.exit(status)


@dataclass(frozen=True)
class CheckOptions:
    select: Optional[List[str]]
    ignore: List[str]
    extend_select: List[str]
    output_format: str
    statistics: bool
    exit_zero: bool
    quiet: bool
    config_path: Optional[str]
    stdin_filename: Optional[str]
    force_exclude: bool
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    fix_only: bool = False
    jobs: Optional[int] = None  # None: one per CPU
    cache_dir: Optional[str] = None
    no_cache: bool = False


def _checked_codes(option: str, values: Sequence[str], known: Sequence[str]) -> List[str]:
    from serialint.config import ConfigError, check_selector

    codes = _split_codes(values)
    for code in codes:
        try:
            check_selector(code, known, option, option)
        except ConfigError:
            raise click.BadParameter(f"unknown rule code or prefix '{code}'", param_hint=f"'{option}'") from None
    return codes


def _run_check(linter: Linter, paths: Sequence[str], options: CheckOptions) -> int:
    """Lint, print, and return the exit status."""
    from serialint.config import ConfigResolver
    from serialint.discovery import discover
    from serialint.engine import SourceFile, lint_sources
    from serialint.findings import LintError
    from serialint.output import render
    from serialint.output import statistics as render_statistics
    from serialint.parallel import default_jobs

    resolver = ConfigResolver(
        linter.codes, options.config_path, options.select, options.ignore, options.extend_select
    )
    errors: List[LintError] = []
    sources: List[SourceFile] = []
    if "-" in paths:
        source = _stdin_source(resolver, options, errors)
        if source is not None:
            sources.append(source)
        paths = [p for p in paths if p != "-"]
    if paths:
        files, discovery_errors = discover(paths, resolver, options.force_exclude)
        errors.extend(discovery_errors)
        sources.extend(SourceFile(f) for f in files)

    jobs = options.jobs or default_jobs()
    cache = _open_cache(resolver, options) if any(not s.from_stdin for s in sources) else None
    fixed_count = 0
    if options.fix or options.diff:
        findings, fix_errors, fixed_count, stop = _run_fixes(linter, sources, resolver, options, jobs, cache)
        errors = _unique_errors([*errors, *fix_errors])
        if stop is not None:
            for error in errors:
                click.echo(f"serialint: error: {error.render()}", err=True)
            return EXIT_ERROR if errors else stop
    else:
        run = lint_sources(sources, resolver, linter, jobs=jobs, cache=cache)
        errors = _unique_errors([*errors, *run.errors])
        findings = sorted(run.findings, key=lambda f: f.sort_key())

    for error in errors:
        click.echo(f"serialint: error: {error.render()}", err=True)
    if not sources and not errors and not options.quiet:
        click.echo("serialint: warning: no Python files found", err=True)
    if options.statistics:
        click.echo(render_statistics(findings, linter.rule_metadata()), nl=False)  # type: ignore[arg-type]
    else:
        texts = {s.path: s.text for s in sources if s.text is not None} if options.output_format == "full" else None
        rules = linter.rule_metadata()
        click.echo(render(options.output_format, findings, errors, rules, texts), nl=False)  # type: ignore[arg-type]
    if not options.quiet and (options.statistics or options.output_format in ("concise", "full")):
        if options.fix:
            click.echo(f"Fixed {fixed_count} finding{'s' if fixed_count != 1 else ''} ({len(findings)} remaining).", err=True)
        else:
            click.echo(summary_line(len(findings), len(errors)), err=True)
    if errors:
        return EXIT_ERROR
    if findings and not options.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _open_cache(resolver: ConfigResolver, options: CheckOptions) -> Optional[ResultCache]:
    """The result cache for this run, or None (`--no-cache`, or a directory that cannot be written)."""
    if options.no_cache:
        return None
    from serialint.cache import open_project_cache

    return open_project_cache(resolver, options.config_path, options.cache_dir)


def _run_fixes(
    linter: Linter,
    sources: List[SourceFile],
    resolver: ConfigResolver,
    options: CheckOptions,
    jobs: int = 1,
    cache: Optional[ResultCache] = None,
) -> Tuple[List[Finding], List[LintError], int, Optional[int]]:
    """Fix (or diff) every source. Returns remaining findings, errors, the number of fixes applied,
    and an exit status when nothing more is to be printed (--diff, --fix-only, fixed stdin)."""
    import difflib

    from serialint.engine import fix_sources
    from serialint.findings import LintError
    from serialint.fixes import write_atomically

    outcomes = fix_sources(sources, resolver, linter, options.unsafe_fixes, jobs, cache)
    errors: List[LintError] = [s.error for s in sources if s.error is not None]
    remaining: List[Finding] = []
    fixed = 0
    changed_any = False
    for position, source in enumerate(sources):
        if source.error is not None:
            continue
        outcome = outcomes[position]
        if outcome.broken_by:
            errors.append(
                LintError(source.path, f"the fixes for {outcome.broken_by} would leave invalid code; not applied")
            )
        remaining.extend(outcome.remaining)
        fixed += sum(outcome.applied.values())
        if not outcome.changed:
            continue
        changed_any = True
        if options.diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        outcome.original.splitlines(keepends=True),
                        outcome.fixed.splitlines(keepends=True),
                        fromfile=f"a/{source.path}",
                        tofile=f"b/{source.path}",
                    )
                ),
                nl=False,
            )
        elif source.from_stdin:
            click.echo(outcome.fixed, nl=False)  # fixed standard input goes to standard output
        else:
            try:
                write_atomically(source.path, outcome.fixed, source.encoding)
            except OSError as exc:
                errors.append(LintError(source.path, f"cannot write the fixed file: {exc.strerror or exc}"))
    remaining.sort(key=lambda f: f.sort_key())
    if options.diff:
        return remaining, errors, fixed, EXIT_FINDINGS if changed_any else EXIT_CLEAN
    if options.fix_only:
        return remaining, errors, fixed, EXIT_CLEAN
    return remaining, errors, fixed, None


def _stdin_source(resolver: ConfigResolver, options: CheckOptions, errors: List[LintError]) -> Optional[SourceFile]:
    """The source read from stdin, named by --stdin-filename; None when it is not to be linted."""
    from serialint.config import ConfigError
    from serialint.engine import SourceFile, decode_source
    from serialint.findings import LintError

    display = options.stdin_filename or "-"
    stream = getattr(sys.stdin, "buffer", None)
    try:
        data = stream.read() if stream is not None else None
    except OSError:
        data = None
    if data is None:
        errors.append(LintError(display, "cannot read standard input"))
        return None
    if options.force_exclude and options.stdin_filename:
        try:
            if resolver.for_path(display).is_excluded_with_parents(display):
                return None
        except ConfigError as exc:
            errors.append(exc.as_lint_error())
            return None
    text = decode_source(display, data)
    if isinstance(text, LintError):
        errors.append(text)
        return None
    return SourceFile(display, text=text, from_stdin=True)


def summary_line(findings: int, errors: int) -> str:
    """The closing line on stderr, e.g. `Found 2 findings; 1 error.` or `All checks passed.`"""
    if findings:
        text = f"Found {findings} finding{'s' if findings != 1 else ''}"
    elif errors:
        text = "No findings"
    else:
        return "All checks passed."
    if errors:
        text += f"; {errors} error{'s' if errors != 1 else ''}"
    return f"{text}."


def _unique_errors(errors: Sequence[LintError]) -> List[LintError]:
    """Each error once (a bad configuration is met once per path under it), sorted by path."""
    unique = {error.render(): error for error in errors}
    return sorted(unique.values(), key=lambda e: (e.path, e.line or 0, e.column or 0, e.message))


@main.command(short_help="Print one rule's documentation.")
@click.argument("code")
def rule(code: str) -> None:
    """Print the documentation of one rule (e.g. `serialint rule SER101`)."""
    from serialint.catalog import rule_infos

    for rule_class in rule_infos():
        if rule_class.code == code.upper() or rule_class.name == code.lower():
            fix = rule_class.fix_applicability.value if rule_class.fix_applicability else "none"
            click.echo(f"# {rule_class.code} {rule_class.name}\n")
            click.echo(f"Fix: {fix}. Enabled by default: {'yes' if rule_class.default_enabled else 'no'}.\n")
            click.echo(rule_class.documentation())
            return
    click.echo(f"serialint: error: unknown rule '{code}' (see `serialint rules`)", err=True)
    sys.exit(EXIT_ERROR)


@main.command(name="rules", short_help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule: code, name, fix availability, and whether it is on by default."""
    import json

    from serialint.catalog import rule_infos

    rows = [
        {
            "code": r.code,
            "name": r.name,
            "fix": r.fix_applicability.value if r.fix_applicability else "none",
            "default": r.default_enabled,
            "summary": r.summary,
        }
        for r in rule_infos()
    ]
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    click.echo(f"{'code':<7} {'name':<{width}} {'fix':<12} default")
    for row in rows:
        click.echo(f"{row['code']:<7} {row['name']:<{width}} {row['fix']:<12} {'on' if row['default'] else 'off'}")


@main.command(short_help="Run the language server on standard input and output.")
def lsp() -> None:
    """Run the serialint language server over stdio (needs the `lsp` extra: pygls, lsprotocol)."""
    from serialint.lsp import main as serve

    serve()
