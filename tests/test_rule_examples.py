"""Every rule's own bad/good examples, asserted exactly: line, column, message, count."""

from __future__ import annotations

import pytest

from serialint.fixes import applicable
from serialint.rule import DOC_SECTIONS
from serialint.rules import all_rules
from support import fix_text, lint_text

RULES = all_rules()
BAD = [pytest.param(rule, i, id=f"{rule.code}-bad{i}") for rule in RULES for i in range(len(rule.bad))]
GOOD = [pytest.param(rule, i, id=f"{rule.code}-good{i}") for rule in RULES for i in range(len(rule.good))]


@pytest.mark.parametrize("rule, i", BAD)
def test_bad_example_reports_exactly(rule, i):
    example = rule.bad[i]
    findings = [f for f in lint_text(example.code, example.files) if f.code == rule.code]
    got = [(f.line, f.column + 1, f.message) for f in findings]
    want = [(e.line, e.column, e.message) for e in example.expected]
    assert got == want


@pytest.mark.parametrize("rule, i", GOOD)
def test_good_example_is_clean(rule, i):
    example = rule.good[i]
    findings = [f for f in lint_text(example.code, example.files) if f.code == rule.code]
    assert findings == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_is_documented(rule):
    sections = rule.doc_sections()
    assert list(sections) == list(DOC_SECTIONS), f"{rule.code} docstring sections: {list(sections)}"
    assert all(text for text in sections.values()), f"{rule.code} has an empty docstring section"
    assert rule.bad and rule.good, f"{rule.code} needs bad and good examples"
    assert rule.name == rule.name.lower() and " " not in rule.name and "_" not in rule.name


def test_codes_and_names_are_unique():
    codes = [r.code for r in RULES]
    names = [r.name for r in RULES]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)


FIXED = [
    pytest.param(rule, i, id=f"{rule.code}-fix{i}")
    for rule in RULES
    for i in range(len(rule.bad))
    if rule.bad[i].fixed is not None
]


@pytest.mark.parametrize("rule, i", FIXED)
def test_fix_gives_exactly_the_fixed_text_and_is_idempotent(rule, i):
    example = rule.bad[i]
    unsafe = rule.fix_applicability is not None and rule.fix_applicability.value == "unsafe"
    outcome = fix_text(example.code, example.files, unsafe=unsafe)
    assert outcome.broken_by is None
    assert outcome.fixed == example.fixed
    assert outcome.applied.get(rule.code, 0) >= 1
    # what remains of this rule is only what it offers no fix for
    assert [f for f in outcome.remaining if f.code == rule.code and applicable(f.fix, unsafe)] == []
    assert len([f for f in outcome.remaining if f.code == rule.code]) < len(example.expected)
    compile(outcome.fixed, "fixed.py", "exec")
    again = fix_text(outcome.fixed, example.files, unsafe=unsafe)
    assert again.fixed == outcome.fixed and again.applied == {}


@pytest.mark.parametrize("rule", [r for r in RULES if r.fix_applicability is not None], ids=lambda r: r.code)
def test_rules_with_fixes_show_them_in_examples(rule):
    assert any(b.fixed is not None for b in rule.bad), f"{rule.code} offers a fix but no example shows it"
