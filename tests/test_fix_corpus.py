"""Every fix on every corpus file: the result parses and compiles, a second run changes nothing,
and no finding appears that was not there before."""

from __future__ import annotations

import functools
from collections import Counter

import pytest

from serialint.config import ConfigResolver
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, fix_source, prepare
from serialint.fixes import applicable
from support import CORPUS


@functools.lru_cache(maxsize=2)
def fixed_corpus(unsafe: bool):
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors
    sources = [SourceFile(f) for f in files]
    project = prepare(sources, resolver)
    outcomes = {s.path: (s, fix_source(linter, s, project, unsafe)) for s in sources if s.error is None}
    return linter, project, outcomes


@functools.lru_cache(maxsize=2)
def relinted_corpus(unsafe: bool):
    """Findings of one fresh run over the corpus with every file fixed."""
    linter, _, outcomes = fixed_corpus(unsafe)
    fresh = [SourceFile(path, text=outcome.fixed) for path, (_, outcome) in outcomes.items()]
    project = prepare(fresh, ConfigResolver(linter.codes))
    return {s.path: linter.lint_file(s, project.index, project.pickled).findings for s in fresh}


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_fixes_keep_every_corpus_file_valid_idempotent_and_add_no_findings(unsafe):
    linter, project, outcomes = fixed_corpus(unsafe)
    for path, (source, outcome) in outcomes.items():
        assert outcome.broken_by is None, path
        compile(outcome.fixed, path, "exec")
        before = Counter((f.code) for f in linter.lint_file(source, project.index, project.pickled).findings)
        after = Counter(f.code for f in outcome.remaining)
        for code, count in after.items():
            assert count <= before[code], f"{path}: the fixes added {code} findings"
        if outcome.changed:
            # what the fix loop says remains is what a fresh run over the fixed corpus finds
            assert [(f.line, f.column, f.code) for f in relinted_corpus(unsafe)[path]] == [
                (f.line, f.column, f.code) for f in outcome.remaining
            ], path
            again = SourceFile(path, text=outcome.fixed, settings=source.settings, encoding=source.encoding)
            from serialint.engine import parse_for_index

            parse_for_index(again)
            second = fix_source(linter, again, project, unsafe)
            assert second.fixed == outcome.fixed, f"{path}: a second --fix changed it again"


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_what_remains_after_fixing_has_no_fix_of_that_kind(unsafe):
    _, _, outcomes = fixed_corpus(unsafe)
    leftover = [
        (path, f.line, f.code) for path, (_, o) in outcomes.items() for f in o.remaining if applicable(f.fix, unsafe)
    ]
    assert leftover == []


def test_unsafe_fixes_leave_fewer_findings_than_safe_ones():
    remaining = {unsafe: sum(len(o.remaining) for _, o in fixed_corpus(unsafe)[2].values()) for unsafe in (False, True)}
    assert remaining[True] < remaining[False]


def test_unsafe_fixes_apply_at_least_as_many_as_safe_ones():
    safe = sum(sum(o.applied.values()) for _, o in fixed_corpus(False)[2].values())
    unsafe = sum(sum(o.applied.values()) for _, o in fixed_corpus(True)[2].values())
    assert unsafe >= safe and unsafe > 0
