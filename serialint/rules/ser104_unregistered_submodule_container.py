from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from serialint.findings import Applicability, Edit, Fix
from serialint.fixes import FixBuilder, line_starts
from serialint.model import (
    AttrStore,
    ClassModel,
    FileContext,
    MethodModel,
    call_arg,
    dotted_name,
    is_none,
    string_value,
)
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.tensors import (
    Construction,
    Scope,
    Walked,
    class_registrations,
    construction,
    method_nodes,
    saves_state_itself,
)

# `self.ws.append(p)` and friends: the argument holding the added members, and how it holds them.
_ADDERS: Dict[str, Tuple[int, str, bool]] = {
    # method: (position, keyword, the argument is an iterable of members)
    "append": (0, "object", False),
    "insert": (1, "object", False),
    "extend": (0, "iterable", True),
    "setdefault": (1, "default", False),
    "update": (0, "m", True),
}

_REGISTERING_METHODS = frozenset(("add_module", "register_module", "register_parameter", "register_buffer"))

# Builtins that read a container without keeping its members anywhere.
_READING_BUILTINS = frozenset(
    "len enumerate zip reversed iter sorted range print isinstance any all repr str".split()
)

_FIXES = {
    ("list", "module"): "nn.ModuleList",
    ("tuple", "module"): "nn.ModuleList",
    ("dict", "module"): "nn.ModuleDict",
    ("list", "parameter"): "nn.ParameterList",
    ("tuple", "parameter"): "nn.ParameterList",
    ("dict", "parameter"): "nn.ParameterDict",
}


@dataclass
class _Container:
    """A plain list, tuple or dict, and the expressions of its members as far as they are known."""

    kind: str  # "list", "tuple" or "dict"
    members: List[cst.BaseExpression] = field(default_factory=list)


class UnregisteredSubmoduleContainer(Rule):
    """
    ## What it does
    Flags Modules or Parameters held in a plain `list`, `tuple` or `dict` attribute of a Module
    class.

    The members may be built in place (`self.layers = [nn.Linear(d, d) for _ in range(n)]`,
    `self.heads = {"cls": nn.Linear(d, k)}`), built in a local and stored (`blocks = []`,
    `blocks.append(Block(cfg))`, `self.blocks = blocks`), or added later
    (`self.ws = []`, `self.ws.append(nn.Parameter(...))`, `self.heads[name] = nn.Linear(...)`).

    ## Why is this bad?
    `nn.Module` registers a submodule or Parameter only when it is assigned directly to an
    attribute, or held by `nn.ModuleList` / `nn.ModuleDict` / `nn.ParameterList` /
    `nn.ParameterDict`. Members of a plain container are invisible to torch: they are missing from
    `state_dict()` and from `parameters()` (an optimiser built from `model.parameters()` never
    updates them), and `.to()` / `.cuda()` do not move them. No error is raised anywhere: loading
    a checkpoint succeeds and silently keeps the fresh instance's random weights.

    ## Example
    ```python
    class MultiHead(nn.Module):
        def __init__(self, d, tasks):
            super().__init__()
            self.heads = {task: nn.Linear(d, 1) for task in tasks}
    ```

    ## Use instead
    ```python
    class MultiHead(nn.Module):
        def __init__(self, d, tasks):
            super().__init__()
            self.heads = nn.ModuleDict({task: nn.Linear(d, 1) for task in tasks})
    ```
    `nn.ModuleList` replaces a list or tuple of Modules, `nn.ParameterList` / `nn.ParameterDict`
    hold Parameters. The container adds keys (`heads.cls.weight`, `ws.0`): checkpoints saved
    before the change lack them, so a strict load fails with `Missing key(s) in state_dict`;
    there was nothing trained to recover in them, so load those once with `strict=False`.

    ## Fix safety
    Unsafe. The fix wraps the container where it is stored: `[...]` becomes
    `nn.ModuleList([...])`, a tuple `(a, b)` becomes `nn.ModuleList([a, b])`, `{"a": ...}`
    becomes `nn.ModuleDict({"a": ...})`, Parameters go to `nn.ParameterList` /
    `nn.ParameterDict`, an empty `[]` / `{}` / `list()` / `dict()` filled later becomes
    `nn.ModuleList()` (and so on), and a local list stored once becomes `nn.ModuleList(blocks)`.
    `nn` is spelled the way the file imports it; `import torch.nn` is added when it does not.
    The members then appear in `state_dict()` under new keys (`layers.0.weight`), so a
    checkpoint saved before the fix lacks them and a strict `load_state_dict` fails with
    `Missing key(s) in state_dict`. Those checkpoints never held the members' trained values:
    load them once with `strict=False`, train or copy the weights in, and save a new checkpoint.
    A tuple becomes mutable.

    There is no fix when the attribute is stored more than once, outside `__init__`, inside a
    branch, loop or `with`, or before `super().__init__()` (torch refuses a Module container
    there); when a class of the file subclasses this one; when any member is not certainly a
    Module, or certainly a Parameter, or when Modules and Parameters are mixed; for dict
    comprehensions, `dict(...)` with arguments, or keys that are not plain string literals a
    ModuleDict accepts (no dots, no leading `_`, not a name such as `keys` or `train` the
    container already has); for a local list used after it is stored. The class may use the
    attribute only in ways the torch container supports alike: iterating it (also through
    `len`, `enumerate`, `zip`, `iter`, `list`, `tuple`, `reversed` for lists, `sorted` for
    dicts), reading `self.a[i]` (a slice only where it is iterated), `append` / `extend` /
    `insert` as statements on lists (`insert` not on ParameterList), `self.a["key"] = m`,
    `.items()` / `.keys()` / `.values()` and `in` on dicts. Anything else (`self.layers + [...]`,
    slice or item assignment on a list, `del`, `.sort()`, `.get(...)`, handing the container to
    a function, `if self.layers:`) keeps the fix away. Uses outside the class (`model.layers`
    elsewhere, in a subclass of another file) are not seen.

    ## Known limits
    Members count only when they are built here and their class is certain: torch Modules and
    `nn.Parameter` resolved through the file's imports, Module classes of the linted project, and
    `copy.deepcopy` of those, directly or through a local bound once.
    `self.layers = [make_layer(i) for i in ...]` is unknown and not reported. Modules handed in as
    arguments are not reported even when annotated: `self._teacher = [teacher]` is a known idiom
    to keep a Module out of the registry on purpose. torch Modules with nothing to save
    (activations, dropout, pooling, losses, whose `weight=` is a constant, an empty
    `nn.Sequential()`) and project Modules of the same file with no `__init__` lose nothing and
    are not reported.

    A list that only refers to Modules registered elsewhere (`self.blocks = [self.a, self.b]`)
    is fine and not reported. When the class hands the container to a call that may register
    its members (`nn.Sequential(*self.layers)`), stores one of its members on another attribute,
    registers Modules or Parameters under names not written in the source
    (`add_module(f"layer{i}", m)`, `setattr(self, name, m)`), saves its state itself (defines
    `_save_to_state_dict`, `state_dict`, `get_extra_state`, … here or in a base), or assigns the
    attribute anything other than a plain container, nothing is reported for that attribute (or
    class). A local
    list is followed only when it is used for nothing but adding members and being stored.
    """

    code = "SER104"
    fix_applicability = Applicability.UNSAFE
    name = "unregistered-submodule-container"
    needs_class = True
    summary = "hold Modules in nn.ModuleList / nn.ModuleDict and Parameters in nn.ParameterList / nn.ParameterDict"

    bad = (
        Bad(
            """\
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims, dims[1:])]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
""",
            (
                Expected(
                    7,
                    9,
                    'Linear modules held in plain list "layers" are not registered: missing from state_dict() and '
                    "parameters(), so the round trip silently keeps random weights; use nn.ModuleList",
                ),
            ),
            fixed="""\
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims, dims[1:])])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
""",
        ),
        Bad(
            """\
import torch
from torch import nn


class Mixture(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.weights = []
        for _ in range(k):
            self.weights.append(nn.Parameter(torch.randn(d)))
        self.heads = {}
        self.heads["main"] = nn.Sequential(nn.Linear(d, d), nn.ReLU())
""",
            (
                Expected(
                    8,
                    9,
                    'Parameters held in plain list "weights" are not registered: missing from state_dict() and '
                    "parameters(), so optimisers never update them and the round trip silently keeps their fresh "
                    "values; use nn.ParameterList",
                ),
                Expected(
                    11,
                    9,
                    'Sequential modules held in plain dict "heads" are not registered: missing from state_dict() and '
                    "parameters(), so the round trip silently keeps random weights; use nn.ModuleDict",
                ),
            ),
            fixed="""\
import torch
from torch import nn


class Mixture(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.weights = nn.ParameterList()
        for _ in range(k):
            self.weights.append(nn.Parameter(torch.randn(d)))
        self.heads = nn.ModuleDict()
        self.heads["main"] = nn.Sequential(nn.Linear(d, d), nn.ReLU())
""",
        ),
        Bad(
            """\
from torch.nn import Conv2d, Module, BatchNorm2d


class Block(Module):
    def __init__(self, c):
        super().__init__()
        self.conv = Conv2d(c, c, 3)


class Tower(Module):
    def __init__(self, c, n):
        super().__init__()
        blocks = []
        for _ in range(n):
            blocks.append(Block(c))
        self.blocks = blocks
        self.stem = (Conv2d(3, c, 3), BatchNorm2d(c))
""",
            (
                Expected(
                    16,
                    9,
                    'Block modules held in plain list "blocks" are not registered: missing from state_dict() and '
                    "parameters(), so the round trip silently keeps random weights; use nn.ModuleList",
                ),
                Expected(
                    17,
                    9,
                    'Conv2d and BatchNorm2d modules held in plain tuple "stem" are not registered: missing from '
                    "state_dict() and parameters(), so the round trip silently keeps random weights; use "
                    "nn.ModuleList",
                ),
            ),
            fixed="""\
from torch.nn import Conv2d, Module, BatchNorm2d
import torch.nn


class Block(Module):
    def __init__(self, c):
        super().__init__()
        self.conv = Conv2d(c, c, 3)


class Tower(Module):
    def __init__(self, c, n):
        super().__init__()
        blocks = []
        for _ in range(n):
            blocks.append(Block(c))
        self.blocks = torch.nn.ModuleList(blocks)
        self.stem = torch.nn.ModuleList([Conv2d(3, c, 3), BatchNorm2d(c)])
""",
        ),
    )
    good = (
        # registered containers
        Good(
            """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])
        self.heads = nn.ModuleDict({"a": nn.Linear(d, 1)})
        self.ws = nn.ParameterList()
        self.ws.append(nn.Parameter(torch.zeros(d)))
        self.scales = nn.ParameterDict({"a": nn.Parameter(torch.ones(1))})
"""
        ),
        # a plain list that only refers to registered submodules
        Good(
            """\
from torch import nn


class Encoder(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a = nn.Linear(d, d)
        self.b = nn.Linear(d, d)
        self.order = [self.a, self.b]
        self.by_name = {"a": self.a, "b": self.b}
"""
        ),
        # lists of plain values, parameter-free modules, and tensors in locals only
        Good(
            """\
import torch
from torch import nn


class Config(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.sizes = [int(s) for s in sizes]
        self.names = ("q", "k", "v")
        self.acts = [nn.ReLU(), nn.GELU(), nn.Dropout(0.1)]
        self.loss_fns = {"mse": nn.MSELoss(), "ce": nn.CrossEntropyLoss()}
        scratch = [nn.Linear(2, 2) for _ in range(3)]
        self.total = sum(m.out_features for m in scratch)
"""
        ),
        # the list's members are registered another way
        Good(
            """\
from torch import nn


class Stack(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.layers = [nn.Linear(d, d) for _ in range(n)]
        self.net = nn.Sequential(*self.layers)
        blocks = [nn.Linear(d, d) for _ in range(n)]
        for i, block in enumerate(blocks):
            self.add_module(f"block{i}", block)
        self.blocks = blocks
"""
        ),
        # not a Module class
        Good(
            """\
from torch import nn


class Ensemble:
    def __init__(self, n):
        self.members = [nn.Linear(2, 2) for _ in range(n)]
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        for cls in ctx.module_classes():
            if class_registrations(ctx, cls).dynamic_members or saves_state_itself(ctx, cls):
                continue
            uses = _ClassUses(ctx, cls)
            stores_by_attr: Dict[str, List[AttrStore]] = {}
            for store in cls.stores:
                stores_by_attr.setdefault(store.attr, []).append(store)
            for attr, stores in stores_by_attr.items():
                if attr in uses.handed_on:
                    continue
                yield from _check_attr(ctx, cls, uses, attr, stores)


def _check_attr(
    ctx: FileContext, cls: ClassModel, uses: "_ClassUses", attr: str, stores: List[AttrStore]
) -> Iterator[Report]:
    plain: List[Tuple[AttrStore, _Container]] = []
    for store in stores:
        if is_none(store.value):
            continue
        container = _container(store.value, store.method, uses)
        if container is None:
            return  # something else is stored there too (nn.ModuleList(...), unknown): stay silent
        plain.append((store, container))
    if not plain:
        return
    # the fix rewrites the one store of the attribute; several stores need a person
    fixable = len(stores) == 1
    reported = False
    for store, container in plain:
        members = _members(ctx, cls, container.members, store.method)
        if members:
            reported = True
            fix = _container_fix(ctx, cls, uses, attr, store) if fixable else None
            yield Report(store.node, _message(attr, container.kind, members), fix=fix)
    if reported:
        return
    added: List[Construction] = []
    for method, member in _added_members(cls, uses, attr):
        added.extend(_members(ctx, cls, [member], method))
    if added:
        store, container = plain[0]
        fix = _container_fix(ctx, cls, uses, attr, store) if fixable else None
        yield Report(store.node, _message(attr, container.kind, added), fix=fix)


def _members(
    ctx: FileContext, cls: ClassModel, exprs: List[cst.BaseExpression], method: MethodModel
) -> List[Construction]:
    """The stateful Modules and the Parameters among `exprs` (nested plain containers included)."""
    scope = Scope(ctx, method)
    found: List[Construction] = []
    for expr in exprs:
        nested = _literal_container(expr)
        if nested is not None:
            found.extend(_members(ctx, cls, nested.members, method))
            continue
        if isinstance(expr, cst.Name) and any(
            s.method is method and isinstance(s.value, cst.Name) and s.value.value == expr.value for s in cls.stores
        ):
            continue  # `block = Block(); self.block = block`: registered there, only referenced here
        made = construction(expr, scope)
        if made is not None and made.kind in ("module", "parameter") and not made.stateless:
            found.append(made)
    return found


def _added_members(cls: ClassModel, uses: "_ClassUses", attr: str) -> Iterator[Tuple[MethodModel, cst.BaseExpression]]:
    for call in cls.attr_calls:
        if call.attr != attr or call.name not in _ADDERS:
            continue
        position, keyword, iterable = _ADDERS[call.name]
        value = call_arg(call.call, position, keyword)
        if value is None:
            continue
        if iterable:
            container = _literal_container(value)
            if container is not None:
                for member in container.members:
                    yield call.method, member
        else:
            yield call.method, value
    for method, value in uses.item_stores.get(attr, []):
        yield method, value


def _message(attr: str, kind: str, members: List[Construction]) -> str:
    modules: List[str] = []
    has_parameters = False
    for made in members:
        if made.kind == "parameter":
            has_parameters = True
        elif made.class_name not in modules:
            modules.append(made.class_name)
    if modules and has_parameters:
        what = f"{_join(modules)} modules and Parameters"
        consequence = "so the round trip silently keeps random weights"
        fix = f"use {_FIXES[(kind, 'module')]} and {_FIXES[(kind, 'parameter')]}"
    elif modules:
        what = f"{_join(modules)} modules"
        consequence = "so the round trip silently keeps random weights"
        fix = f"use {_FIXES[(kind, 'module')]}"
    else:
        what = "Parameters"
        consequence = "so optimisers never update them and the round trip silently keeps their fresh values"
        fix = f"use {_FIXES[(kind, 'parameter')]}"
    return (
        f'{what} held in plain {kind} "{attr}" are not registered: missing from state_dict() and parameters(), '
        f"{consequence}; {fix}"
    )


def _join(names: List[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


# -- containers -------------------------------------------------------------------------------


def _literal_container(expr: Optional[cst.BaseExpression]) -> Optional[_Container]:
    """A list/tuple/dict display, comprehension, `list(...)`/`tuple(...)`/`dict(...)` or `[m] * n`."""
    if isinstance(expr, (cst.List, cst.Tuple)):
        kind = "list" if isinstance(expr, cst.List) else "tuple"
        return _Container(kind, [e.value for e in expr.elements if not isinstance(e, cst.StarredElement)])
    if isinstance(expr, cst.Dict):
        return _Container("dict", [e.value for e in expr.elements if isinstance(e, cst.DictElement)])
    if isinstance(expr, cst.ListComp):
        return _Container("list", [expr.elt])
    if isinstance(expr, cst.DictComp):
        return _Container("dict", [expr.value])
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        for side in (expr.left, expr.right):
            if isinstance(side, cst.List):
                return _literal_container(side)
        return None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple", "dict"):
        kind = expr.func.value
        positional = [a for a in expr.args if a.keyword is None]
        if any(a.star for a in expr.args):
            return None
        members = [a.value for a in expr.args if a.keyword is not None]
        if not positional:
            return _Container(kind, members)
        if len(positional) != 1:
            return None
        inner = positional[0].value
        if isinstance(inner, cst.GeneratorExp):
            return _Container(kind, [inner.elt] + members)
        nested = _literal_container(inner)
        if nested is not None:
            return _Container(kind, nested.members + members)
        # `list(self.encoder.children())`: a plain container of members not known here
        return _Container(kind, members)
    return None


def _container(
    value: Optional[cst.BaseExpression], method: MethodModel, uses: "_ClassUses"
) -> Optional[_Container]:
    """The plain container a store puts on `self`, following a local built up by `append`."""
    literal = _literal_container(value)
    if literal is not None:
        return literal
    if isinstance(value, cst.Name):
        local = uses.local_list(method, value.value)
        if local is not None:
            return local
    return None


class _ClassUses:
    """How a class's methods use its attributes and local lists, beyond what the model records."""

    def __init__(self, ctx: FileContext, cls: ClassModel) -> None:
        self.ctx = ctx
        self.handed_on: Set[str] = set()  # attributes that may have their members registered elsewhere
        self.item_stores: Dict[str, List[Tuple[MethodModel, cst.BaseExpression]]] = {}  # self.a[k] = v
        self._locals: Dict[int, _LocalUses] = {}
        for method in cls.methods.values():
            if method.self_name is not None:
                self._scan(method)

    def _scan(self, method: MethodModel) -> None:
        self_name = method.self_name
        for node, _, _ in method_nodes(self.ctx, method):
            if isinstance(node, cst.Call):
                self.handed_on |= _handed_on(node, self_name)
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, cst.Subscript):
                        attr = _self_attribute(target.target.value, self_name)
                        if attr is not None:
                            self.item_stores.setdefault(attr, []).append((method, node.value))
                    elif isinstance(node.value, cst.Subscript) and _self_attribute(target.target, self_name):
                        # `self.first = self.layers[0]`: that member is registered under another name
                        root = _container_root(node.value, self_name)
                        if root is not None:
                            self.handed_on.add(root)

    def local_list(self, method: MethodModel, name: str) -> Optional[_Container]:
        """A local bound once to a plain container, used only to add members and be stored once."""
        values = method.bindings.get(name)
        if name in method.params or values is None or len(values) != 1:
            return None
        base = _literal_container(values[0])
        if base is None:
            return None
        uses = self._locals.get(id(method))
        if uses is None:
            uses = self._locals[id(method)] = _LocalUses(method_nodes(self.ctx, method))
        if uses.other_uses.get(name, 0) != 1:  # the one use is the store on self
            return None
        return _Container(base.kind, base.members + uses.added.get(name, []))


def _handed_on(call: cst.Call, self_name: Optional[str]) -> Set[str]:
    """Attributes whose members `call` may register: `nn.Sequential(*self.layers)`."""
    func = call.func
    if isinstance(func, cst.Name) and func.value in _READING_BUILTINS:
        return set()
    registering = (isinstance(func, cst.Name) and func.value == "setattr") or (
        _self_attribute(func, self_name) in _REGISTERING_METHODS
    )
    found = set()
    for arg in call.args:
        # a whole container handed on may be registered; a single member (`self.layers[0]`) only
        # by a registering call (`self.add_module("first", self.layers[0])`)
        if registering or not isinstance(arg.value, cst.Subscript):
            root = _container_root(arg.value, self_name)
            if root is not None:
                found.add(root)
    return found


def _self_attribute(node: cst.BaseExpression, self_name: Optional[str]) -> Optional[str]:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == self_name:
        return node.attr.value
    return None


def _container_root(node: cst.BaseExpression, self_name: Optional[str]) -> Optional[str]:
    """`self.a`, `self.a[i]`, `self.a.values()`, `self.a[i:j]`: the attribute whose members they give."""
    while True:
        if isinstance(node, cst.Subscript):
            node = node.value
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in ("values", "items", "copy")
        ):
            node = node.func.value
        else:
            return _self_attribute(node, self_name)


class _LocalUses:
    """For each local name: members added by `name.append(v)` / `name[k] = v`, and its other uses."""

    def __init__(self, nodes: List[Walked]) -> None:
        self.added: Dict[str, List[cst.BaseExpression]] = {}
        self.other_uses: Dict[str, int] = {}
        not_reads: Set[int] = set()  # Name nodes that do not read a local: targets, attributes, keywords
        for node, parent, field_name in nodes:
            if isinstance(node, cst.Call):
                self._call(node, not_reads)
            elif isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        not_reads.add(id(target.target))
                    elif isinstance(target.target, cst.Subscript) and isinstance(target.target.value, cst.Name):
                        not_reads.add(id(target.target.value))
                        self.added.setdefault(target.target.value.value, []).append(node.value)
            elif isinstance(node, cst.Name):
                if id(node) in not_reads:
                    continue
                if (isinstance(parent, cst.Attribute) and field_name == "attr") or (
                    isinstance(parent, cst.Arg) and field_name == "keyword"
                ):
                    continue
                self.other_uses[node.value] = self.other_uses.get(node.value, 0) + 1

    def _call(self, node: cst.Call, not_reads: Set[int]) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value in _ADDERS):
            return
        position, keyword, iterable = _ADDERS[func.attr.value]
        value = call_arg(node, position, keyword)
        if value is None:
            return
        name = func.value.value
        if iterable:
            container = _literal_container(value)
            if container is None:
                return  # unknown members: the receiver counts as another use
            self.added.setdefault(name, []).extend(container.members)
        else:
            self.added.setdefault(name, []).append(value)
        not_reads.add(id(func.value))


# -- the fix ----------------------------------------------------------------------------------

_TORCH_CONTAINERS = {
    ("list", "module"): "torch.nn.ModuleList",
    ("tuple", "module"): "torch.nn.ModuleList",
    ("dict", "module"): "torch.nn.ModuleDict",
    ("list", "parameter"): "torch.nn.ParameterList",
    ("tuple", "parameter"): "torch.nn.ParameterList",
    ("dict", "parameter"): "torch.nn.ParameterDict",
}

# What each torch container offers of the plain container's methods (ParameterList has no `insert`,
# ModuleDict no `get`): any other method called on the attribute keeps the fix away.
_CONTAINER_METHODS: Dict[str, FrozenSet[str]] = {
    "torch.nn.ModuleList": frozenset(("append", "extend", "insert")),
    "torch.nn.ParameterList": frozenset(("append", "extend")),
    "torch.nn.ModuleDict": frozenset(("items", "keys", "values")),
    "torch.nn.ParameterDict": frozenset(("items", "keys", "values")),
}

# Builtins that only iterate or measure the container, the same for the torch container: a dict
# and ModuleDict both iterate their keys; `reversed` needs a sequence.
_ITERATING_BUILTINS: Dict[str, FrozenSet[str]] = {
    "list": frozenset(("len", "enumerate", "zip", "iter", "list", "tuple", "reversed")),
    "tuple": frozenset(("len", "enumerate", "zip", "iter", "list", "tuple", "reversed")),
    "dict": frozenset(("len", "enumerate", "zip", "iter", "list", "tuple", "sorted")),
}

# ModuleDict / ParameterDict keys become attribute names: `add_module` / `register_parameter` refuse
# a key naming an attribute the container already has (`KeyError: "attribute 'keys' already
# exists"`), an empty key and a key with a dot. The public attributes of both, in torch 2.13.
_RESERVED_KEYS = frozenset(
    """
    T_destination add_module apply bfloat16 buffers call_super_init children clear compile copy cpu
    cuda double dump_patches eval extra_repr float forward fromkeys get get_buffer get_extra_state
    get_parameter get_submodule half ipu items keys load_state_dict modules mtia named_buffers
    named_children named_modules named_parameters parameters pop popitem register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule setdefault share_memory state_dict to to_empty train
    training type update values xpu zero_grad
    """.split()
)

_MUTATOR_ARITY = {"append": 1, "extend": 1, "insert": 2}

Member = Tuple[MethodModel, cst.BaseExpression]


@dataclass
class _Shape:
    """How the store builds its container, and how the torch container is written in its place."""

    kind: str  # "list", "tuple" or "dict"
    argument: Optional[str]  # the text handed to the torch container; None: built empty
    members: List[Member]


def _container_fix(
    ctx: FileContext, cls: ClassModel, uses: "_ClassUses", attr: str, store: AttrStore
) -> Optional[Fix]:
    """`self.layers = [...]` -> `self.layers = nn.ModuleList([...])`, and the dict and Parameter forms.

    Declines unless the one store is a plain container of known Modules or of known Parameters
    (not both), made in `__init__` after `super().__init__()`, and the class uses the attribute
    only in ways the torch container supports alike.
    """
    method = store.method
    statement = store.statement
    if not (
        isinstance(statement, cst.Assign)
        and len(statement.targets) == 1
        and statement.targets[0].target is store.node
        and store.value is not None
    ):
        return None
    if store.frames or method.name != "__init__" or not _after_super_init(method, statement):
        return None
    if _subclassed_in_file(ctx, cls):
        return None  # a subclass assigning a plain container to the name would then raise
    shape = _store_shape(ctx, uses, store)
    if shape is None:
        return None
    found = _attribute_uses(ctx, cls, attr, store, shape.kind)
    if found is None:
        return None
    added, called = found
    member_kind = _member_kind(ctx, cls, shape.members + added)
    if member_kind is None:
        return None
    qualified = _TORCH_CONTAINERS[(shape.kind, member_kind)]
    if not called <= _CONTAINER_METHODS[qualified]:
        return None
    builder = FixBuilder(ctx)
    spelled, import_edit = builder.name_for(qualified)
    text = f"{spelled}({shape.argument or ''})"
    edits = [_replace_with_parentheses(builder, store.value, text)]
    if import_edit is not None:
        edits.append(import_edit)
    return Fix(Applicability.UNSAFE, f'hold "{attr}" in {spelled}', tuple(edits))


def _replace_with_parentheses(builder: FixBuilder, value: cst.BaseExpression, text: str) -> Edit:
    """Replace `value` and its own parentheses (positions leave them out; its code has them)."""
    lpar = getattr(value, "lpar", ())
    rpar = getattr(value, "rpar", ())
    if not lpar or not rpar:
        return builder.replace(value, text)
    line, column, _, _ = builder.range_of(lpar[0])
    _, _, end_line, end_column = builder.range_of(rpar[-1])
    return Edit(line, column, end_line, end_column, text)


def _after_super_init(method: MethodModel, statement: cst.BaseSmallStatement) -> bool:
    """Whether `Module.__init__` has run before the (top-level) statement: torch refuses to
    assign a Module container before it, where a plain list was accepted."""
    body = method.node.body
    if not isinstance(body, cst.IndentedBlock):
        return False
    initialised = False
    for stmt in body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if small is statement:
                return initialised
            if isinstance(small, cst.Expr) and _is_init_call(small.value, method.self_name):
                initialised = True
    return False


def _is_init_call(node: cst.BaseExpression, self_name: Optional[str]) -> bool:
    """`super().__init__(...)`, `super(Cls, self).__init__(...)` or `Base.__init__(self, ...)`."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "__init__"):
        return False
    receiver = node.func.value
    if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) and receiver.func.value == "super":
        return True
    first = call_arg(node, 0, "self")
    return isinstance(first, cst.Name) and first.value == self_name


def _subclassed_in_file(ctx: FileContext, cls: ClassModel) -> bool:
    for other in ctx.classes:
        for base in other.node.bases:
            if ctx.qualify(base.value) == cls.qualname or dotted_name(base.value) == cls.name:
                return True
    return False


def _source(ctx: FileContext, first: cst.CSTNode, last: Optional[cst.CSTNode] = None) -> str:
    """The file's own text from `first` to `last`, with `\\n` line ends (edits are written so).

    Sliced from the source rather than rendered from the node: a node rendered alone loses the
    indentation its continuation lines take from the enclosing blocks.
    """
    text = ctx.text if ctx.text is not None else ctx.module.code
    starts = line_starts(text)
    start = ctx.positions[first].start
    end = ctx.positions[last if last is not None else first].end
    piece = text[starts[start.line - 1] + start.column : starts[end.line - 1] + end.column]
    return piece.replace("\r\n", "\n").replace("\r", "\n")


def _store_shape(ctx: FileContext, uses: "_ClassUses", store: AttrStore) -> Optional[_Shape]:
    value = store.value
    method = store.method

    def code(node: cst.BaseExpression) -> str:
        return _source(ctx, node)

    if isinstance(value, cst.List):
        members = _display_members(value.elements)
        if members is None:
            return None
        return _Shape("list", code(value) if members else None, [(method, m) for m in members])
    if isinstance(value, cst.ListComp):
        if isinstance(value.elt, cst.Name):
            return None  # a comprehension variable: what it holds is not known here
        return _Shape("list", code(value), [(method, value.elt)])
    if isinstance(value, cst.Tuple):
        members = _display_members(value.elements)
        if not members or len(value.lpar) > 1:
            return None
        # the tuple's own parentheses give way to the list's brackets
        inner = _source(ctx, value.lpar[0], value.rpar[-1])[1:-1] if value.lpar else code(value)
        return _Shape("tuple", f"[{inner}]", [(method, m) for m in members])
    if isinstance(value, cst.Dict):
        values: List[Member] = []
        for element in value.elements:
            if not isinstance(element, cst.DictElement) or not _valid_key(element.key):
                return None  # `**other`, or a key a ModuleDict may refuse
            values.append((method, element.value))
        return _Shape("dict", code(value) if values else None, values)
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name)
        and value.func.value in ("list", "dict")
        and not value.args
        and ctx.qualify(value.func) is None
        and value.func.value not in method.bindings
    ):
        return _Shape(value.func.value, None, [])
    if isinstance(value, cst.Name):
        return _local_shape(ctx, uses, store, value)
    return None


def _display_members(elements: Sequence[cst.BaseElement]) -> Optional[List[cst.BaseExpression]]:
    if any(isinstance(e, cst.StarredElement) for e in elements):
        return None
    return [e.value for e in elements]


def _valid_key(key: Optional[cst.BaseExpression]) -> bool:
    """A literal string key every torch dict container accepts."""
    text = string_value(key)
    if not text:
        return False
    return "." not in text and not text.startswith("_") and text not in _RESERVED_KEYS


def _local_shape(ctx: FileContext, uses: "_ClassUses", store: AttrStore, name: cst.Name) -> Optional[_Shape]:
    """`blocks = []`, `blocks.append(Block(c))`, `self.blocks = blocks`: wrapped where it is stored.

    The torch container copies the members when it is built, so the local must be complete by then:
    no use of the name may follow the store.
    """
    method = store.method
    base = method.single_binding(name.value)
    if isinstance(base, (cst.List, cst.Tuple)):
        if _display_members(base.elements) is None:
            return None
    elif not (isinstance(base, cst.ListComp) and not isinstance(base.elt, cst.Name)):
        return None
    local = uses.local_list(method, name.value)
    if local is None:
        return None
    stored = False
    for node, _, _ in method_nodes(ctx, method):
        if node is name:
            stored = True
        elif stored and isinstance(node, cst.Name) and node.value == name.value:
            return None
    return _Shape("list", name.value, [(method, m) for m in local.members])


def _attribute_uses(
    ctx: FileContext, cls: ClassModel, attr: str, store: AttrStore, kind: str
) -> Optional[Tuple[List[Member], Set[str]]]:
    """Members the class adds to the attribute, and the container methods it calls; None when
    the class uses the attribute in a way the torch container may not support alike."""
    added: List[Member] = []
    called: Set[str] = set()
    for method in cls.methods.values():
        self_name = method.self_name
        if self_name is None:
            continue
        nodes = method_nodes(ctx, method)
        parents: Dict[int, Tuple[Optional[cst.CSTNode], str]] = {id(n): (p, f) for n, p, f in nodes}
        for node, parent, field_name in nodes:
            if not (
                isinstance(node, cst.Attribute)
                and node.attr.value == attr
                and isinstance(node.value, cst.Name)
                and node.value.value == self_name
            ):
                continue
            if node is store.node:
                continue
            if not _supported_use(ctx, method, kind, node, parent, field_name, parents, added, called):
                return None
    return added, called


def _supported_use(
    ctx: FileContext,
    method: MethodModel,
    kind: str,
    node: cst.Attribute,
    parent: Optional[cst.CSTNode],
    field_name: str,
    parents: Dict[int, Tuple[Optional[cst.CSTNode], str]],
    added: List[Member],
    called: Set[str],
) -> bool:
    if isinstance(parent, (cst.For, cst.CompFor)) and field_name == "iter":
        return True
    if isinstance(parent, cst.Arg) and field_name == "value" and parent.keyword is None and not parent.star:
        call = parents.get(id(parent), (None, ""))[0]
        return (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Name)
            and call.func.value in _ITERATING_BUILTINS[kind]
            and ctx.qualify(call.func) is None
            and call.func.value not in method.bindings
        )
    if isinstance(parent, cst.Subscript) and field_name == "value":
        return _supported_subscript(method, kind, parent, parents, added)
    if isinstance(parent, cst.Attribute) and field_name == "value":
        call, call_field = parents.get(id(parent), (None, ""))
        if not (isinstance(call, cst.Call) and call_field == "func"):
            return False
        return _supported_call(method, kind, parent.attr.value, call, parents, added, called)
    if isinstance(parent, cst.ComparisonTarget) and field_name == "comparator":
        return kind == "dict" and isinstance(parent.operator, (cst.In, cst.NotIn))
    return False


def _supported_subscript(
    method: MethodModel,
    kind: str,
    subscript: cst.Subscript,
    parents: Dict[int, Tuple[Optional[cst.CSTNode], str]],
    added: List[Member],
) -> bool:
    if len(subscript.slice) != 1:
        return False
    element = subscript.slice[0].slice
    outer, outer_field = parents.get(id(subscript), (None, ""))
    if isinstance(outer, cst.AssignTarget):
        # `self.heads["cls"] = nn.Linear(d, k)`: a new member under a key ModuleDict accepts
        assign = parents.get(id(outer), (None, ""))[0]
        if kind != "dict" or not isinstance(element, cst.Index) or not _valid_key(element.value):
            return False
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1):
            return False
        added.append((method, assign.value))
        return True
    if _in_store_target(subscript, parents):
        return False  # `del self.layers[0]`, `self.layers[0] += x`, unpacking into it
    if isinstance(element, cst.Index):
        return True
    # a slice of ModuleList is a ModuleList, not a list: fine only where it is just iterated
    return kind == "list" and isinstance(outer, (cst.For, cst.CompFor)) and outer_field == "iter"


def _in_store_target(node: cst.CSTNode, parents: Dict[int, Tuple[Optional[cst.CSTNode], str]]) -> bool:
    current: cst.CSTNode = node
    while True:
        parent, field_name = parents.get(id(current), (None, ""))
        if parent is None:
            return False
        if isinstance(parent, cst.Del) or field_name in ("target", "targets", "name"):
            return True
        if not isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            return False
        current = parent


def _supported_call(
    method: MethodModel,
    kind: str,
    name: str,
    call: cst.Call,
    parents: Dict[int, Tuple[Optional[cst.CSTNode], str]],
    added: List[Member],
    called: Set[str],
) -> bool:
    if any(a.keyword is not None or a.star for a in call.args):
        return False
    if kind == "dict":
        if name not in ("items", "keys", "values") or call.args:
            return False
        called.add(name)
        return True
    if kind != "list" or name not in _MUTATOR_ARITY or len(call.args) != _MUTATOR_ARITY[name]:
        return False
    if not isinstance(parents.get(id(call), (None, ""))[0], cst.Expr):
        return False  # the torch container's `append` returns itself, the list's None
    value = call.args[-1].value
    if name == "extend":
        if isinstance(value, cst.ListComp) and not isinstance(value.elt, cst.Name):
            added.append((method, value.elt))
        elif isinstance(value, (cst.List, cst.Tuple)):
            members = _display_members(value.elements)
            if members is None:
                return False
            added.extend((method, m) for m in members)
        else:
            return False
    else:
        added.append((method, value))
    called.add(name)
    return True


def _member_kind(ctx: FileContext, cls: ClassModel, members: List[Member]) -> Optional[str]:
    """"module" or "parameter" when every member is certainly one of that kind; else None."""
    kinds: Set[str] = set()
    for method, expr in members:
        if isinstance(expr, cst.Name) and any(
            s.method is method and isinstance(s.value, cst.Name) and s.value.value == expr.value for s in cls.stores
        ):
            return None  # registered under its own attribute too: the container would add a second name
        made = construction(expr, Scope(ctx, method))
        if made is None or made.kind not in ("module", "parameter"):
            return None
        kinds.add(made.kind)
    return kinds.pop() if len(kinds) == 1 else None
