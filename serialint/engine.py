"""The engine: read, parse once, run every enabled rule in one pass, place and filter findings."""

from __future__ import annotations

import ast
import codecs
import io
import os
import re
import tokenize
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple, Type, Union

from serialint.config import ConfigError, ConfigResolver, Settings
from serialint.findings import FileResult, Finding, LintError
from serialint.fixes import MAX_FIX_PASSES, FixOutcome, applicable, apply_fixes, parses
from serialint.index import (
    FileSummary,
    ProjectIndex,
    StatementLines,
    module_name_for_path,
    module_name_in_memory,
    statement_lines,
    summarize,
)
from serialint.pickled import pickled_class_refs
from serialint.suppression import find_suppressions

if TYPE_CHECKING:
    # the rules (and libcst with them) are imported only when a file is really analysed
    from serialint.cache import ResultCache, SummaryDigests
    from serialint.catalog import RuleInfo
    from serialint.rule import Report, Rule


@dataclass
class SourceFile:
    """A file to lint: its display path, and its text once read and decoded."""

    path: str
    text: Optional[str] = None
    error: Optional[LintError] = None
    tree: Optional[ast.Module] = None
    summary: Optional[FileSummary] = None
    settings: Optional[Settings] = None
    module_name: Optional[Tuple[str, bool]] = None  # for stdin: the module the text pretends to be
    pickled_refs: FrozenSet[str] = frozenset()  # classes whose instances this file visibly pickles
    encoding: str = "utf-8"  # what the file was read with, so that a fix writes it back alike
    from_stdin: bool = False  # fixed text goes to standard output, not to a file
    digest: Optional[str] = None  # of the text, when a result cache is in use
    cache_entry: Optional[Any] = None  # the file's cache entry as read (serialint.cache.Entry)
    statement_lines: Optional[StatementLines] = None  # from the `ast` pass, to place findings


# a class statement starts a logical line of its own, so this matches every one (and a few lines
# of strings besides, which only costs a parse)
_CLASS_STATEMENT = re.compile(r"(?:^|(?<=\r))[ \t\f]*class\b", re.MULTILINE)  # lone \r ends lines too
_CODING_COOKIE = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t\f]*#.*?coding[:=]", re.MULTILINE)


def decode_source(path: str, data: bytes) -> Union[str, LintError]:
    """Decode like Python does: BOM, then a coding cookie, else UTF-8."""
    decoded = decode_with_encoding(path, data)
    return decoded if isinstance(decoded, LintError) else decoded[0]


def decode_with_encoding(path: str, data: bytes) -> Union[Tuple[str, str], LintError]:
    """The text and the encoding it was read with (`utf-8-sig` keeps a BOM on the way back)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if _CODING_COOKIE.search(data[:400]):  # a cookie naming an unknown encoding
            return LintError(path, f"cannot decode: {exc.msg if hasattr(exc, 'msg') else exc}", 1, 0)
        # no cookie: detect_encoding gave up on invalid UTF-8 in the first two lines
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        # utf-8-sig counts from after the BOM, which is no column of line 1 either
        skipped = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0
        start = exc.start + skipped
        line = data.count(b"\n", 0, start) + 1
        column = start - max(data.rfind(b"\n", 0, start) + 1, skipped)
        return LintError(path, f"cannot decode as {encoding}: byte 0x{data[start]:02x} is invalid", line, column)
    except LookupError:
        return LintError(path, f"cannot decode: unknown encoding {encoding!r}", 1, 0)
    # Python reads \r\n and lone \r as line ends; libcst keeps them, so positions agree with ast.
    return text, encoding


def read_source(path: str) -> Union[Tuple[str, str], LintError]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return LintError(path, "no such file or directory")
    except IsADirectoryError:
        return LintError(path, "is a directory, not a Python file")
    except PermissionError:
        return LintError(path, "permission denied")
    except OSError as exc:
        return LintError(path, f"cannot read: {exc.strerror or exc}")
    return decode_with_encoding(path, data)


def parse_for_index(source: SourceFile) -> None:
    """The cheap `ast` pass: syntax check and the project-index summary."""
    assert source.text is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not ours to report
            tree = ast.parse(source.text, filename=source.path)
    except SyntaxError as exc:
        if "\0" in source.text:
            source.error = _nul_error(source.path, source.text)
            return
        line = exc.lineno
        column = (exc.offset - 1) if exc.offset else 0
        source.error = LintError(source.path, f"syntax error: {exc.msg}", line, max(column, 0))
        return
    except ValueError:  # NUL bytes before Python 3.12
        source.error = _nul_error(source.path, source.text)
        return
    except (RecursionError, MemoryError):
        source.error = LintError(source.path, "syntax error: too deeply nested to parse", 1, 0)
        return
    module, is_package = source.module_name or module_name_for_path(source.path)
    source.summary = summarize(source.path, tree, module, is_package)
    source.statement_lines = statement_lines(tree)
    source.pickled_refs = frozenset(pickled_class_refs(tree, source.summary, source.text))


def _nul_error(path: str, text: str) -> LintError:
    offset = text.find("\0")
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return LintError(path, "syntax error: source contains a NUL byte", line, column)


class Linter:
    """Runs the enabled rules over parsed files. One instance serves a whole run."""

    def __init__(self, rules: Optional[Sequence[Type[Rule]]] = None, prefilter: bool = True) -> None:
        self.prefilter = prefilter  # skip rules (and the parse) a file's text rules out
        self._custom = rules is not None
        self._rule_classes: Optional[List[Type[Rule]]] = list(rules) if rules is not None else None
        self._rules: Optional[List[Rule]] = None
        self._enabled_cache: Dict[Settings, FrozenSet[str]] = {}
        if self._rule_classes is not None:
            self.codes = [cls.code for cls in self._rule_classes]
            self.default_codes = [cls.code for cls in self._rule_classes if cls.default_enabled]
        else:
            # every rule, known from the catalog until one is needed to analyse a file
            from serialint.catalog import rule_infos

            infos = rule_infos()
            self.codes = [info.code for info in infos]
            self.default_codes = [info.code for info in infos if info.default_enabled]

    @property
    def rule_classes(self) -> List[Type[Rule]]:
        if self._rule_classes is None:
            from serialint.rules import all_rules

            classes = all_rules()
            codes = [cls.code for cls in classes]
            defaults = [cls.code for cls in classes if cls.default_enabled]
            if codes != self.codes or defaults != self.default_codes:
                # a catalog behind the rule modules (while they are edited): the classes decide
                self.codes, self.default_codes = codes, defaults
                self._enabled_cache.clear()
            self._rule_classes = classes
        return self._rule_classes

    @property
    def rules(self) -> List[Rule]:
        if self._rules is None:
            self._rules = [cls() for cls in self.rule_classes]
        return self._rules

    def load_rules(self) -> None:
        """Import and build the rules now: before worker processes are forked, so they share them."""
        self.rules  # the property does the work

    def rule_metadata(self) -> Sequence[Union[Type[Rule], RuleInfo]]:
        """What the output formats read of each rule: the given classes, else always the catalog,
        so that the output is the same whether or not the rules were imported in this run."""
        if self._custom:
            return self.rule_classes
        from serialint.catalog import rule_infos

        return rule_infos()

    def enabled_codes(self, settings: Settings) -> FrozenSet[str]:
        cached = self._enabled_cache.get(settings)
        if cached is None:
            cached = settings.enabled_codes(self.codes, self.default_codes)
            self._enabled_cache[settings] = cached
        return cached

    def enabled_for(self, path: str, settings: Settings) -> FrozenSet[str]:
        """The codes `lint_file` runs on `path`: the enabled ones less its per-file ignores."""
        return self.enabled_codes(settings) - _expand(settings.ignored_for(path), self.codes)

    def rule_identity(self, codes: Iterable[str]) -> List[str]:
        """Names the rule classes behind `codes` when they are not the built-in set (for cache keys)."""
        if not self._custom:
            return []
        wanted = frozenset(codes)
        return sorted(f"{c.__module__}.{c.__qualname__}" for c in self.rule_classes if c.code in wanted)

    def lint_file(
        self, source: SourceFile, index: ProjectIndex, pickled: FrozenSet[str] = frozenset()
    ) -> FileResult:
        """Lint one file whose `ast` pass succeeded."""
        import libcst as cst

        from serialint.model import FileContext

        result = FileResult(source.path)
        assert source.text is not None and source.summary is not None and source.settings is not None
        settings = source.settings
        enabled = self.enabled_codes(settings) - _expand(settings.ignored_for(source.path), self.codes)
        rules = [rule for rule in self.rules if rule.code in enabled]
        if self.prefilter:
            has_class = _CLASS_STATEMENT.search(source.text) is not None
            rules = [rule for rule in rules if rule.may_report(source.text, has_class)]
        if not rules:
            return result
        try:
            module = cst.parse_module(source.text)
        except cst.ParserSyntaxError as exc:
            result.errors.append(
                LintError(source.path, f"syntax error: {exc.message}", exc.raw_line, max(exc.raw_column, 0))
            )
            return result
        except RecursionError:
            result.errors.append(LintError(source.path, "syntax error: too deeply nested to parse", 1, 0))
            return result

        ctx = FileContext(
            source.path, module, source.summary, index, settings, pickled, source.text, source.statement_lines
        )
        reports: List[Tuple[Type[Rule], Report]] = []
        for rule in rules:
            try:
                for report in rule.check(ctx):
                    reports.append((type(rule), report))
            except RecursionError:
                result.errors.append(LintError(source.path, f"{rule.code}: too deeply nested to analyse"))
            except Exception as exc:  # a bug in one rule must not end the run or hide other findings
                result.errors.append(
                    LintError(source.path, f"internal error in {rule.code}: {type(exc).__name__}: {exc}")
                )
        if not reports:
            return result

        positions = ctx.positions
        # positions are resolved per statement: place every report before reading statement spans
        ranges = [(positions[report.node].start, positions[report.end_node or report.node].end) for _, report in reports]
        suppressions = find_suppressions(source.text)
        statement_spans = _statement_spans(positions) if suppressions.by_line else []
        seen = set()
        for (rule_class, report), (start, end) in zip(reports, ranges):
            if suppressions.file_suppresses(rule_class.code):
                continue
            first, last = _statement_lines(start.line, end.line, statement_spans)
            if suppressions.line_suppresses(rule_class.code, first, last):
                continue
            key = (rule_class.code, start.line, start.column, report.message)
            if key in seen:
                continue
            seen.add(key)
            result.findings.append(
                Finding(
                    path=source.path,
                    line=start.line,
                    column=start.column,
                    end_line=end.line,
                    end_column=end.column,
                    code=rule_class.code,
                    name=rule_class.name,
                    message=report.message,
                    severity=rule_class.severity,
                    fix=report.fix,
                )
            )
        result.findings.sort(key=Finding.sort_key)
        return result


def _expand(selectors: Iterable[str], codes: Sequence[str]) -> FrozenSet[str]:
    chosen = tuple(selectors)
    if not chosen:
        return frozenset()
    return frozenset(c for c in codes if any(c.startswith(s) or s == "ALL" for s in chosen))


def _statement_spans(positions) -> List[Tuple[int, int]]:  # type: ignore[no-untyped-def]
    import libcst as cst

    return sorted(
        (rng.start.line, rng.end.line)
        for node, rng in positions.items()
        if isinstance(node, cst.SimpleStatementLine) and rng.end.line > rng.start.line
    )


def _statement_lines(first: int, last: int, spans: Sequence[Tuple[int, int]]) -> Tuple[int, int]:
    """Widen a finding's lines to the multi-line simple statement holding it (for `# noqa`)."""
    for start, end in spans:
        if start <= first <= end:
            return min(start, first), max(end, last)
    return first, last


def pickled_classes(index: ProjectIndex, refs: Iterable[Tuple[str, FileSummary]]) -> FrozenSet[str]:
    """Project classes whose instances are pickled, with their project base classes.

    Each reference is resolved in the file that makes it. A base class's `__init__` stores its
    attributes on the pickled instance too.
    """
    result: Set[str] = set()
    stack: List[Tuple[FileSummary, str]] = []
    for ref, context in refs:
        found = index.resolve_class(ref, context)
        if found is not None:
            stack.append((found[0], found[1].name))
    while stack:
        summary, name = stack.pop()
        qualname = f"{summary.module}.{name}" if summary.module else name
        if qualname in result:
            continue
        result.add(qualname)
        for base in index.bases_of(summary, name):
            if base.summary is not None and base.cls is not None:
                stack.append((base.summary, base.cls.name))
    return frozenset(result)


@dataclass
class RunResult:
    results: List[FileResult]
    errors: List[LintError]

    @property
    def findings(self) -> List[Finding]:
        return [f for r in self.results for f in r.findings]


@dataclass
class Project:
    """What every file of a run shares: the class index and the classes that get pickled."""

    index: ProjectIndex
    pickled: FrozenSet[str]


# Below this many files to parse, the `ast` pass stays in this process (it is cheap per file).
PARSE_IN_WORKERS_FROM = 32


def prepare(
    sources: Sequence[SourceFile],
    resolver: ConfigResolver,
    extra_index_sources: Sequence[SourceFile] = (),
    cache: Optional[ResultCache] = None,
    jobs: int = 1,
) -> Project:
    """Read, decode and `ast`-parse every source, find its settings, and build the project index.

    A source that fails any step gets its `error` set and is left out of what follows. With a
    cache, a file whose text and module name match its entry takes its summary from there and
    is not parsed; with `jobs` > 1, many files are parsed in worker processes.
    """
    everything = (*sources, *extra_index_sources)
    for source in everything:
        if source.text is None and source.error is None:
            read = read_source(source.path)
            if isinstance(read, LintError):
                source.error = read
            else:
                source.text, source.encoding = read
    if cache is not None:
        for source in sources:
            if source.error is None and source.summary is None and not source.from_stdin:
                cache.attach(source, source.module_name or module_name_for_path(source.path))
    _parse_all([s for s in everything if s.error is None and s.summary is None], jobs)
    module_bases: List[str] = []
    for source in sources:
        if source.error is not None:
            continue
        try:
            source.settings = resolver.for_path(source.path)
        except ConfigError as exc:
            source.error = exc.as_lint_error()
            continue
        module_bases.extend(source.settings.module_bases)
    index = ProjectIndex((s.summary for s in everything if s.summary is not None), module_bases)
    pickled = pickled_classes(
        index, ((ref, s.summary) for s in everything if s.summary is not None for ref in s.pickled_refs)
    )
    for source in everything:
        source.tree = None  # the ast tree is not needed past the index; free it
    return Project(index, pickled)


def _parse_all(sources: Sequence[SourceFile], jobs: int) -> None:
    from serialint.parallel import run_tasks

    outcomes = run_tasks(
        _parse_task,
        sources,
        range(len(sources)),
        jobs,
        weights=[len(s.text or "") for s in sources],
        min_tasks=PARSE_IN_WORKERS_FROM,
    )
    for position, (summary, refs, error, lines) in outcomes.items():
        source = sources[position]
        source.summary, source.pickled_refs, source.error, source.statement_lines = summary, refs, error, lines


def _parse_task(
    sources: Sequence[SourceFile], position: int
) -> Tuple[Optional[FileSummary], FrozenSet[str], Optional[LintError], Optional[StatementLines]]:
    source = sources[position]
    parse_for_index(source)
    return source.summary, source.pickled_refs, source.error, source.statement_lines


class _RunState:
    """What a worker needs to lint (or fix) any file of the run."""

    def __init__(
        self,
        linter: Linter,
        sources: Sequence[SourceFile],
        project: Project,
        digests: Optional[SummaryDigests],
        unsafe: bool = False,
        first: Optional[Dict[int, FileResult]] = None,
    ) -> None:
        self.linter = linter
        self.sources = sources
        self.project = project
        self.digests = digests  # set when results are to be cached: their questions are recorded
        self.unsafe = unsafe
        self.first = first or {}

    def __getstate__(self) -> Dict[str, Any]:
        # For spawned workers. The index finds summaries by identity, so it is rebuilt there from
        # the same summary objects the sources hold (one pickle keeps them shared).
        state = dict(self.__dict__)
        state["sources"] = [replace(s, cache_entry=None) for s in self.sources]
        state["project"] = (self.project.index.summaries, sorted(self.project.index.extra_bases), self.project.pickled)
        state["digests"] = self.digests is not None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        summaries, extra_bases, pickled = state["project"]
        state["project"] = Project(ProjectIndex(summaries, extra_bases), pickled)
        if state["digests"]:
            from serialint.cache import SummaryDigests

            state["digests"] = SummaryDigests(state["project"].index)
        else:
            state["digests"] = None
        self.__dict__.update(state)


def _lint_one(state: _RunState, source: SourceFile) -> Tuple[FileResult, Optional[List[Any]]]:
    """Lint one file; with a cache, also the log of its cross-file questions (None: not cacheable)."""
    index, pickled = state.project.index, state.project.pickled
    if state.digests is None:
        return state.linter.lint_file(source, index, pickled), None
    from serialint.cache import Recorder

    recorder = Recorder(index, pickled, state.digests)
    result = state.linter.lint_file(source, recorder.index, recorder.pickled)  # type: ignore[arg-type]
    return result, recorder.entries()


def _lint_task(state: _RunState, position: int) -> Tuple[FileResult, Optional[List[Any]]]:
    return _lint_one(state, state.sources[position])


def _cached_result(
    cache: Optional[ResultCache],
    source: SourceFile,
    position: int,
    linter: Linter,
    project: Project,
    keys: Dict[int, str],
) -> Optional[FileResult]:
    """The file's cached result, if the cache holds a valid one; records its key in `keys`."""
    if cache is None or source.from_stdin:
        return None
    from serialint.cache import result_key

    keys[position] = result_key(source, linter)
    hit = cache.result(source, keys[position], project.index, project.pickled)
    (cache.hits if hit is not None else cache.misses).append(source.path)
    return hit


def lint_sources(
    sources: Sequence[SourceFile],
    resolver: ConfigResolver,
    linter: Optional[Linter] = None,
    extra_index_sources: Sequence[SourceFile] = (),
    jobs: int = 1,
    cache: Optional[ResultCache] = None,
) -> RunResult:
    """Lint sources (read from disk unless their text is given); `extra_index_sources` only feed the index.

    `jobs` > 1 shares the files out among that many processes (output is the same); `cache`
    serves unchanged files from, and records new results in, a result cache.
    """
    from serialint.parallel import run_tasks

    linter = linter or Linter()
    project = prepare(sources, resolver, extra_index_sources, cache, jobs)
    results: Dict[int, FileResult] = {}
    keys: Dict[int, str] = {}
    pending: List[int] = []
    for position, source in enumerate(sources):
        if source.error is not None:
            continue
        hit = _cached_result(cache, source, position, linter, project, keys)
        if hit is not None:
            results[position] = hit
            continue
        pending.append(position)
    if pending:
        linter.load_rules()
        digests = cache.summaries_for(project.index) if cache is not None else None
        state = _RunState(linter, sources, project, digests)
        computed = run_tasks(_lint_task, state, pending, jobs, weights=[len(s.text or "") for s in sources])
        for position, (result, log) in computed.items():
            results[position] = result
            if cache is not None and position in keys:
                cache.store(sources[position], keys[position], result, log)
    errors: List[LintError] = []
    ordered: List[FileResult] = []
    for position, source in enumerate(sources):
        if source.error is not None:
            errors.append(source.error)
            continue
        result = results[position]
        errors.extend(result.errors)
        ordered.append(result)
    ordered.sort(key=lambda r: r.path)
    errors.sort(key=lambda e: (e.path, e.line or 0, e.column or 0))
    return RunResult(ordered, errors)


def fix_source(
    linter: Linter, source: SourceFile, project: Project, unsafe: bool, first: Optional[FileResult] = None
) -> FixOutcome:
    """Apply fixes to one file until none applies (or a pass would break the code).

    Each pass lints the current text, applies every applicable fix that does not conflict with
    another, and checks the result still parses; a pass that breaks the code is undone and its
    codes reported. The text is never written here. `first` is the file's lint result when
    already known (from the cache), which saves the first pass's lint.
    """
    assert source.text is not None
    original = source.text
    current = source
    applied: Counter = Counter()
    broken_by: Optional[str] = None
    result = first if first is not None else linter.lint_file(current, project.index, project.pickled)
    for _ in range(MAX_FIX_PASSES):
        chosen = [f for f in result.findings if applicable(f.fix, unsafe)]
        if not chosen or result.errors:
            break
        text, accepted = apply_fixes(current.text or "", [f.fix for f in chosen])  # type: ignore[misc]
        if not accepted or text == current.text:
            break
        if not parses(text):
            broken_by = ",".join(sorted({chosen[i].code for i in accepted}))
            break
        applied.update(chosen[i].code for i in accepted)
        current = SourceFile(
            source.path,
            text=text,
            settings=source.settings,
            module_name=(source.summary.module, source.summary.is_package) if source.summary else None,
            encoding=source.encoding,
        )
        parse_for_index(current)
        if current.summary is not None and source.summary is not None:
            project.index.stand_in(current.summary, source.summary)
        if current.error is not None:  # cannot happen after `parses`, but never write what ast rejects
            broken_by = "internal"
            current = source
            break
        result = linter.lint_file(current, project.index, project.pickled)
    return FixOutcome(source.path, original, current.text or original, dict(applied), result.findings, broken_by)


def _fix_task(state: _RunState, position: int) -> Tuple[FixOutcome, Optional[FileResult], Optional[List[Any]]]:
    source = state.sources[position]
    first = state.first.get(position)
    computed: Optional[FileResult] = None
    log: Optional[List[Any]] = None
    if first is None:
        first, log = _lint_one(state, source)
        computed = first
    outcome = fix_source(state.linter, source, state.project, state.unsafe, first)
    return outcome, computed, log


def fix_sources(
    sources: Sequence[SourceFile],
    resolver: ConfigResolver,
    linter: Linter,
    unsafe: bool,
    jobs: int = 1,
    cache: Optional[ResultCache] = None,
) -> Dict[int, FixOutcome]:
    """The fix outcome of every source that could be read and parsed (by position); nothing is written.

    Each file is fixed by exactly one process. The cache only serves (and keeps) each file's
    first lint: a file whose cached findings offer no applicable fix is settled without any
    analysis; fixed text is always linted afresh.
    """
    from serialint.parallel import run_tasks

    project = prepare(sources, resolver, (), cache, jobs)
    outcomes: Dict[int, FixOutcome] = {}
    first: Dict[int, FileResult] = {}
    keys: Dict[int, str] = {}
    pending: List[int] = []
    for position, source in enumerate(sources):
        if source.error is not None:
            continue
        hit = _cached_result(cache, source, position, linter, project, keys)
        if hit is not None:
            if hit.errors or not any(applicable(f.fix, unsafe) for f in hit.findings):
                assert source.text is not None
                outcomes[position] = FixOutcome(source.path, source.text, source.text, {}, hit.findings, None)
                continue
            first[position] = hit
        pending.append(position)
    if pending:
        linter.load_rules()
        digests = cache.summaries_for(project.index) if cache is not None else None
        state = _RunState(linter, sources, project, digests, unsafe, first)
        computed = run_tasks(_fix_task, state, pending, jobs, weights=[len(s.text or "") for s in sources])
        for position, (outcome, result, log) in computed.items():
            outcomes[position] = outcome
            if cache is not None and result is not None and position in keys:
                cache.store(sources[position], keys[position], result, log)
    return outcomes


class FixedResolver(ConfigResolver):
    """One settings object for every path: for texts that have no place on disk."""

    def __init__(self, known_codes: Sequence[str], settings: Settings) -> None:
        super().__init__(known_codes)
        self.settings = settings

    def for_path(self, path: str) -> Settings:
        return self.settings


def in_memory_project(
    text: str,
    path: str,
    extra_files: Optional[Dict[str, str]],
    settings: Optional[Settings],
    known_codes: Sequence[str],
) -> Tuple[SourceFile, List[SourceFile], ConfigResolver]:
    """A text and its fellow project files (relative path -> text), with module names from their paths."""
    paths = [path, *(extra_files or {})]
    source = SourceFile(path, text=text, module_name=module_name_in_memory(path, paths))
    extras = [
        SourceFile(p, text=t, module_name=module_name_in_memory(p, paths)) for p, t in (extra_files or {}).items()
    ]
    return source, extras, FixedResolver(known_codes, settings or Settings(root=os.getcwd()))


def lint_source(
    text: str,
    path: str = "<stdin>.py",
    settings: Optional[Settings] = None,
    extra_files: Optional[Dict[str, str]] = None,
    linter: Optional[Linter] = None,
) -> RunResult:
    """Lint one text (with optional other project files given as path -> text), as tests do."""
    linter = linter or Linter()
    source, extras, resolver = in_memory_project(text, path, extra_files, settings, linter.codes)
    return lint_sources([source], resolver, linter, extras)
