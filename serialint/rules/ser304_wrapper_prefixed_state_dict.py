from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from serialint.flow import (
    PICKLE_DUMP_NAMES,
    SAVE_NAMES,
    FileFlow,
    Leaf,
    callee_among,
    describe,
    file_flow,
    source_text,
)
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
    No automatic fix is offered by this rule yet. Unwrapping changes the keys of every
    checkpoint written from then on, so code that loads them into a wrapped model must change
    too: such a fix could only be unsafe.

    ## Known limits
    The wrapper must be visible: a name bound to the wrapper on every path to the save (in the
    same function or module, or a module-level name bound once), or `self.attr` set
    unconditionally in `__init__` and nowhere else. A model wrapped only in some branches
    (`if args.compile: model = torch.compile(model)`), wrapped by a helper function or a
    library (`accelerator.prepare`), or a state dict whose keys are rewritten before saving is
    not reported. FSDP is not covered.
    """

    code = "SER304"
    name = "wrapper-prefixed-state-dict"
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
                report = _wrapped_state_dict(ctx, flow, leaf)
                if report is not None:
                    yield report


def _wrapped_state_dict(ctx: FileContext, flow: FileFlow, leaf: Leaf) -> Optional[Report]:
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
    return Report(call, message)
