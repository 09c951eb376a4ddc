"""Immutable result types shared by the engine, the rules and every output adapter.

Positions inside serialint are always 1-based lines and 0-based columns (libcst's convention);
each adapter converts once at its edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional, Tuple


class Applicability(str, enum.Enum):
    """How far a fix can be trusted without a human reading it."""

    SAFE = "safe"  # behaviour and existing checkpoints keep working
    UNSAFE = "unsafe"  # may change behaviour or checkpoint compatibility
    DISPLAY_ONLY = "display-only"  # shown as a suggestion, never applied


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Edit:
    """Replace the text between two positions (line 1-based, column 0-based) with `content`."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    description: str
    edits: Tuple[Edit, ...] = ()


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    message: str
    severity: Severity = Severity.ERROR
    fix: Optional[Fix] = None

    def sort_key(self) -> Tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


@dataclass(frozen=True)
class LintError:
    """A file that could not be linted: unreadable, undecodable or unparsable, or a bad path."""

    path: str
    message: str
    line: Optional[int] = None
    column: Optional[int] = None  # 0-based, like Finding.column

    def render(self) -> str:
        if self.line is not None:
            col = (self.column or 0) + 1
            return f"{self.path}:{self.line}:{col}: {self.message}"
        return f"{self.path}: {self.message}"


@dataclass
class FileResult:
    path: str
    findings: list = field(default_factory=list)  # list[Finding]
    errors: list = field(default_factory=list)  # list[LintError]
