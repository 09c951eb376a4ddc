"""Value tracking: which expression a name holds at a given point of a function or module.

One walk over a file records, for every scope (module, class body, function, lambda,
comprehension), each binding of a plain name in source order together with the `if` / `try` /
loop / `match` branches around it, each call, each read of a name, and each write into a name's
items. A question such as "what does `model` hold at this `torch.save`?" is then answered from
those records without walking the tree again.

A name's value is known only when one binding certainly reaches the point: the latest binding
before it that sits in the same branch or an enclosing one, with no later binding in some other
branch in between, and no binding inside a loop around the point that could come round again.
Parameters, names declared `global` / `nonlocal`, names a nested function rebinds, and names bound
by `for`, `except`, `import`, augmented assignment or `del` have unknown values. Whenever the
value cannot be known statically, the answer is None: callers stay silent then.

Use from a rule:

    flow = file_flow(ctx)                     # built once per file, shared by every rule
    for site in flow.call_sites:              # every call: node, Point, statement, result use
        value = flow.value(call_arg(site.call, 0, "fn"), site.point)
        if value is not None and isinstance(value.node, cst.Lambda): ...

`value` follows names (and `self.attr` inside methods) to what they were bound to;
`binding_at`, `is_read_after`, `touched_between` and `leaves` answer the narrower questions.

The second half of the file reads tracked values in torch terms (a Module instance, an
optimizer, a `torch.compile` / `DataParallel` / `DistributedDataParallel` wrapper) for the
checkpoint rules.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from serialint.model import Frame, call_arg, dotted_name, param_names, string_value
from serialint.walk import visit

if TYPE_CHECKING:
    from serialint.model import FileContext

_LOOPS = (cst.For, cst.While)
# methods that read a container without changing it
_READ_ONLY_METHODS = frozenset({"keys", "values", "items", "get", "copy", "__len__", "__contains__", "__getitem__"})
# builtins that never change their arguments in place
_READ_ONLY_BUILTINS = frozenset(
    {"print", "len", "repr", "str", "isinstance", "type", "id", "sorted", "list", "tuple", "set", "dict",
     "any", "all", "sum", "iter", "hash", "format", "bool", "enumerate", "zip", "min", "max"}
)
_MAX_DEPTH = 24


class ScopeKind(str, enum.Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    LAMBDA = "lambda"
    COMPREHENSION = "comprehension"


class BindingKind(str, enum.Enum):
    ASSIGN = "assign"  # `x = value`, `x: T = value`, `(x := value)`: the value is known
    WITH = "with"  # `with value as x`: x holds value.__enter__()'s result
    DEF = "def"  # `def x(...)`: the value is the FunctionDef
    CLASS = "class"  # `class x(...)`: the value is the ClassDef
    IMPORT = "import"  # `import x`, `from m import x`: qualify the name through the imports
    UNKNOWN = "unknown"  # for/except/augmented assignment/del/match capture/unpacking a call


class CallUse(str, enum.Enum):
    """What happens to a call's result."""

    DISCARDED = "discarded"  # the call is a whole expression statement
    BOUND = "bound"  # assigned to plain names only (`r = f()`, `a, b = f()`)
    USED = "used"  # anything else: an argument, a condition, returned, stored on an attribute...


@dataclass(eq=False)
class Scope:
    kind: ScopeKind
    node: cst.CSTNode
    parent: Optional["Scope"]
    origin: Optional["Point"]  # where the scope's node sits in its parent
    name: str  # dotted path of classes and functions from the module, e.g. "Trainer.save"
    params: FrozenSet[str] = frozenset()
    self_name: Optional[str] = None  # first parameter of a method (not static/class methods)
    has_function_ancestor: bool = False
    outer_names: Set[str] = field(default_factory=set)  # declared global / nonlocal here
    rebound_elsewhere: Set[str] = field(default_factory=set)  # rebound by a nested global / nonlocal
    bindings: Dict[str, List["Binding"]] = field(default_factory=dict)
    attr_stores: Dict[Tuple[str, str], List["Binding"]] = field(default_factory=dict)  # (obj, attr)
    dynamic_attrs: Set[str] = field(default_factory=set)  # `setattr(obj, <not a literal>, ...)`
    reads: Dict[str, List["Point"]] = field(default_factory=dict)
    nested_reads: Set[str] = field(default_factory=set)  # names read by scopes nested in this one
    touches: Dict[str, List[int]] = field(default_factory=dict)  # orders where a name may be mutated
    item_writes: Dict[str, List["ItemWrite"]] = field(default_factory=dict)
    reads_everything: bool = False  # locals() / vars() / eval / exec seen
    children: List["Scope"] = field(default_factory=list)

    @property
    def qualname_in_module(self) -> Optional[str]:
        """For a class reachable from module level (not defined inside a function): its dotted name."""
        if self.kind is not ScopeKind.CLASS or self.has_function_ancestor:
            return None
        return self.name

    def __repr__(self) -> str:  # dataclass repr would recurse through parents and children
        return f"Scope({self.kind.value}, {self.name or '<module>'})"


@dataclass(frozen=True)
class Point:
    """A position in one scope: `order` counts events in source order across the whole file."""

    scope: Scope
    order: int
    frames: Tuple[Frame, ...]


@dataclass(frozen=True)
class Binding:
    name: str  # a plain name, or "obj.attr" for attribute stores
    kind: BindingKind
    value: Optional[cst.CSTNode]  # the expression (or def / class / import node); None if unknown
    point: Point  # where the binding happens; its value was evaluated just before


@dataclass(frozen=True)
class ItemWrite:
    """`name[key] = value` (value None for `del name[key]` or `name[key] += ...`)."""

    name: str
    key: cst.BaseExpression
    value: Optional[cst.BaseExpression]
    point: Point


@dataclass(frozen=True)
class CallSite:
    call: cst.Call
    point: Point
    statement: cst.CSTNode  # the small statement, or the compound statement whose header holds it
    use: CallUse
    bound_names: Tuple[str, ...] = ()  # for CallUse.BOUND


@dataclass(frozen=True)
class Value:
    """What an expression evaluates to, as far as it can be followed."""

    node: cst.CSTNode  # an expression, or the FunctionDef / ClassDef / import a name is bound to
    point: Point  # where `node` is evaluated
    entered: bool = False  # the name was bound by `with node as name`
    bindings: Tuple[Binding, ...] = ()  # the bindings followed to get here, first to last


@dataclass(frozen=True)
class Leaf:
    """One value handed to a sink, found inside (nested) dict / list / tuple literals."""

    node: cst.BaseExpression  # as written in the call or the literal
    point: Point
    in_container: bool


class _Lookup(enum.Enum):
    FREE = "free"  # bound nowhere in the enclosing function scopes: an import, a global or a builtin
    UNKNOWN = "unknown"


class FileFlow:
    """The value-tracking records of one file. Build once per file with `file_flow(ctx)`."""

    def __init__(self, module: cst.Module) -> None:
        self.module_scope = Scope(ScopeKind.MODULE, module, None, None, "")
        self.scopes: List[Scope] = [self.module_scope]
        self.call_sites: List[CallSite] = []
        _Recorder(self).run(module)

    # -- names -------------------------------------------------------------------------------
    def binding_at(self, name: str, point: Point) -> Optional[Binding]:
        """The binding of `name` that certainly reaches `point`, or None when unknown or unbound."""
        found = self._lookup(name, point)
        return found if isinstance(found, Binding) else None

    def is_local(self, name: str, point: Point) -> bool:
        """Whether `name` is bound in a function, lambda or comprehension around `point`.

        False for names of the module, imports and builtins, which are qualified through imports.
        """
        scope: Optional[Scope] = point.scope
        while scope is not None and scope.kind is not ScopeKind.MODULE:
            if scope.kind is not ScopeKind.CLASS and (name in scope.params or name in scope.bindings):
                return True
            scope = scope.parent
        return False

    def _lookup(self, name: str, point: Point) -> Union[Binding, _Lookup]:
        scope = point.scope
        free = False
        while True:
            if name in scope.params or name in scope.outer_names or name in scope.rebound_elsewhere:
                return _Lookup.UNKNOWN
            bindings = scope.bindings.get(name)
            if bindings:
                if free:
                    # a function reads the enclosing value when it runs, which is not known in
                    # general: trust only a single unconditional binding
                    only = bindings[0]
                    return only if len(bindings) == 1 and not only.point.frames else _Lookup.UNKNOWN
                return self._reaching(bindings, point)
            if scope.kind in (ScopeKind.COMPREHENSION, ScopeKind.CLASS) and scope.origin is not None and not free:
                # runs where it is written: continue at that point of the enclosing scope
                point = scope.origin
                scope = point.scope
                continue
            parent = scope.parent
            while parent is not None and parent.kind is ScopeKind.CLASS:
                parent = parent.parent  # methods do not see class-body names
            if parent is None:
                return _Lookup.FREE
            scope, free = parent, True

    @staticmethod
    def _reaching(bindings: Sequence[Binding], point: Point) -> Union[Binding, _Lookup]:
        reaching: Optional[Binding] = None
        for binding in reversed(bindings):
            if binding.point.order >= point.order:
                continue
            if not _is_prefix(binding.point.frames, point.frames):
                return _Lookup.UNKNOWN  # a later binding in another branch may or may not have run
            reaching = binding
            break
        if reaching is None:
            return _Lookup.UNKNOWN
        for frame in point.frames:
            if (
                isinstance(frame.node, _LOOPS)
                and frame.branch == 0
                and frame not in reaching.point.frames
                and any(frame in b.point.frames for b in bindings)
            ):
                return _Lookup.UNKNOWN  # the previous iteration may have rebound it
        return reaching

    # -- values ------------------------------------------------------------------------------
    def value(self, expr: cst.CSTNode, point: Point) -> Optional[Value]:
        """Follow names (and `self.attr` inside methods) to the expression they were bound to.

        Returns the expression itself when there is nothing to follow (a call, a literal, an
        attribute of something other than `self`), and None when a name's value is unknown.
        """
        followed: List[Binding] = []
        for _ in range(_MAX_DEPTH):
            binding: Optional[Binding] = None
            if isinstance(expr, cst.Name):
                found = self._lookup(expr.value, point)
                if found is _Lookup.FREE:
                    return Value(expr, point, bindings=tuple(followed))
                if not isinstance(found, Binding):
                    return None
                binding = found
            elif (
                isinstance(expr, cst.Attribute)
                and isinstance(expr.value, cst.Name)
                and _enclosing_method(point.scope, expr.value.value) is not None
            ):
                binding = self._self_attribute(expr.value.value, expr.attr.value, point)
                if binding is None:
                    return None
            else:
                return Value(expr, point, bindings=tuple(followed))
            followed.append(binding)
            if binding.kind is BindingKind.ASSIGN and binding.value is not None:
                expr, point = binding.value, binding.point
                continue
            if binding.kind is BindingKind.WITH and binding.value is not None:
                return Value(binding.value, binding.point, entered=True, bindings=tuple(followed))
            if binding.kind in (BindingKind.DEF, BindingKind.CLASS, BindingKind.IMPORT) and binding.value is not None:
                return Value(binding.value, binding.point, bindings=tuple(followed))
            return None
        return None

    def self_class(self, name: str, point: Point) -> Optional[Scope]:
        """The class scope when `name` is the unrebound `self` parameter of a method around `point`."""
        method = _enclosing_method(point.scope, name)
        if method is None or name in method.bindings or method.parent is None:
            return None
        return method.parent

    def _self_attribute(self, obj: str, attr: str, point: Point) -> Optional[Binding]:
        """The store that certainly set `self.<attr>` before `point` in a method, else None.

        Trusted: a store earlier in the same method, or else the last store in `__init__` when it
        is unconditional there. Any store from another method (or a nested function, a subclass
        in this file, a `setattr` with a computed name) makes the value unknown.
        """
        method = _enclosing_method(point.scope, obj)
        if method is None or obj in method.bindings or obj in method.dynamic_attrs:
            return None
        cls = method.parent
        assert cls is not None
        init: Optional[Scope] = None
        for scope in _descendants(cls):
            if scope is method:
                continue
            is_method = scope.kind is ScopeKind.FUNCTION and scope.parent is cls and scope.self_name is not None
            if is_method and scope.node.name.value == "__init__":  # type: ignore[attr-defined]
                init = scope
                if scope.self_name in scope.dynamic_attrs:
                    return None
            elif any(a == attr for (_, a) in scope.attr_stores) or scope.dynamic_attrs:
                return None  # another method, or a nested function, may set it at any time
        if _subclass_stores(cls, attr):
            return None
        local = method.attr_stores.get((obj, attr), [])
        if any(s.point.order < point.order for s in local):
            found = self._reaching(local, point)
            return found if isinstance(found, Binding) else None
        if local or init is None or init.self_name is None:
            # set only later in this method (a second call sees that value), or `__init__` is
            # this method, or there is no `__init__` here: what it holds is not known
            return None
        stores = init.attr_stores.get((init.self_name, attr), [])
        if not stores or stores[-1].point.frames:
            return None
        return stores[-1]

    # -- reads and mutations -----------------------------------------------------------------
    def is_read_after(self, name: str, point: Point) -> bool:
        """Whether `name` may be read after `point`: later in the scope, around a loop, or by a
        nested function. Answers True whenever that cannot be ruled out."""
        scope = point.scope
        if scope.kind is ScopeKind.COMPREHENSION:
            return True
        if scope.reads_everything or name in scope.nested_reads:
            return True
        if name in scope.outer_names or name in scope.rebound_elsewhere:
            return True
        loops = [f for f in point.frames if isinstance(f.node, _LOOPS) and f.branch == 0]
        for read in scope.reads.get(name, ()):
            if read.order > point.order:
                return True
            if any(loop in read.frames for loop in loops):
                return True
        return False

    def touched_between(self, binding: Binding, until: Point) -> bool:
        """Whether the object bound by `binding` may have been changed in place before `until`:
        an item written or deleted, a method other than a read called on it, or the name passed
        to a call."""
        scope = binding.point.scope
        if scope.reads_everything:
            return True
        if "." in binding.name:
            return True  # attribute values can be changed from anywhere
        start = binding.point.order
        end = until.order if until.scope is scope else None
        for order in scope.touches.get(binding.name, ()):
            if order > start and (end is None or order < end):
                return True
        if end is None:
            return True  # read from another scope: any function may change it first
        return any(binding.name in s.touches for s in _descendants(scope) if s is not scope)

    def item_writes_between(self, binding: Binding, until: Point) -> List[ItemWrite]:
        scope = binding.point.scope
        return [
            w
            for w in scope.item_writes.get(binding.name, ())
            if binding.point.order < w.point.order < until.order and until.scope is scope
        ]

    # -- containers --------------------------------------------------------------------------
    def leaves(self, expr: cst.BaseExpression, point: Point) -> Iterator[Leaf]:
        """The values inside a (nested) dict / list / tuple literal, following names bound to one.

        A container changed in ways other than `name["key"] = value` with a literal key before
        `point` yields nothing: what it holds then is not known.
        """
        yield from self._leaves(expr, point, False, 0)

    def _leaves(self, expr: cst.BaseExpression, point: Point, nested: bool, depth: int) -> Iterator[Leaf]:
        if depth > 6:
            return
        items = _literal_items(expr)
        if items is not None:
            for _, item in items:
                yield from self._leaves(item, point, True, depth + 1)
            return
        if isinstance(expr, cst.Name):
            value = self.value(expr, point)
            if value is not None and value.bindings and _literal_items(value.node) is not None:
                binding = value.bindings[-1]
                if any(self.touched_between(b, point) for b in value.bindings[:-1]):
                    return
                contents = self._container_contents(value, binding, point)
                if contents is None:
                    return
                for item, item_point in contents:
                    yield from self._leaves(item, item_point, True, depth + 1)
                return
        yield Leaf(expr, point, nested)

    def _container_contents(
        self, value: Value, binding: Binding, until: Point
    ) -> Optional[List[Tuple[cst.BaseExpression, Point]]]:
        items = _literal_items(value.node)
        assert items is not None
        writes = self.item_writes_between(binding, until)
        scope = binding.point.scope
        if until.scope is not scope or scope.reads_everything:
            return None
        write_orders = {w.point.order for w in writes}
        for order in scope.touches.get(binding.name, ()):
            if binding.point.order < order < until.order and order not in write_orders:
                return None  # a method call or a call taking the container: contents unknown
        if any(binding.name in s.touches for s in _descendants(scope) if s is not scope):
            return None
        keys: List[object] = [key for key, _ in items if key is not None]
        for write in writes:
            key = _literal_key(write.key)
            if key is None or write.value is None:
                return None
            keys.append(key)
        # a key written twice: which value is saved depends on the path taken; skip it
        once = {key for key in keys if keys.count(key) == 1}
        contents = [(item, value.point) for key, item in items if key is None or key in once]
        contents.extend((w.value, w.point) for w in writes if _literal_key(w.key) in once and w.value is not None)
        return contents


def _literal_key(node: cst.BaseExpression) -> Optional[object]:
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    return None


def _literal_items(node: cst.CSTNode) -> Optional[List[Tuple[Optional[object], cst.BaseExpression]]]:
    """(key, value) pairs of a dict / list / tuple / set literal or `dict(k=v)`; None otherwise."""
    if isinstance(node, cst.Dict):
        pairs: List[Tuple[Optional[object], cst.BaseExpression]] = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                pairs.append((_literal_key(element.key), element.value))
            else:  # `**other`
                pairs.append((None, element.value))
        return pairs
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return [(None, e.value) for e in node.elements]
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
        pairs = []
        for arg in node.args:
            if arg.keyword is not None:
                pairs.append((arg.keyword.value, arg.value))
            elif arg.star == "**":
                pairs.append((None, arg.value))
            else:
                return None  # dict(iterable): its contents are not literal
        return pairs
    return None


def _is_prefix(outer: Tuple[Frame, ...], inner: Tuple[Frame, ...]) -> bool:
    if len(outer) > len(inner):
        return False
    return all(a.node is b.node and a.branch == b.branch for a, b in zip(outer, inner))


def _enclosing_method(scope: Scope, self_name: str) -> Optional[Scope]:
    current: Optional[Scope] = scope
    while current is not None and current.kind is not ScopeKind.FUNCTION:
        if current.kind is ScopeKind.CLASS or current.kind is ScopeKind.MODULE:
            return None
        if self_name in current.params:
            return None
        current = current.parent  # lambdas and comprehensions inside a method see its `self`
    if current is None or current.self_name != self_name:
        return None
    return current


def _descendants(scope: Scope) -> Iterator[Scope]:
    stack = [scope]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _subclass_stores(cls: Scope, attr: str) -> bool:
    """Whether a class of the same file that names `cls` among its bases stores `attr` on self."""
    assert cls.parent is not None
    root = cls
    while root.parent is not None:
        root = root.parent
    own = cls.node.name.value  # type: ignore[attr-defined]
    for scope in _descendants(root):
        if scope.kind is not ScopeKind.CLASS or scope is cls:
            continue
        node = scope.node
        assert isinstance(node, cst.ClassDef)
        names = {(dotted_name(b.value) or "").rsplit(".", 1)[-1] for b in node.bases}
        if own in names and any(
            any(a == attr for (_, a) in s.attr_stores) or s.dynamic_attrs for s in _descendants(scope)
        ):
            return True
    return False


class _Recorder(cst.CSTVisitor):
    """The one walk that fills a FileFlow. Visits children in evaluation order where it matters."""

    def __init__(self, flow: FileFlow) -> None:
        super().__init__()
        self.flow = flow
        self.scope = flow.module_scope
        self.frames: Tuple[Frame, ...] = ()
        self.counter = itertools.count(1)
        self.statement: cst.CSTNode = flow.module_scope.node
        self.discarded: Optional[cst.Call] = None
        self.bound: Optional[Tuple[cst.Call, Tuple[str, ...]]] = None

    def run(self, module: cst.Module) -> None:
        self.visit_body(module.body)

    # -- helpers -----------------------------------------------------------------------------
    def point(self) -> Point:
        return Point(self.scope, next(self.counter), self.frames)

    def visit_body(self, body: Sequence[cst.CSTNode]) -> None:
        for stmt in body:
            visit(stmt, self)

    def visit_block(self, block: cst.BaseSuite, frame: Optional[Frame]) -> None:
        saved = self.frames
        if frame is not None:
            self.frames = saved + (frame,)
        if isinstance(block, cst.IndentedBlock):
            self.visit_body(block.body)
        elif isinstance(block, cst.SimpleStatementSuite):
            for small in block.body:
                self.statement = small
                visit(small, self)
        self.frames = saved

    def bind(self, name: str, kind: BindingKind, value: Optional[cst.CSTNode], point: Point) -> None:
        scope = self.scope
        while scope.kind is ScopeKind.COMPREHENSION and scope.parent is not None and kind is BindingKind.ASSIGN:
            scope = scope.parent  # `:=` inside a comprehension binds in the enclosing scope
            point = Point(scope, point.order, scope_frames(point, scope))
        if kind is BindingKind.UNKNOWN:
            value = None
        scope.bindings.setdefault(name, []).append(Binding(name, kind, value, point))

    def push(
        self, kind: ScopeKind, node: cst.CSTNode, name: str, params: FrozenSet[str], self_name: Optional[str] = None
    ) -> Scope:
        parent = self.scope
        scope = Scope(
            kind,
            node,
            parent,
            self.point(),
            name,
            params=params,
            self_name=self_name,
            has_function_ancestor=parent.has_function_ancestor
            or parent.kind in (ScopeKind.FUNCTION, ScopeKind.LAMBDA, ScopeKind.COMPREHENSION),
        )
        parent.children.append(scope)
        self.flow.scopes.append(scope)
        self.scope = scope
        return scope

    def assign_target(
        self, target: cst.BaseExpression, value: Optional[cst.BaseExpression], kind: BindingKind, point: Point
    ) -> None:
        if kind is BindingKind.ASSIGN and value is None:
            kind = BindingKind.UNKNOWN  # e.g. one name of `a, b = make()`
        if isinstance(target, cst.Name):
            self.bind(target.value, kind, value, point)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = [e.value for e in target.elements]
            values: List[Optional[cst.BaseExpression]] = [None] * len(elements)
            if (
                kind is BindingKind.ASSIGN
                and isinstance(value, (cst.Tuple, cst.List))
                and len(value.elements) == len(elements)
                and not any(isinstance(e, cst.StarredElement) for e in (*value.elements, *target.elements))
            ):
                values = [e.value for e in value.elements]
            for element, element_value in zip(elements, values):
                self.assign_target(element, element_value, kind, point)
        elif isinstance(target, cst.StarredElement):
            self.assign_target(target.value, None, BindingKind.UNKNOWN, point)
        elif isinstance(target, cst.Attribute):
            visit(target.value, self)
            if isinstance(target.value, cst.Name):
                obj, attr = target.value.value, target.attr.value
                stored = value if kind is BindingKind.ASSIGN else None
                self.scope.attr_stores.setdefault((obj, attr), []).append(Binding(f"{obj}.{attr}", kind, stored, point))
        elif isinstance(target, cst.Subscript):
            visit(target.value, self)
            for element in target.slice:
                visit(element, self)
            if isinstance(target.value, cst.Name):
                name = target.value.value
                self.touch(name, point.order)
                key: Optional[cst.BaseExpression] = None
                if len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
                    key = target.slice[0].slice.value
                if key is not None:
                    self.scope.item_writes.setdefault(name, []).append(
                        ItemWrite(name, key, value if kind is BindingKind.ASSIGN else None, point)
                    )
        else:
            visit(target, self)

    def touch(self, name: str, order: int) -> None:
        self.scope.touches.setdefault(name, []).append(order)

    # -- statements --------------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        for small in node.body:
            self.statement = small
            visit(small, self)
        return False

    def visit_Expr(self, node: cst.Expr) -> bool:
        if isinstance(node.value, cst.Call):
            self.discarded = node.value
        return True

    def visit_Assign(self, node: cst.Assign) -> bool:
        names = _plain_target_names([t.target for t in node.targets])
        if isinstance(node.value, cst.Call) and names is not None:
            self.bound = (node.value, names)
        visit(node.value, self)
        point = self.point()
        for target in node.targets:
            self.assign_target(target.target, node.value, BindingKind.ASSIGN, point)
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        visit(node.annotation, self)
        if node.value is None:
            return False
        names = _plain_target_names([node.target])
        if isinstance(node.value, cst.Call) and names is not None:
            self.bound = (node.value, names)
        visit(node.value, self)
        self.assign_target(node.target, node.value, BindingKind.ASSIGN, self.point())
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        visit(node.value, self)
        if isinstance(node.target, cst.Name):
            visit(node.target, self)  # `x += 1` reads x
        self.assign_target(node.target, None, BindingKind.UNKNOWN, self.point())
        return False

    def visit_Del(self, node: cst.Del) -> bool:
        self.assign_target(node.target, None, BindingKind.UNKNOWN, self.point())
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        visit(node.value, self)
        self.assign_target(node.target, node.value, BindingKind.ASSIGN, self.point())
        return False

    def visit_Global(self, node: cst.Global) -> bool:
        names = {item.name.value for item in node.names}
        self.scope.outer_names.update(names)
        self.flow.module_scope.rebound_elsewhere.update(names)
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        names = {item.name.value for item in node.names}
        self.scope.outer_names.update(names)
        scope = self.scope.parent
        while scope is not None and scope.kind is not ScopeKind.MODULE:
            scope.rebound_elsewhere.update(names)
            scope = scope.parent
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        point = self.point()
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bind(alias.asname.name.value, BindingKind.IMPORT, alias, point)
            else:
                head = (dotted_name(alias.name) or "").split(".", 1)[0]
                if head:
                    self.bind(head, BindingKind.IMPORT, alias, point)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        point = self.point()
        if isinstance(node.names, cst.ImportStar):
            return False
        for alias in node.names:
            local = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(local, cst.Name):
                self.bind(local.value, BindingKind.IMPORT, alias, point)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.statement = node
        for decorator in node.decorators:
            visit(decorator, self)
        _visit_param_defaults(self, node.params)
        if node.returns is not None:
            visit(node.returns, self)
        self.bind(node.name.value, BindingKind.DEF, node, self.point())
        params = param_names(node.params)
        self_name = None
        if self.scope.kind is ScopeKind.CLASS and params:
            decorators = {dotted_name(d.decorator) for d in node.decorators}
            if not decorators & {"staticmethod", "classmethod"}:
                self_name = _first_positional(node.params)
        prefix = f"{self.scope.name}." if self.scope.name else ""
        outer_frames, outer_statement = self.frames, self.statement
        self.push(ScopeKind.FUNCTION, node, f"{prefix}{node.name.value}", frozenset(params), self_name)
        self.frames = ()
        self.visit_block(node.body, None)
        self.scope = self.scope.parent  # type: ignore[assignment]
        self.frames, self.statement = outer_frames, outer_statement
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        _visit_param_defaults(self, node.params)
        outer_frames = self.frames
        self.push(ScopeKind.LAMBDA, node, f"{self.scope.name}.<lambda>", frozenset(param_names(node.params)))
        self.frames = ()
        visit(node.body, self)
        self.scope = self.scope.parent  # type: ignore[assignment]
        self.frames = outer_frames
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.statement = node
        for decorator in node.decorators:
            visit(decorator, self)
        for arg in (*node.bases, *node.keywords):
            visit(arg, self)
        prefix = f"{self.scope.name}." if self.scope.name else ""
        outer_frames, outer_statement = self.frames, self.statement
        self.push(ScopeKind.CLASS, node, f"{prefix}{node.name.value}", frozenset())
        self.frames = ()
        self.visit_block(node.body, None)
        self.scope = self.scope.parent  # type: ignore[assignment]
        self.frames, self.statement = outer_frames, outer_statement
        self.bind(node.name.value, BindingKind.CLASS, node, self.point())
        return False

    def _comprehension(self, node: Union[cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp]) -> bool:
        visit(node.for_in.iter, self)  # the first iterable is evaluated outside
        names: Set[str] = set()
        clause: Optional[cst.CompFor] = node.for_in
        while clause is not None:
            names.update(_target_names(clause.target))
            clause = clause.inner_for_in
        outer_frames = self.frames
        self.push(ScopeKind.COMPREHENSION, node, f"{self.scope.name}.<comprehension>", frozenset(names))
        self.frames = ()
        clause = node.for_in
        first = True
        while clause is not None:
            if not first:
                visit(clause.iter, self)
            first = False
            for condition in clause.ifs:
                visit(condition, self)
            clause = clause.inner_for_in
        if isinstance(node, cst.DictComp):
            visit(node.key, self)
            visit(node.value, self)
        else:
            visit(node.elt, self)
        self.scope = self.scope.parent  # type: ignore[assignment]
        self.frames = outer_frames
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self._comprehension(node)

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self._comprehension(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return self._comprehension(node)

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self._comprehension(node)

    def visit_If(self, node: cst.If) -> bool:
        self.statement = node
        visit(node.test, self)
        self.visit_block(node.body, Frame(node, 0))
        orelse = node.orelse
        if isinstance(orelse, cst.If):
            saved = self.frames
            self.frames = saved + (Frame(node, 1),)
            visit(orelse, self)
            self.frames = saved
        elif isinstance(orelse, cst.Else):
            self.visit_block(orelse.body, Frame(node, 1))
        return False

    def visit_While(self, node: cst.While) -> bool:
        self.statement = node
        saved = self.frames
        self.frames = saved + (Frame(node, 0),)
        visit(node.test, self)  # evaluated again on every iteration
        self.frames = saved
        self.visit_block(node.body, Frame(node, 0))
        if node.orelse is not None:
            self.visit_block(node.orelse.body, Frame(node, -1))
        return False

    def visit_For(self, node: cst.For) -> bool:
        self.statement = node
        visit(node.iter, self)
        saved = self.frames
        self.frames = saved + (Frame(node, 0),)
        self.assign_target(node.target, None, BindingKind.UNKNOWN, self.point())
        self.frames = saved
        self.visit_block(node.body, Frame(node, 0))
        if node.orelse is not None:
            self.visit_block(node.orelse.body, Frame(node, -1))
        return False

    def visit_With(self, node: cst.With) -> bool:
        self.statement = node
        for item in node.items:
            visit(item.item, self)
            if item.asname is not None:
                target = item.asname.name
                if isinstance(target, cst.Name):
                    self.bind(target.value, BindingKind.WITH, item.item, self.point())
                else:
                    self.assign_target(target, None, BindingKind.UNKNOWN, self.point())
        # a with body always runs once its header did: it adds no branch
        self.visit_block(node.body, None)
        return False

    def _try(self, node: Union[cst.Try, cst.TryStar]) -> bool:
        self.statement = node
        self.visit_block(node.body, Frame(node, 0))
        for i, handler in enumerate(node.handlers, start=1):
            saved = self.frames
            self.frames = saved + (Frame(node, i),)
            if handler.type is not None:
                visit(handler.type, self)
            if handler.name is not None:
                self.assign_target(handler.name.name, None, BindingKind.UNKNOWN, self.point())
            self.frames = saved
            self.visit_block(handler.body, Frame(node, i))
        if node.orelse is not None:
            self.visit_block(node.orelse.body, Frame(node, -1))
        if node.finalbody is not None:
            self.visit_block(node.finalbody.body, Frame(node, -2))
        return False

    def visit_Try(self, node: cst.Try) -> bool:
        return self._try(node)

    def visit_TryStar(self, node: cst.TryStar) -> bool:
        return self._try(node)

    def visit_Match(self, node: cst.Match) -> bool:
        self.statement = node
        visit(node.subject, self)
        for i, case in enumerate(node.cases):
            saved = self.frames
            self.frames = saved + (Frame(node, i),)
            point = self.point()
            for name in _pattern_names(case.pattern):
                self.bind(name, BindingKind.UNKNOWN, None, point)
            if case.guard is not None:
                visit(case.guard, self)
            self.frames = saved
            self.visit_block(case.body, Frame(node, i))
        return False

    # -- expressions -------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> bool:
        point = self.point()
        if node is self.discarded:
            use, names = CallUse.DISCARDED, ()
        elif self.bound is not None and node is self.bound[0]:
            use, names = CallUse.BOUND, self.bound[1]
        else:
            use, names = CallUse.USED, ()
        self.flow.call_sites.append(CallSite(node, point, self.statement, use, names))
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            if func.attr.value not in _READ_ONLY_METHODS:
                self.touch(func.value.value, point.order)
        elif isinstance(func, cst.Name):
            introspects = func.value in ("eval", "exec") or (func.value in ("locals", "vars") and not node.args)
            if introspects and not self.flow.is_local(func.value, point):
                scope: Optional[Scope] = self.scope
                while scope is not None:
                    scope.reads_everything = True
                    scope = scope.parent
            elif func.value == "setattr" and len(node.args) >= 2 and isinstance(node.args[0].value, cst.Name):
                obj = node.args[0].value.value
                attr = string_value(node.args[1].value)
                if attr is None:
                    self.scope.dynamic_attrs.add(obj)
                else:
                    store = Binding(f"{obj}.{attr}", BindingKind.UNKNOWN, None, point)
                    self.scope.attr_stores.setdefault((obj, attr), []).append(store)
        if not (isinstance(func, cst.Name) and func.value in _READ_ONLY_BUILTINS):
            for arg in node.args:
                if isinstance(arg.value, cst.Name):
                    self.touch(arg.value.value, point.order)  # the callee may change it in place
        visit(func, self)
        for arg in node.args:
            visit(arg.value, self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        visit(node.value, self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        visit(node.value, self)
        return False

    def visit_Name(self, node: cst.Name) -> bool:
        name = node.value
        self.scope.reads.setdefault(name, []).append(self.point())
        scope = self.scope.parent
        while scope is not None:
            scope.nested_reads.add(name)
            scope = scope.parent
        return False


def scope_frames(point: Point, scope: Scope) -> Tuple[Frame, ...]:
    """The frames a point of a comprehension has in an enclosing scope: those of the comprehension."""
    current = point.scope
    frames = point.frames
    while current is not scope and current.origin is not None:
        frames = current.origin.frames
        current = current.origin.scope
    return frames


def _plain_target_names(targets: Sequence[cst.BaseExpression]) -> Optional[Tuple[str, ...]]:
    names: List[str] = []
    for target in targets:
        if isinstance(target, cst.Name):
            names.append(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            inner = _plain_target_names([e.value for e in target.elements])
            if inner is None:
                return None
            names.extend(inner)
        else:
            return None
    return tuple(names)


def _target_names(target: cst.BaseExpression) -> List[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _pattern_names(pattern: cst.MatchPattern) -> List[str]:
    names: List[str] = []

    class _Collect(cst.CSTVisitor):
        def visit_MatchAs(self, node: cst.MatchAs) -> None:
            if node.name is not None:
                names.append(node.name.value)

        def visit_MatchStar(self, node: cst.MatchStar) -> None:
            if node.name is not None:
                names.append(node.name.value)

        def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
            if node.rest is not None:
                names.append(node.rest.value)

    visit(pattern, _Collect())
    return names


def _first_positional(params: cst.Parameters) -> Optional[str]:
    positional = (*params.posonly_params, *params.params)
    return positional[0].name.value if positional else None


def _visit_param_defaults(visitor: _Recorder, params: cst.Parameters) -> None:
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.default is not None:
            visit(param.default, visitor)
        if param.annotation is not None:
            visit(param.annotation, visitor)


def file_flow(ctx: "FileContext") -> FileFlow:
    """The file's FileFlow, built on first use and shared by every rule linting the file."""
    flow = ctx.memo.get("flow")
    if flow is None:
        flow = ctx.memo["flow"] = FileFlow(ctx.module)
    return flow  # type: ignore[return-value]


# == torch terms ==============================================================================
# What a tracked value is for the checkpoint rules. Names are compared after `ctx.qualify`, so
# every import spelling and alias reaches the same qualified name.

COMPILE_NAMES = frozenset({"torch.compile"})
DATA_PARALLEL_NAMES = frozenset(
    {"torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.data_parallel.DataParallel"}
)
DISTRIBUTED_NAMES = frozenset(
    {"torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel"}
)
SAVE_NAMES = frozenset({"torch.save", "torch.serialization.save"})
LOAD_NAMES = frozenset({"torch.load", "torch.serialization.load"})
PICKLE_DUMP_NAMES = frozenset({"pickle.dump", "dill.dump"})
# Module methods that return the module itself
_SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "xpu", "mtia", "train", "eval", "float", "half", "double", "bfloat16", "type",
     "requires_grad_", "share_memory", "apply", "to_empty"}
)


class Wrapper(str, enum.Enum):
    COMPILE = "torch.compile"
    DATA_PARALLEL = "DataParallel"
    DISTRIBUTED = "DistributedDataParallel"

    @property
    def key_prefix(self) -> str:
        return "_orig_mod." if self is Wrapper.COMPILE else "module."

    @property
    def unwrap_attribute(self) -> str:
        return "_orig_mod" if self is Wrapper.COMPILE else "module"


@dataclass(frozen=True)
class TorchObject:
    """A Module instance (bare or wrapped) or an optimizer that a value certainly is."""

    kind: str  # "module" or "optimizer"
    label: str  # the class: "Net", "AdamW", or the wrapper's name
    wrapper: Optional[Wrapper] = None
    inner: Optional["TorchObject"] = None  # what the wrapper wraps, when known

    @property
    def is_module(self) -> bool:
        # torch.compile also compiles plain functions: only a compiled Module is a Module
        return self.kind == "module" and (self.wrapper is not Wrapper.COMPILE or self.inner is not None)

    @property
    def key_prefix(self) -> str:
        """The prefix every state_dict key carries, as far as the wrapping is known."""
        prefix = ""
        current: Optional[TorchObject] = self
        while current is not None and current.wrapper is not None:
            prefix += current.wrapper.key_prefix
            current = current.inner
        return prefix

    @property
    def unwrap_path(self) -> str:
        """The attribute path to the bare module: "._orig_mod", ".module", "._orig_mod.module"."""
        path = ""
        current: Optional[TorchObject] = self
        while current is not None and current.wrapper is not None:
            path += "." + current.wrapper.unwrap_attribute
            current = current.inner
        return path

    @property
    def description(self) -> str:
        if self.wrapper is None:
            return f"{self.label} {'optimizer' if self.kind == 'optimizer' else 'module'}"
        text = f"{self.wrapper.value} wrapper"
        if self.inner is not None and self.inner.wrapper is not None:
            text += f" around a {self.inner.description}"
        return text

    def unwrapped(self, attribute: str) -> Optional["TorchObject"]:
        """`wrapper.module` / `compiled._orig_mod`; a compiled module forwards other attributes."""
        if self.wrapper is None:
            return None
        if attribute == self.wrapper.unwrap_attribute:
            return self.inner
        if self.wrapper is Wrapper.COMPILE and self.inner is not None:
            return self.inner.unwrapped(attribute)
        return None


def qualified_callee(ctx: "FileContext", flow: FileFlow, func: cst.BaseExpression, point: Point) -> Optional[str]:
    """The qualified name a call's function denotes, through imports and local aliases."""
    for _ in range(_MAX_DEPTH):
        head = func
        while isinstance(head, cst.Attribute):
            head = head.value
        if not isinstance(head, cst.Name):
            return None
        if not flow.is_local(head.value, point):
            return ctx.qualify(func)
        binding = flow.binding_at(head.value, point)
        if binding is None or binding.value is None:
            return None
        if binding.kind is BindingKind.IMPORT:
            return ctx.qualify(func)
        if func is not head:
            return None  # `local.attr(...)`: a method of a local value, not a qualified name
        if binding.kind is not BindingKind.ASSIGN or not isinstance(binding.value, (cst.Name, cst.Attribute)):
            return None
        func, point = binding.value, binding.point
    return None


def callee_among(ctx: "FileContext", flow: FileFlow, site: CallSite, qualnames: FrozenSet[str]) -> Optional[str]:
    """The qualified name of the site's function when it is one of `qualnames`.

    Attribute calls whose last name differs from every wanted one are skipped without
    resolving anything; a bare name may be an alias (`from torch import load as L`).
    """
    func = site.call.func
    if isinstance(func, cst.Attribute):
        if not any(q.endswith("." + func.attr.value) for q in qualnames):
            return None
    elif not isinstance(func, cst.Name):
        return None
    qualname = qualified_callee(ctx, flow, func, site.point)
    return qualname if qualname in qualnames else None


def _is_optimizer_name(qualname: str) -> bool:
    parts = qualname.split(".")
    if len(parts) < 3 or parts[:2] != ["torch", "optim"] or not parts[-1][:1].isupper():
        return False
    return not any(p in ("lr_scheduler", "swa_utils") for p in parts)


def describe(
    ctx: "FileContext", flow: FileFlow, expr: cst.BaseExpression, point: Point, _depth: int = 0
) -> Optional[TorchObject]:
    """What `expr` certainly holds at `point` in torch terms, or None when not known."""
    if _depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Name):
        cls = flow.self_class(expr.value, point)
        if cls is not None:
            qualname = cls.qualname_in_module
            if qualname is None:
                return None
            module = ctx.summary.module
            if ctx.index.is_module_class(f"{module}.{qualname}" if module else qualname, ctx.summary):
                return TorchObject("module", qualname.rsplit(".", 1)[-1])
            return None
    if isinstance(expr, cst.Attribute) and expr.attr.value in ("module", "_orig_mod"):
        outer = describe(ctx, flow, expr.value, point, _depth + 1)
        return outer.unwrapped(expr.attr.value) if outer is not None else None
    value = flow.value(expr, point)
    if value is None or value.entered or not isinstance(value.node, cst.Call):
        return None
    call, at = value.node, value.point
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in _SELF_RETURNING:
        receiver = describe(ctx, flow, func.value, at, _depth + 1)
        return receiver if receiver is not None and receiver.kind == "module" else None
    qualname = qualified_callee(ctx, flow, func, at)
    if qualname is None:
        return None
    if qualname in COMPILE_NAMES or qualname in DATA_PARALLEL_NAMES or qualname in DISTRIBUTED_NAMES:
        if qualname in COMPILE_NAMES:
            wrapper, keyword = Wrapper.COMPILE, "model"
        elif qualname in DATA_PARALLEL_NAMES:
            wrapper, keyword = Wrapper.DATA_PARALLEL, "module"
        else:
            wrapper, keyword = Wrapper.DISTRIBUTED, "module"
        argument = call_arg(call, 0, keyword)
        inner = describe(ctx, flow, argument, at, _depth + 1) if argument is not None else None
        if inner is not None and inner.kind != "module":
            return None
        return TorchObject("module", wrapper.value, wrapper, inner)
    if _is_optimizer_name(qualname):
        return TorchObject("optimizer", qualname.rsplit(".", 1)[-1])
    if ctx.index.is_module_class(qualname, ctx.summary):
        return TorchObject("module", qualname.rsplit(".", 1)[-1])
    return None


def source_text(ctx: "FileContext", node: cst.CSTNode, limit: int = 60) -> str:
    """The code of a node on one line, shortened for messages."""
    text = " ".join(ctx.module.code_for_node(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
