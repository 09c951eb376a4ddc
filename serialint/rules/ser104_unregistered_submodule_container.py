from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.findings import Applicability, Fix
from serialint.fixes import FixBuilder
from serialint.model import AttrStore, ClassModel, FileContext, MethodModel, call_arg, is_none, string_value
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
    No automatic fix is offered by this rule yet.

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
