from __future__ import annotations

from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.findings import Applicability, Edit, Fix
from serialint.fixes import FixBuilder, line_starts
from serialint.index import MODULE_ROOTS, is_torch_module_name
from serialint.model import AttrStore, ClassModel, FileContext, MethodModel, dotted_name, is_none
from serialint.resources import Resource, ResourceClassifier, replay
from serialint.rule import Bad, Expected, Good, Report, Rule

STATE_METHODS: Tuple[str, ...] = ("__getstate__", "__reduce__", "__reduce_ex__")

# Bases outside the project known not to make instances picklable around a resource.
_NEUTRAL_BASES: FrozenSet[str] = frozenset(
    {
        "object",
        "abc.ABC",
        "typing.Generic",
        "typing.Protocol",
        "typing_extensions.Protocol",
        "torch.utils.data.Dataset",
        "torch.utils.data.IterableDataset",
        "torch.utils.data.dataset.Dataset",
        "torch.utils.data.dataset.IterableDataset",
    }
)


class ResourceWithoutGetstate(Rule):
    """
    ## What it does
    Flags a pickled class that stores an unpicklable resource (open file, lock, queue, socket,
    generator, logging handler, TensorBoard writer, ...) on `self` and defines no
    `__getstate__`.

    A pickled class is a Module class, or a class whose instances the code visibly pickles; none
    of `__getstate__`, `__reduce__`, `__reduce_ex__` may be defined by it or by a base class of
    the project. Resources are open files (`open`, `io.open`, `os.fdopen`, `Path(...).open`,
    `gzip`/`bz2`/`lzma.open`, `tempfile.TemporaryFile`/`NamedTemporaryFile`), sockets,
    `threading` locks, events, conditions, semaphores and threads, `queue` queues,
    `multiprocessing` (and `torch.multiprocessing`) queues, locks, processes and pools,
    `sqlite3` connections, generators, logging handlers, TensorBoard `SummaryWriter`s,
    executors, `subprocess.Popen`, `mmap`, and the standard streams; also a list/tuple/set/dict
    literal or comprehension holding one, and either branch of `a if c else b` / `a or b`. A `logging.getLogger(...)`
    logger pickles by name and is not a resource. A method that sets the attribute back to None
    later in the same block released it and is not counted. One finding per class, on its first
    resource store, naming every resource attribute.

    ## Why is this bad?
    pickle cannot copy an object whose state lives outside Python: `torch.save(model)`,
    `pickle.dumps(model)` and `copy.deepcopy(model)` (as EMA helpers do) all fail, e.g.
    `TypeError: cannot pickle '_io.TextIOWrapper' object` for an open text file,
    `cannot pickle '_thread.lock' object` for a lock or a `queue.Queue`,
    `cannot pickle '_thread.RLock' object` for a logging handler, and
    `RuntimeError: Queue objects should only be shared between processes through inheritance`
    for a `multiprocessing` queue. A file closed by its `with` block fails just the same. A
    dataset holding one cannot be sent to `DataLoader` workers started by spawn or forkserver.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self, log_path):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.log_file = open(log_path, "a")
    ```

    ## Use instead
    Leave the resource out of the pickled state and re-create it on load:
    ```python
    class Net(nn.Module):
        def __init__(self, log_path):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            self.log_path = log_path
            self.log_file = open(log_path, "a")

        def __getstate__(self):
            state = super().__getstate__()
            state.pop("log_file")
            return state

        def __setstate__(self, state):
            super().__setstate__(state)
            self.log_file = open(self.log_path, "a")
    ```
    Start from `super().__getstate__()`: a hand-made `self.__dict__.copy()` breaks after an
    in-place `.compile()`. Pop from the copy, never from the live `__dict__`. In
    `__setstate__`, call `super().__setstate__(state)` before assigning anything.

    ## Fix safety
    Unsafe: adds `__getstate__` and `__setstate__` at the end of the class. `__getstate__` starts
    from a copy of `super().__getstate__()` on a Module (which leaves out the call an in-place
    `.compile()` installs), or of `self.__dict__` on another class, and pops every resource
    attribute from that copy. `__setstate__` calls `super().__setstate__(state)` on a Module
    (`self.__dict__.update(state)` otherwise), then re-creates each resource stored once,
    unconditionally, in `__init__` by a call that can run again from what the pickled state
    holds (literal arguments, or parameters `__init__` also stores on `self`): `threading.Lock`
    and `RLock`, `threading.Event` (unset again), `queue` queues (empty again), `open` /
    `io.open` in a mode that neither truncates nor requires a new file (read modes start again at
    the beginning), and a TensorBoard `SummaryWriter` given its `log_dir`. Every other resource
    is set to None with a comment asking to re-create it after loading. Behaviour after
    unpickling changes: the copy gets new or missing resources, file positions and queued items
    are lost. No fix for a class with a one-line body or class keywords (a metaclass), one that
    defines or assigns `__setstate__` or `__slots__` (or whose project base defines
    `__setstate__`), or one whose resource attribute is stored in more than one place.

    ## Known limits
    Only values visible in the class's own methods count: a resource passed in as a parameter,
    returned by a function of another file, held inside another object (a helper instance that
    owns a lock), built from a name bound more than once, or added to a container after the fact
    (`self.handlers.append(...)`) is not seen. A call of a generator function counts when the
    function is defined in the same file (module level, the same method, or the class's own
    methods) and is not decorated. A class with a base class outside the project (other than
    torch's Module classes and a few neutral ones such as `abc.ABC`) is not reported, since that
    base may define `__getstate__`. A `__getstate__` that forgets to drop the resource is not
    checked, and a base class is reported even when only its subclasses define `__getstate__`.
    A release (`self.fh = None`) in another method, or after the loop or `if` that stored the
    resource, is not trusted. The quoted error is the one CPython 3.11 raises for the first
    resource found; another resource stored earlier at run time, or another Python version, may
    fail first with a different text; where the text depends on a value not known statically (a
    file mode in a variable, a replaced `sys.stdout`) the message quotes none. A
    `logging.Logger(...)` built directly (not through `getLogger`) does fail to pickle but is not
    reported.
    """

    code = "SER204"
    fix_applicability = Applicability.UNSAFE
    name = "resource-without-getstate"
    needs_class = True
    summary = (
        "define __getstate__ (from super().__getstate__()) that drops the resource, and __setstate__ "
        "that calls super().__setstate__(state) and re-creates it"
    )

    bad = (
        Bad(
            """\
import threading
from torch import nn


class Logger(nn.Module):
    def __init__(self, path):
        super().__init__()
        self.fh = open(path, "a")
        self.lock = threading.Lock()
        self.fc = nn.Linear(4, 2)
""",
            (
                Expected(
                    8,
                    9,
                    'class "Logger" stores unpicklable resources on self (self.fh: open file, '
                    "self.lock: threading.Lock) and defines no __getstate__: torch.save(model), pickle and "
                    "copy.deepcopy fail (cannot pickle '_io.TextIOWrapper' object)",
                ),
            ),
            fixed="""\
import threading
from torch import nn


class Logger(nn.Module):
    def __init__(self, path):
        super().__init__()
        self.fh = open(path, "a")
        self.lock = threading.Lock()
        self.fc = nn.Linear(4, 2)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("fh", None)
        state.pop("lock", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.fh = None  # serialint: re-create this open file after loading
        self.lock = threading.Lock()
""",
        ),
        # names resolved through aliased imports; a lock created lazily outside __init__ (no fix: the
        # attribute is stored in two places)
        Bad(
            """\
import torch.nn as nn
from threading import RLock as Guard


class Cache(nn.Module):
    def __init__(self):
        super().__init__()
        self.guard = None
        self.table = {}

    def warm(self, keys):
        self.guard = Guard()
""",
            (
                Expected(
                    12,
                    9,
                    'class "Cache" stores an unpicklable resource on self (self.guard: threading.RLock) and '
                    "defines no __getstate__: torch.save(model), pickle and copy.deepcopy fail "
                    "(cannot pickle '_thread.RLock' object)",
                ),
            ),
        ),
        # a local name bound once, a generator from a function of the same file, a handler
        Bad(
            """\
import logging
from torch.nn import Module


def batches(data):
    for item in data:
        yield item


class Stream(Module):
    def __init__(self, data, log_path):
        super().__init__()
        handler = logging.FileHandler(log_path)
        self.handler = handler
        self.source = batches(data)
        self.log = logging.getLogger(__name__)
""",
            (
                Expected(
                    14,
                    9,
                    'class "Stream" stores unpicklable resources on self (self.handler: logging.FileHandler, '
                    "self.source: generator) and defines no __getstate__: torch.save(model), pickle and "
                    "copy.deepcopy fail (cannot pickle '_thread.RLock' object)",
                ),
            ),
            fixed="""\
import logging
from torch.nn import Module


def batches(data):
    for item in data:
        yield item


class Stream(Module):
    def __init__(self, data, log_path):
        super().__init__()
        handler = logging.FileHandler(log_path)
        self.handler = handler
        self.source = batches(data)
        self.log = logging.getLogger(__name__)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("handler", None)
        state.pop("source", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.handler = None  # serialint: re-create this logging.FileHandler after loading
        self.source = None  # serialint: re-create this generator after loading
""",
        ),
        # a file opened in binary mode, stored from inside its with block: closed, still unpicklable
        Bad(
            """\
import torch


class Reader(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        with open(path, "rb") as f:
            self.header = f.read(16)
            self.f = f
""",
            (
                Expected(
                    9,
                    13,
                    'class "Reader" stores an unpicklable resource on self (self.f: closed file) and '
                    "defines no __getstate__: torch.save(model), pickle and copy.deepcopy fail "
                    "(cannot pickle '_io.BufferedReader' object)",
                ),
            ),
            fixed="""\
import torch


class Reader(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        with open(path, "rb") as f:
            self.header = f.read(16)
            self.f = f

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("f", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.f = None  # serialint: re-create this closed file after loading
""",
        ),
        # the Module base class lives in another file of the project and defines no __getstate__
        Bad(
            """\
from threading import Event
from pkg.base import Worker


class Prefetcher(Worker):
    def __init__(self):
        super().__init__()
        self.stop = Event()
""",
            (
                Expected(
                    8,
                    9,
                    'class "Prefetcher" stores an unpicklable resource on self (self.stop: threading.Event) and '
                    "defines no __getstate__: torch.save(model), pickle and copy.deepcopy fail "
                    "(cannot pickle '_thread.lock' object)",
                ),
            ),
            files={
                "pkg/__init__.py": "",
                "pkg/base.py": """\
import torch.nn as nn


class Worker(nn.Module):
    def run(self):
        pass
""",
            },
            fixed="""\
from threading import Event
from pkg.base import Worker


class Prefetcher(Worker):
    def __init__(self):
        super().__init__()
        self.stop = Event()

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("stop", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.stop = Event()  # a new event: starts unset
""",
        ),
        # the fix re-opens the file from the path stored on self and re-creates an empty queue
        Bad(
            """\
import queue

import torch.nn as nn


class AsyncLogger(nn.Module):
    def __init__(self, log_path, depth=8):
        super().__init__()
        self.log_path = log_path
        self.depth = depth
        self.pending = queue.Queue(maxsize=depth)
        self.sink = open(log_path, mode="a", encoding="utf-8")
        self.proj = nn.Linear(4, 4)
""",
            (
                Expected(
                    11,
                    9,
                    'class "AsyncLogger" stores unpicklable resources on self (self.pending: queue.Queue, '
                    "self.sink: open file) and defines no __getstate__: torch.save(model), pickle and "
                    "copy.deepcopy fail (cannot pickle '_thread.lock' object)",
                ),
            ),
            fixed="""\
import queue

import torch.nn as nn


class AsyncLogger(nn.Module):
    def __init__(self, log_path, depth=8):
        super().__init__()
        self.log_path = log_path
        self.depth = depth
        self.pending = queue.Queue(maxsize=depth)
        self.sink = open(log_path, mode="a", encoding="utf-8")
        self.proj = nn.Linear(4, 4)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("pending", None)
        state.pop("sink", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.pending = queue.Queue(maxsize=self.depth)  # a new, empty queue: queued items are not pickled
        self.sink = open(self.log_path, mode="a", encoding="utf-8")
""",
        ),
        # a plain class the code pickles: object has no __setstate__ to call
        Bad(
            """\
import pickle
import threading


class Counter:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()


def snapshot():
    return pickle.dumps(Counter())
""",
            (
                Expected(
                    8,
                    9,
                    'class "Counter" stores an unpicklable resource on self (self.lock: threading.Lock) and '
                    "defines no __getstate__: torch.save(obj), pickle and copy.deepcopy fail "
                    "(cannot pickle '_thread.lock' object)",
                ),
            ),
            fixed="""\
import pickle
import threading


class Counter:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()


def snapshot():
    return pickle.dumps(Counter())
""",
        ),
    )
    good = (
        # a logger from getLogger pickles by name
        Good(
            """\
import logging
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.log = logging.getLogger(__name__)
        self.root = logging.getLogger()
"""
        ),
        # the class drops the resource from its pickled state
        Good(
            """\
import threading
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("lock")
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.lock = threading.Lock()
"""
        ),
        # a base class of the same file defines __getstate__
        Good(
            """\
import threading
from torch import nn


class Base(nn.Module):
    def __reduce__(self):
        return (type(self), ())


class Net(Base):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
"""
        ),
        # a base class in another file of the project defines __getstate__
        Good(
            """\
from threading import Event
from pkg.base import Stateful


class Worker(Stateful):
    def __init__(self):
        super().__init__()
        self.stop = Event()
""",
            files={
                "pkg/__init__.py": "",
                "pkg/base.py": """\
import torch.nn as nn


class Stateful(nn.Module):
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("stop", None)
        return state
""",
            },
        ),
        # a helper that is neither a Module nor pickled anywhere
        Good(
            """\
import threading


class Prefetcher:
    def __init__(self):
        self.lock = None

    def start(self):
        self.lock = threading.Lock()
        self.worker = threading.Thread(target=self.run)
"""
        ),
        # a base class from another library may define __getstate__: not known, not reported
        Good(
            """\
import threading
from torch import nn
from somelib import SerializableMixin


class Net(nn.Module, SerializableMixin):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
"""
        ),
        # the method sets the attribute back to None before it returns
        Good(
            """\
import torch.nn as nn


class Net(nn.Module):
    def load_header(self, path):
        self.fh = open(path, "rb")
        try:
            self.header = self.fh.read(16)
        finally:
            self.fh.close()
            self.fh = None
"""
        ),
        # values that merely come from resources, and a lock kept at class level
        Good(
            """\
import threading
import torch.nn as nn


class Net(nn.Module):
    _lock = threading.Lock()

    def __init__(self, path):
        super().__init__()
        with open(path) as f:
            self.vocab = f.read().split()
        self.opener = open
        self.readers = [p for p in (path,)]
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        classifier: Optional[ResourceClassifier] = None
        for cls in ctx.classes:
            if not cls.stores or not ctx.is_pickled_class(cls):
                continue
            if ctx.defines_in_hierarchy(cls, *STATE_METHODS) or _assigns_state_method(cls):
                continue
            if classifier is None:
                classifier = ResourceClassifier(ctx)
            found: List[Tuple[AttrStore, Resource]] = []
            for position, store in enumerate(cls.stores, start=1):
                resource = classifier.classify_store(store, cls)
                if resource is not None and not _released_later(store, cls.stores[position:]):
                    found.append((store, resource))
            if not found or _has_foreign_base(ctx, cls):
                continue
            fix = _state_methods_fix(ctx, cls, found, classifier)
            yield Report(found[0][0].node, _message(ctx, cls, found), fix=fix)


def _message(ctx: FileContext, cls: ClassModel, found: List[Tuple[AttrStore, Resource]]) -> str:
    named: Dict[str, str] = {}
    for store, resource in found:
        named.setdefault(store.attr, resource.kind)
    listed = ", ".join(f"self.{attr}: {kind}" for attr, kind in named.items())
    what = "unpicklable resources" if len(named) > 1 else "an unpicklable resource"
    saved = "model" if ctx.is_module_class(cls) else "obj"
    error = found[0][1].error
    failure = f"torch.save({saved}), pickle and copy.deepcopy fail"
    if error is not None:
        failure += f" ({error})"
    return f'class "{cls.name}" stores {what} on self ({listed}) and defines no __getstate__: {failure}'


def _released_later(store: AttrStore, later: List[AttrStore]) -> bool:
    """Whether the same method surely sets the attribute back to None after storing the resource.

    `self.fh = open(p)` ... `self.fh = None` in one block (or in a `finally` / `with` body that
    follows) leaves nothing unpicklable behind once the method returns.
    """
    for other in later:
        if other.method is not store.method or other.attr != store.attr or not is_none(other.value):
            continue
        depth = len(store.frames)
        if len(other.frames) < depth:
            continue
        same_block = all(
            a.node is b.node and a.branch == b.branch for a, b in zip(store.frames, other.frames[:depth])
        )
        always_runs = all(
            (isinstance(f.node, (cst.Try, cst.TryStar)) and f.branch == -2) or isinstance(f.node, cst.With)
            for f in other.frames[depth:]
        )
        if same_block and always_runs:
            return True
    return False


def _assigns_state_method(cls: ClassModel) -> bool:
    """`__getstate__ = ...` in the class body counts as defining it."""
    body = cls.node.body
    if not isinstance(body, cst.IndentedBlock):
        return False
    for stmt in body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            targets = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                targets = [small.target]
            if any(isinstance(t, cst.Name) and t.value in STATE_METHODS for t in targets):
                return True
    return False


def _has_foreign_base(ctx: FileContext, cls: ClassModel) -> bool:
    """Whether some class in the hierarchy derives from a class outside the project that may pickle specially."""
    index = ctx.index
    seen: Set[str] = set()
    stack = [cls.qualname]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        found = index.resolve_class(current)
        if found is None:
            continue
        summary, summary_cls = found
        for base in summary_cls.bases:
            if _is_known_external(base, index.extra_bases):
                continue
            if index.resolve_class(base) is not None:
                stack.append(base)
                continue
            candidates = [f"{star}.{base}" for star in summary.star_imports]
            known = next((c for c in candidates if _is_known_external(c, index.extra_bases)), None)
            if known is not None:
                continue
            resolved = next((c for c in candidates if index.resolve_class(c) is not None), None)
            if resolved is None:
                return True
            stack.append(resolved)
    return False


def _is_known_external(qualname: str, extra_bases: FrozenSet[str]) -> bool:
    return (
        qualname in _NEUTRAL_BASES
        or qualname in MODULE_ROOTS
        or qualname in extra_bases
        or is_torch_module_name(qualname)
    )


# -- the fix: __getstate__ / __setstate__ at the end of the class ----------------------------

# names in the class body that change how instances pickle: a fix written without them in mind
# could be wrong
_DECLINE_NAMES: FrozenSet[str] = frozenset({"__setstate__", "__slots__", "__getstate__", "__reduce__", "__reduce_ex__"})


def _state_methods_fix(
    ctx: FileContext, cls: ClassModel, found: List[Tuple[AttrStore, Resource]], classifier: ResourceClassifier
) -> Optional[Fix]:
    """`__getstate__` that drops every resource attribute and `__setstate__` that re-creates them.

    Declines for a one-line class body, a class with keywords (a metaclass), one that defines or
    assigns `__setstate__` or `__slots__` (or inherits a project `__setstate__`), and when a
    resource attribute is stored in more than one place.
    """
    body = cls.node.body
    if not isinstance(body, cst.IndentedBlock) or cls.node.keywords:
        return None
    if _DECLINE_NAMES & (set(cls.methods) | _class_body_names(cls)):
        return None
    if ctx.defines_in_hierarchy(cls, "__setstate__"):
        return None
    attrs: Dict[str, Tuple[AttrStore, Resource]] = {}
    for store, resource in found:
        attrs.setdefault(store.attr, (store, resource))
    if any(len(cls.stores_of(attr)) != 1 for attr in attrs):
        return None

    text = ctx.text if ctx.text is not None else ctx.module.code
    starts = line_starts(text)
    lines = [text[start:end].rstrip("\r\n") for start, end in zip(starts, starts[1:] + [len(text)])]
    builder = FixBuilder(ctx)
    first_line, _, last_line, _ = builder.range_of(cls.node)
    class_line = lines[first_line - 1]
    outer = class_line[: len(class_line) - len(class_line.lstrip())]
    step = body.indent if body.indent is not None else ctx.module.default_indent
    member = outer + step
    inner = member + _method_step(cls, ctx.module.default_indent, step)

    module = ctx.is_module_class(cls)
    getstate = [f"{member}def __getstate__(self):"]
    if module:
        # Module.__getstate__ leaves out the in-place compiled call; copied so the pops below
        # never touch the live instance
        getstate.append(f"{inner}state = super().__getstate__().copy()")
    else:
        getstate.append(f"{inner}state = self.__dict__.copy()")
    setstate = [f"{member}def __setstate__(self, state):"]
    setstate.append(f"{inner}super().__setstate__(state)" if module else f"{inner}self.__dict__.update(state)")
    resource_attrs = frozenset(attrs)
    for attr, (store, resource) in attrs.items():
        getstate.append(f'{inner}state.pop("{attr}", None)')
        rebuilt = _replayed(ctx, cls, store, resource_attrs, classifier)
        if rebuilt is None:
            setstate.append(f"{inner}self.{attr} = None  # serialint: re-create this {resource.kind} after loading")
        else:
            code, note = rebuilt
            setstate.append(f"{inner}self.{attr} = {code}" + (f"  # {note}" if note else ""))
    getstate.append(f"{inner}return state")
    methods = ["", *getstate, "", *setstate]

    last_line = _after_trailing_comments(lines, last_line, outer)
    if last_line < len(starts):  # a line follows the class (empty when the file ends there)
        edit = Edit(last_line + 1, 0, last_line + 1, 0, "\n".join(methods) + "\n")
    else:
        end = len(lines[last_line - 1])
        edit = Edit(last_line, end, last_line, end, "\n" + "\n".join(methods))
    names = ", ".join(f"self.{attr}" for attr in attrs)
    return Fix(
        Applicability.UNSAFE,
        f"add __getstate__ leaving out {names} and __setstate__ re-creating what can be re-created",
        (edit,),
    )


def _class_body_names(cls: ClassModel) -> Set[str]:
    """Names assigned directly in the class body (`__slots__ = ...`, `__setstate__ = ...`)."""
    names: Set[str] = set()
    body = cls.node.body
    if not isinstance(body, cst.IndentedBlock):
        return names
    for stmt in body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            targets: List[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                targets = [small.target]
            names.update(t.value for t in targets if isinstance(t, cst.Name))
    return names


def _method_step(cls: ClassModel, default: str, fallback: str) -> str:
    """The indentation the class's own methods use for their bodies (tabs stay tabs)."""
    for method in cls.methods.values():
        block = method.node.body
        if isinstance(block, cst.IndentedBlock):
            return block.indent if block.indent is not None else default
    return fallback


def _after_trailing_comments(lines: List[str], last: int, outer: str) -> int:
    """The class's last line, counting comment lines indented inside it that follow its code."""
    current = last
    probe = last + 1
    while probe <= len(lines):
        line = lines[probe - 1]
        stripped = line.lstrip()
        if not stripped:
            probe += 1
            continue
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("#") and indent.startswith(outer) and len(indent) > len(outer):
            current = probe
            probe += 1
            continue
        break
    return current


def _replayed(
    ctx: FileContext,
    cls: ClassModel,
    store: AttrStore,
    resource_attrs: FrozenSet[str],
    classifier: ResourceClassifier,
) -> Optional[Tuple[str, Optional[str]]]:
    """The call that re-creates the resource in `__setstate__`, and its note; None when it cannot be repeated.

    Only an unconditional store in `__init__` of a known constructor call whose every argument
    is a literal, a parameter that `__init__` also stores on self unchanged, or such a stored
    attribute itself: those values come back with the pickled state.
    """
    method = store.method
    call = store.value
    if method.name != "__init__" or store.frames or not isinstance(call, cst.Call):
        return None
    qualname = classifier.callee(call, method)
    head = (dotted_name(call.func) or "").split(".", 1)[0]
    if qualname is None or not head or head in method.imported:
        return None
    how = replay(qualname, call)
    if how is None:
        return None
    arguments: List[str] = []
    for arg in call.args:
        if arg.star:
            return None
        value = _replayed_argument(ctx, cls, method, arg.value, resource_attrs)
        if value is None:
            return None
        arguments.append(f"{arg.keyword.value}={value}" if arg.keyword is not None else value)
    return f"{ctx.module.code_for_node(call.func)}({', '.join(arguments)})", how.note


def _replayed_argument(
    ctx: FileContext, cls: ClassModel, method: MethodModel, value: cst.BaseExpression, resource_attrs: FrozenSet[str]
) -> Optional[str]:
    if isinstance(value, (cst.SimpleString, cst.Integer, cst.Float)):
        return ctx.module.code_for_node(value)
    if isinstance(value, cst.Name):
        if value.value in ("True", "False", "None"):
            return value.value
        name = value.value
        if name not in method.params or name == method.self_name or name in method.bindings:
            return None
        for store in _method_stores(cls, method):
            stored = isinstance(store.value, cst.Name) and store.value.value == name
            if stored and _kept(cls, store.attr, resource_attrs):
                return f"self.{store.attr}"
        return None
    if (
        isinstance(value, cst.Attribute)
        and isinstance(value.value, cst.Name)
        and value.value.value == method.self_name
        and _kept(cls, value.attr.value, resource_attrs)
    ):
        return f"self.{value.attr.value}"
    return None


def _method_stores(cls: ClassModel, method: MethodModel) -> List[AttrStore]:
    return [s for s in cls.stores if s.method is method]


def _kept(cls: ClassModel, attr: str, resource_attrs: FrozenSet[str]) -> bool:
    """Whether `self.<attr>` surely holds, after loading, what `__init__` stored: one plain store there."""
    if attr in resource_attrs or attr in cls.methods:
        return False
    stores = cls.stores_of(attr)
    return len(stores) == 1 and stores[0].method.name == "__init__" and not stores[0].frames
