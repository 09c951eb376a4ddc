from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.flow import FileFlow, Point, ScopeKind, file_flow, qualified_callee, source_text
from serialint.flow import Scope as FlowScope
from serialint.functions import FunctionAnalysis, LocalFunction, Scope, function_analysis
from serialint.model import ClassModel, FileContext, MethodModel, call_arg, is_none, string_value
from serialint.pickled import DATALOADERS
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.walk import visit

POOLS: FrozenSet[str] = frozenset({"multiprocessing.Pool", "multiprocessing.pool.Pool", "torch.multiprocessing.Pool"})
PROCESS_EXECUTORS: FrozenSet[str] = frozenset(
    {"concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor"}
)
PROCESSES: FrozenSet[str] = frozenset(
    {"multiprocessing.Process", "multiprocessing.context.Process", "torch.multiprocessing.Process"}
)
GET_CONTEXT: FrozenSet[str] = frozenset({"multiprocessing.get_context", "torch.multiprocessing.get_context"})
SET_START_METHOD: FrozenSet[str] = frozenset(
    {"multiprocessing.set_start_method", "torch.multiprocessing.set_start_method"}
)
TORCH_SPAWN: FrozenSet[str] = frozenset({"torch.multiprocessing.spawn", "torch.multiprocessing.spawn.spawn"})
TORCH_START_PROCESSES: FrozenSet[str] = frozenset(
    {"torch.multiprocessing.start_processes", "torch.multiprocessing.spawn.start_processes"}
)
# Methods that pickle their function argument to send it to a worker, with that argument's keyword.
POOL_METHODS: Dict[str, str] = {
    name: "func"
    for name in ("map", "map_async", "imap", "imap_unordered", "starmap", "starmap_async", "apply", "apply_async")
}
EXECUTOR_METHODS: Dict[str, str] = {"submit": "fn", "map": "fn"}

# The last names of the calls above (other spellings are bare-name aliases, like `DL(...)`).
_CONSTRUCTOR_NAMES: FrozenSet[str] = frozenset(
    name.rsplit(".", 1)[-1]
    for name in (*DATALOADERS, *POOLS, *PROCESS_EXECUTORS, *PROCESSES, *TORCH_SPAWN, *TORCH_START_PROCESSES)
)

# Only files importing one of these can start processes in a way this rule recognises.
_ROOTS: FrozenSet[str] = frozenset({"torch", "multiprocessing", "concurrent"})
_METHODS: FrozenSet[str] = frozenset({"fork", "spawn", "forkserver"})

# Start methods, as far as they are known at a call.
_DEFAULT = "default"  # the platform's default, unless the file sets another
_UNKNOWN = "unknown"  # chosen explicitly by an expression that cannot be read

_DEFAULT_METHODS = "spawn or forkserver (the default on macOS and Windows, and on Linux from Python 3.14)"


@dataclass(frozen=True)
class _Sink:
    """An argument that is pickled when processes start (or tasks are sent), and what to say."""

    argument: cst.BaseExpression
    point: Point
    message: str  # what follows the function's description: " passed as collate_fn to ...: ..."


class LambdaToWorker(Rule):
    """
    ## What it does
    Flags a local function handed to another process through a `DataLoader` with workers, a
    process pool, `Process(target=...)` or `torch.multiprocessing.spawn`.

    Local functions: a lambda, a `def` nested in a function or method, a closure returned by a
    factory of the same file, `functools.partial` over one of those, or a lambda bound to a
    module-level name. The places recognised:
    - `collate_fn=` / `worker_init_fn=` of a `DataLoader` whose `num_workers` may be non-zero
      (absent or a literal `0` means no workers; any other value or expression may start some);
    - the function of `map`, `imap`, `imap_unordered`, `starmap`, `apply`, `apply_async` (and
      their `_async` forms) on a `multiprocessing` pool, and of `submit` / `map` on a
      `concurrent.futures.ProcessPoolExecutor`: the pool built in place, bound to a name (also
      with `with ... as pool`), stored on `self` in `__init__`, or made from `get_context(...)`;
      also their `initializer=`;
    - `Process(target=...)` (`multiprocessing`, `torch.multiprocessing`, or a context's `Process`);
    - `torch.multiprocessing.spawn(fn, ...)` and `torch.multiprocessing.start_processes(fn, ...)`.

    ## Why is this bad?
    pickle writes a function as a reference to its module and `__qualname__`, and refuses local
    functions: `Can't pickle local object 'main.<locals>.<lambda>'` (Python 3.11 raises it as an
    `AttributeError`). A process pool pickles the function to send each task, so `Pool.map`,
    `apply_async` and `ProcessPoolExecutor.submit` fail under every start method, fork included.
    `DataLoader` workers, pool initializers and `Process` targets are pickled only when the
    process is started with spawn or forkserver: spawn is the default on macOS and Windows, and
    Linux moves to forkserver with Python 3.14, so code that works on a Linux machine today fails
    there (`iter(loader)` raises in the parent, when the workers start).
    `torch.multiprocessing.spawn` always uses spawn. Thread pools (`ThreadPoolExecutor`,
    `multiprocessing.pool.ThreadPool`, `multiprocessing.dummy`) and `num_workers=0` pickle
    nothing and are fine.

    ## Example
    ```python
    def main(cfg):
        pad = cfg.pad_id
        loader = DataLoader(
            dataset,
            batch_size=32,
            num_workers=cfg.workers,
            collate_fn=lambda batch: pad_batch(batch, pad),
        )
    ```

    ## Use instead
    Hoist the function to a module-level `def` and bind captured values with `functools.partial`:
    ```python
    def pad_collate(batch, pad):
        return pad_batch(batch, pad)


    def main(cfg):
        loader = DataLoader(
            dataset,
            batch_size=32,
            num_workers=cfg.workers,
            collate_fn=functools.partial(pad_collate, pad=cfg.pad_id),
        )
    ```
    The `partial` pickles as a reference to `pad_collate` plus its bound values, so workers
    started with any start method receive it.

    ## Fix safety
    No automatic fix is offered by this rule yet.

    ## Known limits
    Only values that can be followed are judged; otherwise the rule stays silent. Not followed:
    a pool, executor or function received as a parameter; a function name bound more than once
    in its function; a pool name whose binding at the call is not certain (rebound in a branch or
    a loop) or that is chosen by a conditional expression (`ProcessPoolExecutor() if p else
    ThreadPoolExecutor()`); `**kwargs` given to a `DataLoader` (they may hold `num_workers`);
    `DataLoader` subclasses and other libraries' pools. Factories are followed as in SER201-SER203
    (same file, undecorated, returning a local function on every path). A lambda written inside
    a comprehension or another lambda is not reported: its `__qualname__` differs between Python
    versions. An explicit fork start method (`multiprocessing_context="fork"`,
    `get_context("fork")`, `start_method="fork"`, or `set_start_method("fork")` anywhere in the
    same file) silences the cases that depend on it; one set in another file is not seen. A
    start method given as an expression is taken as possibly spawn. A module-level `def` that only
    exists under `if __name__ == "__main__":` is not reported, although a spawned child does not
    define it either.
    """

    code = "SER206"
    name = "lambda-to-worker"
    triggers = ("DataLoader", "Pool", "ProcessPoolExecutor", "Process", "spawn", "start_processes")
    summary = "pass a module-level def (with functools.partial for captured values) to other processes"

    bad = (
        Bad(
            """\
from torch.utils.data import DataLoader


def main(dataset, cfg):
    pad = cfg.pad_id
    loader = DataLoader(
        dataset,
        batch_size=32,
        num_workers=4,
        collate_fn=lambda batch: [b + [pad] for b in batch],
    )

    def seed_worker(worker_id):
        print(worker_id)

    return DataLoader(dataset, num_workers=cfg.workers, worker_init_fn=seed_worker)
""",
            (
                Expected(
                    10,
                    20,
                    "lambda passed as collate_fn to DataLoader with num_workers=4: worker processes started with "
                    "spawn or forkserver (the default on macOS and Windows, and on Linux from Python 3.14) cannot "
                    "pickle it (Can't pickle local object 'main.<locals>.<lambda>')",
                ),
                Expected(
                    16,
                    72,
                    "local function seed_worker passed as worker_init_fn to DataLoader with "
                    "num_workers=cfg.workers: worker processes started with spawn or forkserver (the default on "
                    "macOS and Windows, and on Linux from Python 3.14) cannot pickle it "
                    "(Can't pickle local object 'main.<locals>.seed_worker')",
                ),
            ),
        ),
        Bad(
            """\
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor as PPE


def tokenize_all(paths, vocab):
    def encode(path):
        return [vocab[w] for w in open(path).read().split()]

    with PPE(max_workers=8) as ex:
        futures = [ex.submit(encode, p) for p in paths]
    with mp.get_context("spawn").Pool(4) as pool:
        lengths = pool.map(lambda p: len(open(p).read()), paths)
    return futures, lengths
""",
            (
                Expected(
                    10,
                    30,
                    "local function encode passed to ex.submit(): the process pool pickles the function to send "
                    "each task, so this fails under every start method, fork included "
                    "(Can't pickle local object 'tokenize_all.<locals>.encode')",
                ),
                Expected(
                    12,
                    28,
                    "lambda passed to pool.map(): the process pool pickles the function to send each task, so "
                    "this fails under every start method, fork included "
                    "(Can't pickle local object 'tokenize_all.<locals>.<lambda>')",
                ),
            ),
        ),
        Bad(
            """\
import torch.multiprocessing as mp


def launch(world_size, cfg):
    def worker(rank):
        print(rank, cfg)

    mp.spawn(worker, nprocs=world_size)
    ctx = mp.get_context("forkserver")
    watcher = ctx.Process(target=lambda: print("watching"), daemon=True)
    watcher.start()
""",
            (
                Expected(
                    8,
                    14,
                    "local function worker passed to torch.multiprocessing.spawn(): it always starts processes with "
                    "spawn, which cannot pickle it (Can't pickle local object 'launch.<locals>.worker')",
                ),
                Expected(
                    10,
                    34,
                    "lambda passed as target to Process: a process started with forkserver cannot pickle it "
                    "(Can't pickle local object 'launch.<locals>.<lambda>')",
                ),
            ),
        ),
    )
    good = (
        # thread pools pickle nothing
        Good(
            """\
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import ThreadPool


def fetch_all(urls, session):
    with ThreadPoolExecutor(max_workers=8) as ex:
        pages = list(ex.map(lambda u: session.get(u), urls))
    with ThreadPool(4) as pool:
        sizes = pool.map(lambda p: len(p), pages)
    return sizes
"""
        ),
        # no worker processes: num_workers absent or 0
        Good(
            """\
from torch.utils.data import DataLoader


def make_loaders(train, val, pad):
    train_loader = DataLoader(train, batch_size=8, num_workers=0, collate_fn=lambda b: b + [pad])
    val_loader = DataLoader(val, batch_size=8, collate_fn=lambda b: b)
    return train_loader, val_loader
"""
        ),
        # module-level functions and partials over them pickle by reference
        Good(
            """\
import functools
import multiprocessing
import torch.utils.data as tud


def pad_collate(batch, pad):
    return [b + [pad] for b in batch]


def square(x):
    return x * x


def main(dataset, workers):
    loader = tud.DataLoader(dataset, num_workers=workers, collate_fn=functools.partial(pad_collate, pad=0))
    with multiprocessing.Pool(4) as pool:
        squares = pool.map(square, range(10))
    return loader, squares
"""
        ),
        # fork chosen explicitly: nothing is pickled when the workers start
        Good(
            """\
import multiprocessing as mp
from torch.utils.data import DataLoader


def main(dataset):
    loader = DataLoader(dataset, num_workers=2, collate_fn=lambda b: b, multiprocessing_context="fork")
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=lambda: print(len(dataset)))
    proc.start()
    return loader
"""
        ),
        # not known to be a process pool, or the function is not known
        Good(
            """\
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor


def run(jobs, executor, use_processes, fn):
    executor.submit(lambda: None)
    pool = ProcessPoolExecutor() if use_processes else ThreadPoolExecutor()
    pool.submit(lambda: None)
    with ProcessPoolExecutor() as ex:
        ex.submit(fn, jobs)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        if not any(target.split(".", 1)[0] in _ROOTS for target in ctx.summary.imports.values()):
            return
        flow = file_flow(ctx)
        functions = function_analysis(ctx)
        scopes = _ScopeMap(ctx, functions)
        finder = _SinkFinder(ctx, flow)
        for site in flow.call_sites:
            for sink in finder.sinks(site.call, site.point):
                function = _local_function(functions, scopes, sink.argument, sink.point)
                if function is not None:
                    yield Report(sink.argument, f"{function.describe()}{sink.message} ({function.pickle_error})")


def _local_function(
    functions: FunctionAnalysis, scopes: "_ScopeMap", expr: cst.BaseExpression, point: Point
) -> Optional[LocalFunction]:
    """The local function `expr` may evaluate to at `point`, or None when it is not one or not known."""
    flow_scope = point.scope
    hidden: Set[str] = set()
    nested = False
    while flow_scope.kind in (ScopeKind.LAMBDA, ScopeKind.COMPREHENSION):
        # serialint.functions does not model these scopes: a name they bind would be looked up
        # in the enclosing function instead, so such names are not followed
        hidden.update(flow_scope.params)
        hidden.update(flow_scope.bindings)
        nested = True
        assert flow_scope.parent is not None
        flow_scope = flow_scope.parent
    scope = scopes.scope(flow_scope)
    if scope is None or _names_outside_lambdas(expr) & hidden:
        return None
    for function in functions.possible_local_functions(expr, scope):
        if nested and _contains(expr, function.node):
            continue  # written inside a comprehension or lambda: its qualname depends on the Python version
        return function
    return None


def _names_outside_lambdas(expr: cst.BaseExpression) -> Set[str]:
    names: Set[str] = set()

    class _Collect(cst.CSTVisitor):
        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

    visit(expr, _Collect())
    return names


def _contains(expr: cst.CSTNode, target: cst.CSTNode) -> bool:
    found = False

    class _Find(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal found
            if node is target:
                found = True
            return not found

    visit(expr, _Find())
    return found


class _SinkFinder:
    """Recognises the calls that hand a function to another process."""

    def __init__(self, ctx: FileContext, flow: FileFlow) -> None:
        self.ctx = ctx
        self.flow = flow
        self._default: Optional[str] = None

    def sinks(self, call: cst.Call, point: Point) -> Iterator[_Sink]:
        func = call.func
        if isinstance(func, cst.Attribute):
            if func.attr.value in POOL_METHODS or func.attr.value in EXECUTOR_METHODS:
                yield from self._task_sinks(call, func, point)
            if func.attr.value not in _CONSTRUCTOR_NAMES:
                return
        qualname = self._callee(func, point)
        method = _DEFAULT  # the start method
        if qualname is None:
            constructed = self._context_constructor(func, point)
            if constructed is None:
                return
            qualname, method = constructed
        if qualname in DATALOADERS:
            yield from self._dataloader_sinks(call, point)
        elif qualname in POOLS:
            yield from self._initializer_sink(call, point, "Pool", 1, call_arg(call, 4, "context"), method)
        elif qualname in PROCESS_EXECUTORS:
            yield from self._initializer_sink(
                call, point, "ProcessPoolExecutor", 2, call_arg(call, 1, "mp_context"), method
            )
        elif qualname in PROCESSES:
            yield from self._start_dependent(
                call_arg(call, 1, "target"), point, "passed as target to Process", "a process", method
            )
        elif qualname in TORCH_SPAWN:
            argument = call_arg(call, 0, "fn")
            if argument is not None:
                yield _Sink(
                    argument,
                    point,
                    " passed to torch.multiprocessing.spawn(): it always starts processes with spawn, "
                    "which cannot pickle it",
                )
        elif qualname in TORCH_START_PROCESSES:
            chosen = call_arg(call, 5, "start_method")
            if chosen is None:
                label = "spawn (its default start_method)"
            else:
                method = self._method_of(chosen, point)
                if method == _DEFAULT:
                    method = self._default_method()
                if method == "fork":
                    return
                label = _started_with(method)
            argument = call_arg(call, 0, "fn")
            if argument is not None:
                yield _Sink(
                    argument,
                    point,
                    " passed to torch.multiprocessing.start_processes(): processes started with "
                    f"{label} cannot pickle it",
                )

    # -- what is called ----------------------------------------------------------------------
    def _callee(self, func: cst.BaseExpression, point: Point) -> Optional[str]:
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return None
        return qualified_callee(self.ctx, self.flow, func, point)

    def _context_constructor(self, func: cst.BaseExpression, point: Point) -> Optional[Tuple[str, str]]:
        """`ctx.Pool` / `ctx.Process` on a `get_context(...)` result: the class and the start method."""
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("Pool", "Process"):
            return None
        method = self._context_method(func.value, point)
        if method is None:
            return None
        return ("multiprocessing.Pool" if func.attr.value == "Pool" else "multiprocessing.Process"), method

    def _context_method(self, expr: cst.BaseExpression, point: Point) -> Optional[str]:
        """The start method of a `get_context(...)` result, or None when `expr` is not one."""
        value = self.flow.value(expr, point)
        if value is None or value.entered or not isinstance(value.node, cst.Call):
            return None
        call = value.node
        if self._callee(call.func, value.point) not in GET_CONTEXT:
            return None
        if not call.args:
            return _DEFAULT
        chosen = call_arg(call, 0, "method")
        if chosen is None:
            return _UNKNOWN  # `*args` or `**kwargs`
        return self._method_of(chosen, value.point)

    def _method_of(self, expr: cst.BaseExpression, point: Point) -> str:
        """The start method a `multiprocessing_context=` / `mp_context=` / `start_method=` value selects."""
        if is_none(expr):
            return _DEFAULT
        text = string_value(expr)
        if text is None:
            value = self.flow.value(expr, point)
            if value is not None and not value.entered:
                text = string_value(value.node) if isinstance(value.node, cst.BaseExpression) else None
        if text is not None:
            return text if text in _METHODS else _UNKNOWN
        context = self._context_method(expr, point)
        return context if context is not None else _UNKNOWN

    def _default_method(self) -> str:
        """fork when the file sets it as the start method; otherwise the platform default."""
        if self._default is None:
            self._default = _DEFAULT
            for site in self.flow.call_sites:
                func = site.call.func
                if isinstance(func, (cst.Name, cst.Attribute)) and self._callee(func, site.point) in SET_START_METHOD:
                    if string_value(call_arg(site.call, 0, "method")) == "fork":
                        self._default = "fork"
        return self._default

    # -- the sinks ---------------------------------------------------------------------------
    def _task_sinks(self, call: cst.Call, func: cst.Attribute, point: Point) -> Iterator[_Sink]:
        kind = self._pool_kind(func.value, point)
        method = func.attr.value
        if kind == "pool" and method in POOL_METHODS:
            keyword = POOL_METHODS[method]
        elif kind == "executor" and method in EXECUTOR_METHODS:
            keyword = EXECUTOR_METHODS[method]
        else:
            return
        argument = call_arg(call, 0, keyword)
        if argument is not None:
            receiver = source_text(self.ctx, func.value, 40)
            yield _Sink(
                argument,
                point,
                f" passed to {receiver}.{method}(): the process pool pickles the function to send "
                "each task, so this fails under every start method, fork included",
            )

    def _pool_kind(self, receiver: cst.BaseExpression, point: Point) -> Optional[str]:
        """"pool" for a multiprocessing pool, "executor" for a ProcessPoolExecutor, else None."""
        value = self.flow.value(receiver, point)
        if value is None or not isinstance(value.node, cst.Call):
            return None  # unknown, a parameter, or an expression that may be a thread pool
        call, at = value.node, value.point
        qualname = self._callee(call.func, at)
        if qualname is None:
            constructed = self._context_constructor(call.func, at)
            qualname = constructed[0] if constructed is not None else None
        if qualname in POOLS:
            return "pool"  # Pool.__enter__ returns the pool itself
        if qualname in PROCESS_EXECUTORS:
            return "executor"
        return None

    def _dataloader_sinks(self, call: cst.Call, point: Point) -> Iterator[_Sink]:
        workers = call_arg(call, 5, "num_workers")
        if workers is None or not self._may_be_non_zero(workers, point):
            return  # absent (or hidden in **kwargs / after *args): no worker processes known
        described = f"num_workers={source_text(self.ctx, workers, 40)}"
        context = call_arg(call, 11, "multiprocessing_context")
        method = _DEFAULT if context is None else self._method_of(context, point)
        if context is not None and not is_none(context):
            described += f" and multiprocessing_context={source_text(self.ctx, context, 40)}"
        for position, name in ((6, "collate_fn"), (10, "worker_init_fn")):
            yield from self._start_dependent(
                call_arg(call, position, name),
                point,
                f"passed as {name} to DataLoader with {described}",
                "worker processes",
                method,
            )

    def _may_be_non_zero(self, workers: cst.BaseExpression, point: Point) -> bool:
        value = self.flow.value(workers, point)
        node = value.node if value is not None and not value.entered else workers
        if isinstance(node, cst.Name) and node.value == "False":
            return False  # False == 0: no workers
        return not (isinstance(node, cst.Integer) and node.evaluated_value == 0)

    def _initializer_sink(
        self,
        call: cst.Call,
        point: Point,
        label: str,
        position: int,
        context: Optional[cst.BaseExpression],
        method: str,
    ) -> Iterator[_Sink]:
        if context is not None and method == _DEFAULT:
            method = self._method_of(context, point)
        initializer = call_arg(call, position, "initializer")
        yield from self._start_dependent(
            initializer, point, f"passed as initializer to {label}", "worker processes", method
        )

    def _start_dependent(
        self, argument: Optional[cst.BaseExpression], point: Point, passed: str, started: str, method: str
    ) -> Iterator[_Sink]:
        """A function pickled only when the process is started with spawn or forkserver."""
        if argument is None:
            return
        if method == _DEFAULT:
            method = self._default_method()
        if method == "fork":
            return
        yield _Sink(argument, point, f" {passed}: {started} started with {_started_with(method)} cannot pickle it")


def _started_with(method: str) -> str:
    """How a message names the start method(s) under which the function is pickled."""
    if method == _DEFAULT:
        return _DEFAULT_METHODS
    if method == _UNKNOWN:
        return "spawn or forkserver"
    return method


class _ScopeMap:
    """The serialint.functions scope of a flow scope's body, built only for scopes that hold a sink."""

    def __init__(self, ctx: FileContext, functions: FunctionAnalysis) -> None:
        self.ctx = ctx
        self.functions = functions
        self._methods: Optional[Dict[int, Tuple[ClassModel, MethodModel]]] = None
        self._scopes: Dict[int, Optional[Scope]] = {}

    def scope(self, flow_scope: FlowScope) -> Optional[Scope]:
        """None for class bodies, lambdas and comprehensions, which serialint.functions does not model."""
        if flow_scope.kind is ScopeKind.MODULE:
            return self.functions.module_scope
        if flow_scope.kind is not ScopeKind.FUNCTION:
            return None
        key = id(flow_scope.node)
        if key not in self._scopes:
            self._scopes[key] = self._function_scope(flow_scope)
        return self._scopes[key]

    def _function_scope(self, flow_scope: FlowScope) -> Optional[Scope]:
        node = flow_scope.node
        assert isinstance(node, cst.FunctionDef) and flow_scope.parent is not None
        parent = flow_scope.parent
        if parent.kind is not ScopeKind.CLASS:
            enclosing = self.scope(parent)
            return self.functions.function_scope(node, enclosing) if enclosing is not None else None
        found = self._method_models().get(id(node))
        if found is not None:
            return self.functions.method_scope(*found)
        # a method of a class defined inside a function (or a second def of one name)
        classes: List[str] = []
        outer: Optional[FlowScope] = parent
        while outer is not None and outer.kind is ScopeKind.CLASS:
            classes.insert(0, outer.node.name.value)  # type: ignore[attr-defined]
            outer = outer.parent
        enclosing = self.scope(outer) if outer is not None else None
        if enclosing is None:
            return None
        qualname = ".".join([enclosing.local_qualname(classes[0]), *classes[1:], node.name.value])
        return self.functions.function_scope(node, enclosing, qualname)

    def _method_models(self) -> Dict[int, Tuple[ClassModel, MethodModel]]:
        if self._methods is None:
            self._methods = {id(m.node): (cls, m) for cls in self.ctx.classes for m in cls.methods.values()}
        return self._methods
