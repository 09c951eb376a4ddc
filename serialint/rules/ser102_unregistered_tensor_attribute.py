from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.model import AttrStore, ClassModel, FileContext, Frame, is_none
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.tensors import (
    Scope,
    hierarchy_registrations,
    looks_like_cache,
    method_nodes,
    saves_state_itself,
    tensor_info,
    walk,
)

# Methods torch or Lightning call once per batch, or that are hooks: what they store on `self`
# is a per-call value (an activation, a loss), not state the model is meant to keep.
_PER_CALL_METHODS = frozenset(("forward", "__call__"))
_PER_CALL_PREFIXES = ("on_",)
_PER_CALL_SUFFIXES = ("_step", "_hook", "_start", "_end")

# Lightning reads this plain tensor attribute on purpose (model summaries, graph logging).
_FRAMEWORK_ATTRIBUTES = frozenset(("example_input_array",))


class UnregisteredTensorAttribute(Rule):
    """
    ## What it does
    Flags a tensor stored in a plain attribute of a Module class instead of a buffer.

    Two forms are reported:

    - eager: `__init__` (or a helper only `__init__` calls) stores a tensor, e.g.
      `self.p = torch.zeros(3)`;
    - lazy: `__init__` sets `self.p = None` and another method later stores a tensor computed from
      its argument's data, e.g. `self.mean = batch.mean(0)`.

    ## Why is this bad?
    `nn.Module` tracks tensors only when they are registered as parameters or buffers. A plain
    tensor attribute is not in `state_dict()`: the state_dict round trip raises no error and
    silently keeps the fresh instance's value (the initial tensor, or None for the lazy form),
    so calibrated statistics or random projections are lost without a word. `.to()`, `.cuda()`
    and `.double()` do not convert it either, which later surfaces as device or dtype mismatches.

    ## Example
    ```python
    class RandomFeatures(nn.Module):
        def __init__(self, d, m):
            super().__init__()
            self.projection = torch.randn(d, m)
    ```

    ## Use instead
    Register it as a buffer, so it is saved, loaded and converted with the module:
    ```python
    class RandomFeatures(nn.Module):
        def __init__(self, d, m):
            super().__init__()
            self.register_buffer("projection", torch.randn(d, m))
    ```
    A value that is recomputed and should not be saved still belongs in a buffer:
    `register_buffer(name, tensor, persistent=False)` keeps it out of `state_dict()` but converts it
    with `.to()`. For the lazy form, register the buffer as None with a load_state_dict pre-hook
    that materialises it (see SER101), or keep the value in `get_extra_state()` /
    `set_extra_state()` with a pre-hook for checkpoints written before (see SER106). A new buffer
    adds a key: checkpoints saved before the change lack it and fail a strict load with
    `Missing key(s)` unless a load_state_dict pre-hook supplies the current value.

    ## Fix safety
    No automatic fix is offered by this rule yet.

    ## Known limits
    Only values certainly tensors are considered: torch factories and data constructors resolved
    through the file's imports (`torch.zeros`, `torch.randn`, `torch.arange`, `torch.tensor`, …),
    tensor functions (`torch.cat`, `torch.outer`, …), tensor methods and arithmetic on those, and
    locals bound only to such values. `self.p = make_table()` or `self.p = p_arg` (unannotated) is
    unknown and not reported; `cfg.clone()` is not taken for a tensor (configuration objects have
    `clone()` too), so `x.clone()` counts only when `x` is known to be a tensor.

    Deliberate caches are exempt by name: an attribute whose name contains the word `cache`,
    `cached`, `tmp`, `scratch`, `workspace` or `memo` (`cos_cached`, `_mask_cache`) is not
    reported, so a rotary table kept on purpose outside `state_dict()` stays quiet (it still does
    not follow `.to()`; a non-persistent buffer is the better home). A 0-dim constant such as
    `torch.tensor(0.5)` or `torch.ones(())` is not reported: it behaves like a number on any
    device, and a checkpoint loses nothing recomputed from the constructor.

    Per-call values are not state: an attribute that `forward`, `__call__`, an `on_*`, `*_step`,
    `*_hook`, `*_start` or `*_end` method, a method passed as a callback
    (`register_forward_hook(self.save)`) or a method they call stores unconditionally, from values
    other than its own, is recomputed on every call and not reported
    (`self.running = 0.9 * self.running + 0.1 * x.mean(0)` is an update of kept state, and is).
    Lightning's `example_input_array` is a plain tensor on purpose and is not reported.
    In those methods the lazy form is reported only inside a lazy-initialisation block,
    `if self.q is None:` where `q` is any attribute `__init__` sets to None (possibly `and`-ed
    with other conditions; an `or` usually rebuilds a cache on a shape change and is not taken);
    a method called only from such blocks counts as lazy initialisation, not as per-call.

    The lazy form needs `self.p = None` in `__init__` and a value carrying an argument's data
    (`x.mean(0)`, `batch.detach()`, `torch.tensor(values)`): tensors built from factories in
    later methods (hidden states, masks sized from the input) are usually transient and are not
    reported. An eager tensor stored outside `__init__` and its helpers is not reported.

    A class that saves its state itself (it or a base defines `_save_to_state_dict`,
    `_load_from_state_dict`, `state_dict`, `load_state_dict` or `get_extra_state`) is not checked.
    Names registered anywhere in the class or in its Module base classes of the same file are
    skipped, as are `weight`, `bias`, running statistics and the like on subclasses of torch
    layers. A class whose Module base class lives in another file, or that registers buffers or
    parameters under names not written in the source (`register_buffer(name, t)`,
    `setattr(self, name, value)`), is not checked.
    """

    code = "SER102"
    name = "unregistered-tensor-attribute"
    summary = "register the tensor with self.register_buffer(name, tensor) (persistent=False for recomputable values)"

    bad = (
        Bad(
            """\
import torch
from torch import nn


class RandomFeatures(nn.Module):
    def __init__(self, d: int, m: int) -> None:
        super().__init__()
        self.projection = torch.randn(d, m) / m ** 0.5

    def forward(self, x):
        return x @ self.projection
""",
            (
                Expected(
                    8,
                    9,
                    'tensor stored in plain attribute "projection": it is not in state_dict(), so a checkpoint '
                    "silently keeps the fresh value, and .to()/.double() do not convert it; register it with "
                    'self.register_buffer("projection", ...)',
                ),
            ),
        ),
        Bad(
            """\
import torch.nn as nn


class Standardize(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = None
        self.std = None

    def forward(self, x):
        if self.mean is None:
            self.mean = x.mean(0)
            self.std = x.std(0) + 1e-6
        return (x - self.mean) / self.std
""",
            (
                Expected(
                    12,
                    13,
                    'tensor assigned to plain attribute "mean" after __init__ set it to None: it is not in '
                    "state_dict(), so the round trip silently leaves it None in the loaded model, and "
                    ".to()/.double() do not convert it; keep it in a buffer or in get_extra_state()",
                ),
                Expected(
                    13,
                    13,
                    'tensor assigned to plain attribute "std" after __init__ set it to None: it is not in '
                    "state_dict(), so the round trip silently leaves it None in the loaded model, and "
                    ".to()/.double() do not convert it; keep it in a buffer or in get_extra_state()",
                ),
            ),
        ),
        Bad(
            """\
import torch as th
from torch.nn import Module


class Calibrated(Module):
    def __init__(self, dim):
        super().__init__()
        pe = th.zeros(dim)
        pe = pe.unsqueeze(0)
        self.offset = pe
        self.scale = None

    def calibrate(self, batch):
        self.scale = batch.detach().abs().amax(0)
""",
            (
                Expected(
                    10,
                    9,
                    'tensor stored in plain attribute "offset": it is not in state_dict(), so a checkpoint '
                    "silently keeps the fresh value, and .to()/.double() do not convert it; register it with "
                    'self.register_buffer("offset", ...)',
                ),
                Expected(
                    14,
                    9,
                    'tensor assigned to plain attribute "scale" after __init__ set it to None: it is not in '
                    "state_dict(), so the round trip silently leaves it None in the loaded model, and "
                    ".to()/.double() do not convert it; keep it in a buffer or in get_extra_state()",
                ),
            ),
        ),
    )
    good = (
        # registered: buffers, parameters, and a name registered after the plain store
        Good(
            """\
import torch
from torch import nn


class Stats(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d))
        self.weight = nn.Parameter(torch.ones(d))
        self.mean = torch.full((d,), 0.5)
        self.gain = nn.Buffer(torch.ones(d))
"""
        ),
        # a rotary cache kept outside state_dict on purpose, and a 0-dim constant
        Good(
            """\
import torch
import torch.nn as nn


class Rotary(nn.Module):
    def __init__(self, dim, seq_len):
        super().__init__()
        t = torch.arange(seq_len).float()
        freqs = torch.outer(t, 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))
        self.cos_cached = freqs.cos()
        self.sin_cached = freqs.sin()
        self.logit_scale = torch.tensor(2.6592)
"""
        ),
        # per-call values: recomputed every forward, or captured by a hook
        Good(
            """\
import torch
from torch import nn


class Probe(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.features = None
        self.last_mask = torch.zeros(1)
        backbone.register_forward_hook(self.save_features)

    def save_features(self, module, inputs, output):
        self.features = output.detach()

    def forward(self, x):
        self.last_mask = torch.ones_like(x)
        return self.backbone(x)
"""
        ),
        # not tensors, tensors in locals only, and a class that is not a Module
        Good(
            """\
import torch
from torch import nn


class Head(nn.Module):
    def __init__(self, cfg, d: int):
        super().__init__()
        self.cfg = cfg.clone()
        self.device = torch.device("cpu")
        self.shape = torch.Size([d])
        init = torch.zeros(d)
        self.proj = nn.Linear(d, d)
        self.proj.weight.data.copy_(init)


class Tracker:
    def __init__(self):
        self.total = torch.zeros(3)
"""
        ),
        # a subclass of a torch layer assigning its own registered weight
        Good(
            """\
import torch
from torch import nn


class Frozen(nn.Linear):
    def __init__(self, d):
        super().__init__(d, d)
        self.register_buffer("mask", torch.ones(d, d))


class Tied(nn.BatchNorm1d):
    def __init__(self, d):
        super().__init__(d)
        self.running_mean = torch.full((d,), 0.5)
"""
        ),
        # a base class of the same file registers the name
        Good(
            """\
import torch
from torch import nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(1))


class Doubled(Base):
    def __init__(self):
        super().__init__()
        self.scale = torch.full((1,), 2.0)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        for cls in ctx.module_classes():
            registrations = hierarchy_registrations(ctx, cls)
            if registrations is None or registrations.dynamic_tensors or saves_state_itself(ctx, cls):
                continue
            stores_by_attr: Dict[str, List[AttrStore]] = {}
            for store in cls.stores:
                stores_by_attr.setdefault(store.attr, []).append(store)
            roles = _MethodRoles(ctx, cls, stores_by_attr)
            for attr, stores in stores_by_attr.items():
                if registrations.registers_tensor(attr) or looks_like_cache(attr) or attr in _FRAMEWORK_ATTRIBUTES:
                    continue
                if any(_recomputed_per_call(roles, s) for s in stores):
                    continue
                report = _eager(ctx, roles, attr, stores) or _lazy(ctx, roles, attr, stores)
                if report is not None:
                    yield report


def _eager(ctx: FileContext, roles: "_MethodRoles", attr: str, stores: List[AttrStore]) -> Optional[Report]:
    for store in stores:
        if not roles.is_init_time(store.method.name):
            continue
        info = tensor_info(store.value, Scope(ctx, store.method))
        if info is not None and not info.scalar_constant:
            return Report(
                store.node,
                f'tensor stored in plain attribute "{attr}": it is not in state_dict(), so a checkpoint silently '
                "keeps the fresh value, and .to()/.double() do not convert it; register it with "
                f'self.register_buffer("{attr}", ...)',
            )
    return None


def _lazy(ctx: FileContext, roles: "_MethodRoles", attr: str, stores: List[AttrStore]) -> Optional[Report]:
    if attr not in roles.lazy_names:
        return None
    for store in stores:
        if roles.is_init_time(store.method.name):
            continue
        per_call = roles.is_per_call(store.method.name)
        if per_call and not _in_lazy_block(store.frames, store.method.self_name, roles.lazy_names):
            continue
        info = tensor_info(store.value, Scope(ctx, store.method))
        if info is not None and info.from_argument:
            return Report(
                store.node,
                f'tensor assigned to plain attribute "{attr}" after __init__ set it to None: it is not in '
                "state_dict(), so the round trip silently leaves it None in the loaded model, and "
                ".to()/.double() do not convert it; keep it in a buffer or in get_extra_state()",
            )
    return None


def _none_in_init(init_time: FrozenSet[str], stores_by_attr: Dict[str, List[AttrStore]]) -> FrozenSet[str]:
    """Attributes `__init__` sets to None and construction never sets to anything else."""
    names = set()
    for attr, stores in stores_by_attr.items():
        init_stores = [s for s in stores if s.method.name in init_time]
        if any(s.method.name == "__init__" for s in init_stores) and all(is_none(s.value) for s in init_stores):
            names.add(attr)
    return frozenset(names)


def _recomputed_per_call(roles: "_MethodRoles", store: AttrStore) -> bool:
    """Stored afresh on every call, from values other than its own: a per-call value, not state.

    `self.running = 0.9 * self.running + 0.1 * x.mean(0)` reads itself: an update of kept state.
    """
    if not roles.is_per_call(store.method.name) or not _unconditional(store):
        return False
    return store.value is not None and not _reads_attribute(store.value, store.method.self_name, store.attr)


def _reads_attribute(node: cst.CSTNode, self_name: Optional[str], attr: str) -> bool:
    return any(
        isinstance(inner, cst.Attribute)
        and isinstance(inner.value, cst.Name)
        and inner.value.value == self_name
        and inner.attr.value == attr
        for inner, _, _ in walk(node)
    )


def _unconditional(store: AttrStore) -> bool:
    """Runs whenever its method runs: enclosed only by `with` blocks and `try` bodies."""
    return all(
        isinstance(frame.node, cst.With) or (isinstance(frame.node, (cst.Try, cst.TryStar)) and frame.branch == 0)
        for frame in store.frames
    )


def _in_lazy_block(frames: Tuple[Frame, ...], self_name: Optional[str], lazy_names: FrozenSet[str]) -> bool:
    """Inside `if self.<lazy> is None:` (possibly `and`-ed with other conditions): runs once.

    `<lazy>` is any attribute `__init__` sets to None, so `self.std` initialised in the block
    guarded by `self.mean is None` counts too.
    """
    return any(
        isinstance(frame.node, cst.If) and frame.branch == 0 and _tests_is_none(frame.node.test, self_name, lazy_names)
        for frame in frames
    )


def _tests_is_none(test: cst.BaseExpression, self_name: Optional[str], names: FrozenSet[str]) -> bool:
    if isinstance(test, cst.BooleanOperation):
        return isinstance(test.operator, cst.And) and (
            _tests_is_none(test.left, self_name, names) or _tests_is_none(test.right, self_name, names)
        )
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.left
    comparison = test.comparisons[0]
    return (
        isinstance(comparison.operator, cst.Is)
        and is_none(comparison.comparator)
        and isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value == self_name
        and target.attr.value in names
    )


class _MethodRoles:
    """Which methods run once at construction, which on every call, and which lazily, once."""

    def __init__(self, ctx: FileContext, cls: ClassModel, stores_by_attr: Dict[str, List[AttrStore]]) -> None:
        calls = _calls_between_methods(ctx, cls)
        callbacks = _callback_methods(ctx, cls)
        seeds = {
            name
            for name in cls.methods
            if name in _PER_CALL_METHODS
            or name.startswith(_PER_CALL_PREFIXES)
            or name.endswith(_PER_CALL_SUFFIXES)
            or name in callbacks
        }
        init_time = {"__init__"}
        changed = True
        while changed:
            changed = False
            for name, incoming in calls.items():
                if name not in init_time and name not in seeds and all(c.caller in init_time for c in incoming):
                    init_time.add(name)
                    changed = True
        self.init_time = frozenset(init_time)
        self.lazy_names = _none_in_init(self.init_time, stores_by_attr)
        # per-call: the seeds and what they call; a call inside `if self.<lazy> is None:` runs once
        per_call = set(seeds)
        lazy_init: Set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, incoming in calls.items():
                for call in incoming:
                    caller = call.caller
                    guarded = call.frames is not None and _in_lazy_block(call.frames, call.self_name, self.lazy_names)
                    if caller in per_call and not guarded:
                        if name not in per_call:
                            per_call.add(name)
                            changed = True
                    elif (caller in per_call or caller in lazy_init) and name not in lazy_init:
                        lazy_init.add(name)
                        changed = True
        self.per_call = frozenset(per_call)
        self.lazy_init = frozenset(lazy_init - per_call)

    def is_per_call(self, name: str) -> bool:
        return name in self.per_call

    def is_init_time(self, name: str) -> bool:
        return name in self.init_time


@dataclass(frozen=True)
class _MethodCall:
    """`self.<method>(...)` inside another method of the class."""

    caller: str
    self_name: Optional[str]
    # enclosing control flow, known for calls made as statements; None for calls inside
    # expressions (`y = self.helper(x)`), which count as unconditional
    frames: Optional[Tuple[Frame, ...]]


def _calls_between_methods(ctx: FileContext, cls: ClassModel) -> Dict[str, List[_MethodCall]]:
    calls: Dict[str, List[_MethodCall]] = {}
    recorded: Set[int] = set()
    for call in cls.self_calls:
        if call.name in cls.methods:
            recorded.add(id(call.call))
            calls.setdefault(call.name, []).append(_MethodCall(call.method.name, call.method.self_name, call.frames))
    for method in cls.methods.values():
        if method.self_name is None:
            continue
        for node, _, _ in method_nodes(ctx, method):
            if (
                isinstance(node, cst.Call)
                and id(node) not in recorded
                and isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name)
                and node.func.value.value == method.self_name
                and node.func.attr.value in cls.methods
            ):
                calls.setdefault(node.func.attr.value, []).append(_MethodCall(method.name, method.self_name, None))
    return calls


def _callback_methods(ctx: FileContext, cls: ClassModel) -> Set[str]:
    """Methods referenced as `self.<name>` without being called: handed to someone as callbacks."""
    found: Set[str] = set()
    for method in cls.methods.values():
        if method.self_name is None:
            continue
        for node, parent, field_name in method_nodes(ctx, method):
            if (
                isinstance(node, cst.Attribute)
                and isinstance(node.value, cst.Name)
                and node.value.value == method.self_name
                and node.attr.value in cls.methods
                and not (isinstance(parent, cst.Call) and field_name == "func")
            ):
                found.add(node.attr.value)
    return found
