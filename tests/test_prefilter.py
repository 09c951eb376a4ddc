"""The pre-filter skips rules, and whole parses, that a file's text rules out. It must never
change what is reported: the corpus gives the same findings with it and without it."""

from __future__ import annotations

import pytest

from serialint.config import ConfigResolver
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, lint_source, lint_sources
from serialint.rules import all_rules, rule_by_code
from support import CORPUS, corpus_findings


def _key(finding):
    return (finding.path, finding.line, finding.column, finding.code, finding.message, finding.fix)


def test_the_corpus_gives_the_same_findings_without_the_prefilter():
    linter = Linter(prefilter=False)
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors
    run = lint_sources([SourceFile(f) for f in files], resolver, linter)
    assert not run.errors
    unfiltered = [_key(f) for f in run.findings]
    assert len(unfiltered) > 100
    assert [_key(f) for f in corpus_findings()] == unfiltered


def test_every_rule_example_reports_alike_with_and_without_the_prefilter():
    for rule in all_rules():
        for case in (*rule.bad, *rule.good):
            with_filter = lint_source(case.code, "example.py", extra_files=case.files, linter=Linter([rule]))
            without = lint_source(
                case.code, "example.py", extra_files=case.files, linter=Linter([rule], prefilter=False)
            )
            assert [_key(f) for f in with_filter.findings] == [_key(f) for f in without.findings], rule.code


def test_a_bad_example_passes_the_prefilter_of_its_rule():
    # the filter is not vacuous: each rule's own hazards get through it, and a file without the
    # rule's trigger does not
    for rule in all_rules():
        for case in rule.bad:
            assert rule.may_report(case.code, has_class="class " in case.code), rule.code


@pytest.mark.parametrize(
    "code, text, has_class, expected",
    [
        ("SER205", "model.register_forward_hook(lambda m, i, o: o)", False, True),
        ("SER205", "model.forward(x)", True, False),
        ("SER101", "class A:\n    pass\n", True, False),
        ("SER101", "self.register_buffer('b', None)", False, False),
        ("SER102", "class A(nn.Module):\n    pass\n", True, True),
        ("SER102", "x = torch.zeros(3)\n", False, False),
        ("SER302", "from torch import load as restore\nrestore(p)\n", False, True),
        ("SER302", "torch.save(m.state_dict(), p)\n", False, False),
        ("SER206", "from concurrent.futures import ProcessPoolExecutor as PPE\n", False, True),
        ("SER206", "self.pool = nn.MaxPool2d(2)\n", True, False),
        # a load the code can call: a call, an import, or a value bound to a name
        ("SER302", "state = torch.load\n(path)\n", False, True),
        ("SER302", "from pickle import (\n    dump,\n    loads,\n)\n", False, True),
        ("SER302", "from torch import \\\n    load\n", False, True),
        ("SER302", "reader = torch.load if fast else pickle.load\n", False, True),
        ("SER302", "# load the weights, then model.load_state_dict(sd)\n", False, False),
        ("SER302", "def load_weights(path):\n    return path\n", False, False),
        ("SER303", "model.load_state_dict(sd, strict=cfg.strict)\n", False, False),
        ("SER303", "model.load_state_dict(sd, False)\n", False, True),
        ("SER304", "torch.save(model.state_dict(), p)\n", False, False),
        ("SER304", "net = torch.compile(net)\ntorch.save(net.state_dict(), p)\n", False, True),
    ],
)
def test_triggers(code, text, has_class, expected):
    assert rule_by_code(code).may_report(text, has_class) is expected


def test_a_file_no_rule_can_report_on_is_not_parsed(monkeypatch):
    import libcst

    def refuse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(libcst, "parse_module", refuse)
    run = lint_source("import os\n\ndef main():\n    return os.getcwd()\n", "plain.py")
    assert not run.errors and not run.findings
