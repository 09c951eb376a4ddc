"""The whole corpus, linted in one run, must produce exactly the findings recorded beside it.

Each `x.py` under test_corpus/ has an `x.py.expected` beside it: one finding a line,
`line:column: CODE message` (1-based column, as `serialint check` prints); empty for a file that
must stay clean. Run with SERIALINT_UPDATE_GOLDEN=1 to rewrite the expectations.
"""

from __future__ import annotations

import os
from collections import defaultdict

from serialint.config import ConfigResolver
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, lint_sources
from support import CORPUS


def _corpus_run():
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors
    run = lint_sources([SourceFile(f) for f in files], resolver, linter)
    return files, run


def test_corpus_findings_are_exactly_the_expected_ones():
    files, run = _corpus_run()
    assert files, "the corpus is empty"
    assert not run.errors, [e.render() for e in run.errors]
    got = defaultdict(list)
    for finding in run.findings:
        got[os.path.normpath(finding.path)].append(
            f"{finding.line}:{finding.column + 1}: {finding.code} {finding.message}"
        )
    update = os.environ.get("SERIALINT_UPDATE_GOLDEN") == "1"
    mismatches = []
    for path in files:
        expected_path = path + ".expected"
        lines = got.get(os.path.normpath(path), [])
        if update:
            with open(expected_path, "w", encoding="utf-8") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
            continue
        assert os.path.exists(expected_path), f"missing {expected_path}"
        with open(expected_path, encoding="utf-8") as handle:
            want = [line for line in handle.read().splitlines() if line.strip()]
        if want != lines:
            mismatches.append((os.path.relpath(path, CORPUS), want, lines))
    assert not mismatches, "\n".join(f"{p}\n  want: {w}\n  got:  {g}" for p, w, g in mismatches)


def test_corpus_has_positives_and_negatives_for_every_rule():
    _, run = _corpus_run()
    codes_found = {f.code for f in run.findings}
    linter = Linter()
    assert codes_found == set(linter.codes), f"rules without corpus positives: {set(linter.codes) - codes_found}"
    clean = [p for p in discover([CORPUS], ConfigResolver(linter.codes))[0] if os.path.getsize(p + ".expected") == 0]
    assert len(clean) >= len(linter.codes), "every rule needs negative corpus files"
