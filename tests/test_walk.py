"""`serialint.walk.visit` calls a visitor's methods exactly as libcst's `node.visit` does."""

from __future__ import annotations

import pathlib
from typing import List, Tuple, Type

import libcst as cst

from serialint.walk import _TOKENS, _WHITESPACE, visit
from support import CORPUS

NODE_TYPES = [
    value for value in vars(cst).values() if isinstance(value, type) and issubclass(value, cst.CSTNode)
]


def recorder(skip: Tuple[type, ...]) -> Type[cst.CSTVisitor]:
    """A visitor logging every visit and leave of every node type but `skip`; it does not enter
    lambdas, to check that returning False prunes alike."""

    class Recorder(cst.CSTVisitor):
        def __init__(self) -> None:
            self.log: List[Tuple[str, str, int]] = []

    def methods(name: str):  # type: ignore[no-untyped-def]
        def enter(self, node):  # type: ignore[no-untyped-def]
            self.log.append(("visit", name, id(node)))
            return name != "Lambda"

        def leave(self, node):  # type: ignore[no-untyped-def]
            self.log.append(("leave", name, id(node)))

        return enter, leave

    for kind in NODE_TYPES:
        if not issubclass(kind, skip):
            enter, leave = methods(kind.__name__)
            setattr(Recorder, f"visit_{kind.__name__}", enter)
            setattr(Recorder, f"leave_{kind.__name__}", leave)
    return Recorder


def test_every_corpus_file_is_walked_in_libcst_order():
    everything = recorder(_WHITESPACE)
    no_tokens = recorder((*_WHITESPACE, *_TOKENS))
    files = sorted(pathlib.Path(CORPUS).rglob("*.py"))
    assert len(files) > 100
    spared = 0
    for path in files:
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        expected = everything()
        module.visit(expected)
        ours = everything()
        visit(module, ours)
        assert ours.log == expected.log, path
        # a visitor without token methods sees the same minus the tokens, which it is spared
        pruned = no_tokens()
        visit(module, pruned)
        names = {kind.__name__ for kind in _TOKENS}
        assert pruned.log == [entry for entry in expected.log if entry[1] not in names], path
        spared += len(expected.log) - len(pruned.log)
    assert spared > 10_000


def test_a_visitor_with_its_own_dispatch_or_attribute_hooks_is_driven_by_libcst():
    module = cst.parse_module("if a:\n    b = 1\n")

    class OwnDispatch(cst.CSTVisitor):
        def __init__(self) -> None:
            self.seen: List[str] = []

        def on_visit(self, node: cst.CSTNode) -> bool:
            self.seen.append(type(node).__name__)
            return True

    class AttributeHook(cst.CSTVisitor):
        def __init__(self) -> None:
            self.bodies = 0

        def visit_If_body(self, node: cst.If) -> None:
            self.bodies += 1

    own = OwnDispatch()
    visit(module, own)
    assert "SimpleWhitespace" in own.seen  # libcst's walk enters whitespace too
    hook = AttributeHook()
    visit(module, hook)
    assert hook.bodies == 1


def test_a_thousand_term_chain_is_walked_without_recursion():
    module = cst.parse_module("x = " + " + ".join(["a"] * 1000) + "\n")

    class Names(cst.CSTVisitor):
        def __init__(self) -> None:
            self.count = 0

        def visit_Name(self, node: cst.Name) -> None:
            self.count += 1

    names = Names()
    visit(module, names)
    assert names.count == 1001
