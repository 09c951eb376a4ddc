from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Sequence, Set, Tuple

import libcst as cst

from serialint.index import MODULE_ROOTS, ClassSummary, FileSummary
from serialint.model import ClassModel, FileContext
from serialint.rule import Bad, Expected, Good, Report, Rule

# Bases known not to define get/set_extra_state: in torch only `nn.Module` itself defines them,
# and its defaults mean "no extra state" (checked against torch 2.13's sources).
_NEUTRAL_BASES: FrozenSet[str] = frozenset(
    {
        "object",
        "abc.ABC",
        "typing.Generic",
        "typing.Protocol",
        "typing_extensions.Protocol",
    }
)


@dataclass
class Hierarchy:
    """What a class and its project bases define, as far as the linted project shows it."""

    # method names defined by the project bases (the class itself excluded)
    base_methods: Set[str] = field(default_factory=set)
    # project bases whose body this file holds, so their calls can be read
    local_bases: List[ClassModel] = field(default_factory=list)
    # project bases in other files: only their method names are known
    remote_bases: List[ClassSummary] = field(default_factory=list)
    # a base outside the project and outside torch: it may define anything
    opaque: bool = False


def hierarchy(ctx: FileContext, cls: ClassModel) -> Hierarchy:
    """Walk the bases of `cls` through the project index, without the class itself."""
    result = Hierarchy()
    by_name: Dict[str, ClassModel] = {c.name: c for c in ctx.classes}
    seen: Set[Tuple[str, str]] = {(ctx.summary.path, cls.name)}
    stack: List[Tuple[FileSummary, str]] = [(ctx.summary, cls.name)]
    while stack:
        summary, name = stack.pop()
        bases = ctx.index.bases_of(summary, name)
        summarized = summary.classes.get(name)
        refs = summarized.base_refs if summarized is not None else ()
        for base, ref in zip(bases, refs if len(refs) == len(bases) else [None] * len(bases)):
            if base.summary is None or base.cls is None:
                qualname = base.qualname
                if qualname is None:
                    # a call, or a name the linted files do not define (`object` is a builtin)
                    result.opaque = result.opaque or ref != "object"
                elif not (qualname.startswith("torch.") or qualname in MODULE_ROOTS or qualname in _NEUTRAL_BASES):
                    result.opaque = True
                continue
            key = (base.summary.path, base.cls.name)
            if key in seen:
                continue
            seen.add(key)
            result.base_methods.update(base.cls.methods)
            local = by_name.get(base.cls.name) if base.summary is ctx.summary else None
            if local is not None:
                result.local_bases.append(local)
            else:
                result.remote_bases.append(base.cls)
            stack.append((base.summary, base.cls.name))
    return result


def defined_names(cls: ClassModel) -> Dict[str, cst.CSTNode]:
    """Names the class body binds: defs (also under `if`/`try`), and `name = …` at class level.

    The node is what a finding points at: the def's name, or the assignment target.
    """
    names: Dict[str, cst.CSTNode] = {}
    _collect_defined(cls.node.body.body if isinstance(cls.node.body, cst.IndentedBlock) else (), names)
    return names


def _collect_defined(body: Sequence[cst.CSTNode], names: Dict[str, cst.CSTNode]) -> None:
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef):
            names.setdefault(stmt.name.value, stmt.name)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets: List[cst.BaseExpression] = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, cst.AnnAssign) and small.value is not None:
                    targets = [small.target]
                for target in targets:
                    if isinstance(target, cst.Name):
                        names.setdefault(target.value, target)
        elif isinstance(stmt, (cst.If, cst.Try, cst.TryStar, cst.With)):
            for child in stmt.children:
                if isinstance(child, (cst.IndentedBlock, cst.SimpleStatementSuite)):
                    _collect_defined(child.body, names)
                elif isinstance(child, (cst.If, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally)):
                    _collect_defined([child] if isinstance(child, cst.If) else child.body.body, names)


class ExtraStateAsymmetry(Rule):
    """
    ## What it does
    Flags a Module class that defines only one of `get_extra_state` and `set_extra_state`.

    The other half may come from a base class of the project; then nothing is reported. One
    finding per class, on the method it does define.

    ## Why is this bad?
    torch writes `"_extra_state"` into `state_dict()` only when `get_extra_state` is overridden,
    and expects it back only when `set_extra_state` is overridden. With `get_extra_state` alone
    the state is saved but never restored, and a strict `load_state_dict` of the class's own
    checkpoint into a fresh instance fails:
    `Unexpected key(s) in state_dict: "_extra_state"`. With `set_extra_state` alone nothing is
    ever saved, and every strict load fails: `Missing key(s) in state_dict: "_extra_state"`
    (under the submodule's prefix, e.g. `"observer._extra_state"`).

    ## Example
    ```python
    class Observer(nn.Module):
        def __init__(self):
            super().__init__()
            self.bits = 8

        def get_extra_state(self):
            return {"bits": self.bits}
    ```

    ## Use instead
    Define both halves, so that what is saved is also restored:
    ```python
    class Observer(nn.Module):
        def __init__(self):
            super().__init__()
            self.bits = 8

        def get_extra_state(self):
            return {"bits": self.bits}

        def set_extra_state(self, state):
            self.bits = state["bits"]
    ```
    Checkpoints written before the class had extra state still lack `"_extra_state"`: see
    SER106 for the load_state_dict pre-hook that keeps them loadable.

    ## Fix safety
    No automatic fix is offered by this rule yet.

    ## Known limits
    Base classes are followed through the linted project only. When a base comes from outside
    the project and outside torch (a third-party mixin, a base named in `module-bases`), it may
    define the other half, and the class is not reported. A class-level assignment such as
    `set_extra_state = _restore` counts as a definition.
    """

    code = "SER105"
    name = "extra-state-asymmetry"
    triggers = ("get_extra_state", "set_extra_state")
    needs_class = True
    summary = "define both get_extra_state and set_extra_state, so that saved extra state is restored"

    bad = (
        Bad(
            """\
import torch
from torch import nn


class Observer(nn.Module):
    def __init__(self):
        super().__init__()
        self.bits = 8

    def get_extra_state(self):
        return {"bits": self.bits}
""",
            (
                Expected(
                    10,
                    9,
                    'class "Observer" defines get_extra_state but not set_extra_state: its checkpoints carry '
                    '"_extra_state", which a strict load_state_dict into a fresh instance rejects '
                    '(Unexpected key(s) in state_dict: "_extra_state")',
                ),
            ),
        ),
        Bad(
            """\
import torch.nn as nn


class Versioned(nn.Module):
    def set_extra_state(self, state):
        self.version = state["version"]


class Child(Versioned):
    def forward(self, x):
        return x
""",
            (
                Expected(
                    5,
                    9,
                    'class "Versioned" defines set_extra_state but not get_extra_state: "_extra_state" is never '
                    'saved, so every strict load_state_dict fails (Missing key(s) in state_dict: "_extra_state")',
                ),
            ),
        ),
        # the other half is defined by a subclass only: the base on its own is still broken
        Bad(
            """\
from torch.nn import Module


class Base(Module):
    def get_extra_state(self):
        return 1


class Derived(Base):
    def set_extra_state(self, state):
        pass
""",
            (
                Expected(
                    5,
                    9,
                    'class "Base" defines get_extra_state but not set_extra_state: its checkpoints carry '
                    '"_extra_state", which a strict load_state_dict into a fresh instance rejects '
                    '(Unexpected key(s) in state_dict: "_extra_state")',
                ),
            ),
        ),
    )
    good = (
        Good(
            """\
import torch.nn as nn


class Observer(nn.Module):
    def get_extra_state(self):
        return {"bits": 8}

    def set_extra_state(self, state):
        self.bits = state["bits"]
"""
        ),
        # a project base in another file defines the other half
        Good(
            """\
from models.base import VersionedModule


class Encoder(VersionedModule):
    def get_extra_state(self):
        return {"version": 2}
""",
            files={
                "models/__init__.py": "",
                "models/base.py": """\
import torch


class VersionedModule(torch.nn.Module):
    def get_extra_state(self):
        return {"version": 1}

    def set_extra_state(self, state):
        self.version = state["version"]
""",
            },
        ),
        # a base from outside the project may define the other half
        Good(
            """\
from torch import nn
from quantlib import ObserverMixin


class Observer(nn.Module, ObserverMixin):
    def get_extra_state(self):
        return {"bits": 8}
"""
        ),
        # not a Module class
        Good(
            """\
class Config:
    def get_extra_state(self):
        return {}
"""
        ),
        # the other half assigned at class level
        Good(
            """\
import torch.nn as nn


def _restore(module, state):
    module.bits = state


class Observer(nn.Module):
    def get_extra_state(self):
        return self.bits

    set_extra_state = _restore
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        for cls in ctx.module_classes():
            names = defined_names(cls)
            has_get = "get_extra_state" in names
            has_set = "set_extra_state" in names
            if has_get == has_set:
                continue
            bases = hierarchy(ctx, cls)
            if bases.opaque:
                continue
            if has_get:
                if "set_extra_state" in bases.base_methods:
                    continue
                yield Report(
                    names["get_extra_state"],
                    f'class "{cls.name}" defines get_extra_state but not set_extra_state: its checkpoints carry '
                    '"_extra_state", which a strict load_state_dict into a fresh instance rejects '
                    '(Unexpected key(s) in state_dict: "_extra_state")',
                )
            else:
                if "get_extra_state" in bases.base_methods:
                    continue
                yield Report(
                    names["set_extra_state"],
                    f'class "{cls.name}" defines set_extra_state but not get_extra_state: "_extra_state" is never '
                    'saved, so every strict load_state_dict fails (Missing key(s) in state_dict: "_extra_state")',
                )
