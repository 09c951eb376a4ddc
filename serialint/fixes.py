"""Applying fixes: text edits, conflict handling, the fix-until-stable loop, atomic writes.

A fix is data (`serialint.findings.Fix`): text edits at serialint positions (1-based line,
0-based column). Rules build them with `FixBuilder`; the engine applies them here.
"""

from __future__ import annotations

import ast
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from serialint.findings import Applicability, Edit, Fix, Finding

if TYPE_CHECKING:
    import libcst as cst

    from serialint.model import FileContext

MAX_FIX_PASSES = 10


def line_starts(text: str) -> List[int]:
    """Offsets where each line begins; `\\r\\n`, `\\r` and `\\n` end lines, as Python reads them."""
    starts = [0]
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\r":
            if i + 1 < n and text[i + 1] == "\n":
                i += 1
            starts.append(i + 1)
        elif ch == "\n":
            starts.append(i + 1)
        i += 1
    return starts


def newline_of(text: str) -> str:
    """The file's line ending: the first one it uses (`\\n` for a file with none)."""
    for i, ch in enumerate(text):
        if ch == "\r":
            return "\r\n" if text[i + 1 : i + 2] == "\n" else "\r"
        if ch == "\n":
            return "\n"
    return "\n"


def _offset(starts: Sequence[int], line: int, column: int) -> int:
    return starts[line - 1] + column if line - 1 < len(starts) else starts[-1] + column


def applicable(fix: Optional[Fix], unsafe: bool) -> bool:
    if fix is None or not fix.edits:
        return False
    if fix.applicability is Applicability.SAFE:
        return True
    return unsafe and fix.applicability is Applicability.UNSAFE


def apply_fixes(text: str, fixes: Iterable[Fix]) -> Tuple[str, List[int]]:
    """Apply every fix whose edits do not overlap an earlier accepted fix's.

    Returns the new text and the indices (in `fixes`) of the fixes applied.

    Edits are written with `\\n`; they take the file's own line ending here. Identical edits of
    two fixes (the same import added twice) are applied once.
    """
    starts = line_starts(text)
    newline = newline_of(text)
    accepted: List[Tuple[int, int, str]] = []
    taken: List[Tuple[int, int]] = []
    seen: Set[Tuple[int, int, str]] = set()
    applied: List[int] = []
    for index, fix in enumerate(fixes):
        spans = []
        for edit in fix.edits:
            start = _offset(starts, edit.line, edit.column)
            end = _offset(starts, edit.end_line, edit.end_column)
            content = edit.content.replace("\n", newline) if newline != "\n" else edit.content
            spans.append((start, end, content))
        fresh = [s for s in spans if s not in seen]
        if any(_overlaps(start, end, taken) for start, end, _ in fresh):
            continue  # conflicts with an accepted fix: the next pass picks it up again
        for span in fresh:
            seen.add(span)
            accepted.append(span)
            taken.append((span[0], span[1]))
        applied.append(index)
    # apply from the end so earlier offsets stay valid; inserts at one point keep their order
    for start, end, content in sorted(accepted, key=lambda s: (s[0], s[1]), reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


def _overlaps(start: int, end: int, taken: Sequence[Tuple[int, int]]) -> bool:
    for other_start, other_end in taken:
        if start == end or other_start == other_end:
            # an insertion conflicts only with a replacement that strictly contains its point
            point, (lo, hi) = (start, (other_start, other_end)) if start == end else (other_start, (start, end))
            if lo < point < hi:
                return True
            continue
        if start < other_end and other_start < end:
            return True
    return False


def parses(text: str) -> bool:
    """Whether fixed text is still valid Python, for both parsers serialint uses."""
    import libcst as cst

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<fixed>", "exec", ast.PyCF_ONLY_AST)
        cst.parse_module(text)
    except (SyntaxError, ValueError, cst.ParserSyntaxError):
        return False
    return True


@dataclass
class FixOutcome:
    path: str
    original: str
    fixed: str
    applied: Dict[str, int]  # code -> number of fixes applied
    remaining: List[Finding]
    broken_by: Optional[str] = None  # codes whose fixes produced invalid code (the pass was undone)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


def write_atomically(path: str, text: str, encoding: str) -> None:
    """Replace `path` with `text`: a temporary file in the same directory, then one rename.

    An interrupted run leaves the old file or the new one, never half of either. The file's
    permission bits are kept.
    """
    directory = os.path.dirname(os.path.abspath(path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, temporary = tempfile.mkstemp(prefix=".serialint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode(encoding))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class FixBuilder:
    """Builds text edits from nodes of one file (positions resolved once, on first use)."""

    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx

    def range_of(self, node: "cst.CSTNode") -> Tuple[int, int, int, int]:
        rng = self.ctx.positions[node]
        return rng.start.line, rng.start.column, rng.end.line, rng.end.column

    def replace(self, node: "cst.CSTNode", content: str) -> Edit:
        line, column, end_line, end_column = self.range_of(node)
        return Edit(line, column, end_line, end_column, content)

    def insert_after(self, node: "cst.CSTNode", content: str) -> Edit:
        _, _, end_line, end_column = self.range_of(node)
        return Edit(end_line, end_column, end_line, end_column, content)

    def indentation_of(self, node: "cst.CSTNode") -> str:
        """The leading white space of the line where `node` starts (tabs stay tabs)."""
        line, _, _, _ = self.range_of(node)
        text = self.ctx.text if self.ctx.text is not None else self.ctx.module.code
        start = line_starts(text)[line - 1]
        end = start
        while end < len(text) and text[end] in " \t":
            end += 1
        return text[start:end]

    def above_class(self, node: "cst.ClassDef") -> Tuple[int, str]:
        """Where module-level code goes above a class: above its decorators and the comment block
        right over them. Returns that line and the character it begins with (a fix that puts code
        there replaces that character, so two such fixes on one class conflict and compose over
        two passes)."""
        first: "cst.CSTNode" = node.decorators[0] if node.decorators else node
        line, _, _, _ = self.range_of(first)
        character = "@" if node.decorators else "c"
        for empty in reversed(node.leading_lines):
            if empty.comment is None:
                break
            line -= 1
            character = (empty.whitespace.value + empty.comment.value)[0]
        return line, character

    def code(self, node: "cst.CSTNode") -> str:
        return self.ctx.module.code_for_node(node)

    def name_for(self, qualified: str) -> Tuple[str, Optional[Edit]]:
        """How to spell `qualified` (e.g. `functools.partial`) here, and the import to add if needed.

        Reuses the file's own imports: `from functools import partial` gives `partial`,
        `import functools as ft` gives `ft.partial`; otherwise `import functools` is added after the
        file's last top-level import (or its docstring), in the plain `import x` style.
        """
        module, _, attr = qualified.rpartition(".")
        imports = self.ctx.summary.imports
        for local, target in imports.items():
            if target == qualified:
                return local, None
        for local, target in imports.items():
            if target == module:
                return f"{local}.{attr}", None
        return qualified, self.add_import(f"import {module}")

    def add_import(self, statement: str) -> Edit:
        import libcst as cst

        body = self.ctx.module.body
        anchor: Optional[cst.CSTNode] = None
        for index, stmt in enumerate(body):
            if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
            ):
                anchor = stmt
            elif index == 0 and _is_docstring(stmt):
                anchor = stmt
            elif isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(s, cst.ImportFrom) and _is_future(s) for s in stmt.body
            ):
                anchor = stmt
            else:
                break
        if anchor is None:
            return Edit(1, 0, 1, 0, f"{statement}\n")
        _, _, end_line, _ = self.range_of(anchor)
        return Edit(end_line + 1, 0, end_line + 1, 0, f"{statement}\n")


def _is_docstring(stmt: "cst.CSTNode") -> bool:
    import libcst as cst

    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future(node: "cst.ImportFrom") -> bool:
    import libcst as cst

    return isinstance(node.module, cst.Name) and node.module.value == "__future__"
