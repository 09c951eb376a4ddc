from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.findings import Applicability, Fix
from serialint.functions import (
    FunctionAnalysis,
    FunctionContainer,
    function_analysis,
    hoist_fix,
    pickled_classes,
    pickled_stores,
    store_label,
)
from serialint.model import ClassModel, FileContext, MethodModel
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.walk import visit

# Calls that create an empty or filled plain container: subscript stores and appends go into it.
_CONTAINER_FACTORIES = frozenset({"collections.OrderedDict", "collections.defaultdict"})
_BUILTIN_CONTAINERS = frozenset({"dict", "list", "set"})
# method -> (position of the added value, how the message says it)
_ADDING_METHODS: Dict[str, Tuple[int, str]] = {
    "append": (0, "appended to"),
    "add": (0, "added to"),
    "insert": (1, "inserted into"),
}


class FunctionContainerAttribute(Rule):
    """
    ## What it does
    Flags a dict, list, tuple or set holding lambdas or local functions stored on `self` in a
    Module class, or in another class whose instances are pickled: the "dict of functions" case.

    Seen: `self.losses = {"mse": lambda a, b: ..., "l1": ...}`, nested containers, `dict(k=...)`
    calls and names bound once to such a literal; the message names the keys or positions holding
    functions. Also a local function put into a plain container attribute later:
    `self.table["k"] = lambda ...`, `self.hooks.append(lambda ...)`, `.add(...)`,
    `.insert(i, ...)`, when every store of that attribute in the class is a dict/list/set literal,
    `dict()`, `list()`, `set()`, `OrderedDict()` or `defaultdict(...)`. One finding per
    statement; a function stored on `self` directly is SER201's or SER202's, never this rule's.

    ## Why is this bad?
    pickle saves every value in the container, and saves a function as a reference (its module
    and `__qualname__`); it refuses local ones, so `torch.save(model)` and `pickle.dumps(model)`
    raise `Can't pickle local object 'Trainer.__init__.<locals>.<lambda>'`. `copy.deepcopy(model)`
    still works (functions are copied by reference) and `state_dict()` is not affected. A dict of
    functions never scripts with TorchScript, even with module-level functions in it.

    ## Example
    ```python
    class Criterion(nn.Module):
        def __init__(self):
            super().__init__()
            self.losses = {
                "mse": lambda a, b: ((a - b) ** 2).mean(),
                "l1": lambda a, b: (a - b).abs().mean(),
            }
    ```

    ## Use instead
    Hoist each function to a module-level `def` (bind captured values with `functools.partial`):
    ```python
    def mse(a, b):
        return ((a - b) ** 2).mean()


    def l1(a, b):
        return (a - b).abs().mean()


    class Criterion(nn.Module):
        def __init__(self):
            super().__init__()
            self.losses = {"mse": mse, "l1": l1}
    ```
    `pickle`, `torch.save` and `torch.load(weights_only=False)` then work.

    ## Fix safety
    The fix is safe. It moves each lambda or nested `def` of the container to a module-level `def`
    placed above the class (and above its decorators and comments), named
    `_<class>_<attribute>_<key or position>` (`_<class>_<name>` for a function bound to a local
    name first; a numeric suffix when the name is taken), and writes that name where the function
    was created; the container keeps its shape. When a function reads parameters or locals of the
    method, it writes `functools.partial(def, name=name)` instead and the captured names become
    keyword-only parameters of the def; `import functools` is added unless the file already imports
    it or `partial`. A function added later (`self.table[k] = lambda ...`, `.append(...)`) is
    hoisted the same way.
    The function then receives the same objects at every call as the closure did, so the model
    behaves identically; `state_dict()` and existing checkpoints are untouched, and `pickle`,
    `torch.save` and `torch.load(weights_only=False)` now work. TorchScript is no worse: a stored
    `partial` does not script, nor did the local function. One difference remains:
    `copy.deepcopy(model)` copies the values a `partial` holds, where the closure shared them with
    the original model; they are equal, so this shows only if a captured mutable object is changed
    in place after the copy.

    No fix is offered when the rewrite cannot be shown equivalent for every function of the
    container: a captured name is `self` or a value read from it (`partial(fn, self)` pickles, but
    the copy made by `copy.deepcopy(model)` would then read itself where the closure read the
    original), is rebound, is bound otherwise than by one plain assignment among the method's
    top-level statements before the function is created (a loop target, a branch, an import,
    `global`/`nonlocal`), or holds a local function itself; the function has parameter defaults
    (`lambda x, k=k: ...`), `**kwargs` together with captured names, a nested function, class or
    comprehension, `yield` or `await`, a private name (the class mangles it), `super()` without
    arguments or `__class__`, or (a nested `def`) annotations; or the class is not at module level.
    A function returned by a factory also leaves the whole container without a fix.

    ## Known limits
    A class defining `__getstate__`, `__reduce__` or `__reduce_ex__` (itself or in a project base
    class) is not reported. Comprehensions (`{k: (lambda x: x) for k in ks}`), `OrderedDict([...])`
    of pairs, `.update(...)` / `.setdefault(...)` / `+=`, and functions put into a local container
    before it is stored (`acts = {}; acts["r"] = lambda x: x; self.acts = acts`) are not followed.
    Set members have no position, so a set is named without one. Entries removed before pickling
    are still reported.
    """

    code = "SER203"
    name = "function-container-attribute"
    needs_class = True
    fix_applicability = Applicability.SAFE
    summary = "put module-level defs in the container; bind captured values with functools.partial"

    bad = (
        Bad(
            """\
import torch.nn as nn


class Criterion(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight
        self.losses = {
            "mse": lambda a, b: ((a - b) ** 2).mean(),
            "l1": lambda a, b: (a - b).abs().mean(),
            "ce": nn.functional.cross_entropy,
        }
""",
            (
                Expected(
                    8,
                    9,
                    'dict stored on self.losses holds lambdas at ["mse"] and ["l1"]: torch.save(model) and '
                    "pickle fail (Can't pickle local object 'Criterion.__init__.<locals>.<lambda>')",
                ),
            ),
            fixed="""\
import torch.nn as nn


def _criterion_losses_mse(a, b):
    return ((a - b) ** 2).mean()


def _criterion_losses_l1(a, b):
    return (a - b).abs().mean()


class Criterion(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = weight
        self.losses = {
            "mse": _criterion_losses_mse,
            "l1": _criterion_losses_l1,
            "ce": nn.functional.cross_entropy,
        }
""",
        ),
        Bad(
            """\
import torch
from torch import nn


def make_scale(k):
    def scale(x):
        return x * k

    return scale


class Pipeline(nn.Module):
    def __init__(self):
        super().__init__()
        clip = lambda x: x.clamp(-1, 1)
        self.stages = [torch.tanh, (clip, make_scale(2.0))]
        self.table = {}
        self.post = []

    def register(self, name):
        self.table[name] = make_scale(0.5)
        self.post.append(lambda x: x.detach())
""",
            (
                Expected(
                    16,
                    9,
                    "list stored on self.stages holds local functions at [1][0] and [1][1]: "
                    "torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Pipeline.__init__.<locals>.<lambda>')",
                ),
                Expected(
                    21,
                    9,
                    "local function returned by make_scale() stored in self.table[name]: torch.save(model) "
                    "and pickle fail (Can't pickle local object 'make_scale.<locals>.scale')",
                ),
                Expected(
                    22,
                    9,
                    "lambda appended to self.post: torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Pipeline.register.<locals>.<lambda>')",
                ),
            ),
            fixed="""\
import torch
from torch import nn


def make_scale(k):
    def scale(x):
        return x * k

    return scale


def _pipeline_post(x):
    return x.detach()


class Pipeline(nn.Module):
    def __init__(self):
        super().__init__()
        clip = lambda x: x.clamp(-1, 1)
        self.stages = [torch.tanh, (clip, make_scale(2.0))]
        self.table = {}
        self.post = []

    def register(self, name):
        self.table[name] = make_scale(0.5)
        self.post.append(_pipeline_post)
""",
        ),
    )
    good = (
        # module-level defs, torch functions and bound methods in containers pickle by name
        Good(
            """\
import functools
import torch
import torch.nn as nn


def mse(a, b):
    return ((a - b) ** 2).mean()


class Criterion(nn.Module):
    def __init__(self):
        super().__init__()
        self.losses = {"mse": mse, "smooth": functools.partial(mse), "ce": torch.nn.functional.cross_entropy}
        self.steps = [self.normalize, torch.relu]

    def normalize(self, x):
        return x / x.norm()
"""
        ),
        # nn.ModuleDict holds modules, not functions; a lambda stored directly is SER201's
        Good(
            """\
import torch.nn as nn


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(2, 2)})
        self.act = lambda x: x
        self.heads["b"] = nn.Linear(2, 2)
"""
        ),
        # not a pickled class; and an attribute whose origin is unknown is not a plain container
        Good(
            """\
import torch.nn as nn


class Registry:
    def __init__(self):
        self.fns = {"id": lambda x: x}


class Net(nn.Module):
    def __init__(self, hooks):
        super().__init__()
        self.hooks = hooks
        self.hooks.append(lambda m: None)
        self.table = {}

    def forward(self, x):
        local = {"double": lambda t: t * 2}
        return local["double"](x)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        analysis = function_analysis(ctx)
        for item in pickled_stores(ctx):
            containers = analysis.possible_containers(item.value, item.scope)
            if containers:
                where = f"stored on {store_label(item.store)}"
                fix = _container_fix(analysis, item.cls, item.store.method, item.store.attr, containers)
                # one finding per stored value
                yield Report(item.store.node, _container_message(containers[0], where, item.consequence), fix=fix)
        for cls, consequence in pickled_classes(ctx):
            yield from _additions(ctx, analysis, cls, consequence)


def _additions(ctx: FileContext, analysis: FunctionAnalysis, cls: ClassModel, consequence: str) -> Iterator[Report]:
    """Local functions put into a plain container attribute after it was created."""
    attrs = {store.attr for store in cls.stores}
    plain = {attr for attr in attrs if _is_plain_container_attr(ctx, analysis, cls, attr)}
    if not plain:
        return
    for method in cls.methods.values():
        if method.self_name is None:
            continue
        collector = _SubscriptStores(method.self_name, plain)
        visit(method.node.body, collector)
        for target, value in collector.found:
            label = ctx.module.code_for_node(target)
            attr = target.value.attr.value if isinstance(target.value, cst.Attribute) else label
            report = _addition_report(analysis, cls, method, target, value, f"stored in {label}", consequence, attr)
            if report is not None:
                yield report
    for attr_call in cls.attr_calls:
        adding = _ADDING_METHODS.get(attr_call.name)
        if attr_call.attr not in plain or adding is None:
            continue
        position, verb = adding
        value = _positional(attr_call.call, position)
        if value is None:
            continue
        where = f"{verb} {attr_call.method.self_name}.{attr_call.attr}"
        report = _addition_report(
            analysis, cls, attr_call.method, attr_call.call, value, where, consequence, attr_call.attr
        )
        if report is not None:
            yield report


def _addition_report(
    analysis: FunctionAnalysis,
    cls: ClassModel,
    method: MethodModel,
    node: cst.CSTNode,
    value: cst.BaseExpression,
    where: str,
    consequence: str,
    attr: str,
) -> Optional[Report]:
    scope = analysis.method_scope(cls, method)
    functions = analysis.possible_local_functions(value, scope)
    if functions:
        function = functions[0]
        fix = hoist_fix(
            analysis, cls, [(method, each, attr) for each in functions], "move the functions to module-level defs"
        )
        return Report(node, f"{function.describe()} {where}: {consequence} ({function.pickle_error})", fix=fix)
    containers = analysis.possible_containers(value, scope)
    if containers:
        fix = _container_fix(analysis, cls, method, attr, containers)
        return Report(node, _container_message(containers[0], where, consequence), fix=fix)
    return None


def _container_fix(
    analysis: FunctionAnalysis, cls: ClassModel, method: MethodModel, attr: str, containers: List[FunctionContainer]
) -> Optional[Fix]:
    """Hoists every function of every container the value may be; the containers keep their shape."""
    targets = [
        (method, entry.function, f"{attr}{entry.path}") for container in containers for entry in container.entries
    ]
    return hoist_fix(analysis, cls, targets, "move the functions to module-level defs")


def _positional(call: cst.Call, position: int) -> Optional[cst.BaseExpression]:
    """The argument at `position` when every argument up to it is a plain positional one."""
    args = call.args
    if len(args) <= position or any(arg.keyword is not None or arg.star for arg in args[: position + 1]):
        return None
    return args[position].value


def _is_plain_container_attr(ctx: FileContext, analysis: FunctionAnalysis, cls: ClassModel, attr: str) -> bool:
    """Every store of `attr` in the class creates a plain dict/list/set, whose items pickle as they are."""
    for store in cls.stores_of(attr):
        value = store.value
        if isinstance(value, (cst.Dict, cst.List, cst.Set)):
            continue
        if isinstance(value, cst.Call):
            scope = analysis.method_scope(cls, store.method)
            if isinstance(value.func, cst.Name) and value.func.value in _BUILTIN_CONTAINERS:
                if not scope.shadows(value.func.value):
                    continue
            elif ctx.qualify(value.func) in _CONTAINER_FACTORIES:
                continue
        return False
    return True


class _SubscriptStores(cst.CSTVisitor):
    """`self.<attr>[key] = value` in one method body, for the given attributes; nested scopes skipped."""

    def __init__(self, self_name: str, attrs: Set[str]) -> None:
        super().__init__()
        self.self_name = self_name
        self.attrs = attrs
        self.found: List[Tuple[cst.Subscript, cst.BaseExpression]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            subscript = target.target
            if (
                isinstance(subscript, cst.Subscript)
                and isinstance(subscript.value, cst.Attribute)
                and isinstance(subscript.value.value, cst.Name)
                and subscript.value.value.value == self.self_name
                and subscript.value.attr.value in self.attrs
            ):
                self.found.append((subscript, node.value))


def _container_message(container: FunctionContainer, where: str, consequence: str) -> str:
    count = len(container.entries)
    if container.only_lambdas:
        what = "a lambda" if count == 1 else "lambdas"
    else:
        what = "a local function" if count == 1 else "local functions"
    paths = container.paths()
    at = f" at {_join(paths)}" if paths else ""
    error = container.entries[0].function.pickle_error
    return f"{container.kind} {where} holds {what}{at}: {consequence} ({error})"


def _join(items: List[str]) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"
