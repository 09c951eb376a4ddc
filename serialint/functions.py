"""Which expressions evaluate to local functions: the functions pickle cannot serialize.

pickle writes a function as a reference, its module and `__qualname__`, and looks it up again
when loading. It refuses up front when the qualname holds `<locals>` (a lambda, or a `def` nested
in another function): `Can't pickle local object 'Net.__init__.<locals>.<lambda>'`. A lambda bound
to a module-level name fails too, because its qualname is `<lambda>`, which no module defines.

`FunctionAnalysis` answers, without running anything, "which function does this expression
evaluate to, and what will its `__qualname__` be?". It follows names bound exactly once in the
enclosing function or module, `functools.partial(fn, ...)`, and calls to factory functions of the
same file (`def make_act(k): ...; return lambda x: ...`). When a value cannot be known (a
parameter, a name bound twice, an import, a factory that may return something else) it answers
"not a local function": callers stay silent.

`hoist_fix` builds the SER201-SER203 fix: it moves such functions to module-level defs, binding
captured values with `functools.partial`, and declines whenever that is not provably the same.

Usage from a rule:

    analysis = function_analysis(ctx)
    scope = analysis.method_scope(cls, method)
    for function in analysis.possible_local_functions(expr, scope):
        ...  # function.qualname, function.describe(), function.pickle_error
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from serialint.findings import Applicability, Edit, Fix
from serialint.fixes import FixBuilder
from serialint.model import AttrStore, ClassModel, FileContext, MethodModel, decorator_names, dotted_name, param_names
from serialint.walk import visit

# Deeper chains of names, partials and factories are not followed: the answer becomes "unknown".
_MAX_DEPTH = 12

# Methods a class may define to control what pickle stores; with one of them, the class may well
# leave its function attributes out, so nothing about them can be concluded.
PICKLE_PROTOCOL_METHODS: Tuple[str, ...] = ("__getstate__", "__reduce__", "__reduce_ex__")

FunctionNode = Union[cst.Lambda, cst.FunctionDef]


class FunctionKind(Enum):
    LAMBDA = "lambda"
    LOCAL_DEF = "local def"


@dataclass(frozen=True)
class LocalFunction:
    """A function created by a lambda or a nested `def`, which pickle cannot serialize.

    `qualname` is the `__qualname__` the function will carry at run time, e.g.
    `Net.__init__.<locals>.<lambda>`, `make_act.<locals>.scaled`, or `<lambda>` for a lambda
    written at module level.
    """

    kind: FunctionKind
    node: FunctionNode  # where the function is created
    qualname: str
    name: Optional[str] = None  # a def's name, or the module-level name a lambda is bound to
    factory: Optional[str] = None  # the callee whose call returns it: "make_act", "self._make"
    partial: bool = False  # reached through functools.partial(...)

    @property
    def is_local(self) -> bool:
        """Created inside a function (`<locals>` in the qualname), not at module level."""
        return "<locals>" in self.qualname

    @property
    def is_plain_lambda(self) -> bool:
        """A lambda written in place (not returned by a factory call)."""
        return self.kind is FunctionKind.LAMBDA and self.factory is None

    @property
    def pickle_error(self) -> str:
        """Why pickle refuses it, in the words pickle uses."""
        if self.is_local:
            return f"Can't pickle local object '{self.qualname}'"
        return f"pickle looks functions up by __qualname__, and no module defines '{self.qualname}'"

    def describe(self) -> str:
        """`lambda`, `module-level lambda ACT`, `local function scaled`, `local function returned by make()`."""
        if self.factory is not None:
            text = f"local function returned by {self.factory}()"
        elif self.kind is FunctionKind.LOCAL_DEF:
            text = f"local function {self.name}"
        elif not self.is_local:
            text = f"module-level lambda {self.name}" if self.name else "module-level lambda"
        else:
            text = "lambda"
        if self.partial:
            article = "a " if text == "lambda" else ("the " if self.factory is not None else "")
            text = f"functools.partial of {article}{text}"
        return text


@dataclass(frozen=True)
class ContainedFunction:
    """A local function inside a container literal, at `path` (`["relu"]`, `[0]`, `["acts"][1]`).

    Set members add no path segment: a set has no positions.
    """

    path: str
    function: LocalFunction


@dataclass(frozen=True)
class FunctionContainer:
    """A dict/list/tuple/set literal (or `dict(k=v)` call) holding local functions, nested ones included."""

    kind: str  # "dict", "list", "tuple", "set"
    node: cst.BaseExpression
    entries: Tuple[ContainedFunction, ...]

    def paths(self) -> List[str]:
        """Distinct non-empty paths, in source order."""
        seen: List[str] = []
        for entry in self.entries:
            if entry.path and entry.path not in seen:
                seen.append(entry.path)
        return seen

    @property
    def only_lambdas(self) -> bool:
        return all(entry.function.is_plain_lambda for entry in self.entries)


# -- scopes ----------------------------------------------------------------------------------


class Scope:
    """A function body (or the module) where names are bound, and where functions are created.

    Names not bound here are looked up in `parent` (the enclosing function, then the module);
    class bodies are skipped, as Python does. `qualname` is None for the module.
    """

    def __init__(
        self,
        body: Sequence[cst.CSTNode],
        qualname: Optional[str],
        parent: Optional["Scope"],
        params: Sequence[str] = (),
        owner: Optional[ClassModel] = None,
        self_name: Optional[str] = None,
    ) -> None:
        self.body = body
        self.qualname = qualname
        self.parent = parent
        self.params = frozenset(params)
        self.owner = owner  # the class of a method scope: resolves `self.<method>(...)` factories
        self.self_name = self_name
        self._bindings: Optional[_Bindings] = None

    @property
    def is_module(self) -> bool:
        return self.qualname is None

    def local_qualname(self, name: str) -> str:
        """`__qualname__` of a function named `name` created in this scope."""
        if self.qualname is None:
            return name
        return f"{self.qualname}.<locals>.{name}"

    def binds(self, name: str) -> bool:
        bindings = self._collected()
        return name in self.params or name in bindings.values or name in bindings.outer

    def single_binding(self, name: str) -> Optional[cst.BaseExpression]:
        """The value of a name bound exactly once here (not a parameter, not global/nonlocal)."""
        bindings = self._collected()
        if name in self.params or name in bindings.outer:
            return None
        values = bindings.values.get(name)
        if values is None or len(values) != 1:
            return None
        return values[0]

    def chain(self) -> Iterator["Scope"]:
        """This scope, then the enclosing ones out to the module."""
        scope: Optional[Scope] = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def shadows(self, name: str) -> bool:
        """Whether `name` is bound here or in an enclosing scope, i.e. is not a builtin."""
        return any(scope.binds(name) for scope in self.chain())

    def lookup(self, name: str) -> Optional[Tuple[cst.BaseExpression, "Scope"]]:
        """The one value `name` denotes here and the scope it was bound in, or None if not known."""
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.binds(name):
                value = scope.single_binding(name)
                return (value, scope) if value is not None else None
            scope = scope.parent
        return None  # a builtin, or a name from a star import

    def _collected(self) -> "_Bindings":
        if self._bindings is None:
            collector = _BindingCollector()
            for stmt in self.body:
                visit(stmt, collector)
            self._bindings = collector.bindings
        return self._bindings


@dataclass
class _Bindings:
    values: Dict[str, List[Optional[cst.BaseExpression]]] = field(default_factory=dict)
    outer: Set[str] = field(default_factory=set)  # declared global / nonlocal


class _BindingCollector(cst.CSTVisitor):
    """Every way a statement list binds a name, without entering nested functions or classes.

    A value of None means "bound to something not known statically" (an import, a loop target).
    """

    def __init__(self) -> None:
        super().__init__()
        self.bindings = _Bindings()

    def bind(self, name: str, value: Optional[cst.BaseExpression]) -> None:
        self.bindings.values.setdefault(name, []).append(value)

    def bind_target(self, target: cst.BaseExpression, value: Optional[cst.BaseExpression]) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            values: List[Optional[cst.BaseExpression]] = [None] * len(target.elements)
            if (
                isinstance(value, (cst.Tuple, cst.List))
                and len(value.elements) == len(target.elements)
                and not any(isinstance(e, cst.StarredElement) for e in value.elements)
            ):
                values = [e.value for e in value.elements]
            for element, element_value in zip(target.elements, values):
                self.bind_target(element.value, element_value)
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value, None)

    # nested scopes: their names are bound here, their bodies are not ours
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.bind(node.name.value, node)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.bind(node.name.value, None)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self.bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.bind_target(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.bind_target(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.bind_target(node.target, node.value)

    def visit_For(self, node: cst.For) -> None:
        self.bind_target(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self.bind_target(node.asname.name, None)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self.bind_target(node.name.name, None)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        if node.name is not None:
            self.bind_target(node.name.name, None)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if alias.asname is not None:
                self.bind_target(alias.asname.name, None)  # type: ignore[arg-type]
            else:
                dotted = dotted_name(alias.name)
                if dotted:
                    self.bind(dotted.split(".", 1)[0], None)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            target = alias.asname.name if alias.asname is not None else alias.name
            self.bind_target(target, None)  # type: ignore[arg-type]

    def visit_Del(self, node: cst.Del) -> None:
        self.bind_target(node.target, None)

    def visit_Global(self, node: cst.Global) -> None:
        self.bindings.outer.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.bindings.outer.update(item.name.value for item in node.names)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.bind(node.name.value, None)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.bind(node.name.value, None)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self.bind(node.rest.value, None)


class _FactoryBodyVisitor(cst.CSTVisitor):
    """The `return` statements of one function body, and whether it is a generator."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: List[cst.Return] = []
        self.is_generator = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Return(self, node: cst.Return) -> None:
        self.returns.append(node)

    def visit_Yield(self, node: cst.Yield) -> None:
        self.is_generator = True


def _body_statements(node: cst.FunctionDef) -> Sequence[cst.CSTNode]:
    return node.body.body


def _always_returns(body: Sequence[cst.CSTNode]) -> bool:
    """Whether control cannot fall off the end of `body` (which would return None)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return isinstance(last.body[-1], (cst.Return, cst.Raise))
    if isinstance(last, cst.If):
        if not _always_returns(last.body.body):
            return False
        orelse = last.orelse
        if isinstance(orelse, cst.If):
            return _always_returns([orelse])
        if isinstance(orelse, cst.Else):
            return _always_returns(orelse.body.body)
        return False
    if isinstance(last, cst.With):
        return _always_returns(last.body.body)
    return False


# -- the analysis ----------------------------------------------------------------------------


class FunctionAnalysis:
    """Local-function questions about one file; obtain it with `function_analysis(ctx)`."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self._module_scope: Optional[Scope] = None
        self._scopes: Dict[int, Scope] = {}  # by id() of the FunctionDef; the tree outlives us
        # names given to hoisted functions, by id() of the lambda or def: every rule asking about
        # the same function in one pass gets the same name, and two functions never share one
        self._hoist_names: Dict[int, str] = {}
        self._taken_names: Optional[Set[str]] = None

    # scopes
    @property
    def module_scope(self) -> Scope:
        if self._module_scope is None:
            self._module_scope = Scope(self.ctx.module.body, None, None)
        return self._module_scope

    def method_scope(self, cls: ClassModel, method: MethodModel) -> Scope:
        """The body of a method: names fall through to the module, `self.m(...)` finds `cls.m`."""
        key = id(method.node)
        scope = self._scopes.get(key)
        if scope is None:
            scope = Scope(
                _body_statements(method.node),
                f"{cls.name}.{method.name}",
                self.module_scope,
                params=method.params,
                owner=cls,
                self_name=method.self_name,
            )
            self._scopes[key] = scope
        return scope

    def function_scope(self, node: cst.FunctionDef, parent: Scope, qualname: Optional[str] = None) -> Scope:
        """The body of `node`, a function bound in `parent` (a method: pass its `Cls.name` qualname)."""
        key = id(node)
        scope = self._scopes.get(key)
        if scope is None:
            scope = Scope(
                _body_statements(node),
                qualname or parent.local_qualname(node.name.value),
                parent,
                params=param_names(node.params),
            )
            self._scopes[key] = scope
        return scope

    # questions
    def local_function(self, expr: cst.BaseExpression, scope: Scope) -> Optional[LocalFunction]:
        """The local function `expr` certainly evaluates to, or None (not one, or not known)."""
        return self._resolve(expr, scope, 0)

    def possible_local_functions(self, expr: cst.BaseExpression, scope: Scope) -> List[LocalFunction]:
        """Local functions `expr` may evaluate to, one per alternative of `a if c else b` / `a or b`."""
        found: List[LocalFunction] = []
        for alternative, alt_scope in self.alternatives(expr, scope):
            function = self._resolve(alternative, alt_scope, 0)
            if function is not None:
                found.append(function)
        return found

    def possible_containers(self, expr: cst.BaseExpression, scope: Scope) -> List[FunctionContainer]:
        """Container literals `expr` may evaluate to that hold local functions."""
        found: List[FunctionContainer] = []
        for alternative, alt_scope in self.alternatives(expr, scope):
            container = self._container(alternative, alt_scope, 0)
            if container is not None:
                found.append(container)
        return found

    def alternatives(
        self, expr: cst.BaseExpression, scope: Scope, depth: int = 0
    ) -> Iterator[Tuple[cst.BaseExpression, Scope]]:
        """The expressions `expr` may evaluate to: both arms of `if`/`else`, `or`, `and`, through names.

        `a and b` is `b` whenever `a` is truthy, and functions and non-empty containers are.
        """
        if depth > _MAX_DEPTH:
            return
        if isinstance(expr, cst.IfExp):
            yield from self.alternatives(expr.body, scope, depth + 1)
            yield from self.alternatives(expr.orelse, scope, depth + 1)
        elif isinstance(expr, cst.BooleanOperation):
            yield from self.alternatives(expr.left, scope, depth + 1)
            yield from self.alternatives(expr.right, scope, depth + 1)
        elif isinstance(expr, cst.NamedExpr):
            yield from self.alternatives(expr.value, scope, depth + 1)
        elif isinstance(expr, cst.Name):
            found = scope.lookup(expr.value)
            if found is None:
                yield expr, scope
            else:
                value, bound_in = found
                if isinstance(value, (cst.IfExp, cst.BooleanOperation, cst.Name)):
                    yield from self.alternatives(value, bound_in, depth + 1)
                else:
                    yield expr, scope
        else:
            yield expr, scope

    # resolution
    def _resolve(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> Optional[LocalFunction]:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Lambda):
            return LocalFunction(FunctionKind.LAMBDA, expr, scope.local_qualname("<lambda>"))
        if isinstance(expr, cst.NamedExpr):
            return self._resolve(expr.value, scope, depth + 1)
        if isinstance(expr, cst.Name):
            found = scope.lookup(expr.value)
            if found is None:
                return None
            value, bound_in = found
            if isinstance(value, cst.FunctionDef):
                if bound_in.is_module or value.decorators:
                    # module-level defs pickle by name; a decorator may replace the function
                    return None
                return LocalFunction(
                    FunctionKind.LOCAL_DEF, value, bound_in.local_qualname(value.name.value), name=value.name.value
                )
            function = self._resolve(value, bound_in, depth + 1)
            if function is not None and bound_in.is_module and isinstance(value, cst.Lambda):
                function = replace(function, name=expr.value)
            return function
        if isinstance(expr, cst.Call):
            return self._resolve_call(expr, scope, depth)
        return None

    def _resolve_call(self, call: cst.Call, scope: Scope, depth: int) -> Optional[LocalFunction]:
        if self._is_partial(call, scope):
            first = call.args[0] if call.args else None
            if first is None or first.keyword is not None or first.star:
                return None
            inner = self._resolve(first.value, scope, depth + 1)
            return replace(inner, partial=True) if inner is not None else None
        factory = self._factory(call.func, scope)
        if factory is None:
            return None
        node, parent, display, qualname = factory
        return self._factory_result(node, parent, display, qualname, depth)

    def _is_partial(self, call: cst.Call, scope: Scope) -> bool:
        dotted = dotted_name(call.func)
        if dotted is None:
            return False
        head = dotted.split(".", 1)[0]
        if any(s.binds(head) for s in scope.chain() if not s.is_module):
            return False  # a local name shadows the import
        return self.ctx.qualify(call.func) == "functools.partial"

    def _factory(
        self, func: cst.BaseExpression, scope: Scope
    ) -> Optional[Tuple[cst.FunctionDef, Scope, str, str]]:
        """The def a call's callee denotes, the scope its body sees, a display name and its qualname."""
        if isinstance(func, cst.Name):
            found = scope.lookup(func.value)
            if found is None or not isinstance(found[0], cst.FunctionDef):
                return None
            node, bound_in = found
            if node.decorators:
                return None
            return node, bound_in, func.value, bound_in.local_qualname(node.name.value)
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and scope.owner is not None
            and func.value.value == scope.self_name
        ):
            method = scope.owner.methods.get(func.attr.value)
            if method is None:
                return None
            if any(name not in ("staticmethod", "classmethod") for name in decorator_names(method.node)):
                return None
            display = f"{func.value.value}.{func.attr.value}"
            return method.node, self.module_scope, display, f"{scope.owner.name}.{method.name}"
        return None

    def _factory_result(
        self, node: cst.FunctionDef, parent: Scope, display: str, qualname: str, depth: int
    ) -> Optional[LocalFunction]:
        """The local function every path of the factory returns, or None."""
        if node.asynchronous is not None or not _always_returns(_body_statements(node)):
            return None
        visitor = _FactoryBodyVisitor()
        visit(node.body, visitor)
        if visitor.is_generator or not visitor.returns:
            return None
        scope = self.function_scope(node, parent, qualname)
        results: List[LocalFunction] = []
        for ret in visitor.returns:
            if ret.value is None:
                return None
            function = self._resolve(ret.value, scope, depth + 1)
            if function is None or not function.is_local:
                return None
            results.append(function)
        # a factory returning partial(local_fn) still hands back an unpicklable local function
        return replace(results[0], factory=display, partial=False)

    def _container(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> Optional[FunctionContainer]:
        if depth > _MAX_DEPTH:
            return None
        kind = _container_kind(expr, scope)
        if kind is None:
            if isinstance(expr, cst.Name):
                found = scope.lookup(expr.value)
                if found is not None:
                    return self._container(found[0], found[1], depth + 1)
            return None
        entries: List[ContainedFunction] = []
        for segment, value in _container_items(expr, self.ctx):
            for alternative, alt_scope in self.alternatives(value, scope, depth + 1):
                function = self._resolve(alternative, alt_scope, depth + 1)
                if function is not None:
                    entries.append(ContainedFunction(segment, function))
                    continue
                inner = self._container(alternative, alt_scope, depth + 1)
                if inner is not None:
                    entries.extend(ContainedFunction(segment + e.path, e.function) for e in inner.entries)
        if not entries:
            return None
        return FunctionContainer(kind, expr, tuple(entries))


def _container_kind(expr: cst.BaseExpression, scope: Scope) -> Optional[str]:
    if isinstance(expr, cst.Dict):
        return "dict"
    if isinstance(expr, cst.List):
        return "list"
    if isinstance(expr, cst.Tuple):
        return "tuple"
    if isinstance(expr, cst.Set):
        return "set"
    if (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "dict"
        and not scope.shadows("dict")
        and all(arg.keyword is not None for arg in expr.args)
    ):
        return "dict"
    return None


def _container_items(expr: cst.BaseExpression, ctx: FileContext) -> Iterator[Tuple[str, cst.BaseExpression]]:
    """(path segment, value) of each item of a container literal; "" where there is no position."""
    if isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                yield f"[{ctx.module.code_for_node(element.key)}]", element.value
    elif isinstance(expr, (cst.List, cst.Tuple)):
        position: Optional[int] = 0
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                position = None  # positions after *rest are not known
                continue
            yield (f"[{position}]" if position is not None else "[?]"), element.value
            if position is not None:
                position += 1
    elif isinstance(expr, cst.Set):
        for element in expr.elements:
            if not isinstance(element, cst.StarredElement):
                yield "", element.value
    elif isinstance(expr, cst.Call):
        for arg in expr.args:
            if arg.keyword is not None:
                yield f'["{arg.keyword.value}"]', arg.value


def function_analysis(ctx: FileContext) -> FunctionAnalysis:
    """The analysis of one file, shared by every rule that lints it."""
    # kept on the context, which the analysis refers to: a weak mapping from the context to it
    # would keep every file's tree alive for the whole run
    analysis = ctx.memo.get("functions")
    if analysis is None:
        analysis = ctx.memo["functions"] = FunctionAnalysis(ctx)
    return analysis  # type: ignore[return-value]


# -- functions stored on pickled instances (SER201-SER203) -----------------------------------


@dataclass(frozen=True, eq=False)
class PickledStore:
    """`self.<attr> = value` in a class whose instances are pickled, with the scope of its method."""

    cls: ClassModel
    store: AttrStore
    value: cst.BaseExpression  # the stored value (stores of unknown values are skipped)
    scope: Scope
    consequence: str  # "torch.save(model) and pickle fail"


def pickled_classes(ctx: FileContext) -> Iterator[Tuple[ClassModel, str]]:
    """Pickled classes that do not customise what pickle saves, with what breaks for them."""
    for cls in ctx.classes:
        if not ctx.is_pickled_class(cls) or ctx.defines_in_hierarchy(cls, *PICKLE_PROTOCOL_METHODS):
            continue
        if ctx.is_module_class(cls):
            yield cls, "torch.save(model) and pickle fail"
        else:
            yield cls, f"pickling a {cls.name} (torch.save, pickle) fails"


def pickled_stores(ctx: FileContext) -> Iterator[PickledStore]:
    """Stores with a known value in the classes of `pickled_classes`."""
    analysis = function_analysis(ctx)
    for cls, consequence in pickled_classes(ctx):
        for store in cls.stores:
            if store.value is not None:
                yield PickledStore(cls, store, store.value, analysis.method_scope(cls, store.method), consequence)


def store_label(store: AttrStore) -> str:
    """How a message names the attribute: `self.act` (or whatever the method calls `self`)."""
    return f"{store.method.self_name}.{store.attr}"


# -- hoisting a local function to a module-level def (the SER201-SER203 fix) -----------------
#
# A lambda or nested def created in a method becomes a module-level def placed above the class;
# the expression that created it becomes the def's name, or `functools.partial(def, k=k)` when
# it reads locals or parameters of the method. That is equivalent only when each captured name
# holds the same object at creation time as at every later call: bound exactly once, by a plain
# assignment among the method's top-level statements before the function is created (or a
# parameter never rebound). Anything else declines.


@dataclass(frozen=True)
class Hoist:
    """One local function turned into a module-level def."""

    name: str  # the new def's name
    def_text: str  # the def, ending in a newline, written at column 0
    edit: Edit  # rewrites where the function was created
    captured: Tuple[str, ...]


class _NameReads(cst.CSTVisitor):
    """Names a function body reads or binds, and whatever makes hoisting it unprovable."""

    def __init__(self) -> None:
        super().__init__()
        self.names: Set[str] = set()
        self.blocked: Optional[str] = None  # why the function cannot be hoisted

    def block(self, why: str) -> bool:
        self.blocked = self.blocked or why
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)
        if node.value == "__class__":
            self.block("reads __class__")
        elif node.value.startswith("__") and not node.value.endswith("__"):
            self.block("uses a private name, which the class mangles")

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        attr = node.attr.value
        if attr.startswith("__") and not attr.endswith("__"):
            return self.block("uses a private name, which the class mangles")
        visit(node.value, self)
        return False  # the attribute name is not a variable

    def visit_Arg(self, node: cst.Arg) -> bool:
        visit(node.value, self)  # a keyword's name is not a variable
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "super" and not node.args:
            self.block("calls super() without arguments")

    # nested scopes, generators and coroutines, outer declarations: not followed
    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return self.block("holds a nested lambda")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return self.block("holds a nested def")

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return self.block("holds a class")

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self.block("holds a comprehension")

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self.block("holds a comprehension")

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self.block("holds a comprehension")

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return self.block("holds a comprehension")

    def visit_Yield(self, node: cst.Yield) -> bool:
        return self.block("yields")

    def visit_Await(self, node: cst.Await) -> bool:
        return self.block("awaits")

    def visit_Global(self, node: cst.Global) -> bool:
        return self.block("declares global")

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        return self.block("declares nonlocal")


def _plain_params(params: cst.Parameters) -> bool:
    """No defaults: a default is evaluated where the function is created, not where it is hoisted."""
    every = (*params.posonly_params, *params.params, *params.kwonly_params)
    return all(param.default is None for param in every)


def _annotated(node: cst.FunctionDef) -> bool:
    params = node.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
    return node.returns is not None or any(param.annotation is not None for param in every)


def _mentions(expr: cst.CSTNode, name: str) -> bool:
    found = _AllNames()
    visit(expr, found)
    return name in found.names


def _class_snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name.lstrip("_"))
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _identifier(label: str) -> str:
    cleaned = re.sub(r"\W+", "_", label).strip("_").lower()
    return cleaned or "fn"


class _AllNames(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: Set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _hoist_name(analysis: "FunctionAnalysis", node: FunctionNode, preferred: str) -> str:
    """A new module-level name for `node`: `preferred`, or with a numeric suffix when taken."""
    known = analysis._hoist_names.get(id(node))
    if known is not None:
        return known
    if analysis._taken_names is None:
        collector = _AllNames()
        visit(analysis.ctx.module, collector)
        analysis._taken_names = collector.names  # any name the file uses, so nothing is shadowed
    taken = analysis._taken_names
    name, number = preferred, 2
    while name in taken or keyword.iskeyword(name):
        name, number = f"{preferred}_{number}", number + 1
    taken.add(name)
    analysis._hoist_names[id(node)] = name
    return name


def _top_statement(method: MethodModel, node: cst.CSTNode, ctx: FileContext) -> Optional[int]:
    """Index of the method's top-level statement that contains `node`."""
    where = ctx.positions[node].start
    for index, stmt in enumerate(method.node.body.body):
        rng = ctx.positions[stmt]
        if (rng.start.line, rng.start.column) <= (where.line, where.column) <= (rng.end.line, rng.end.column):
            return index
    return None


def _assignment_index(method: MethodModel, name: str) -> Optional[int]:
    """Index of the top-level `name = ...` statement of the method, when that is how it is bound."""
    for index, stmt in enumerate(method.node.body.body):
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            targets: List[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                targets = [small.target]
            if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return index
    return None


def _local_binding_name(method: MethodModel, node: cst.Lambda) -> Optional[str]:
    """`act` for `act = lambda ...` among the method's statements."""
    for stmt in method.node.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.Assign)
                    and small.value is node
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                ):
                    return small.targets[0].target.value
    return None


def hoist(
    analysis: "FunctionAnalysis", cls: ClassModel, method: MethodModel, function: LocalFunction, label: str
) -> Optional[Hoist]:
    """The module-level def replacing `function`, created in `method` of `cls`, or None if not provably equal.

    `label` names the new def (`_<class>_<label>`) when the function has no name of its own.
    """
    ctx = analysis.ctx
    node = function.node
    if function.factory is not None or cls.node not in ctx.module.body or method.self_name is None:
        return None
    scope = analysis.method_scope(cls, method)
    if function.qualname != scope.local_qualname(function.name if isinstance(node, cst.FunctionDef) else "<lambda>"):
        return None  # created elsewhere than directly in this method
    reads = _NameReads()
    if isinstance(node, cst.Lambda):
        if not _plain_params(node.params):
            return None
        visit(node.body, reads)
        own = set(param_names(node.params))
        # a walrus in a lambda binds in the lambda
        own |= {n.value for n in _walrus_targets(node.body)}
        created_at = node
    else:
        if (
            node.decorators
            or node.asynchronous is not None
            or node not in method.node.body.body
            or not _plain_params(node.params)
            or _annotated(node)
        ):
            # annotations are evaluated where the def runs: above the class, they could name
            # something not yet defined
            return None
        visit(node.body, reads)
        own = set(param_names(node.params)) | set(Scope(_body_statements(node), "", None)._collected().values)
        created_at = node
    if reads.blocked is not None:
        return None
    captured = _captured(analysis, scope, method, created_at, sorted(reads.names - own))
    if captured is None:
        return None
    params = node.params
    if captured:
        if params.star_kwarg is not None:
            return None  # a caller's keyword could then replace a captured value
        extra = [cst.Param(cst.Name(name)) for name in captured]
        params = params.with_changes(
            star_arg=params.star_arg if params.star_arg is not cst.MaybeSentinel.DEFAULT else cst.ParamStar(),
            kwonly_params=[*params.kwonly_params, *extra],
        )
    if isinstance(node, cst.Lambda):
        preferred = _local_binding_name(method, node) or label
        body: cst.BaseExpression = node.body
        if "\n" in ctx.module.code_for_node(body) and not body.lpar:
            body = body.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        definition = cst.FunctionDef(
            name=cst.Name("_"),
            params=params,
            body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Return(body)])]),
        )
    else:
        preferred = node.name.value
        definition = _body_with_comments(node).with_changes(params=params, leading_lines=[])
    name = _hoist_name(analysis, node, f"_{_class_snake(cls.name)}_{_identifier(preferred)}")
    definition = definition.with_changes(name=cst.Name(name))
    def_text = cst.Module(body=[definition], default_indent=ctx.module.default_indent, default_newline="\n").code
    builder = FixBuilder(ctx)
    if captured:
        spelling, _ = builder.name_for("functools.partial")
        head = spelling.split(".", 1)[0]
        if any(s.binds(head) for s in scope.chain() if not s.is_module):
            return None  # the method's own name would hide the import
        keywords = ", ".join(f"{n}={n}" for n in captured)
        reference = f"{spelling}({name}, {keywords})"
    else:
        reference = name
    if isinstance(node, cst.Lambda):
        # the parentheses a lambda needed inside `a or (lambda: ...)` go too: a name or a call is an atom
        line, column, end_line, end_column = builder.range_of(node)
        if node.lpar and node.rpar:
            line, column, _, _ = builder.range_of(node.lpar[0])
            _, _, end_line, end_column = builder.range_of(node.rpar[-1])
        edit = Edit(line, column, end_line, end_column, reference)
    else:
        line, column, end_line, _ = builder.range_of(node)
        # through the end of the line and the comment lines closing the body: they move with the def
        block = _body_with_comments(node).body
        lines = len(block.footer) if isinstance(block, cst.IndentedBlock) else 0
        edit = Edit(line, column, end_line + 1 + lines, 0, f"{node.name.value} = {reference}\n")
    return Hoist(name, def_text, edit, tuple(captured))


def _body_with_comments(node: cst.FunctionDef) -> cst.FunctionDef:
    """`node` with its body's footer cut after the last comment line (blank lines stay behind)."""
    body = node.body
    if not isinstance(body, cst.IndentedBlock):
        return node
    footer = list(body.footer)
    while footer and footer[-1].comment is None:
        footer.pop()
    return node.with_changes(body=body.with_changes(footer=footer))


def _walrus_targets(expr: cst.BaseExpression) -> List[cst.Name]:
    found: List[cst.Name] = []

    class _Walrus(cst.CSTVisitor):
        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            if isinstance(node.target, cst.Name):
                found.append(node.target)

    visit(expr, _Walrus())
    return found


def _captured(
    analysis: "FunctionAnalysis", scope: Scope, method: MethodModel, created_at: cst.CSTNode, free: Sequence[str]
) -> Optional[List[str]]:
    """The free names read from the method, when each surely holds one object from creation on."""
    created = _top_statement(method, created_at, analysis.ctx)
    if created is None:
        return None
    captured: List[str] = []
    for name in free:
        if not scope.binds(name):
            continue  # a module global or a builtin: read from the module either way
        if name == method.self_name:
            # partial(fn, self) pickles, but copy.deepcopy(model) would then call fn with the
            # copy, where the closure kept reading the original model
            return None
        if name in method.outer_names or name in method.imported:
            return None
        if name in method.params:
            if name in method.bindings:
                return None  # rebound after the call began
        else:
            value = method.single_binding(name)
            index = _assignment_index(method, name)
            if value is None or index is None or index >= created:
                return None
            if _mentions(value, method.self_name or ""):
                return None  # a part of self: copy.deepcopy(model) would swap it, as for self
        probe = cst.Name(name)
        if analysis.possible_local_functions(probe, scope) or analysis.possible_containers(probe, scope):
            return None  # the partial would still hold a function pickle refuses
        captured.append(name)
    return captured



def hoist_fix(
    analysis: "FunctionAnalysis",
    cls: ClassModel,
    targets: Sequence[Tuple[MethodModel, LocalFunction, str]],
    description: str,
) -> Optional[Fix]:
    """One SAFE fix hoisting every (method, function, label) target, or None if one cannot be."""
    hoists: List[Hoist] = []
    seen: Set[int] = set()
    # names are kept only if every target can be hoisted, so a declined fix takes none
    names_before = dict(analysis._hoist_names)
    taken_before = set(analysis._taken_names) if analysis._taken_names is not None else None
    for method, function, label in targets:
        if id(function.node) in seen:
            continue
        seen.add(id(function.node))
        done = hoist(analysis, cls, method, function, label)
        if done is None:
            analysis._hoist_names, analysis._taken_names = names_before, taken_before
            return None
        hoists.append(done)
    if not hoists:
        return None
    ctx = analysis.ctx
    line, first = FixBuilder(ctx).above_class(cls.node)
    defs = "".join(f"{h.def_text}\n\n" for h in hoists)
    # The defs replace the first character of the line (and write it back) rather than insert:
    # two fixes on one class then overlap, so the second waits for the next pass and its def
    # lands below the first one's, keeping the defs in the order of the findings.
    edits: List[Edit] = [Edit(line, 0, line, 1, defs + first)]
    edits.extend(h.edit for h in hoists)
    if any(h.captured for h in hoists):
        _, import_edit = FixBuilder(ctx).name_for("functools.partial")
        if import_edit is not None:
            edits.append(import_edit)
    return Fix(Applicability.SAFE, description, tuple(edits))


__all__ = [
    "ContainedFunction",
    "FunctionAnalysis",
    "FunctionContainer",
    "FunctionKind",
    "Hoist",
    "LocalFunction",
    "PICKLE_PROTOCOL_METHODS",
    "PickledStore",
    "pickled_classes",
    "Scope",
    "function_analysis",
    "hoist",
    "hoist_fix",
    "pickled_stores",
    "store_label",
]
