from __future__ import annotations

import keyword
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple, Union

import libcst as cst

from serialint.findings import Applicability, Fix
from serialint.fixes import FixBuilder
from serialint.hooks import class_supplies, hook_edits
from serialint.model import (
    AttrStore,
    ClassModel,
    FileContext,
    SelfCall,
    call_arg,
    is_name,
    is_none,
    mutually_exclusive,
    string_value,
)
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.tensors import method_nodes


class RegisterBufferNone(Rule):
    """
    ## What it does
    Flags `self.register_buffer("p", None)` in a Module class when the class later assigns a
    tensor to `self.p` (or registers `p` again with a tensor).

    A buffer filled while the instance is built is not reported: when the None registration and
    every tensor assignment of `p` happen in `__init__` or in methods it calls (transitively, even
    if a `resize()` calls them again later), every fresh instance built with the same
    configuration holds the same value, so nothing fails to load and nothing is lost. The same
    holds for `right_inverse` of a parametrization (a class defining `forward` and
    `right_inverse`), which `torch.nn.utils.parametrize.register_parametrization` calls when it
    attaches it, before any state_dict exists, and for the methods it calls.

    ## Why is this bad?
    The call reserves a buffer slot; while `p` is None it is left out of `state_dict()`. Once a
    tensor is assigned it becomes a persistent buffer and is saved, so a checkpoint written after
    the assignment does not load into a fresh instance, where `p` is still None:
    `Unexpected key(s) in state_dict: "p"`. The opposite direction fails with `Missing key(s)`.
    With `persistent=False` nothing fails, but the assigned value is never saved: the state_dict
    round trip silently loses it. A buffer registered as None and never assigned is harmless
    (torch's own batch norm does this) and is not reported.

    ## Example
    ```python
    class Normalizer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", None)

        def calibrate(self, x):
            self.mean = x.mean(0)
    ```

    ## Use instead
    Keep the buffer and materialise it from the checkpoint before loading:
    ```python
    class Normalizer(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", None)
            self.register_load_state_dict_pre_hook(_materialise_mean)


    def _materialise_mean(module, state_dict, prefix, *args):
        if prefix + "mean" in state_dict and module.mean is None:
            module.mean = torch.empty_like(state_dict[prefix + "mean"])
    ```
    The round trip then restores `mean`, checkpoints without `mean` still load, and `mean` still
    follows `.to()`.

    ## Fix safety
    Safe: the buffer stays registered as None, and a module-level load_state_dict pre-hook,
    `_serialint_load_compat_<Class>`, is added before the class and registered right after the
    `register_buffer` call with `self.register_load_state_dict_pre_hook(...)`. When the checkpoint
    has the key and the buffer is still None, the hook sets it to `torch.empty_like` of the saved
    tensor, which `load_state_dict` then fills: the round trip restores the value, checkpoints
    without the key load as before, and the buffer still follows `.to()`. `import torch` is added
    when the file does not import it. Several buffers of one class, and the SER102 and SER106
    fixes, share that one hook. No fix with `persistent=False` (nothing is saved by design) or a
    `persistent` given as a variable, nor when the `register_buffer` call is not a statement of its
    own directly in `__init__`, for a class nested in a function or a class, or when the hook's
    name is already taken.

    ## Known limits
    Only assignments made inside the class's own methods are seen; `model.mean = t` from outside
    the class, or from a subclass in another class body, is not. A method counts as run during
    construction when `__init__` calls it as `self.name(...)`, however deep in a branch. A buffer
    that construction fills and a method running later (not called from `__init__`) assigns again
    is still reported, even when construction fills it in every configuration. Which configurations fill the buffer
    at all is a matter of keys between configurations, not of this rule. A class is taken for a
    parametrization only by its `forward` and `right_inverse` methods: one that defines both but
    is never registered as a parametrization is not reported for what `right_inverse` fills. A class that registers any
    load_state_dict hook is taken to materialise the buffer in it, whatever the hook does
    (except the hooks the fixes generate, whose body is read).
    """

    code = "SER101"
    fix_applicability = Applicability.SAFE
    name = "register-buffer-none"
    triggers = ("register_buffer",)
    needs_class = True
    summary = "register the buffer with a tensor, or add a load_state_dict pre-hook that materialises it"

    bad = (
        Bad(
            """\
import torch
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def calibrate(self, x):
        self.mean = x.mean(0)
""",
            (
                Expected(
                    8,
                    9,
                    'buffer "mean" is registered as None and assigned a tensor later: loading a checkpoint '
                    'saved after the assignment into a fresh instance fails (Unexpected key(s) in state_dict: "mean")',
                ),
            ),
            fixed="""\
import torch
from torch import nn


def _serialint_load_compat_Normalizer(module, state_dict, prefix, *args):
    if prefix + "mean" in state_dict and module.mean is None:
        module.mean = torch.empty_like(state_dict[prefix + "mean"])


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Normalizer)

    def calibrate(self, x):
        self.mean = x.mean(0)
""",
        ),
        # two buffers share one hook; torch is imported for torch.empty_like; tabs stay tabs
        Bad(
            """\
from torch import nn


# statistics of the first batch
class Whitening(nn.Module):
\tdef __init__(self):
\t\tsuper().__init__()
\t\tself.register_buffer("mean", None)
\t\tself.register_buffer("scale", None, True)

\tdef forward(self, x):
\t\tif self.mean is None:
\t\t\tself.mean, self.scale = x.mean(0), x.std(0)
\t\treturn (x - self.mean) / self.scale
""",
            (
                Expected(
                    8,
                    3,
                    'buffer "mean" is registered as None and assigned a tensor later: loading a checkpoint '
                    'saved after the assignment into a fresh instance fails (Unexpected key(s) in state_dict: "mean")',
                ),
                Expected(
                    9,
                    3,
                    'buffer "scale" is registered as None and assigned a tensor later: loading a checkpoint '
                    'saved after the assignment into a fresh instance fails (Unexpected key(s) in state_dict: "scale")',
                ),
            ),
            fixed="""\
from torch import nn
import torch


def _serialint_load_compat_Whitening(module, state_dict, prefix, *args):
\tif prefix + "mean" in state_dict and module.mean is None:
\t\tmodule.mean = torch.empty_like(state_dict[prefix + "mean"])
\tif prefix + "scale" in state_dict and module.scale is None:
\t\tmodule.scale = torch.empty_like(state_dict[prefix + "scale"])


# statistics of the first batch
class Whitening(nn.Module):
\tdef __init__(self):
\t\tsuper().__init__()
\t\tself.register_buffer("mean", None)
\t\tself.register_load_state_dict_pre_hook(_serialint_load_compat_Whitening)
\t\tself.register_buffer("scale", None, True)

\tdef forward(self, x):
\t\tif self.mean is None:
\t\t\tself.mean, self.scale = x.mean(0), x.std(0)
\t\treturn (x - self.mean) / self.scale
""",
        ),
        Bad(
            """\
import torch.nn as nn


class Cache(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(name="table", tensor=None, persistent=False)

    def build(self, size):
        self.table = torch.zeros(size)
""",
            (
                Expected(
                    7,
                    9,
                    'buffer "table" is registered as None with persistent=False and assigned a tensor later: '
                    "its value is never saved, so the state_dict round trip silently loses it",
                ),
            ),
        ),
    )
    good = (
        # never assigned later: torch's own batch norm does this
        Good(
            """\
import torch.nn as nn


class Norm(nn.Module):
    def __init__(self, track):
        super().__init__()
        if track:
            self.register_buffer("running_mean", torch.zeros(3))
        else:
            self.register_buffer("running_mean", None)
"""
        ),
        # not a Module class
        Good(
            """\
class Registry:
    def __init__(self):
        self.register_buffer("p", None)
        self.p = 1
"""
        ),
        # materialised by a pre-hook
        Good(
            """\
import torch
from torch import nn


def _materialise_mean(module, state_dict, prefix, *args):
    if prefix + "mean" in state_dict and module.mean is None:
        module.mean = torch.empty_like(state_dict[prefix + "mean"])


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)
        self.register_load_state_dict_pre_hook(_materialise_mean)

    def calibrate(self, x):
        self.mean = x.mean(0)
"""
        ),
        # filled while the instance is built (in __init__, or a method it calls, even if resize()
        # calls it again): every fresh instance of the same configuration holds the same value
        Good(
            """\
import torch
import torch.nn as nn


class Cache(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.register_buffer(name="table", tensor=None, persistent=False)
        if size:
            self.table = torch.zeros(size)


class WindowAttention(nn.Module):
    def __init__(self, grid, shift):
        super().__init__()
        self.grid, self.shift = grid, shift
        self.register_buffer("mask", None, persistent=False)
        self._refresh()

    def _refresh(self):
        mask = torch.ones(self.grid, self.grid).triu(1) if self.shift else None
        self.register_buffer("mask", mask, persistent=False)

    def resize(self, grid):
        self.grid = grid
        self._refresh()
"""
        ),
        # a parametrization: register_parametrization calls right_inverse when it attaches it
        Good(
            """\
import torch
from torch import nn


class Anchored(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("anchor", None)

    def forward(self, offset):
        return self.anchor + offset

    def right_inverse(self, weight):
        self.anchor = weight.detach().clone()
        return torch.zeros_like(weight)
"""
        ),
        # a class merely named Module, not torch's
        Good(
            """\
from mylib import Module


class Net(Module):
    def __init__(self):
        self.register_buffer("p", None)
        self.p = torch.ones(1)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        for cls in ctx.module_classes():
            registrations = cls.calls_named("register_buffer")
            by_name: Dict[str, List[Tuple[SelfCall, Optional[cst.BaseExpression]]]] = {}
            for call in registrations:
                name = string_value(call_arg(call.call, 0, "name"))
                if name is not None:
                    by_name.setdefault(name, []).append((call, call_arg(call.call, 1, "tensor")))
            construction: Optional[FrozenSet[str]] = None
            for name, calls in by_name.items():
                for call, tensor in calls:
                    if not is_none(tensor):
                        continue
                    # where a tensor may replace the None: stores, and registrations with a tensor
                    filled_in = [
                        store.method
                        for store in cls.stores_of(name)
                        if (store.value is None or not is_none(store.value)) and not _exclusive(call, store)
                    ] + [
                        other.method
                        for other, other_tensor in calls
                        if not is_none(other_tensor) and not _exclusive(call, other)
                    ]
                    if not filled_in:
                        continue
                    if construction is None:
                        construction = _construction_methods(ctx, cls)
                    if call.method.name in construction and all(m.name in construction for m in filled_in):
                        # filled while the instance is built: a fresh instance built with the same
                        # configuration holds the same value, so nothing fails and nothing is lost
                        continue
                    if not class_supplies(ctx, cls, name):
                        persistent = call_arg(call.call, 2, "persistent")
                        yield Report(call.call, _message(name, persistent), fix=_materialise_fix(ctx, cls, call, name))


def _construction_methods(ctx: FileContext, cls: ClassModel) -> FrozenSet[str]:
    """Methods that run while an instance is built: `__init__` and every method it calls, transitively.

    A method also called later (a `resize()` that calls the same helper again) still counts: what it
    stores during construction is in every fresh instance. For a parametrization (a class with
    `forward` and `right_inverse`), torch calls `right_inverse` when `register_parametrization`
    attaches it, before any state_dict exists, so it and what it calls count too.
    """
    methods = cls.methods
    seeds = ["__init__"]
    if "forward" in methods and "right_inverse" in methods:
        seeds.append("right_inverse")
    found: Set[str] = set()
    pending = [name for name in seeds if name in methods]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        method = methods[name]
        if method.self_name is None:
            continue
        for node, _, _ in method_nodes(ctx, method):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name)
                and node.func.value.value == method.self_name
                and node.func.attr.value in methods
                and node.func.attr.value not in found
            ):
                pending.append(node.func.attr.value)
    return frozenset(found)


def _message(name: str, persistent: Optional[cst.BaseExpression]) -> str:
    if is_name(persistent, "False"):
        return (
            f'buffer "{name}" is registered as None with persistent=False and assigned a tensor '
            "later: its value is never saved, so the state_dict round trip silently loses it"
        )
    return (
        f'buffer "{name}" is registered as None and assigned a tensor later: loading a '
        "checkpoint saved after the assignment into a fresh instance fails "
        f'(Unexpected key(s) in state_dict: "{name}")'
    )


def _materialise_fix(ctx: FileContext, cls: ClassModel, call: SelfCall, name: str) -> Optional[Fix]:
    """A load_state_dict pre-hook that gives `name` an empty tensor shaped like the checkpoint's.

    Safe: the buffer stays as it is; the hook acts only when the checkpoint has the key and the
    buffer is still None, and then `load_state_dict` copies the saved value into it.
    """
    persistent = call_arg(call.call, 2, "persistent")
    if persistent is not None and not is_name(persistent, "True"):
        return None  # persistent=False: nothing is saved by design; a variable: not known here
    if not name.isidentifier() or keyword.iskeyword(name) or call.method.name != "__init__":
        return None
    # right after the call, where the module is certainly initialised (register_buffer needs it)
    register_after = _statement_of(call)
    if register_after is None:
        return None
    empty_like, import_edit = FixBuilder(ctx).name_for("torch.empty_like")
    key = f'prefix + "{name}"'
    lines = (
        f"if {key} in state_dict and module.{name} is None:",
        f"\tmodule.{name} = {empty_like}(state_dict[{key}])",
    )
    edits = hook_edits(ctx, cls, lines, register_after)
    if edits is None:
        return None
    if import_edit is not None:
        edits = (import_edit, *edits)
    description = f'materialise buffer "{name}" from the checkpoint in a load_state_dict pre-hook'
    return Fix(Applicability.SAFE, description, edits)


def _statement_of(call: SelfCall) -> Optional[cst.SimpleStatementLine]:
    """The line of `__init__`'s own body that is exactly this call (not nested in a branch)."""
    body = call.method.node.body
    if call.frames or not isinstance(body, cst.IndentedBlock):
        return None
    for stmt in body.body:
        if (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and stmt.body[0].value is call.call
        ):
            return stmt
    return None


def _exclusive(call: SelfCall, other: Union[SelfCall, AttrStore]) -> bool:
    return call.method is other.method and mutually_exclusive(call.frames, other.frames)
