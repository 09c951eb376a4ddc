"""flake8 plugin: `flake8 --select SER` runs serialint's rules, one file at a time.

flake8 hands over one file per call, but serialint's rules need the whole project: whether a
class derives from torch.nn.Module may be decided by a base class in another file, and whether
instances are pickled by a `torch.save` elsewhere. So the first file of a project builds the
same project index `serialint check` builds (every Python file `serialint check` would discover
under the project root), once per process, and every file of that project is linted against it.

The project root of a file is the top of the git work tree holding it; outside a git work tree,
the nearest directory upward with a pyproject.toml or setup.cfg, else with a serialint.toml or
.serialint.toml, else the file's own directory. A serialint.toml in a subdirectory configures
that subdirectory; it does not cut the project in two.

Settings come from serialint's own configuration (`[tool.serialint]`, serialint.toml), resolved
for each file exactly as `serialint check` resolves them; flake8's `--select`/`--ignore` then
filter what is shown. Files serialint's configuration excludes are skipped, as
`serialint check --force-exclude` would skip them.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from serialint import __version__
from serialint.config import ConfigError, ConfigResolver
from serialint.discovery import discover, git_root
from serialint.engine import Linter, Project, SourceFile, parse_for_index, pickled_classes, prepare
from serialint.findings import FileResult, LintError
from serialint.index import ProjectIndex

# A file serialint could not lint (bad configuration, a rule that failed on it) is reported
# under this code, so the problem shows in flake8's output instead of passing silently.
ERROR_CODE = "SER000"

_PROJECT_FILES: Tuple[str, ...] = ("pyproject.toml", "setup.cfg")
_CONFIG_FILES: Tuple[str, ...] = ("serialint.toml", ".serialint.toml")

Result = Tuple[int, int, str, type]


def project_root(path: str) -> str:
    """The directory whose Python files form the project `path` belongs to."""
    start = os.path.dirname(os.path.abspath(path))
    found = git_root(start)
    if found is not None:
        return found
    for markers in (_PROJECT_FILES, _CONFIG_FILES):
        directory = start
        while True:
            if any(os.path.isfile(os.path.join(directory, name)) for name in markers):
                return directory
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return start


@dataclass
class ProjectState:
    """One project's index, built once per process and shared by every file linted in it."""

    root: str
    resolver: ConfigResolver
    project: Project
    sources: Dict[str, SourceFile]  # by absolute path: the indexed files, as read from disk
    module_bases: Tuple[str, ...]


_LINTER: Optional[Linter] = None
_PROJECTS: Dict[str, ProjectState] = {}


def _linter() -> Linter:
    global _LINTER
    if _LINTER is None:
        _LINTER = Linter()
    return _LINTER


def build_project(root: str) -> ProjectState:
    """Discover and index every file `serialint check ROOT` would lint."""
    linter = _linter()
    resolver = ConfigResolver(linter.codes)
    # Discovery errors (an unreadable directory, a bad configuration) leave those files out of
    # the index; a bad configuration is reported again for each file it applies to.
    files, _ = discover([root], resolver)
    sources = [SourceFile(f) for f in files]
    project = prepare(sources, resolver)
    bases: List[str] = []
    for source in sources:
        if source.settings is not None:
            bases.extend(source.settings.module_bases)
    return ProjectState(
        root=root,
        resolver=resolver,
        project=project,
        sources={os.path.abspath(s.path): s for s in sources if s.summary is not None},
        module_bases=tuple(bases),
    )


def project_for(path: str) -> ProjectState:
    root = project_root(path)
    state = _PROJECTS.get(root)
    if state is None:
        state = _PROJECTS[root] = build_project(root)
    return state


def lint_file(path: str, text: str) -> FileResult:
    """Lint one file's text against its project's cached index."""
    state = project_for(path)
    linter = _linter()
    indexed = state.sources.get(os.path.abspath(path))
    if indexed is not None and indexed.text == text:
        return linter.lint_file(indexed, state.project.index, state.project.pickled)

    # Not indexed (standard input, an edited buffer, a file discovery leaves out): index this
    # text in place of the file's copy on disk, reusing every other file's summary as it is.
    source = SourceFile(path, text=text)
    result = FileResult(path)
    parse_for_index(source)
    if source.error is not None:
        result.errors.append(source.error)
        return result
    try:
        source.settings = state.resolver.for_path(path)
    except ConfigError as exc:
        result.errors.append(exc.as_lint_error())
        return result
    others = [s for p, s in state.sources.items() if p != os.path.abspath(path)]
    summaries = [s.summary for s in others if s.summary is not None]
    assert source.summary is not None
    index = ProjectIndex([*summaries, source.summary], (*state.module_bases, *source.settings.module_bases))
    refs = [(ref, s.summary) for s in (*others, source) if s.summary is not None for ref in s.pickled_refs]
    return linter.lint_file(source, index, pickled_classes(index, refs))


def _configuration_check(path: str) -> Tuple[bool, Optional[LintError]]:
    """Whether serialint's configuration excludes the file, and the error if it cannot be read."""
    try:
        settings = project_for(path).resolver.for_path(path)
    except ConfigError as exc:
        return False, exc.as_lint_error()
    return settings.is_excluded_with_parents(path), None


def _error_result(error: LintError, in_linted_file: bool) -> Tuple[int, int, str]:
    """An error as a flake8 result: at its position when it lies in the linted file, else line 1
    with the position (of a configuration file, say) in the message."""
    where = error.message if in_linted_file else error.render()
    line, column = (error.line or 1, error.column or 0) if in_linted_file else (1, 0)
    return line, column, f"{ERROR_CODE} serialint could not lint this file: {where}"


class Plugin:
    """The flake8 entry point (`flake8.extension`, code prefix SER)."""

    name = "serialint"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        # flake8 has already parsed the file; serialint's engine parses it its own way.
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[Result]:
        text = "".join(self.lines)
        excluded, error = _configuration_check(self.filename)
        if excluded:
            return
        if error is not None:
            line, column, message = _error_result(error, in_linted_file=False)
            yield line, column, message, type(self)
            return
        result = lint_file(self.filename, text)
        for finding in result.findings:
            # serialint's columns are 0-based, which is what flake8 expects from a plugin
            yield finding.line, finding.column, f"{finding.code} {finding.message}", type(self)
        for failure in result.errors:
            in_file = os.path.abspath(failure.path) == os.path.abspath(self.filename)
            line, column, message = _error_result(failure, in_file)
            yield line, column, message, type(self)
