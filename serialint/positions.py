"""Node positions, resolved one statement at a time.

libcst's `PositionProvider` regenerates the whole module to learn where every node is, which
costs more than the parse. A finding needs the positions of a few nodes only. Python's `ast`
knows the first line of every statement, and a statement's code depends only on the indentation
of the blocks around it, so any statement of a module, class or function body can be
regenerated on its own when a node inside it is first asked for. The `ast` parse this needs is
about a tenth of a libcst parse, and is made only for files with findings or fixes.
"""

from __future__ import annotations

import ast
import dataclasses
import warnings
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import libcst as cst
from libcst.metadata import CodeRange

from serialint.index import StatementLines, statement_lines
from serialint.walk import NODE, SEQUENCE, TOKEN, node_kind

try:  # the state libcst's own PositionProvider generates code with
    from libcst.metadata.position_provider import PositionProvidingCodegenState
except ImportError:  # pragma: no cover - a libcst without it resolves the whole module
    PositionProvidingCodegenState = None  # type: ignore[assignment,misc]

_FIELDS: Dict[type, Tuple[str, ...]] = {}
_DEFINITIONS = (cst.ClassDef, cst.FunctionDef)


def _children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Child nodes, read off the dataclass fields (much cheaper than `node.children`)."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    for name in names:
        value = getattr(node, name)
        kind = node_kind(value)
        if kind == NODE or kind == TOKEN:
            yield value
        elif kind == SEQUENCE:
            for item in value:
                if node_kind(item) in (NODE, TOKEN):
                    yield item


def whole_module(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    from libcst.metadata import MetadataWrapper, PositionProvider

    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def _align(statements: Sequence[cst.BaseStatement], lines: Sequence[int]) -> Optional[List[Tuple[int, Optional[int]]]]:
    """For each libcst statement: the line its code starts on (its own blank and comment lines
    included) and the index of its `ast` twin (None for `a; b`, which is several `ast`
    statements). None when the two bodies don't pair up."""
    aligned: List[Tuple[int, Optional[int]]] = []
    position = 0
    for stmt in statements:
        if position >= len(lines):
            return None
        leading = len(stmt.leading_lines)
        decorators = getattr(stmt, "decorators", ())
        if decorators:
            leading += len(decorators[0].leading_lines)
        if isinstance(stmt, cst.SimpleStatementLine):
            aligned.append((lines[position] - leading, position if len(stmt.body) == 1 else None))
            position += len(stmt.body)
        else:
            aligned.append((lines[position] - leading, position))
            position += 1
    return aligned if position == len(lines) else None


@dataclasses.dataclass
class _Anchor:
    """A statement whose code can be generated alone: where it starts, the blocks' indents."""

    node: cst.BaseStatement
    line: int
    indents: Tuple[str, ...]
    resolved: bool = False


class _Recorder:
    """Stands in for the metadata provider the codegen state records into."""

    def __init__(self, computed: Dict[cst.CSTNode, CodeRange]) -> None:
        self._computed = computed


class LazyPositions(Mapping[cst.CSTNode, CodeRange]):
    """`PositionProvider`'s answers, computed for the innermost statement of a module, class or
    function body that holds the node asked for. Iteration covers what is resolved so far."""

    def __init__(self, module: cst.Module, text: str, lines: Optional[StatementLines] = None) -> None:
        self._module = module
        self._computed: Dict[cst.CSTNode, CodeRange] = {}
        self._anchors: List[_Anchor] = []
        self._owner: Dict[int, int] = {}  # id(node) -> index of the anchor holding it
        self._walked = 0  # module-level statements whose nodes are in `_owner`
        self._lines: StatementLines = {}
        self._top: Optional[List[Tuple[int, Optional[int]]]] = None
        if PositionProvidingCodegenState is not None:
            if lines is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # invalid escapes: the index pass told once
                        lines = statement_lines(ast.parse(text))
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    lines = None
            if lines is not None and () in lines:
                self._lines = lines
                self._top = _align(module.body, lines[()])
        if self._top is None:
            self._computed = dict(whole_module(module))

    # -- which statement holds a node --------------------------------------------------------
    def _anchor_of(self, node: cst.CSTNode) -> Optional[int]:
        key = id(node)
        assert self._top is not None
        while key not in self._owner and self._walked < len(self._top):
            index = self._walked
            line, twin = self._top[index]
            self._walk(self._module.body[index], line, None if twin is None else (twin,), ())
            self._walked += 1
        return self._owner.get(key)

    def _walk(
        self, stmt: cst.BaseStatement, line: int, path: Optional[Tuple[int, ...]], indents: Tuple[str, ...]
    ) -> None:
        """Record the statement as an anchor, and the anchors of the bodies of the classes and
        functions in it; every other node belongs to the innermost anchor around it."""
        pending = [(stmt, line, path, indents)]
        while pending:
            stmt, line, path, indents = pending.pop()
            anchor = len(self._anchors)
            self._anchors.append(_Anchor(stmt, line, indents))
            body = getattr(stmt, "body", None)
            inner = set()
            nested = None
            if isinstance(stmt, _DEFINITIONS) and path is not None and isinstance(body, cst.IndentedBlock):
                lines = self._lines.get(path)
                nested = _align(body.body, lines) if lines is not None else None
            if nested is not None:
                assert isinstance(body, cst.IndentedBlock) and path is not None
                indent = body.indent if body.indent is not None else self._module.default_indent
                for child, (child_line, twin) in zip(body.body, nested):
                    inner.add(id(child))
                    child_path = None if twin is None else (*path, twin)
                    pending.append((child, child_line, child_path, (*indents, indent)))
            owner = self._owner
            stack: List[cst.CSTNode] = [stmt]
            while stack:
                current = stack.pop()
                owner[id(current)] = anchor
                for child in _children(current):  # whitespace is not a child here
                    if id(child) not in inner:
                        stack.append(child)

    # -- positions ---------------------------------------------------------------------------
    def _resolve(self, anchor: _Anchor) -> None:
        anchor.resolved = True
        module = self._module
        state = PositionProvidingCodegenState(
            default_indent=module.default_indent,
            default_newline=module.default_newline,
            provider=_Recorder(self._computed),  # type: ignore[arg-type]
        )
        state.indent_tokens = list(anchor.indents)
        state.line = anchor.line
        state.column = 0
        anchor.node._codegen(state)

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is not None:
            return found
        if self._top is not None:
            index = self._anchor_of(node)
            if index is not None and not self._anchors[index].resolved:
                self._resolve(self._anchors[index])
                found = self._computed.get(node)
                if found is not None:
                    return found
            # not inside a statement (the module itself, its header or footer): resolve it all
            self._computed.update(whole_module(self._module))
            self._top = None
            return self._computed[node]
        raise KeyError(node)

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(list(self._computed))

    def __len__(self) -> int:
        return len(self._computed)
