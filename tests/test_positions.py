"""Positions resolved one top-level statement at a time equal libcst's whole-module answer."""

from __future__ import annotations

import pathlib

import libcst as cst
import pytest

from serialint.positions import LazyPositions, whole_module
from support import CORPUS

TRICKY = {
    "decorators": "import functools\n\n# a comment\n\n@functools.lru_cache()\n# between\n\n@staticmethod\ndef f():\n    return 1\n",
    "semicolons": "a = 1; b = 2\nc = 3;\nclass A: x = 1; y = 2\n",
    "header": "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n\n\n'''doc'''\nx = (\n    1,\n)\n",
    "crlf": "class A:\r\n    def f(self):\r\n        return 1\r\n\r\n\r\nx = A()\r\n",
    "continuation": "x = 1 + \\\n    2\nif x:\n    y = [\n        3]\nelse:\n    pass\n",
    "trailing": "x = 1\n\n# the end\n",
    "nested": "class A:\n    # c\n\n    @property\n    def p(self):\n        if self:\n            def g(): pass\n\n            class B:\n                z = 1\n        return 1\n    x = 1; y = 2\n    class C: pass\n",
    "tabs": "class A:\n\tdef f(self):\n\t\tif self:\n\t\t\treturn 1\n\t# end\n\tx = 2\n",
    "strings": 'x = """\nclass Fake:\n    pass\n"""\ndef g():\n    """doc\n    more"""\n',
}


def _check(text: str) -> int:
    module = cst.parse_module(text)
    lazy = LazyPositions(module, text)
    assert lazy._top is not None, "fell back to whole-module positions"
    full = whole_module(module)
    compared = 0
    for node, expected in full.items():
        if node is module:
            continue
        assert lazy[node] == expected, (type(node).__name__, module.code_for_node(node))
        compared += 1
    return compared


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_layouts(name):
    assert _check(TRICKY[name]) > 0


def test_every_corpus_file():
    files = sorted(pathlib.Path(CORPUS).rglob("*.py"))
    assert len(files) > 100
    assert sum(_check(f.read_text(encoding="utf-8")) for f in files) > 10_000


def test_only_the_statement_asked_about_is_resolved():
    text = "import torch\n\nx = 1\n\n\nclass A:\n    y = 2\n"
    module = cst.parse_module(text)
    lazy = LazyPositions(module, text)
    target = module.body[2].body.body[0]  # `y = 2`
    assert (lazy[target].start.line, lazy[target].start.column) == (7, 4)
    assert module.body[2] not in dict(lazy.items())  # the class itself is not regenerated
    assert module.body[0] not in dict(lazy.items())
