"""Rule metadata without importing the rules.

Importing a rule module imports libcst and the whole analysis, which costs more than `serialint
--version`, `serialint rules` or a fully cached `serialint check` need. What they need (code, name,
summary, severity, default, fix applicability, documentation) is kept in the generated module
`serialint/_catalog_data.py`, which a test keeps equal to what the rule classes say
(`SERIALINT_UPDATE_GOLDEN=1` rewrites it).

When the rule modules on disk are not the ones the catalog was generated from (a rule module was
added, removed or renamed), the rules are imported instead: slower, never wrong about which rules
exist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Type

from serialint.findings import Applicability, Severity

if TYPE_CHECKING:
    from serialint.rule import Rule

_RULES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules")
DATA_MODULE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_catalog_data.py")


@dataclass(frozen=True)
class RuleInfo:
    """What the output formats and the `rules` / `rule` commands read from a rule class."""

    code: str
    name: str
    summary: str
    severity: Severity
    default_enabled: bool
    fix_applicability: Optional[Applicability]
    doc: str  # the class docstring, cleaned as `Rule.documentation()` cleans it

    @classmethod
    def from_rule(cls, rule: Type[Rule]) -> RuleInfo:
        return cls(
            code=rule.code,
            name=rule.name,
            summary=rule.summary,
            severity=Severity(rule.severity),
            default_enabled=bool(rule.default_enabled),
            fix_applicability=Applicability(rule.fix_applicability) if rule.fix_applicability else None,
            doc=rule.documentation(),
        )

    def documentation(self) -> str:
        return self.doc

    def doc_sections(self) -> Dict[str, str]:
        return doc_sections(self.doc)


def doc_sections(documentation: str) -> Dict[str, str]:
    """A rule's documentation split into its headed sections (`## What it does`, …)."""
    sections: Dict[str, str] = {}
    current: Optional[str] = None
    lines: List[str] = []
    for line in documentation.splitlines():
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


_INFOS: Optional[Tuple[RuleInfo, ...]] = None


def rule_infos() -> List[RuleInfo]:
    """Every rule's metadata, sorted by code: from the catalog when it matches the rule modules."""
    global _INFOS
    if _INFOS is None:
        entries = _catalog_entries()
        if entries is None:
            from serialint.rules import all_rules

            _INFOS = tuple(RuleInfo.from_rule(rule) for rule in all_rules())
        else:
            _INFOS = tuple(_info_from_entry(entry) for entry in entries)
    return list(_INFOS)


def known_codes() -> List[str]:
    return [info.code for info in rule_infos()]


def default_codes() -> List[str]:
    return [info.code for info in rule_infos() if info.default_enabled]


def _catalog_entries() -> Optional[Sequence[Dict[str, object]]]:
    """The catalog's entries, or None when it is missing or was made from other rule modules."""
    try:
        from serialint import _catalog_data as data
    except ImportError:
        return None
    on_disk = rule_module_names()
    if on_disk is not None and tuple(on_disk) != tuple(data.MODULES):
        return None
    return data.RULES


def _info_from_entry(entry: Dict[str, object]) -> RuleInfo:
    fix = entry["fix_applicability"]
    return RuleInfo(
        code=str(entry["code"]),
        name=str(entry["name"]),
        summary=str(entry["summary"]),
        severity=Severity(entry["severity"]),
        default_enabled=bool(entry["default_enabled"]),
        fix_applicability=Applicability(fix) if fix is not None else None,
        doc=str(entry["documentation"]),
    )


def rule_module_names() -> Optional[List[str]]:
    """The rule modules in `serialint/rules/`, sorted; None when the directory cannot be listed
    (a zipped install), in which case the catalog is trusted."""
    try:
        names = os.listdir(_RULES_DIR)
    except OSError:
        return None
    return sorted(name[:-3] for name in names if name.endswith(".py") and name != "__init__.py")


def render_catalog() -> str:
    """The source of `serialint/_catalog_data.py`, from the rule classes themselves."""
    from serialint.rules import all_rules

    lines = [
        '"""Rule metadata generated from the rule classes; see `serialint/catalog.py`.',
        "",
        "Do not edit: `SERIALINT_UPDATE_GOLDEN=1 python -m pytest tests/test_lazy_imports.py` rewrites it.",
        '"""',
        "",
        "MODULES = (",
        *(f"    {name!r}," for name in rule_module_names() or ()),
        ")",
        "",
        "RULES = (",
    ]
    for rule in all_rules():
        info = RuleInfo.from_rule(rule)
        lines.append("    {")
        fields = (
            ("code", info.code),
            ("name", info.name),
            ("summary", info.summary),
            ("severity", info.severity.value),
            ("default_enabled", info.default_enabled),
            ("fix_applicability", info.fix_applicability.value if info.fix_applicability else None),
            ("documentation", info.doc),
        )
        for key, value in fields:
            lines.append(f"        {key!r}: {value!r},")
        lines.append("    },")
    lines.append(")")
    return "\n".join(lines) + "\n"

