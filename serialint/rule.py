"""The Rule base class: a rule is one class in one file, carrying its own docs and examples."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, Iterator, Optional, Sequence, Tuple

import libcst as cst

from serialint.findings import Applicability, Fix, Severity

if TYPE_CHECKING:
    from serialint.model import FileContext

DOC_SECTIONS: Tuple[str, ...] = (
    "What it does",
    "Why is this bad?",
    "Example",
    "Use instead",
    "Fix safety",
    "Known limits",
)


@dataclass(frozen=True)
class Expected:
    """A finding an example must produce: 1-based line, 1-based column (as printed), message."""

    line: int
    column: int
    message: str


@dataclass(frozen=True)
class Bad:
    """Code the rule must flag, with the exact findings."""

    code: str
    expected: Tuple[Expected, ...]
    fixed: Optional[str] = None  # the exact text after `--fix` (or `--unsafe-fixes` for unsafe fixes)
    files: Dict[str, str] = field(default_factory=dict)  # extra files of the project: relative path -> text


@dataclass(frozen=True)
class Good:
    """Code the rule must not flag."""

    code: str
    files: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """What a rule hands the engine: a node (or a node range) and a message. Positions come later."""

    node: cst.CSTNode
    message: str
    end_node: Optional[cst.CSTNode] = None
    fix: Optional[Fix] = None


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case
    summary: ClassVar[str]  # one line: the hint shown under a finding in `full` output
    severity: ClassVar[Severity] = Severity.ERROR
    default_enabled: ClassVar[bool] = True
    fix_applicability: ClassVar[Optional[Applicability]] = None
    bad: ClassVar[Sequence[Bad]] = ()
    good: ClassVar[Sequence[Good]] = ()
    # What a file must hold for the rule to be able to report in it, checked before the file is
    # parsed: one of these strings in its text (identifiers the rule matches as written; an
    # import that renames one still spells it), and a class statement when `needs_class` is set.
    triggers: ClassVar[Tuple[str, ...]] = ()
    needs_class: ClassVar[bool] = False

    def check(self, ctx: "FileContext") -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def may_report(cls, text: str, has_class: bool) -> bool:
        """False when the file certainly has nothing for this rule (see `triggers`)."""
        if cls.needs_class and not has_class:
            return False
        return not cls.triggers or any(trigger in text for trigger in cls.triggers)

    # -- documentation ---------------------------------------------------------------------
    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> Dict[str, str]:
        """The docstring split into its headed sections (`## What it does`, …)."""
        sections: Dict[str, str] = {}
        current: Optional[str] = None
        lines: list = []
        for line in cls.documentation().splitlines():
            match = re.match(r"^##\s+(.*?)\s*$", line)
            if match:
                if current is not None:
                    sections[current] = "\n".join(lines).strip()
                current, lines = match.group(1), []
            elif current is not None:
                lines.append(line)
        if current is not None:
            sections[current] = "\n".join(lines).strip()
        return sections
