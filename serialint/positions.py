"""Node positions, resolved one top-level statement at a time.

libcst's `PositionProvider` regenerates the whole module to learn where every node is, which
costs more than the parse. A finding needs the positions of a few nodes only. Every
module-level statement starts in column 0 of a line the `ast` pass already knows, so each can
be regenerated on its own, starting there, when a node inside it is first asked for.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import libcst as cst
from libcst.metadata import CodeRange

try:  # the state libcst's own PositionProvider generates code with
    from libcst.metadata.position_provider import PositionProvidingCodegenState
except ImportError:  # pragma: no cover - a libcst without it resolves the whole module
    PositionProvidingCodegenState = None  # type: ignore[assignment,misc]

_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Child nodes, read off the dataclass fields (much cheaper than `node.children`)."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


class _Recorder:
    """Stands in for the metadata provider the codegen state records into."""

    def __init__(self, computed: Dict[cst.CSTNode, CodeRange]) -> None:
        self._computed = computed


def whole_module(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    from libcst.metadata import MetadataWrapper, PositionProvider

    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _start_lines(module: cst.Module, statement_lines: Sequence[int]) -> Optional[List[int]]:
    """The line each of `module.body` starts on (its leading blank and comment lines included),
    from the first code line of each `ast` statement; None when the two don't line up."""
    starts: List[int] = []
    position = 0
    for stmt in module.body:
        if position >= len(statement_lines):
            return None
        first = statement_lines[position]
        leading = len(stmt.leading_lines)
        decorators = getattr(stmt, "decorators", ())
        if decorators:
            leading += len(decorators[0].leading_lines)
        starts.append(first - leading)
        # `a; b` is one libcst line holding two statements, each an `ast` statement
        position += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
    return starts if position == len(statement_lines) else None


class LazyPositions(Mapping[cst.CSTNode, CodeRange]):
    """`PositionProvider`'s answers, computed for the top-level statement holding the node asked
    for. Iteration covers the statements resolved so far."""

    def __init__(self, module: cst.Module, statement_lines: Sequence[int]) -> None:
        self._module = module
        self._computed: Dict[cst.CSTNode, CodeRange] = {}
        self._starts = _start_lines(module, statement_lines) if PositionProvidingCodegenState else None
        self._owner: Dict[int, int] = {}  # id(node) -> index of its top-level statement
        self._walked = 0  # statements whose nodes are in `_owner`
        self._done: set = set()
        if self._starts is None:
            self._computed = dict(whole_module(module))

    def _statement_of(self, node: cst.CSTNode) -> Optional[int]:
        key = id(node)
        body = self._module.body
        while key not in self._owner and self._walked < len(body):
            index = self._walked
            stack: List[cst.CSTNode] = [body[index]]
            while stack:
                current = stack.pop()
                self._owner[id(current)] = index
                stack.extend(_children(current))
            self._walked += 1
        return self._owner.get(key)

    def _resolve(self, index: int) -> None:
        assert self._starts is not None
        self._done.add(index)
        module = self._module
        state = PositionProvidingCodegenState(
            default_indent=module.default_indent,
            default_newline=module.default_newline,
            provider=_Recorder(self._computed),  # type: ignore[arg-type]
        )
        state.line = self._starts[index]
        state.column = 0
        module.body[index]._codegen(state)

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is not None:
            return found
        if self._starts is not None:
            index = self._statement_of(node)
            if index is not None and index not in self._done:
                self._resolve(index)
                found = self._computed.get(node)
                if found is not None:
                    return found
            # not inside a statement (the module itself, its header or footer): resolve it all
            self._computed.update(whole_module(self._module))
            self._starts = None
            return self._computed[node]
        raise KeyError(node)

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(list(self._computed))

    def __len__(self) -> int:
        return len(self._computed)
