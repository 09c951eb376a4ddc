from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple, Union

import libcst as cst

from serialint.model import AttrStore, FileContext, SelfCall, call_arg, is_name, is_none, mutually_exclusive, string_value
from serialint.rule import Bad, Expected, Good, Report, Rule


class RegisterBufferNone(Rule):
    """
    ## What it does
    Flags `self.register_buffer("p", None)` in a Module class when the class later assigns a
    tensor to `self.p` (or registers `p` again with a tensor).

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
    No automatic fix is offered by this rule yet.

    ## Known limits
    Only assignments made inside the class's own methods are seen; `model.mean = t` from outside
    the class, or from a subclass in another class body, is not.
    """

    code = "SER101"
    name = "register-buffer-none"
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
        ),
        Bad(
            """\
import torch.nn as nn


class Cache(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.register_buffer(name="table", tensor=None, persistent=False)
        if size:
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
            for name, calls in by_name.items():
                for call, tensor in calls:
                    if not is_none(tensor):
                        continue
                    assigned_later = any(
                        (store.value is None or not is_none(store.value)) and not _exclusive(call, store)
                        for store in cls.stores_of(name)
                    ) or any(
                        not is_none(other_tensor) and not _exclusive(call, other) for other, other_tensor in calls
                    )
                    if assigned_later:
                        yield Report(call.call, _message(name, call_arg(call.call, 2, "persistent")))


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

def _exclusive(call: SelfCall, other: Union[SelfCall, AttrStore]) -> bool:
    return call.method is other.method and mutually_exclusive(call.frames, other.frames)
