from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import libcst as cst

from serialint.flow import (
    PICKLE_DUMP_NAMES,
    SAVE_NAMES,
    Binding,
    FileFlow,
    Leaf,
    Point,
    TorchObject,
    callee_among,
    describe,
    file_flow,
    source_text,
)
from serialint.findings import Applicability, Fix
from serialint.fixes import FixBuilder
from serialint.model import FileContext, call_arg
from serialint.rule import Bad, Expected, Good, Report, Rule

_SINKS = SAVE_NAMES | PICKLE_DUMP_NAMES


class WrapperPrefixedStateDict(Rule):
    """
    ## What it does
    Flags saving the `state_dict()` of a variable known to hold a `torch.compile`,
    `nn.DataParallel` or `DistributedDataParallel` wrapper: `torch.save(x.state_dict(), ...)`,
    the same inside a saved dict / list literal (`{"model": x.state_dict()}`), or through a name
    bound to either. `pickle.dump` / `dill.dump` count as saving too.

    ## Why is this bad?
    A wrapper holds the model as a submodule, so every key of its state dict carries the
    wrapper's prefix: `_orig_mod.` for `torch.compile`, `module.` for `DataParallel` and
    `DistributedDataParallel`; nested wrappers stack them (`_orig_mod.module.`). The checkpoint
    then fails to load into the bare model (`Missing key(s) in state_dict: "weight" ...
    Unexpected key(s) in state_dict: "module.weight"`), and a `strict=False` load silently
    loads nothing (SER303).

    ## Example
    ```python
    model = DDP(Net().to(rank), device_ids=[rank])
    torch.save(model.state_dict(), "last.pt")
    ```

    ## Use instead
    Unwrap before `state_dict()`:
    ```python
    torch.save(model.module.state_dict(), "last.pt")  # DataParallel / DDP
    torch.save(compiled._orig_mod.state_dict(), "last.pt")  # torch.compile
    ```
    Or compile in place with `model.compile()`, which keeps the bare keys.

    ## Fix safety
    Unsafe: the wrapper is unwrapped before `state_dict()`, innermost wrapper last:
    `x.state_dict()` becomes `x._orig_mod.state_dict()` for `torch.compile`,
    `x.module.state_dict()` for `DataParallel` / `DistributedDataParallel`, and
    `x._orig_mod.module.state_dict()` for `torch.compile(DDP(model))`. The edit is made where
    `state_dict()` is called, also when its result is saved later through a name or a dict.
    The saved keys lose their prefix, so the checkpoint loads into the bare model; code that
    loads these files into a wrapped model (or strips the prefix itself) must change too.

    No fix when what the wrapper wraps is not known all the way down (`DDP(model)` with `model`
    a parameter may wrap another wrapper, and a partial unwrap would still leave a prefix), or
    when the state dict, or a dict or list holding it, is kept in a name or an attribute that is
    read anywhere but on its way to the save: that other reader would see the new keys too.

    ## Known limits
    The wrapper must be visible: a name bound to the wrapper on every path to the save (in the
    same function or module, or a module-level name bound once), or `self.attr` set
    unconditionally in `__init__` and nowhere else. A model wrapped only in some branches
    (`if args.compile: model = torch.compile(model)`), wrapped by a helper function or a
    library (`accelerator.prepare`), or a state dict whose keys are rewritten before saving is
    not reported. FSDP is not covered.
    """

    code = "SER304"
    fix_applicability = Applicability.UNSAFE
    name = "wrapper-prefixed-state-dict"
    triggers = ("save", "dump")
    triggers_called = True
    requires = (("state_dict",), ("compile", "DataParallel", "DistributedDataParallel"))
    summary = "save the bare module's state_dict(): unwrap with .module / ._orig_mod first"

    bad = (
        Bad(
            """\
import torch
from torch import nn

model = nn.Linear(4, 2)
model = torch.compile(model)
torch.save(model.state_dict(), "last.pt")
""",
            (
                Expected(
                    6,
                    12,
                    '"model" holds a torch.compile wrapper, so every key of model.state_dict() starts with '
                    '"_orig_mod." and the checkpoint fails to load into the bare model (Missing key(s) / '
                    "Unexpected key(s) in state_dict); save model._orig_mod.state_dict()",
                ),
            ),
            fixed="""\
import torch
from torch import nn

model = nn.Linear(4, 2)
model = torch.compile(model)
torch.save(model._orig_mod.state_dict(), "last.pt")
""",
        ),
        Bad(
            """\
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Trainer:
    def __init__(self, model, rank):
        self.model = DDP(model.to(rank), device_ids=[rank])

    def save(self, path, epoch):
        torch.save({"model": self.model.state_dict(), "epoch": epoch}, path)


net = nn.DataParallel(nn.Linear(2, 2))
net = torch.compile(net)
weights = net.state_dict()
torch.save([weights], "net.pt")
""",
            (
                Expected(
                    11,
                    30,
                    '"self.model" holds a DistributedDataParallel wrapper, so every key of '
                    'self.model.state_dict() starts with "module." and the checkpoint fails to load into the '
                    "bare model (Missing key(s) / Unexpected key(s) in state_dict); save "
                    "self.model.module.state_dict()",
                ),
                Expected(
                    16,
                    11,
                    '"net" holds a torch.compile wrapper around a DataParallel wrapper, so every key of '
                    'net.state_dict() starts with "_orig_mod.module." and the checkpoint fails to load into '
                    "the bare model (Missing key(s) / Unexpected key(s) in state_dict); save "
                    "net._orig_mod.module.state_dict()",
                ),
            ),
            fixed="""\
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Trainer:
    def __init__(self, model, rank):
        self.model = DDP(model.to(rank), device_ids=[rank])

    def save(self, path, epoch):
        torch.save({"model": self.model.state_dict(), "epoch": epoch}, path)


net = nn.DataParallel(nn.Linear(2, 2))
net = torch.compile(net)
weights = net._orig_mod.module.state_dict()
torch.save([weights], "net.pt")
""",
        ),
        Bad(
            """\
import torch as T
import torch.nn as nn
from torch import compile


def export(net: nn.Module, path):
    fast = compile(nn.DataParallel(net))
    T.save({"weights": fast.state_dict()}, path)
""",
            (
                Expected(
                    8,
                    24,
                    '"fast" holds a torch.compile wrapper around a DataParallel wrapper, so every key of '
                    'fast.state_dict() starts with "_orig_mod.module." and the checkpoint fails to load into the '
                    "bare model (Missing key(s) / Unexpected key(s) in state_dict); save "
                    "fast._orig_mod.module.state_dict()",
                ),
            ),
        ),
        # fixed where the state dict is only saved, not where it is also returned (its reader would
        # see the new keys)
        Bad(
            """\
import torch
import torch.nn as nn


def train(steps, path):
    model = nn.DataParallel(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    ckpt = {}
    ckpt["model"] = model.state_dict()
    ckpt["steps"] = steps
    torch.save(ckpt, path)
    last = model.state_dict()
    torch.save(last, "last.pt")
    return last
""",
            (
                Expected(
                    8,
                    21,
                    '"model" holds a DataParallel wrapper, so every key of model.state_dict() starts with "module." '
                    "and the checkpoint fails to load into the bare model (Missing key(s) / Unexpected key(s) in "
                    "state_dict); save model.module.state_dict()",
                ),
                Expected(
                    11,
                    12,
                    '"model" holds a DataParallel wrapper, so every key of model.state_dict() starts with "module." '
                    "and the checkpoint fails to load into the bare model (Missing key(s) / Unexpected key(s) in "
                    "state_dict); save model.module.state_dict()",
                ),
            ),
            fixed="""\
import torch
import torch.nn as nn


def train(steps, path):
    model = nn.DataParallel(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    ckpt = {}
    ckpt["model"] = model.module.state_dict()
    ckpt["steps"] = steps
    torch.save(ckpt, path)
    last = model.state_dict()
    torch.save(last, "last.pt")
    return last
""",
        ),
    )
    good = (
        # unwrapped before state_dict()
        Good(
            """\
import torch
from torch.nn.parallel import DistributedDataParallel as DDP


def save(net, rank):
    model = DDP(net, device_ids=[rank])
    torch.save(model.module.state_dict(), "last.pt")
    compiled = torch.compile(net)
    torch.save(compiled._orig_mod.state_dict(), "last.pt")
"""
        ),
        # in-place compile keeps the bare keys
        Good(
            """\
import torch

model = torch.nn.Linear(2, 2)
model.compile()
torch.save(model.state_dict(), "last.pt")
"""
        ),
        # wrapped only on one path: not known at the save
        Good(
            """\
import sys

import torch

model = torch.nn.Linear(2, 2)
if "--compile" in sys.argv:
    model = torch.compile(model)
torch.save(model.state_dict(), "last.pt")
"""
        ),
        # the bare model is saved, the wrapper only trains
        Good(
            """\
import torch
from torch import nn

model = nn.Linear(2, 2)
fast = torch.compile(model)
torch.save(model.state_dict(), "last.pt")
"""
        ),
        # keys rewritten in place before saving
        Good(
            """\
import torch
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

model = torch.nn.DataParallel(torch.nn.Linear(2, 2))
state = model.state_dict()
consume_prefix_in_state_dict_if_present(state, "module.")
torch.save(state, "last.pt")
"""
        ),
        # a parameter: not known to be a wrapper
        Good(
            """\
import torch


def save(model, path):
    torch.save(model.state_dict(), path)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        flow = file_flow(ctx)
        for site in flow.call_sites:
            if callee_among(ctx, flow, site, _SINKS) is None:
                continue
            saved = call_arg(site.call, 0, "obj")
            if saved is None:
                continue
            for leaf in flow.leaves(saved, site.point):
                report = _wrapped_state_dict(ctx, flow, leaf, saved, site.point)
                if report is not None:
                    yield report


def _wrapped_state_dict(
    ctx: FileContext, flow: FileFlow, leaf: Leaf, saved: cst.BaseExpression, at: Point
) -> Optional[Report]:
    value = flow.value(leaf.node, leaf.point)
    if value is None or value.entered or not isinstance(value.node, cst.Call):
        return None
    if any(flow.touched_between(binding, leaf.point) for binding in value.bindings):
        return None  # the dict may have been re-keyed in place before it is saved
    call = value.node
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value != "state_dict":
        return None
    if any(arg.keyword is None or arg.keyword.value != "keep_vars" for arg in call.args):
        return None  # a prefix or destination changes the keys
    wrapper = describe(ctx, flow, func.value, value.point)
    if wrapper is None or wrapper.wrapper is None:
        return None
    owner = source_text(ctx, func.value)
    message = (
        f'"{owner}" holds a {wrapper.description}, so every key of {owner}.state_dict() starts with '
        f'"{wrapper.key_prefix}" and the checkpoint fails to load into the bare model (Missing key(s) / '
        f"Unexpected key(s) in state_dict); save {owner}{wrapper.unwrap_path}.state_dict()"
    )
    route = _route(flow, saved, at, leaf.node, 0)
    fix = None
    if route is not None:
        fix = _unwrap_fix(ctx, func.value, wrapper, [*route, *value.bindings])
    return Report(call, message, fix=fix)


def _unwrap_fix(
    ctx: FileContext, owner: cst.BaseExpression, wrapper: TorchObject, followed: Sequence[Binding]
) -> Optional[Fix]:
    """`x.state_dict()` -> `x<unwrap path>.state_dict()`.

    Unsafe: the saved keys change, so loaders that expect the prefix must change too.
    """
    current: Optional[TorchObject] = wrapper
    while current is not None and current.wrapper is not None:
        current = current.inner
    if current is None:
        return None  # the innermost object is not known: it may be one more wrapper
    if not all(_read_only_by_the_save(b) for b in followed):
        return None
    path = wrapper.unwrap_path
    edit = FixBuilder(ctx).insert_after(owner, path)
    return Fix(Applicability.UNSAFE, f"save {source_text(ctx, owner)}{path}.state_dict()", (edit,))


def _read_only_by_the_save(binding: Binding) -> bool:
    """Whether the name is read once, apart from `name[key] = value` writes: by the save (or the
    literal that is saved), so that no other code sees the changed keys."""
    if "." in binding.name:
        return False  # an attribute can be read from anywhere
    scope = binding.point.scope
    name = binding.name
    if scope.reads_everything or name in scope.nested_reads or name in scope.outer_names:
        return False
    if name in scope.rebound_elsewhere:
        return False
    writes = len(scope.item_writes.get(name, ()))
    return len(scope.reads.get(name, ())) - writes == 1


def _route(
    flow: FileFlow, expr: cst.BaseExpression, point: Point, target: cst.BaseExpression, depth: int
) -> Optional[List[Binding]]:
    """The names followed from the saved expression to `target`, as `FileFlow.leaves` walks:
    through dict / list / tuple literals, names bound to one, and `name[key] = value` writes."""
    if expr is target:
        return []
    if depth > 6:
        return None
    for item in _items(expr) or ():
        found = _route(flow, item, point, target, depth + 1)
        if found is not None:
            return found
    if not isinstance(expr, cst.Name):
        return None
    value = flow.value(expr, point)
    if value is None or not value.bindings or _items(value.node) is None:
        return None
    container = value.bindings[-1]
    found = _route(flow, value.node, value.point, target, depth + 1)  # type: ignore[arg-type]
    if found is None:
        for write in flow.item_writes_between(container, point):
            if write.value is not None:
                found = _route(flow, write.value, write.point, target, depth + 1)
                if found is not None:
                    break
    return None if found is None else [*value.bindings, *found]


def _items(node: cst.CSTNode) -> Optional[List[cst.BaseExpression]]:
    """The values written in a dict / list / tuple / set literal or a `dict(k=v)` call; None for
    anything else."""
    if isinstance(node, cst.Dict):
        return [e.value for e in node.elements]
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return [e.value for e in node.elements]
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "dict":
        return [a.value for a in node.args if a.keyword is not None or a.star == "**"]
    return None
