"""The per-file semantic model the rules read: classes, their methods, what they store on `self`.

One walk over each class body builds it; rules then query it instead of walking the tree again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from serialint.index import FileSummary, ProjectIndex, StatementLines
from serialint.walk import visit

if TYPE_CHECKING:
    from libcst.metadata import CodeRange

    from serialint.config import Settings

FunctionNode = cst.FunctionDef
LocalFunction = Union[cst.Lambda, cst.FunctionDef]


def dotted_name(node: cst.BaseExpression) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts: List[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def string_value(node: Optional[cst.BaseExpression]) -> Optional[str]:
    """The value of a plain (non-f, non-concatenated) string literal."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def is_name(node: Optional[cst.BaseExpression], name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def is_none(node: Optional[cst.BaseExpression]) -> bool:
    return is_name(node, "None")


def call_arg(call: cst.Call, position: int, keyword: str) -> Optional[cst.BaseExpression]:
    """The argument given by keyword, or at `position` among the positional ones."""
    positional = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg.value
        elif arg.star:
            return None  # *args: positions after it are unknown
        else:
            if positional == position:
                return arg.value
            positional += 1
    return None


@dataclass(frozen=True)
class Frame:
    """A control-flow construct enclosing a statement, and which of its branches holds it.

    If: branch 0 is the body, 1 the else (an `elif` is a nested If in branch 1).
    Try: 0 the body, 1..n the handlers, -1 the else, -2 the finally.
    For/While/With/Match: 0 the body (Match: the case index), -1 a loop's else.
    """

    node: cst.CSTNode
    branch: int


def mutually_exclusive(a: Tuple[Frame, ...], b: Tuple[Frame, ...]) -> bool:
    """Whether two statements sit in different branches of one `if` / `try` / `match`.

    Loops are not exclusive (a loop body runs after the code before it), nor are a try body and
    its handlers' else or finally.
    """
    for frame_a, frame_b in zip(a, b):
        if frame_a.node is not frame_b.node:
            return False
        if frame_a.branch != frame_b.branch:
            node = frame_a.node
            if isinstance(node, cst.If) or isinstance(node, cst.Match):
                return True
            if isinstance(node, (cst.Try, cst.TryStar)):
                # body vs else run together; a handler excludes the else, and other handlers
                branches = {frame_a.branch, frame_b.branch}
                return -2 not in branches and branches != {0, -1}
            return False
    return False


@dataclass
class AttrStore:
    """`self.<attr> = value` (or `setattr(self, "attr", value)`) inside a method."""

    attr: str
    value: Optional[cst.BaseExpression]  # None when not known (tuple unpacking of a call, …)
    node: cst.CSTNode  # what to report on: the target attribute
    method: "MethodModel"
    frames: Tuple[Frame, ...]
    statement: cst.BaseSmallStatement


@dataclass
class SelfCall:
    """`self.<name>(...)` inside a method, e.g. `self.register_buffer("p", None)`."""

    name: str
    call: cst.Call
    method: "MethodModel"
    frames: Tuple[Frame, ...]


@dataclass
class AttrCall:
    """`self.<attr>.<name>(...)` inside a method, e.g. `self.layers.append(nn.Linear(2, 2))`."""

    attr: str
    name: str
    call: cst.Call
    method: "MethodModel"
    frames: Tuple[Frame, ...]


@dataclass
class MethodModel:
    name: str
    node: FunctionNode
    self_name: Optional[str]  # None for static methods
    local_defs: Dict[str, cst.FunctionDef] = field(default_factory=dict)
    # every value a plain name is bound to in the method body, in source order; None = unknown
    bindings: Dict[str, List[Optional[cst.BaseExpression]]] = field(default_factory=dict)
    params: Tuple[str, ...] = ()
    outer_names: Set[str] = field(default_factory=set)  # declared global / nonlocal
    # imported inside the method: bound to what the import names, which `FileContext.qualify`
    # resolves; never a local value to follow
    imported: Set[str] = field(default_factory=set)

    def single_binding(self, name: str) -> Optional[cst.BaseExpression]:
        """The value of a local name bound exactly once (and not a parameter); else None."""
        if name in self.params or name in self.outer_names or name in self.imported:
            return None
        values = self.bindings.get(name)
        if values is None or len(values) != 1:
            return None
        return values[0]


@dataclass
class ClassModel:
    node: cst.ClassDef
    name: str  # dotted within its module
    qualname: str
    methods: Dict[str, MethodModel] = field(default_factory=dict)
    stores: List[AttrStore] = field(default_factory=list)
    self_calls: List[SelfCall] = field(default_factory=list)
    attr_calls: List[AttrCall] = field(default_factory=list)

    _stores_by_attr: Optional[Dict[str, List[AttrStore]]] = field(default=None, repr=False)
    _calls_by_name: Optional[Dict[str, List[SelfCall]]] = field(default=None, repr=False)

    def stores_of(self, attr: str) -> List[AttrStore]:
        # indexed once: classes with thousands of attributes must not make rules quadratic
        if self._stores_by_attr is None:
            self._stores_by_attr = {}
            for store in self.stores:
                self._stores_by_attr.setdefault(store.attr, []).append(store)
        return self._stores_by_attr.get(attr, [])

    def calls_named(self, *names: str) -> List[SelfCall]:
        if self._calls_by_name is None:
            self._calls_by_name = {}
            for call in self.self_calls:
                self._calls_by_name.setdefault(call.name, []).append(call)
        if len(names) == 1:
            return self._calls_by_name.get(names[0], [])
        return [c for c in self.self_calls if c.name in names]


class _MethodWalker:
    """Walks one method body and fills the class model; nested scopes are not entered."""

    def __init__(self, cls: ClassModel, method: MethodModel, walrus: bool) -> None:
        self.cls = cls
        self.method = method
        self.walrus = walrus  # whether the file holds any `:=` (looking for them costs a walk)

    def walk(self, body: Sequence[cst.CSTNode], frames: Tuple[Frame, ...]) -> None:
        for stmt in body:
            if self.walrus and not isinstance(stmt, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef)):
                for header in _headers(stmt):
                    for name in _walrus_targets(header):
                        self.bind(name, None)
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self.small(small, frames)
            elif isinstance(stmt, cst.If):
                self.walk_if(stmt, frames)
            elif isinstance(stmt, cst.Try) or isinstance(stmt, cst.TryStar):
                self.walk(stmt.body.body, frames + (Frame(stmt, 0),))
                for i, handler in enumerate(stmt.handlers, start=1):
                    if handler.name is not None and isinstance(handler.name.name, cst.Name):
                        self.bind(handler.name.name.value, None)
                    self.walk(handler.body.body, frames + (Frame(stmt, i),))
                if stmt.orelse is not None:
                    self.walk(stmt.orelse.body.body, frames + (Frame(stmt, -1),))
                if stmt.finalbody is not None:
                    self.walk(stmt.finalbody.body.body, frames + (Frame(stmt, -2),))
            elif isinstance(stmt, (cst.For, cst.While)):
                if isinstance(stmt, cst.For):
                    self.bind_target(stmt.target, None)
                self.walk(stmt.body.body, frames + (Frame(stmt, 0),))
                if stmt.orelse is not None:
                    self.walk(stmt.orelse.body.body, frames + (Frame(stmt, -1),))
            elif isinstance(stmt, cst.With):
                for item in stmt.items:
                    if item.asname is not None:
                        self.bind_target(item.asname.name, None)
                self.walk(stmt.body.body, frames + (Frame(stmt, 0),))
            elif isinstance(stmt, cst.Match):
                for i, case in enumerate(stmt.cases):
                    for capture in _match_captures(case.pattern):
                        self.bind(capture, None)
                    self.walk(case.body.body, frames + (Frame(stmt, i),))
            elif isinstance(stmt, cst.FunctionDef):
                self.method.local_defs[stmt.name.value] = stmt
                self.bind(stmt.name.value, stmt)  # type: ignore[arg-type]
            elif isinstance(stmt, cst.ClassDef):
                self.bind(stmt.name.value, None)

    def walk_if(self, stmt: cst.If, frames: Tuple[Frame, ...]) -> None:
        self.walk(stmt.body.body, frames + (Frame(stmt, 0),))
        orelse = stmt.orelse
        if isinstance(orelse, cst.If):
            # `elif` is a nested If living in the else branch
            self.walk_if(orelse, frames + (Frame(stmt, 1),))
        elif isinstance(orelse, cst.Else):
            self.walk(orelse.body.body, frames + (Frame(stmt, 1),))

    def small(self, small: cst.BaseSmallStatement, frames: Tuple[Frame, ...]) -> None:
        if isinstance(small, cst.Assign):
            for target in small.targets:
                self.assign(target.target, small.value, small, frames)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.assign(small.target, small.value, small, frames)
        elif isinstance(small, cst.AugAssign):
            if isinstance(small.target, cst.Name):
                self.bind(small.target.value, None)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self.call(small.value, small, frames)
        elif isinstance(small, (cst.Global, cst.Nonlocal)):
            # bound outside this function: its value here is unknown
            self.method.outer_names.update(item.name.value for item in small.names)
        elif isinstance(small, cst.Import):
            for alias in small.names:
                self.bind_import(alias.asname.name if alias.asname else alias.name)
        elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            for alias in small.names:
                self.bind_import(alias.asname.name if alias.asname else alias.name)
        elif isinstance(small, cst.Del):
            self.bind_target(small.target, None)
        if self.walrus and not isinstance(small, (cst.Import, cst.ImportFrom, cst.Global, cst.Nonlocal)):
            # `(name := value)` anywhere in the statement rebinds `name`
            for walrus in _walrus_targets(small):
                self.bind(walrus, None)

    def call(self, call: cst.Call, statement: cst.BaseSmallStatement, frames: Tuple[Frame, ...]) -> None:
        func = call.func
        self_name = self.method.self_name
        if isinstance(func, cst.Attribute):
            owner = func.value
            if isinstance(owner, cst.Name) and owner.value == self_name:
                self.cls.self_calls.append(SelfCall(func.attr.value, call, self.method, frames))
            elif (
                isinstance(owner, cst.Attribute)
                and isinstance(owner.value, cst.Name)
                and owner.value.value == self_name
            ):
                self.cls.attr_calls.append(AttrCall(owner.attr.value, func.attr.value, call, self.method, frames))
        elif isinstance(func, cst.Name) and func.value == "setattr" and len(call.args) == 3:
            target, name, value = (a.value for a in call.args)
            attr = string_value(name)
            if isinstance(target, cst.Name) and target.value == self_name and attr is not None:
                self.cls.stores.append(AttrStore(attr, value, call, self.method, frames, statement))

    def assign(
        self,
        target: cst.BaseExpression,
        value: Optional[cst.BaseExpression],
        statement: cst.BaseSmallStatement,
        frames: Tuple[Frame, ...],
    ) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            values: List[Optional[cst.BaseExpression]]
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements) and not any(
                isinstance(e, cst.StarredElement) for e in value.elements
            ):
                values = [e.value for e in value.elements]
            else:
                values = [None] * len(elements)
            for element, element_value in zip(elements, values):
                self.assign(element, element_value, statement, frames)
            return
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            if target.value.value == self.method.self_name:
                self.cls.stores.append(AttrStore(target.attr.value, value, target, self.method, frames, statement))
            return
        if isinstance(target, cst.StarredElement):
            self.bind_target(target.value, None)
            return
        if isinstance(target, cst.Name):
            self.bind(target.value, value)

    def bind_target(self, target: cst.BaseExpression, value: Optional[cst.BaseExpression]) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind_target(element.value, None)

    def bind(self, name: str, value: Optional[cst.BaseExpression]) -> None:
        self.method.bindings.setdefault(name, []).append(value)

    def bind_import(self, node: cst.BaseExpression) -> None:
        """An import binds the head of a dotted name (`import a.b` binds `a`)."""
        while isinstance(node, cst.Attribute):
            node = node.value
        if isinstance(node, cst.Name):
            self.method.imported.add(node.value)


class _NameBinders(cst.CSTVisitor):
    """Names bound inside an expression or pattern: walrus targets, match captures."""

    def __init__(self) -> None:
        super().__init__()
        self.names: List[str] = []

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        if isinstance(node.target, cst.Name):
            self.names.append(node.target.value)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.names.append(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.names.append(node.name.value)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self.names.append(node.rest.value)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # a lambda's own scope


def _headers(stmt: cst.CSTNode) -> List[cst.CSTNode]:
    """The expressions a compound statement evaluates itself (its bodies are walked on their own)."""
    if isinstance(stmt, (cst.If, cst.While)):
        headers: List[cst.CSTNode] = [stmt.test]
        orelse = stmt.orelse if isinstance(stmt, cst.If) else None
        while isinstance(orelse, cst.If):  # elif tests
            headers.append(orelse.test)
            orelse = orelse.orelse
        return headers
    if isinstance(stmt, cst.For):
        return [stmt.iter]
    if isinstance(stmt, cst.With):
        return [item.item for item in stmt.items]
    if isinstance(stmt, cst.Match):
        return [stmt.subject]
    return []


def _walrus_targets(small: cst.CSTNode) -> List[str]:
    binders = _NameBinders()
    visit(small, binders)
    return binders.names


def _match_captures(pattern: cst.MatchPattern) -> List[str]:
    binders = _NameBinders()
    visit(pattern, binders)
    return binders.names


def decorator_names(node: Union[cst.FunctionDef, cst.ClassDef]) -> List[Optional[str]]:
    """The dotted name of each decorator (`@x.y(...)` gives `x.y`); None where it has none."""
    names: List[Optional[str]] = []
    for decorator in node.decorators:
        expr = decorator.decorator
        names.append(dotted_name(expr.func if isinstance(expr, cst.Call) else expr))
    return names


def param_names(params: cst.Parameters) -> Tuple[str, ...]:
    """Every parameter name of a function or lambda, `*args` and `**kwargs` included."""
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return tuple(names)


def build_class_model(node: cst.ClassDef, name: str, qualname: str, walrus: bool = True) -> ClassModel:
    cls = ClassModel(node, name, qualname)
    for stmt in _class_body_statements(node):
        if not isinstance(stmt, cst.FunctionDef):
            continue
        params = param_names(stmt.params)
        decorators = decorator_names(stmt)
        is_static = "staticmethod" in decorators
        is_classmethod = "classmethod" in decorators
        self_name = None if (is_static or is_classmethod or not params) else params[0]
        method = MethodModel(stmt.name.value, stmt, self_name, params=params)
        # a property setter shares its getter's name: keep the first (usually the getter)
        cls.methods.setdefault(stmt.name.value, method)
        if self_name is not None:
            _MethodWalker(cls, method, walrus).walk(stmt.body.body, ())
    return cls


def _class_body_statements(node: cst.ClassDef) -> Sequence[cst.CSTNode]:
    body = node.body
    if isinstance(body, cst.IndentedBlock):
        return body.body
    return []


class FileContext:
    """Everything a rule may ask about one file."""

    def __init__(
        self,
        path: str,
        module: cst.Module,
        summary: FileSummary,
        index: ProjectIndex,
        settings: "Settings",
        pickled_classes: FrozenSet[str] = frozenset(),
        text: Optional[str] = None,
        statement_lines: Optional[StatementLines] = None,
    ) -> None:
        self.path = path
        self.statement_lines = statement_lines  # from the `ast` pass, when the caller has them
        self.text = text  # the source, when the caller has it (None: unknown)
        self.pickled_classes = pickled_classes
        self.module = module
        self.summary = summary
        self.index = index
        self.settings = settings
        self._classes: Optional[List[ClassModel]] = None
        self._functions: Optional[Dict[str, cst.FunctionDef]] = None
        self._positions: Optional[Mapping[cst.CSTNode, CodeRange]] = None
        self.memo: Dict[str, object] = {}  # analyses shared by the rules linting this file

    @property
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Where every node is. Resolving positions costs more than the parse, so it happens only
        for the top-level statements holding a node asked for (a finding's, or a fix's)."""
        if self._positions is None:
            from serialint.positions import LazyPositions

            text = self.text if self.text is not None else self.module.code
            self._positions = LazyPositions(self.module, text, self.statement_lines)
        return self._positions

    # -- names -------------------------------------------------------------------------------
    def qualify(self, node: cst.BaseExpression) -> Optional[str]:
        dotted = dotted_name(node)
        if dotted is None:
            return None
        return self.summary.qualify_dotted(dotted)

    # -- classes -----------------------------------------------------------------------------
    @property
    def classes(self) -> List[ClassModel]:
        if self._classes is None:
            self._classes = []
            self._collect_classes(self.module.body, "")
        return self._classes

    def _collect_classes(self, body: Sequence[cst.CSTNode], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, cst.ClassDef):
                name = f"{prefix}{stmt.name.value}"
                mod = self.summary.module
                qualname = f"{mod}.{name}" if mod else name
                self._classes.append(build_class_model(stmt, name, qualname, self.text is None or ":=" in self.text))  # type: ignore[union-attr]
                self._collect_classes(_class_body_statements(stmt), f"{name}.")
            elif isinstance(stmt, (cst.If, cst.Try)) and not prefix:
                for sub in _compound_bodies(stmt):
                    self._collect_classes(sub, prefix)

    def is_module_class(self, cls: ClassModel) -> bool:
        # judged in this file: two files may share a module name (two scripts named train.py)
        return self.index.is_module_class_in(self.summary, cls.name)

    def is_pickled_class(self, cls: ClassModel) -> bool:
        """Module classes, and classes whose instances the linted code visibly pickles."""
        return cls.qualname in self.pickled_classes or self.is_module_class(cls)

    def defines_in_hierarchy(self, cls: ClassModel, *method_names: str) -> bool:
        if any(m in cls.methods for m in method_names):
            return True
        return self.index.defines_in_hierarchy_in(self.summary, cls.name, method_names)

    # -- module-level functions --------------------------------------------------------------
    @property
    def functions(self) -> Dict[str, cst.FunctionDef]:
        if self._functions is None:
            self._functions = {}
            for stmt in self.module.body:
                if isinstance(stmt, cst.FunctionDef):
                    self._functions[stmt.name.value] = stmt
        return self._functions

    def module_classes(self) -> Iterator[ClassModel]:
        return (c for c in self.classes if self.is_module_class(c))


def _compound_bodies(stmt: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    if isinstance(stmt, cst.If):
        yield stmt.body.body
        orelse = stmt.orelse
        while isinstance(orelse, cst.If):
            yield orelse.body.body
            orelse = orelse.orelse
        if isinstance(orelse, cst.Else):
            yield orelse.body.body
    elif isinstance(stmt, cst.Try):
        yield stmt.body.body
        for handler in stmt.handlers:
            yield handler.body.body
        if stmt.orelse is not None:
            yield stmt.orelse.body.body
        if stmt.finalbody is not None:
            yield stmt.finalbody.body.body
