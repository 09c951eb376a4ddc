"""Which expressions produce objects that pickle, and so `torch.save` and `copy.deepcopy`, cannot copy.

Open files, sockets, locks, queues, threads, processes, database connections, generators,
logging handlers, TensorBoard writers: objects whose state lives outside the Python heap (a file
descriptor, an OS lock, a running frame). Each known constructor maps to the text pickle raises on
its result, checked against CPython 3.11; a text that depends on a value not known statically
(a file mode held in a variable) is left out rather than guessed.

Names are resolved through the file's imports (`from threading import Lock as L`,
`import threading as th`); a local name is followed when it is bound exactly once. Nothing is
imported or executed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from serialint.model import ClassModel, MethodModel, dotted_name
from serialint.walk import visit

if TYPE_CHECKING:
    from serialint.model import AttrStore, FileContext


@dataclass(frozen=True)
class Resource:
    """An unpicklable object, as messages name it."""

    kind: str  # "open file", "threading.Lock", "generator", ...
    # What pickle (and copy.deepcopy) raises on it, verbatim; None when it depends on a value
    # that is not known statically.
    error: Optional[str]
    # How to name it once a `with` block has closed it, when a closed one still fails alike;
    # None when a closed one pickles (bz2/lzma files, TensorBoard writers), fails differently
    # (gzip files), or when `with ... as x` binds something else.
    closed_kind: Optional[str] = None


def _cannot(type_name: str) -> str:
    return f"cannot pickle '{type_name}' object"


def _inherited_only(type_name: str) -> str:
    return f"{type_name} objects should only be shared between processes through inheritance"


_AUTHENTICATION = "Pickling an AuthenticationString object is disallowed for security reasons"

# Calls whose result fails the same way whatever the arguments, by qualified name.
RESOURCE_CALLS: Dict[str, Resource] = {}


def _register(qualnames: Tuple[str, ...], resource: Resource) -> None:
    for qualname in qualnames:
        RESOURCE_CALLS[qualname] = resource


for _name in ("Lock", "Event", "Semaphore", "BoundedSemaphore", "Barrier", "Thread", "Timer"):
    # a plain lock, or one held inside (a Condition's, an Event's, a Thread's started-event)
    _register((f"threading.{_name}",), Resource(f"threading.{_name}", _cannot("_thread.lock")))
_register(("threading.RLock",), Resource("threading.RLock", _cannot("_thread.RLock")))
_register(("threading.local",), Resource("threading.local", _cannot("_thread._local")))
for _name in ("Queue", "LifoQueue", "PriorityQueue"):
    _register((f"queue.{_name}",), Resource(f"queue.{_name}", _cannot("_thread.lock")))
_register(("queue.SimpleQueue",), Resource("queue.SimpleQueue", _cannot("_queue.SimpleQueue")))

# torch.multiprocessing re-exports multiprocessing's names; its objects refuse pickling alike.
for _package in ("multiprocessing", "torch.multiprocessing"):
    for _name in (
        "Queue",
        "JoinableQueue",
        "SimpleQueue",
        "Lock",
        "RLock",
        "Semaphore",
        "BoundedSemaphore",
        "Condition",
    ):
        _register((f"{_package}.{_name}",), Resource(f"{_package}.{_name}", _inherited_only(_name)))
    # both are built on a Condition, which is what refuses
    for _name in ("Event", "Barrier"):
        _register((f"{_package}.{_name}",), Resource(f"{_package}.{_name}", _inherited_only("Condition")))
    for _name in ("Process", "Manager"):
        _register((f"{_package}.{_name}",), Resource(f"{_package}.{_name}", _AUTHENTICATION))
    _register(
        (f"{_package}.Pool",),
        Resource(f"{_package}.Pool", "pool objects cannot be passed between processes or pickled"),
    )

_SOCKET = Resource("socket", _cannot("socket"), closed_kind="closed socket")
_register(("socket.socket", "socket.create_connection", "socket.create_server", "socket.fromfd"), _SOCKET)
# `with sqlite3.connect(...) as conn` commits but does not close; a closed connection fails alike
_SQLITE = Resource("sqlite3 connection", _cannot("sqlite3.Connection"), closed_kind="sqlite3 connection")
_register(("sqlite3.connect", "sqlite3.Connection", "sqlite3.dbapi2.connect"), _SQLITE)

# Every handler but NullHandler creates an RLock in Handler.__init__, before anything else it holds.
_LOGGING_HANDLERS = (
    "logging.Handler",
    "logging.StreamHandler",
    "logging.FileHandler",
    "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler",
    "logging.handlers.WatchedFileHandler",
    "logging.handlers.SocketHandler",
    "logging.handlers.DatagramHandler",
    "logging.handlers.SysLogHandler",
    "logging.handlers.SMTPHandler",
    "logging.handlers.HTTPHandler",
    "logging.handlers.BufferingHandler",
    "logging.handlers.MemoryHandler",
    "logging.handlers.QueueHandler",
)
for _qualname in _LOGGING_HANDLERS:
    _register((_qualname,), Resource(_qualname, _cannot("_thread.RLock")))

# An open writer holds its event-file writer thread; a closed one pickles.
_register(
    ("torch.utils.tensorboard.SummaryWriter", "torch.utils.tensorboard.writer.SummaryWriter"),
    Resource("TensorBoard SummaryWriter", _cannot("_thread.lock")),
)
# tensorboardX (2.6) hands events to its writer process through a multiprocessing queue
_register(
    ("tensorboardX.SummaryWriter", "tensorboardX.writer.SummaryWriter"),
    Resource("tensorboardX SummaryWriter", _inherited_only("Queue")),
)
_register(
    ("concurrent.futures.ThreadPoolExecutor", "concurrent.futures.thread.ThreadPoolExecutor"),
    Resource("concurrent.futures.ThreadPoolExecutor", _cannot("_queue.SimpleQueue")),
)
_register(
    ("concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor"),
    Resource("concurrent.futures.ProcessPoolExecutor", _cannot("_thread.lock")),
)
_register(("subprocess.Popen",), Resource("subprocess.Popen", _cannot("_thread.lock")))
_register(("mmap.mmap",), Resource("mmap.mmap", _cannot("mmap.mmap")))

# Values that are resources without a call. sys.stdout/stderr are often replaced (pytest's
# capture, notebooks), so what pickle names is not known; the originals are plain text files.
STREAMS: Dict[str, Resource] = {
    "sys.stdout": Resource("sys.stdout", None),
    "sys.stderr": Resource("sys.stderr", None),
    "sys.__stdout__": Resource("sys.__stdout__", _cannot("_io.TextIOWrapper")),
    "sys.__stderr__": Resource("sys.__stderr__", _cannot("_io.TextIOWrapper")),
}


@dataclass(frozen=True)
class FileOpener:
    """A call that opens a file; the pickle error names the io class its mode selects."""

    kind: str
    mode_position: int
    default_mode: str
    buffering_position: Optional[int]  # None: no `buffering` parameter
    compressed: bool = False  # gzip/bz2/lzma: "r"/"w" mean binary, "t" means text
    closed_kind: Optional[str] = None


_OPEN = FileOpener("open file", 1, "r", 2, closed_kind="closed file")
_TEMPORARY = FileOpener("temporary file", 0, "w+b", 1, closed_kind="closed temporary file")
FILE_OPENERS: Dict[str, FileOpener] = {
    "builtins.open": _OPEN,
    "io.open": _OPEN,
    "os.fdopen": _OPEN,
    "gzip.open": FileOpener("open gzip file", 1, "rb", None, compressed=True),
    "bz2.open": FileOpener("open bz2 file", 1, "rb", None, compressed=True),
    "lzma.open": FileOpener("open lzma file", 1, "rb", None, compressed=True),
    # SpooledTemporaryFile and TemporaryDirectory pickle: not resources
    "tempfile.TemporaryFile": _TEMPORARY,
    "tempfile.NamedTemporaryFile": _TEMPORARY,
}
# `Path(p).open(mode="r", buffering=-1, ...)`
_PATH_OPEN = FileOpener("open file", 0, "r", 1, closed_kind="closed file")
_PATH_CLASSES: FrozenSet[str] = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
_CONDITIONS: FrozenSet[str] = frozenset({"threading.Condition"})
_BUILTINS: FrozenSet[str] = frozenset({"open"})
# decorators that leave a generator function's call returning a generator
_PLAIN_METHOD_DECORATORS: FrozenSet[str] = frozenset({"staticmethod", "classmethod"})
_MAX_DEPTH = 4

_Argument = Tuple[bool, Optional[cst.BaseExpression]]  # (known, value); (True, None) = absent


def _argument(call: cst.Call, position: int, keyword: str) -> _Argument:
    """An argument by keyword or position; unknown when `*args`/`**kwargs` may supply it."""
    positional = 0
    starred = False
    for arg in call.args:
        if arg.star:
            starred = True
        elif arg.keyword is not None:
            if arg.keyword.value == keyword:
                return True, arg.value
        elif not starred:
            if positional == position:
                return True, arg.value
            positional += 1
    return (not starred), None


def _literal_int(node: cst.BaseExpression) -> Optional[int]:
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, cst.Integer)
    ):
        return -int(node.expression.value, 0)
    return None


def _file_error(opener: FileOpener, call: cst.Call) -> Optional[str]:
    """The io class pickle names for the opened file, from the literal mode and buffering."""
    known, mode_node = _argument(call, opener.mode_position, "mode")
    if not known:
        return None
    if mode_node is None:
        mode = opener.default_mode
    else:
        if not isinstance(mode_node, cst.SimpleString):
            return None
        value = mode_node.evaluated_value
        if not isinstance(value, str):
            return None
        mode = value
    text = "t" in mode if opener.compressed else "b" not in mode
    if text:
        return _cannot("_io.TextIOWrapper")
    unbuffered = False
    if opener.buffering_position is not None:
        known, buffering = _argument(call, opener.buffering_position, "buffering")
        if not known:
            return None
        if buffering is not None:
            number = _literal_int(buffering)
            if number is None:
                return None
            unbuffered = number == 0
    if unbuffered:
        return _cannot("_io.FileIO")
    if "+" in mode:
        return _cannot("_io.BufferedRandom")
    if "r" in mode:
        return _cannot("_io.BufferedReader")
    return _cannot("_io.BufferedWriter")


class _ScopeVisitor(cst.CSTVisitor):
    """Visits one function body without entering nested functions, lambdas or classes."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


class _YieldFinder(_ScopeVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Yield(self, node: cst.Yield) -> bool:
        self.found = True
        return False


class _WithItems(_ScopeVisitor):
    def __init__(self) -> None:
        self.items: List[cst.WithItem] = []

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self.items.append(node)


class ResourceClassifier:
    """Classifies the values a file stores; one instance per file, caching what it learns."""

    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self._generators: Dict[cst.FunctionDef, bool] = {}
        self._with_items: Dict[cst.FunctionDef, List[cst.WithItem]] = {}
        self._module_assigned: Optional[Set[str]] = None

    # -- stores ------------------------------------------------------------------------------
    def classify_store(self, store: "AttrStore", cls: Optional[ClassModel] = None) -> Optional[Resource]:
        """The resource a `self.<attr> = value` store puts on the instance, if any."""
        if store.value is None:
            return None
        return self.classify(store.value, store.method, cls)

    def classify(
        self,
        expr: cst.BaseExpression,
        method: Optional[MethodModel] = None,
        cls: Optional[ClassModel] = None,
        _depth: int = 0,
    ) -> Optional[Resource]:
        """The resource `expr` evaluates to, or None when it is not one or cannot be known."""
        if _depth > _MAX_DEPTH:
            return None
        depth = _depth + 1
        if isinstance(expr, cst.Call):
            return self._call(expr, method, cls, depth)
        if isinstance(expr, cst.GeneratorExp):
            return Resource("generator", _cannot("generator"))
        if isinstance(expr, cst.Name):
            stream = self._stream(expr, method)
            return stream if stream is not None else self._local(expr.value, method, cls, depth)
        if isinstance(expr, cst.Attribute):
            return self._stream(expr, method)
        if isinstance(expr, cst.IfExp):
            # either branch may be the one stored: the class can hold the resource
            return self.classify(expr.body, method, cls, depth) or self.classify(expr.orelse, method, cls, depth)
        if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
            return self.classify(expr.left, method, cls, depth) or self.classify(expr.right, method, cls, depth)
        if isinstance(expr, cst.NamedExpr):
            return self.classify(expr.value, method, cls, depth)
        return self._container(expr, method, cls, depth)

    # -- calls -------------------------------------------------------------------------------
    def _call(
        self, call: cst.Call, method: Optional[MethodModel], cls: Optional[ClassModel], depth: int
    ) -> Optional[Resource]:
        generator = self._generator_call(call, method, cls)
        if generator is not None:
            return generator
        path_open = self._path_open(call, method)
        if path_open is not None:
            return path_open
        qualname = self._qualify(call.func, method)
        if qualname is None:
            return None
        fixed = RESOURCE_CALLS.get(qualname)
        if fixed is not None:
            return fixed
        opener = FILE_OPENERS.get(qualname)
        if opener is not None:
            return Resource(opener.kind, _file_error(opener, call), opener.closed_kind)
        if qualname in _CONDITIONS:
            known, lock = _argument(call, 0, "lock")
            if known and lock is None:
                return Resource("threading.Condition", _cannot("_thread.RLock"))
            given = self.classify(lock, method, cls, depth) if lock is not None else None
            return Resource("threading.Condition", given.error if given is not None else None)
        return None

    def callee(self, call: cst.Call, method: Optional[MethodModel]) -> Optional[str]:
        """The qualified name `call` calls, as the classifier resolved it; None when not known."""
        return self._qualify(call.func, method)

    def _path_open(self, call: cst.Call, method: Optional[MethodModel]) -> Optional[Resource]:
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "open" and isinstance(func.value, cst.Call)):
            return None
        if self._qualify(func.value.func, method) not in _PATH_CLASSES:
            return None
        return Resource(_PATH_OPEN.kind, _file_error(_PATH_OPEN, call), _PATH_OPEN.closed_kind)

    def _qualify(self, func: cst.BaseExpression, method: Optional[MethodModel]) -> Optional[str]:
        """The qualified name a call's target denotes; None when a local name shadows it."""
        dotted = dotted_name(func)
        if dotted is None:
            return None
        head = dotted.split(".", 1)[0]
        if method is not None and _is_local(method, head):
            return None
        qualname = self.ctx.qualify(func)
        if qualname is not None:
            return qualname
        if dotted in _BUILTINS and head not in self._module_level_names():
            return f"builtins.{dotted}"
        return None

    def _stream(self, expr: cst.BaseExpression, method: Optional[MethodModel]) -> Optional[Resource]:
        qualname = self._qualify(expr, method)
        return STREAMS.get(qualname) if qualname is not None else None

    # -- generators --------------------------------------------------------------------------
    def _generator_call(
        self, call: cst.Call, method: Optional[MethodModel], cls: Optional[ClassModel]
    ) -> Optional[Resource]:
        """A call of a generator function defined in this file: the method's own, the class's, the module's."""
        func = call.func
        definition: Optional[cst.FunctionDef] = None
        allowed_decorators: FrozenSet[str] = frozenset()
        if isinstance(func, cst.Name):
            name = func.value
            if method is not None and name in method.local_defs:
                if method.single_binding(name) is method.local_defs[name]:
                    definition = method.local_defs[name]
            elif (
                (method is None or not _is_local(method, name))
                and name in self.ctx.functions
                and name not in self.ctx.summary.imports
                and name not in self._module_level_names()
            ):
                definition = self.ctx.functions[name]
        elif (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and method is not None
            and method.self_name is not None
            and func.value.value == method.self_name
            and cls is not None
        ):
            target = cls.methods.get(func.attr.value)
            if target is not None:
                definition = target.node
                allowed_decorators = _PLAIN_METHOD_DECORATORS
        if definition is None or not self._is_generator(definition, allowed_decorators):
            return None
        if definition.asynchronous is not None:
            return Resource("async generator", _cannot("async_generator"))
        return Resource("generator", _cannot("generator"))

    def _is_generator(self, definition: cst.FunctionDef, allowed_decorators: FrozenSet[str]) -> bool:
        # any other decorator may return something else entirely (contextmanager, lru_cache, ...)
        for decorator in definition.decorators:
            if dotted_name(decorator.decorator) not in allowed_decorators:
                return False
        cached = self._generators.get(definition)
        if cached is None:
            finder = _YieldFinder()
            visit(definition.body, finder)
            cached = self._generators[definition] = finder.found
        return cached

    # -- local names -------------------------------------------------------------------------
    def _local(
        self, name: str, method: Optional[MethodModel], cls: Optional[ClassModel], depth: int
    ) -> Optional[Resource]:
        """A local name bound once: to a resource, or by `with <resource> as name`."""
        if method is None:
            return None
        value = method.single_binding(name)
        if value is not None:
            return self.classify(value, method, cls, depth)
        if name in method.params or name in method.outer_names or method.bindings.get(name) != [None]:
            return None
        items = [
            item
            for item in self._method_with_items(method)
            if item.asname is not None and isinstance(item.asname.name, cst.Name) and item.asname.name.value == name
        ]
        if len(items) != 1:
            return None
        opened = self.classify(items[0].item, method, cls, depth)
        if opened is None or opened.closed_kind is None:
            return None
        return replace(opened, kind=opened.closed_kind)

    def _method_with_items(self, method: MethodModel) -> List[cst.WithItem]:
        items = self._with_items.get(method.node)
        if items is None:
            collector = _WithItems()
            visit(method.node.body, collector)
            items = self._with_items[method.node] = collector.items
        return items

    def _module_level_names(self) -> Set[str]:
        """Names assigned at module level (`open = partial(open, ...)` shadows the builtin)."""
        if self._module_assigned is None:
            names: Set[str] = set()
            for stmt in _module_statements(self.ctx.module.body):
                for small in stmt.body:
                    targets: List[cst.BaseExpression] = []
                    if isinstance(small, cst.Assign):
                        targets = [t.target for t in small.targets]
                    elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                        targets = [small.target]
                    for target in targets:
                        names.update(_target_names(target))
            self._module_assigned = names
        return self._module_assigned

    # -- containers --------------------------------------------------------------------------
    def _container(
        self, expr: cst.BaseExpression, method: Optional[MethodModel], cls: Optional[ClassModel], depth: int
    ) -> Optional[Resource]:
        """A list/tuple/set/dict literal or comprehension holding a resource fails like the resource."""
        elements: List[cst.BaseExpression] = []
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            container = {cst.List: "list", cst.Tuple: "tuple", cst.Set: "set"}[type(expr)]
            elements = [e.value for e in expr.elements if isinstance(e, cst.Element)]
        elif isinstance(expr, cst.Dict):
            container = "dict"
            elements = [e.value for e in expr.elements if isinstance(e, cst.DictElement)]
        elif isinstance(expr, (cst.ListComp, cst.SetComp, cst.DictComp)):
            container = {cst.ListComp: "list", cst.SetComp: "set", cst.DictComp: "dict"}[type(expr)]
            element = expr.value if isinstance(expr, cst.DictComp) else expr.elt
            # the comprehension's own variables shadow the method's names: only a call of a
            # name they do not bind is judged
            if not isinstance(element, cst.Call):
                return None
            callee = dotted_name(element.func)
            if callee is None or callee.split(".", 1)[0] in _comprehension_targets(expr):
                return None
            elements = [element]
        else:
            return None
        for element in elements:
            inner = self.classify(element, method, cls, depth)
            if inner is not None:
                return Resource(f"{inner.kind} in a {container}", inner.error)
        return None


def _is_local(method: MethodModel, name: str) -> bool:
    return name in method.params or name in method.bindings or name in method.outer_names


def _comprehension_targets(expr: cst.BaseComp) -> Set[str]:
    names: Set[str] = set()
    clause: Optional[cst.CompFor] = expr.for_in
    while clause is not None:
        names.update(_target_names(clause.target))
        clause = clause.inner_for_in
    return names


def _target_names(target: cst.BaseExpression) -> List[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _module_statements(body: Sequence[cst.CSTNode]) -> List[cst.SimpleStatementLine]:
    """Simple statements at module level, including those under top-level if/try blocks."""
    found: List[cst.SimpleStatementLine] = []
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            found.append(stmt)
        elif isinstance(stmt, cst.If):
            found.extend(_module_statements(stmt.body.body))
            orelse = stmt.orelse
            while isinstance(orelse, cst.If):
                found.extend(_module_statements(orelse.body.body))
                orelse = orelse.orelse
            if isinstance(orelse, cst.Else):
                found.extend(_module_statements(orelse.body.body))
        elif isinstance(stmt, cst.Try):
            found.extend(_module_statements(stmt.body.body))
            for handler in stmt.handlers:
                found.extend(_module_statements(handler.body.body))
            for block in (stmt.orelse, stmt.finalbody):
                if block is not None:
                    found.extend(_module_statements(block.body.body))
    return found


# -- re-creating a resource after unpickling -------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """A resource whose constructor call can run again in `__setstate__` with the same arguments."""

    # What the re-created object does not carry over from the pickled one, said as a comment
    # beside it; None when nothing the object observably held is lost.
    note: Optional[str] = None


_FRESH_LOCKS: FrozenSet[str] = frozenset({"threading.Lock", "threading.RLock"})
_QUEUES: FrozenSet[str] = frozenset({"queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue"})
_REOPENED: FrozenSet[str] = frozenset({"builtins.open", "io.open"})
_SUMMARY_WRITERS: FrozenSet[str] = frozenset(
    {"torch.utils.tensorboard.SummaryWriter", "torch.utils.tensorboard.writer.SummaryWriter"}
)


def replay(qualname: str, call: cst.Call) -> Optional[Replay]:
    """How `call` (already classified as a resource) can be repeated after loading, or None.

    Only constructors whose fresh result stands in for the old one: a lock (a pickled object is
    never mid-acquire in its copy), an event (starts unset), a queue (starts empty), a file
    reopened in a mode that neither truncates nor refuses an existing file, a TensorBoard writer
    given its log directory (it adds a new event file there). Threads, processes, sockets,
    connections, generators and temporary files hold state a second call cannot give back.
    """
    if qualname in _FRESH_LOCKS:
        return Replay()
    if qualname == "threading.Event":
        return Replay("a new event: starts unset")
    if qualname in _QUEUES:
        return Replay("a new, empty queue: queued items are not pickled")
    if qualname in _REOPENED:
        known, mode_node = _argument(call, 1, "mode")
        if not known:
            return None
        mode = "r"
        if mode_node is not None:
            value = mode_node.evaluated_value if isinstance(mode_node, cst.SimpleString) else None
            if not isinstance(value, str):
                return None
            mode = value
        if "w" in mode or "x" in mode:
            # reopening would empty the file the original wrote, or fail because it exists
            return None
        if "a" in mode:
            return Replay()
        return Replay("reopened: reading starts again at the beginning of the file")
    if qualname in _SUMMARY_WRITERS:
        known, log_dir = _argument(call, 0, "log_dir")
        # without a log_dir each writer invents a new run directory
        return Replay() if known and log_dir is not None else None
    return None
