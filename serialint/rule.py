"""The Rule base class: a rule is one class in one file, carrying its own docs and examples."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, Iterator, Optional, Sequence, Tuple

import libcst as cst

from serialint.catalog import doc_sections
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


class Words:
    """Whole-word occurrences of some identifiers. A plain substring test comes first: most files
    have none of them, and `str.find` is far cheaper than a regular expression."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(words)
        self.pattern = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)")

    def search(self, text: str) -> bool:
        return any(word in text for word in self.words) and self.pattern.search(text) is not None


_IMPORT_OPEN = re.compile(r"(?<!\w)import\s*\($")


class CallableUse(Words):
    """Where code can get hold of a function named by one of the words to call it: a call
    (`load(`, also across lines), an import of it (on one line, continued lines, or in
    parentheses), or a value on the right of `=` (`fn = torch.load`, `loader=pickle.load`)."""

    def search(self, text: str) -> bool:
        if not any(word in text for word in self.words):
            return False
        for match in self.pattern.finditer(text):
            after = text[match.end() : match.end() + 200].lstrip()
            if after.startswith("("):
                return True
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[line_start : match.start()]
            if "=" in before or re.search(r"(?<!\w)import(?!\w)", before):
                return True
            # continued or parenthesized import lines above
            head = text[max(0, line_start - 2000) : line_start]
            for previous in reversed(head.splitlines()):
                stripped = previous.rstrip()
                if stripped.endswith("\\") or stripped.endswith(","):
                    if re.search(r"(?<!\w)import(?!\w)", stripped):
                        return True
                    continue
                if _IMPORT_OPEN.search(stripped):
                    return True
                break
        return False


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
    # parsed: one of `triggers` as a whole word in its text (the rule matches these identifiers
    # as written, and an import that renames one still spells it); with `triggers_called`, in a
    # place where code can call it (see `CallableUse`); a word of each group in `requires`;
    # and a class statement when `needs_class` is set.
    triggers: ClassVar[Tuple[str, ...]] = ()
    triggers_called: ClassVar[bool] = False
    requires: ClassVar[Tuple[Tuple[str, ...], ...]] = ()
    needs_class: ClassVar[bool] = False
    _patterns: ClassVar[Optional[Tuple[Words, ...]]] = None

    def check(self, ctx: "FileContext") -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def may_report(cls, text: str, has_class: bool) -> bool:
        """False when the file certainly has nothing for this rule (see `triggers`)."""
        if cls.needs_class and not has_class:
            return False
        patterns = cls.__dict__.get("_patterns")
        if patterns is None:
            patterns = tuple(Words(group) for group in cls.requires)
            if cls.triggers:
                trigger = CallableUse(cls.triggers) if cls.triggers_called else Words(cls.triggers)
                patterns = (trigger, *patterns)
            cls._patterns = patterns
        return all(pattern.search(text) for pattern in patterns)

    # -- documentation ---------------------------------------------------------------------
    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> Dict[str, str]:
        """The docstring split into its headed sections (`## What it does`, …)."""
        return doc_sections(cls.documentation())
