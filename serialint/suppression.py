"""`# noqa` comments, flake8-compatible, and file-level `# serialint: noqa`."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Set, Tuple

# flake8's own grammar: `# noqa`, `# noqa:CODE`, `# noqa: CODE1,CODE2 CODE3`; case-insensitive.
# A `# noqa:` whose codes do not parse is a bare `# noqa`, as in flake8.
_NOQA = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
# `# serialint: noqa`, optionally `: CODES`, optionally followed by an explanation. Unlike a line's
# `# noqa`, codes that do not parse make the directive void: a typo must not silence a whole file.
_FILE_NOQA = re.compile(
    r"^#\s*serialint:\s*noqa(?:(?P<colon>:)\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*)?)?(?=\s|$)", re.I
)
_CODE_SPLIT = re.compile(r"[,\s]+")

ALL: FrozenSet[str] = frozenset({"*"})


@dataclass
class Suppressions:
    """What the comments of one file suppress: per line, and for the whole file."""

    by_line: Dict[int, FrozenSet[str]] = field(default_factory=dict)  # ALL = every code
    file_codes: FrozenSet[str] = frozenset()

    def file_suppresses(self, code: str) -> bool:
        return _matches(code, self.file_codes)

    def line_suppresses(self, code: str, first_line: int, last_line: int) -> bool:
        for line in range(first_line, last_line + 1):
            codes = self.by_line.get(line)
            if codes is not None and _matches(code, codes):
                return True
        return False

    @property
    def empty(self) -> bool:
        return not self.by_line and not self.file_codes


def _matches(code: str, codes: FrozenSet[str]) -> bool:
    if "*" in codes:
        return True
    return any(code.startswith(prefix) for prefix in codes)


def _parse_codes(text: Optional[str]) -> FrozenSet[str]:
    if not text:
        return ALL
    return frozenset(c.upper() for c in _CODE_SPLIT.split(text.strip()) if c)


def _add(by_line: Dict[int, FrozenSet[str]], line: int, codes: FrozenSet[str]) -> None:
    by_line[line] = by_line.get(line, frozenset()) | codes


def find_suppressions(source: str) -> Suppressions:
    """Scan comments (real comment tokens only, never text inside strings)."""
    result = Suppressions()
    lowered = source.lower()
    if "noqa" not in lowered:  # the common case costs one substring search
        return result
    file_codes: Set[str] = set()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return result  # the file does not tokenize; it is reported as a syntax error elsewhere
    previous_line_end: Tuple[int, int] = (0, 0)
    for token in tokens:
        if token.type != tokenize.COMMENT:
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                previous_line_end = token.end
            continue
        comment = token.string
        line = token.start[0]
        file_match = _FILE_NOQA.match(comment)
        if file_match:
            if file_match.group("colon") and not file_match.group("codes"):
                continue
            codes = _parse_codes(file_match.group("codes"))
            if previous_line_end[0] != line:
                file_codes.update(codes)
            else:
                # after code on the same line it is that line's `# noqa`, not the file's
                _add(result.by_line, line, codes)
            continue
        match = _NOQA.search(comment)
        if match:
            _add(result.by_line, line, _parse_codes(match.group("codes")))
    result.file_codes = frozenset(file_codes)
    return result
