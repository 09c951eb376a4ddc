"""A faster `node.visit(visitor)` for read-only `libcst.CSTVisitor`s.

libcst's own traversal rebuilds and re-validates every node it passes, even for a visitor that
changes nothing, and asks the visitor about every field on the way: that is most of the cost of
a walk. `visit` calls the same `visit_<Node>` / `leave_<Node>` methods in the same order, reading
each node's children straight from its fields, in the order libcst visits them. Whitespace and
comments, operators and brackets are not entered unless the visitor has a method for them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

import libcst as cst
import libcst._nodes.op as libcst_op  # where libcst keeps its operator tokens

_WHITESPACE: Tuple[type, ...] = (
    cst.SimpleWhitespace,
    cst.ParenthesizedWhitespace,
    cst.TrailingWhitespace,
    cst.EmptyLine,
    cst.Comment,
    cst.Newline,
)

# What a field value is, by its exact type: `isinstance` against libcst's abstract node classes
# goes through `ABCMeta.__instancecheck__`, which costs more than the walk itself
OTHER, NODE, WHITESPACE_NODE, SEQUENCE, TOKEN = range(5)
# operators and brackets: nodes that hold nothing but whitespace
_TOKENS: Tuple[type, ...] = tuple(
    value
    for value in vars(libcst_op).values()
    if isinstance(value, type)
    and issubclass(value, cst.CSTNode)
    and value.__module__ == libcst_op.__name__
    and all(f.name == "value" or "whitespace" in f.name for f in dataclasses.fields(value))
) + (
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
)
_KINDS: Dict[type, int] = {}


def node_kind(value: object) -> int:
    """OTHER, NODE, WHITESPACE_NODE (whitespace and comments) or SEQUENCE, by exact type."""
    found = _KINDS.get(type(value))
    return _kind(type(value)) if found is None else found


def _kind(kind: type) -> int:
    if issubclass(kind, _WHITESPACE):
        found = WHITESPACE_NODE
    elif issubclass(kind, _TOKENS):
        found = TOKEN
    elif issubclass(kind, cst.CSTNode):
        found = NODE
    elif issubclass(kind, (tuple, list)):
        found = SEQUENCE
    else:
        found = OTHER
    _KINDS[kind] = found
    return found


Method = Optional[Callable[[cst.CSTVisitor, cst.CSTNode], object]]
# per node type: the fields libcst visits, in its order, and the fields not seen visited yet
_ORDER: Dict[type, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {}


class _FieldOrder(cst.CSTVisitor):
    """Records the fields libcst visits, in order, without descending."""

    def __init__(self) -> None:
        self.names: Dict[str, None] = {}

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.names[attribute] = None


def _record(node: cst.CSTNode) -> Tuple[str, ...]:
    recorder = _FieldOrder()
    node._visit_and_replace_children(recorder)
    return tuple(recorder.names)


def _holds_nodes(value: object) -> bool:
    if isinstance(value, cst.CSTNode):
        return True
    return isinstance(value, (tuple, list)) and any(isinstance(item, cst.CSTNode) for item in value)


def _order(node: cst.CSTNode) -> Tuple[str, ...]:
    """The fields libcst visits, in its order. libcst skips some empty optional fields
    altogether, so a type is recorded again when a field it has not seen visited holds nodes."""
    kind = type(node)
    found = _ORDER.get(kind)
    if found is None:
        names = _record(node)
        unseen = tuple(f.name for f in dataclasses.fields(node) if f.name not in names)
        _ORDER[kind] = found = (names, unseen)
    names, unseen = found
    if unseen and any(_holds_nodes(getattr(node, name)) for name in unseen):
        recorded = _record(node)
        names = recorded + tuple(name for name in names if name not in recorded)
        unseen = tuple(name for name in unseen if name not in names)
        _ORDER[kind] = (names, unseen)
    return names


def _is_attribute_hook(name: str) -> bool:
    """`visit_If_body`: node type names have no underscore, so a third part names a field."""
    parts = name.split("_", 2)
    return len(parts) == 3 and parts[0] in ("visit", "leave") and parts[1][:1].isupper()


class _Dispatch:
    """What one visitor class does, kept on the class (visitors defined inside functions come
    and go with their class)."""

    def __init__(self, visitor_class: type) -> None:
        own = set()
        for klass in visitor_class.__mro__:
            if klass is cst.CSTVisitor:
                break
            own.update(vars(klass))
        # a visitor that overrides libcst's dispatch, or uses attribute hooks (`visit_If_body`),
        # is driven by libcst itself
        hooks = {"on_visit", "on_leave", "on_visit_attribute", "on_leave_attribute"}
        self.custom = bool(hooks & own) or any(_is_attribute_hook(name) for name in own)
        self.prune = not any(f"{prefix}_{kind.__name__}" in own for kind in _WHITESPACE for prefix in ("visit", "leave"))
        self.prune_tokens = not any(
            f"{prefix}_{kind.__name__}" in own for kind in _TOKENS for prefix in ("visit", "leave")
        )
        self.visitor_class = visitor_class
        self.methods: Dict[type, Tuple[Method, Method]] = {}

    def methods_for(self, kind: type) -> Tuple[Method, Method]:
        found = self.methods.get(kind)
        if found is None:
            found = self.methods[kind] = (
                getattr(self.visitor_class, f"visit_{kind.__name__}", None),
                getattr(self.visitor_class, f"leave_{kind.__name__}", None),
            )
        return found


def _dispatch(visitor_class: type) -> _Dispatch:
    found = visitor_class.__dict__.get("_serialint_dispatch")
    if found is None:
        found = _Dispatch(visitor_class)
        setattr(visitor_class, "_serialint_dispatch", found)
    return found


def visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """Walk `node` with `visitor` as `node.visit(visitor)` would."""
    dispatch = _dispatch(type(visitor))
    if dispatch.custom:
        node.visit(visitor)
        return
    _visit(node, visitor, dispatch, dispatch.prune, dispatch.prune_tokens)


def _visit(root: cst.CSTNode, visitor: cst.CSTVisitor, dispatch: _Dispatch, prune: bool, prune_tokens: bool) -> None:
    # an explicit stack: a chain of a thousand `+` is as deep as the tree gets, and Python's
    # recursion limit must not decide whether a file can be linted
    stack: List[Tuple[cst.CSTNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        enter, leave = dispatch.methods_for(type(node))
        if leaving:
            leave(visitor, node)  # type: ignore[misc]
            continue
        if leave is not None:
            stack.append((node, True))
        if enter is not None and enter(visitor, node) is False:
            continue
        children: List[Tuple[cst.CSTNode, bool]] = []
        for name in _order(node):
            value = getattr(node, name)
            kind = _KINDS.get(type(value))
            if kind is None:
                kind = _kind(type(value))
            if kind == NODE or (kind == WHITESPACE_NODE and not prune) or (kind == TOKEN and not prune_tokens):
                children.append((value, False))
            elif kind == SEQUENCE:
                for item in value:
                    kind = _KINDS.get(type(item))
                    if kind is None:
                        kind = _kind(type(item))
                    if kind == NODE or (kind == WHITESPACE_NODE and not prune) or (kind == TOKEN and not prune_tokens):
                        children.append((item, False))
        children.reverse()
        stack.extend(children)
