from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.findings import Applicability, Edit, Fix
from serialint.fixes import FixBuilder
from serialint.hooks import hook_edits, statement_index, super_init_statement, top_level_line
from serialint.model import AttrStore, ClassModel, FileContext, Frame, MethodModel, call_arg, is_none, string_value
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.tensors import (
    HierarchyRegistrations,
    Scope,
    construction,
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

    A table the class builds the same way in every construction and moves itself is not reported:
    every store is made during construction (apart from `self.p = self.p.to(...)` device moves),
    from a bare `__init__` argument or from a tensor built without random draws and without an
    argument tensor's data; nothing writes into it in place; and the class reads it as
    `self.p.to(...)`. A fresh instance built with the same arguments then holds exactly what a
    checkpoint would carry. Complex rotary tables are kept plain like this on purpose: as a buffer,
    `module.to(torch.bfloat16)` would cast them to real and drop the imaginary part.

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
    Safe, for the eager form: `self.p = <tensor>` becomes `self.register_buffer("p", <tensor>)`,
    and a module-level load_state_dict pre-hook, `_serialint_load_compat_<Class>`, is added
    before the class and registered right after `super().__init__()` with
    `self.register_load_state_dict_pre_hook(...)`. The hook does
    `state_dict.setdefault(prefix + "p", module.p)`: a checkpoint saved before the fix, without
    "p", loads and keeps the fresh value, exactly as it did, while new checkpoints restore it. The
    tensor then also follows `.to()` / `.double()`, which is the point. Several attributes of one
    class, and the SER101 and SER106 fixes, share that one hook.

    No fix when the store is not a plain `self.p = ...` statement directly in `__init__` after
    `super().__init__()` (a branch, a helper, an annotated or chained assignment), when `p` is
    stored anywhere else with a value not certainly a tensor (a buffer accepts only tensors, and
    None drops it from `state_dict()`), stored earlier during construction, deleted, or named in
    the class body (a method, property or class attribute); when the value may share memory with
    a tensor held elsewhere (a parameter, a module-level name, `torch.as_tensor`, a view of one),
    because `load_state_dict` copies into a buffer in place and would overwrite it; for a class
    nested in a function or a class, or when the hook's name is already taken.

    Safe, for the lazy form too, with the same hook: `self.p = None` in `__init__` becomes
    `self.register_buffer("p", None)`, and the later `self.p = <tensor>` stays as written (a
    tensor assigned to a buffer's name updates the buffer). The hook gives "p" an empty tensor
    shaped like the checkpoint's (`torch.empty_like`) when the checkpoint has "p" and the buffer is
    still None, so a fresh instance loads a calibrated checkpoint; and when the checkpoint lacks
    "p" while the buffer is set, it supplies the current tensor, so checkpoints saved before
    calibration or before the fix load into a calibrated instance exactly as they did. A buffer
    set to None is left out of `state_dict()` and expected by no load, so uncalibrated instances
    behave as before. This form is chosen over `get_extra_state()` because the buffer follows
    `.to()` / `.double()` and composes with the hook of the eager form and of SER101.

    No lazy fix when `self.p = None` is not a plain single-target statement directly in `__init__`
    after `super().__init__()` (an annotated one included), when `p` is set to None again or to a
    value not certainly a tensor, also during construction, when a later tensor may share memory
    with another tensor (the method's argument, a view of one, another attribute of the module:
    `x.detach()`, `self.q`, a torch function of those; reductions such as `x.mean(0)` and
    arithmetic allocate and are fine), when `p` is deleted or named in the class body, for a
    nested class, or when the hook's name is already taken.

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

    A table built at construction and moved by the class (see "What it does") counts as built the
    same way when nothing visible makes it differ: no random factory (`torch.rand*`, `normal`,
    `bernoulli`, `multinomial`, dropout, `torch.nn.init.*`, `torch.distributions`, `random`,
    `numpy.random`), no uninitialised memory (`torch.empty*`, legacy `torch.Tensor(n)`), no
    in-place random fill (`.normal_()`, `.uniform_()`, …) and no Module or Parameter in the value,
    in the locals it is built from (every binding, loop, `append` and in-place call of them), in
    the functions of the file and methods of the class it calls, or in the attributes of `self` it
    reads (which must be set in the class and not registered). Functions of other files are not
    read, so a random draw inside one goes unseen. An argument that may be a tensor makes the value
    carry argument data (`torch.arange(n) / n` with `n` unannotated) and keeps it reported unless
    it is stored bare (`self.mask = mask`). Writes through an alias (`t = self.p; t.add_(1)`) are
    not seen.

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
    fix_applicability = Applicability.SAFE
    name = "unregistered-tensor-attribute"
    needs_class = True
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
            fixed="""\
import torch
from torch import nn


def _serialint_load_compat_RandomFeatures(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "projection", module.projection)


class RandomFeatures(nn.Module):
    def __init__(self, d: int, m: int) -> None:
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_RandomFeatures)
        self.register_buffer("projection", torch.randn(d, m) / m ** 0.5)

    def forward(self, x):
        return x @ self.projection
""",
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
            fixed="""\
import torch.nn as nn
import torch


def _serialint_load_compat_Standardize(module, state_dict, prefix, *args):
    if prefix + "mean" in state_dict and module.mean is None:
        module.mean = torch.empty_like(state_dict[prefix + "mean"])
    if prefix + "mean" not in state_dict and module.mean is not None:
        state_dict[prefix + "mean"] = module.mean
    if prefix + "std" in state_dict and module.std is None:
        module.std = torch.empty_like(state_dict[prefix + "std"])
    if prefix + "std" not in state_dict and module.std is not None:
        state_dict[prefix + "std"] = module.std


class Standardize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Standardize)
        self.register_buffer("mean", None)
        self.register_buffer("std", None)

    def forward(self, x):
        if self.mean is None:
            self.mean = x.mean(0)
            self.std = x.std(0) + 1e-6
        return (x - self.mean) / self.std
""",
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
            # the eager store and the lazy one share one hook
            fixed="""\
import torch as th
from torch.nn import Module


def _serialint_load_compat_Calibrated(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "offset", module.offset)
    if prefix + "scale" in state_dict and module.scale is None:
        module.scale = th.empty_like(state_dict[prefix + "scale"])
    if prefix + "scale" not in state_dict and module.scale is not None:
        state_dict[prefix + "scale"] = module.scale


class Calibrated(Module):
    def __init__(self, dim):
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Calibrated)
        pe = th.zeros(dim)
        pe = pe.unsqueeze(0)
        self.register_buffer("offset", pe)
        self.register_buffer("scale", None)

    def calibrate(self, batch):
        self.scale = batch.detach().abs().amax(0)
""",
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
        # a complex rotary table built the same way by every construction and moved where it is
        # read (a buffer would lose the imaginary part under module.to(torch.bfloat16))
        Good(
            """\
import torch
from torch import nn


def _phases(positions, dim, base):
    inv = 1.0 / base ** (torch.arange(0, dim, 2).float() / dim)
    angles = torch.outer(positions.float(), inv)
    return torch.polar(torch.ones_like(angles), angles)


class Rope(nn.Module):
    def __init__(self, dims, base: float = 10000.0, max_len: int = 4096):
        super().__init__()
        self.dims = dims
        index = torch.arange(max_len)
        self.freqs = torch.cat([_phases(index, d, base) for d in self.dims], dim=1)

    def forward(self, n, device=None):
        return self.freqs.to(device)[:n]
"""
        ),
        # the caller's mask, kept as given and moved to the input's device and dtype on use
        Good(
            """\
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width, heads, attn_mask: torch.Tensor = None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.attn_mask = attn_mask

    def forward(self, x):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, attn_mask=self.attn_mask)[0]
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
                report = _eager(ctx, cls, roles, attr, stores)
                if report is not None and _kept_as_built(ctx, cls, roles, registrations, attr, stores):
                    continue
                report = report or _lazy(ctx, cls, roles, attr, stores)
                if report is not None:
                    yield report


# Values that differ from one construction to the next: random draws and uninitialised memory.
_RANDOM_FUNCTIONS = frozenset(
    "torch." + name
    for name in (
        "rand randn randint randperm rand_like randn_like randint_like normal bernoulli multinomial poisson "
        "empty empty_like empty_strided dropout Tensor FloatTensor DoubleTensor HalfTensor LongTensor IntTensor "
        "BoolTensor ByteTensor"
    ).split()
)
_RANDOM_FUNCTIONS |= frozenset(
    "torch.nn.functional." + name
    for name in "dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout gumbel_softmax rrelu".split()
)
_RANDOM_PREFIXES = ("torch.nn.init.", "torch.distributions.", "numpy.random.", "random.")
_RANDOM_METHODS = frozenset(
    "normal_ uniform_ bernoulli_ random_ exponential_ geometric_ cauchy_ log_normal_ bernoulli multinomial "
    "new_empty".split()
)
_MAX_FOLLOW = 12


def _kept_as_built(
    ctx: FileContext,
    cls: ClassModel,
    roles: "_MethodRoles",
    registrations: HierarchyRegistrations,
    attr: str,
    stores: List[AttrStore],
) -> bool:
    """A table the class builds the same way in every construction, never updates, and moves itself.

    Every store is made during construction (apart from `self.p = self.p.to(...)` device moves),
    from a value that is the same for every construction with the same arguments: a bare
    `__init__` argument, or a tensor built without random draws and without argument tensors'
    data; nothing writes into it in place; and some read is `self.p.to(...)`. A fresh instance
    then holds exactly what a checkpoint would carry, and `.to()` on the module is not what keeps
    the tensor on the right device. Rotary tables kept plain on purpose look like this (a complex
    buffer would lose its imaginary part under `module.to(torch.bfloat16)`).
    """
    built = [s for s in stores if not _device_move(s)]
    if not built or not all(roles.is_init_time(s.method.name) for s in built):
        return False
    if not _moved_on_read(ctx, cls, attr) or _written_in_place(ctx, cls, attr):
        return False
    same = _SameEveryConstruction(ctx, cls, registrations)
    for store in built:
        value = store.value
        if value is None:
            return False
        if is_none(value):
            continue
        scope = Scope(ctx, store.method)
        if isinstance(value, cst.Name) and scope.is_argument(value.value):
            continue  # the caller's own tensor: the same for the same arguments
        info = tensor_info(value, scope)
        if info is None or info.from_argument or not same.expression(value, store.method, 0):
            return False
    return True


def _self_attribute(node: cst.CSTNode, self_name: Optional[str], attr: str) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == self_name
        and node.attr.value == attr
    )


def _is_move_of(node: cst.CSTNode, self_name: Optional[str], attr: str) -> bool:
    """`self.p.to(...)`."""
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "to"
        and _self_attribute(node.func.value, self_name, attr)
    )


def _device_move(store: AttrStore) -> bool:
    """`self.p = self.p.to(...)`, alone or as `self.p.to(...) if self.p is not None else None`."""
    value = store.value
    self_name = store.method.self_name
    if value is None:
        return False
    if isinstance(value, cst.IfExp):
        branches = (value.body, value.orelse)
        moves = [b for b in branches if _is_move_of(b, self_name, store.attr)]
        others = [b for b in branches if not _is_move_of(b, self_name, store.attr)]
        return len(moves) == 1 and all(is_none(b) or _self_attribute(b, self_name, store.attr) for b in others)
    return _is_move_of(value, self_name, store.attr)


def _moved_on_read(ctx: FileContext, cls: ClassModel, attr: str) -> bool:
    for method in cls.methods.values():
        if method.self_name is None:
            continue
        if any(_is_move_of(node, method.self_name, attr) for node, _, _ in method_nodes(ctx, method)):
            return True
    return False


def _rooted_at(node: cst.CSTNode, self_name: Optional[str], attr: str) -> bool:
    """`self.p`, or an attribute or item of it: `self.p.data`, `self.p[0]`."""
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        if _self_attribute(node, self_name, attr):
            return True
        node = node.value
    return False


def _written_in_place(ctx: FileContext, cls: ClassModel, attr: str) -> bool:
    """`self.p.add_(...)`, `self.p[...] = ...`, `self.p += ...`, `self.p.data = ...`, `out=self.p`."""
    for method in cls.methods.values():
        self_name = method.self_name
        if self_name is None:
            continue
        for node, _, _ in method_nodes(ctx, method):
            if isinstance(node, cst.Call):
                func = node.func
                if (
                    isinstance(func, cst.Attribute)
                    and func.attr.value.endswith("_")
                    and not func.attr.value.endswith("__")
                    and _rooted_at(func.value, self_name, attr)
                ):
                    return True
                if any(
                    a.keyword is not None and a.keyword.value == "out" and _rooted_at(a.value, self_name, attr)
                    for a in node.args
                ):
                    return True
            elif isinstance(node, cst.Assign):
                if any(
                    not _self_attribute(t.target, self_name, attr) and _rooted_at(t.target, self_name, attr)
                    for t in node.targets
                ):
                    return True
            elif isinstance(node, cst.AugAssign) and _rooted_at(node.target, self_name, attr):
                return True
    return False


class _SameEveryConstruction:
    """Whether an expression evaluates to the same value in every construction with the same arguments.

    Follows the method's locals (every binding, loop, `append` and item store of them), the
    file's module-level functions and the class's methods it calls, and the attributes of `self`
    it reads. Random draws, uninitialised memory, Module and Parameter constructions, registered
    tensors and attributes the class never sets make it differ. Functions of other files are not
    read: only what is visible here can make a value differ.
    """

    def __init__(self, ctx: FileContext, cls: ClassModel, registrations: HierarchyRegistrations) -> None:
        self.ctx = ctx
        self.cls = cls
        self.registrations = registrations
        self.seen: Set[Tuple[str, str]] = set()

    def expression(self, expr: cst.CSTNode, method: Optional[MethodModel], depth: int) -> bool:
        if depth > _MAX_FOLLOW:
            return False
        self_name = method.self_name if method is not None else None
        for node, parent, field_name in walk(expr):
            if isinstance(node, cst.Call):
                if not self._call(node, method, depth):
                    return False
            elif isinstance(node, cst.Attribute):
                if isinstance(node.value, cst.Name) and node.value.value == self_name and self_name is not None:
                    if not self._attribute(node.attr.value, depth):
                        return False
            elif isinstance(node, cst.Name):
                if isinstance(parent, cst.Attribute) and field_name == "attr":
                    continue
                if field_name == "keyword" or node.value == self_name:
                    continue
                if not self._name(node.value, method, depth):
                    return False
        return True

    def _call(self, call: cst.Call, method: Optional[MethodModel], depth: int) -> bool:
        func = call.func
        qualified = self.ctx.qualify(func)
        if qualified is not None and (qualified in _RANDOM_FUNCTIONS or qualified.startswith(_RANDOM_PREFIXES)):
            return False
        if isinstance(func, cst.Attribute) and func.attr.value in _RANDOM_METHODS:
            return False
        if construction(call, Scope(self.ctx, method)) is not None:
            return False  # a Module or Parameter: initialised at random
        if isinstance(func, cst.Name) and func.value in self.ctx.functions and not _binds(method, func.value):
            return self._function(self.ctx.functions[func.value], None, "", depth)
        self_name = method.self_name if method is not None else None
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and self_name is not None
            and func.value.value == self_name
            and func.attr.value in self.cls.methods
        ):
            callee = self.cls.methods[func.attr.value]
            return self._function(callee.node, callee, callee.name, depth)
        return True

    def _function(self, node: cst.CSTNode, method: Optional[MethodModel], key: str, depth: int) -> bool:
        """A called function's whole body: its locals are all in it, its arguments were checked at the call."""
        marker = ("function", key or getattr(getattr(node, "name", None), "value", ""))
        if marker in self.seen:
            return True
        self.seen.add(marker)
        body = getattr(node, "body", None)
        if body is None:
            return False
        return self.expression(body, method, depth + 1) if method is not None else self._body(body, depth)

    def _body(self, body: cst.CSTNode, depth: int) -> bool:
        """A module-level function's body: its calls, not its names (locals and arguments)."""
        for node, _, _ in walk(body):
            if isinstance(node, cst.Call) and not self._call(node, None, depth + 1):
                return False
        return True

    def _attribute(self, attr: str, depth: int) -> bool:
        if attr in self.cls.methods:
            return True  # a method: checked where it is called
        marker = ("attribute", attr)
        if marker in self.seen:
            return True
        self.seen.add(marker)
        if self.registrations.registers_tensor(attr):
            return False
        stores = self.cls.stores_of(attr)
        if not stores:
            return False  # set by a base class or from outside: not known
        return all(
            store.value is not None
            and (_device_move(store) or self.expression(store.value, store.method, depth + 1))
            for store in stores
        )

    def _name(self, name: str, method: Optional[MethodModel], depth: int) -> bool:
        if method is not None and name in method.params:
            return True  # configuration: the same for the same arguments
        if method is not None and name in method.outer_names:
            return False
        if method is not None and (name in method.bindings or _binds(method, name)):
            marker = ("local " + method.name, name)
            if marker in self.seen:
                return True
            self.seen.add(marker)
            sources = _local_sources(self.ctx, method, name)
            return sources is not None and all(self.expression(s, method, depth + 1) for s in sources)
        if method is not None and name in method.imported:
            return True
        module_values = _module_values(self.ctx, name)
        if module_values is None:
            return False
        marker = ("module", name)
        if marker in self.seen:
            return True
        self.seen.add(marker)
        return all(self.expression(v, None, depth + 1) for v in module_values)


def _binds(method: Optional[MethodModel], name: str) -> bool:
    return method is not None and (name in method.bindings or name in method.params)


def _names_in(target: cst.CSTNode) -> Set[str]:
    return {node.value for node, _, field_name in walk(target) if isinstance(node, cst.Name) and field_name != "attr"}


def _local_sources(ctx: FileContext, method: MethodModel, name: str) -> Optional[List[cst.CSTNode]]:
    """What a local name of the method is built from: every value bound to it, and what updates it.

    None when one of its bindings is not understood (a `with ... as`, an `except ... as`).
    """
    sources: List[cst.CSTNode] = []
    for node, _, _ in method_nodes(ctx, method):
        if isinstance(node, cst.Assign):
            if any(name in _names_in(t.target) for t in node.targets):
                sources.append(node.value)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            if node.value is not None and name in _names_in(node.target):
                sources.append(node.value)
        elif isinstance(node, cst.NamedExpr):
            if name in _names_in(node.target):
                sources.append(node.value)
        elif isinstance(node, (cst.For, cst.CompFor)):
            if name in _names_in(node.target):
                sources.append(node.iter)
        elif isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == name:
                sources.append(node)  # `table.append(x)`, `table.normal_()`
        elif isinstance(node, (cst.WithItem, cst.ExceptHandler, cst.FunctionDef, cst.ClassDef)):
            bound = node.asname if isinstance(node, cst.WithItem) else getattr(node, "name", None)
            if bound is not None and name in _names_in(bound):
                return None
    return sources


def _module_values(ctx: FileContext, name: str) -> Optional[List[cst.BaseExpression]]:
    """Values of a module-level name assigned at the top of the file; [] for functions, classes, imports."""
    if name in ctx.summary.imports or name in ctx.functions:
        return []
    values: List[cst.BaseExpression] = []
    for stmt in ctx.module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            if stmt.name.value == name:
                return []
            continue
        # `if` / `try` blocks at the top are walked too (a def nested in them counts as well: more
        # values can only make the name look less certain)
        for node, _, _ in walk(stmt):
            if isinstance(node, cst.Assign) and any(name in _names_in(t.target) for t in node.targets):
                values.append(node.value)
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and name in _names_in(node.target):
                if node.value is not None:
                    values.append(node.value)
            elif isinstance(node, (cst.For, cst.WithItem, cst.ExceptHandler, cst.NamedExpr)):
                target = getattr(node, "target", None) or getattr(node, "asname", None) or getattr(node, "name", None)
                if target is not None and name in _names_in(target):
                    return None
    # a name bound nowhere at the top is a builtin or a comprehension's own variable
    return values


def _eager(
    ctx: FileContext, cls: ClassModel, roles: "_MethodRoles", attr: str, stores: List[AttrStore]
) -> Optional[Report]:
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
                fix=_register_fix(ctx, cls, roles, store, stores),
            )
    return None


def _register_fix(
    ctx: FileContext, cls: ClassModel, roles: "_MethodRoles", store: AttrStore, stores: List[AttrStore]
) -> Optional[Fix]:
    """`self.p = <tensor>` -> `self.register_buffer("p", <tensor>)`, and a pre-hook for older checkpoints.

    The hook supplies the fresh value when a checkpoint lacks "p", which is exactly what loading
    such a checkpoint did before: safe.
    """
    attr = store.attr
    method = store.method
    small = store.statement
    if method.name != "__init__" or store.frames or not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target = small.targets[0].target
    if target is not store.node or not isinstance(target, cst.Attribute):
        return None
    line = top_level_line(method, small)
    super_init = super_init_statement(method)
    if line is None or super_init is None or statement_index(method, super_init) > statement_index(method, line):
        return None  # register_buffer before Module.__init__ raises
    builder = FixBuilder(ctx)
    store_line = builder.range_of(store.node)[0]
    for other in stores:
        if other is store:
            continue
        if roles.is_init_time(other.method.name) and (
            other.method is not method or builder.range_of(other.node)[0] <= store_line
        ):
            return None  # set before: register_buffer refuses a name that already exists
        if tensor_info(other.value, Scope(ctx, other.method)) is None:
            return None  # a buffer takes only tensors (and None, which drops it from state_dict)
    if attr in cls.methods or _class_level_names(cls, attr) or _deletes(cls, attr):
        return None
    if _may_share_storage(ctx, method, small.value, 0, set(), True):
        return None
    value = small.value
    edits = hook_edits(ctx, cls, (f'state_dict.setdefault(prefix + "{attr}", module.{attr})',), super_init)
    if edits is None:
        return None
    value_line, value_column, _, _ = builder.range_of(value)
    start_line, start_column, _, _ = builder.range_of(small)
    register = (
        Edit(start_line, start_column, value_line, value_column, f'{method.self_name}.register_buffer("{attr}", '),
        builder.insert_after(value, ")"),
    )
    return Fix(
        Applicability.SAFE,
        f'register "{attr}" as a buffer, with a load_state_dict pre-hook for checkpoints saved without it',
        register + edits,
    )


# torch functions that always return a new tensor: nothing they are given can share its memory.
_FRESH_FUNCTIONS = frozenset(
    "torch." + name
    for name in (
        "zeros ones empty full rand randn randint randperm arange linspace logspace eye tensor "
        "zeros_like ones_like empty_like full_like rand_like randn_like randint_like "
        "cat stack outer exp log sqrt sin cos tril triu polar complex"
    ).split()
)
# Tensor methods that always allocate their result (copies, reductions, elementwise math).
_FRESH_METHODS = frozenset("clone mean sum std var amax amin abs sqrt exp log norm prod square".split())


def _may_share_storage(
    ctx: FileContext, method: MethodModel, node: cst.CSTNode, depth: int, seen: Set[str], strict: bool = False
) -> bool:
    """Whether the value may be a view of a tensor someone else holds (an argument, a global).

    `load_state_dict` copies into a buffer in place, so a buffer sharing memory with another
    object would overwrite it, where the plain attribute was never written by a load. `strict`
    also counts the module's own attributes as held elsewhere (a parameter, another buffer).
    """
    if depth > 12:
        return True
    if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
        return False  # arithmetic allocates its result
    if isinstance(node, cst.Call):
        func = node.func
        qualified = ctx.qualify(func)
        if qualified in _FRESH_FUNCTIONS:
            return False
        if qualified is not None and qualified.startswith("torch."):
            return any(_may_share_storage(ctx, method, a.value, depth + 1, seen, strict) for a in node.args)
        if isinstance(func, cst.Attribute):
            # a tensor method returns a new tensor or a view of its receiver, never of its arguments
            if func.attr.value in _FRESH_METHODS:
                return False
            return _may_share_storage(ctx, method, func.value, depth + 1, seen, strict)
        return True  # a call of something else: what it returns is not known
    if isinstance(node, cst.Attribute):
        return _may_share_storage(ctx, method, node.value, depth + 1, seen, strict)
    if isinstance(node, cst.Subscript):
        return _may_share_storage(ctx, method, node.value, depth + 1, seen, strict)
    if isinstance(node, cst.Name):
        name = node.value
        if name == method.self_name:
            return strict
        if name in method.params or name in method.outer_names or name in method.imported:
            return True
        if name in method.bindings:
            if name in seen:
                return False
            values = method.bindings[name]
            return any(
                value is None or _may_share_storage(ctx, method, value, depth + 1, seen | {name}, strict)
                for value in values
            )
        return name not in ctx.summary.imports and _module_assigns(ctx, name)
    return any(_may_share_storage(ctx, method, child, depth + 1, seen, strict) for child in node.children)


def _module_assigns(ctx: FileContext, name: str) -> bool:
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets: List[cst.CSTNode] = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                for target in targets:
                    if any(isinstance(n, cst.Name) and n.value == name for n, _, _ in walk(target)):
                        return True
        elif not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return True  # bound somewhere inside a compound statement, maybe: not known
    return False


def _class_level_names(cls: ClassModel, attr: str) -> bool:
    """Whether the class body itself binds `attr` (a class attribute, property or method)."""
    body = cls.node.body
    if not isinstance(body, cst.IndentedBlock):
        return True
    for stmt in body.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and stmt.name.value == attr:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                if any(isinstance(t, cst.Name) and t.value == attr for t in targets):
                    return True
    return False


def _deletes(cls: ClassModel, attr: str) -> bool:
    """Whether the class deletes `<anything>.attr` (`del self.p`) or uses delattr."""
    for node, _, _ in walk(cls.node):
        if isinstance(node, cst.Del):
            for inner, _, _ in walk(node.target):
                if isinstance(inner, cst.Attribute) and inner.attr.value == attr:
                    return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "delattr":
            return True
    return False


def _lazy(
    ctx: FileContext, cls: ClassModel, roles: "_MethodRoles", attr: str, stores: List[AttrStore]
) -> Optional[Report]:
    if attr not in roles.lazy_names:
        return None
    for store in stores:
        if roles.is_init_time(store.method.name):
            continue
        per_call = roles.is_per_call(store.method.name)
        if per_call and not _in_lazy_block(store.frames, store.method.self_name, roles.guard_names):
            continue
        info = tensor_info(store.value, Scope(ctx, store.method))
        if info is not None and info.from_argument:
            return Report(
                store.node,
                f'tensor assigned to plain attribute "{attr}" after __init__ set it to None: it is not in '
                "state_dict(), so the round trip silently leaves it None in the loaded model, and "
                ".to()/.double() do not convert it; keep it in a buffer or in get_extra_state()",
                fix=_lazy_fix(ctx, cls, roles, attr, stores),
            )
    return None


def _lazy_fix(
    ctx: FileContext, cls: ClassModel, roles: "_MethodRoles", attr: str, stores: List[AttrStore]
) -> Optional[Fix]:
    """`self.p = None` -> `self.register_buffer("p", None)`, and a pre-hook that materialises it.

    The tensor stored later then updates the buffer. The hook gives "p" an empty tensor shaped
    like the checkpoint's when the checkpoint has it and the buffer is still None (so a fresh
    instance loads a calibrated checkpoint), and supplies the current tensor when the checkpoint
    lacks it and the buffer is set (checkpoints saved before calibration or before the fix), which
    is what loading such a checkpoint did before: safe.
    """
    none_stores = [s for s in stores if s.value is not None and is_none(s.value)]
    if len(none_stores) != 1:
        return None  # set to None again later: the buffer would drop out of state_dict()
    store = none_stores[0]
    method = store.method
    small = store.statement
    if method.name != "__init__" or store.frames or not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    if small.targets[0].target is not store.node:
        return None
    line = top_level_line(method, small)
    super_init = super_init_statement(method)
    if line is None or super_init is None or statement_index(method, super_init) > statement_index(method, line):
        return None  # register_buffer before Module.__init__ raises
    for other in stores:
        if other is store:
            continue
        if roles.is_init_time(other.method.name) or tensor_info(other.value, Scope(ctx, other.method)) is None:
            return None  # a buffer takes only tensors
        if other.value is None or _may_share_storage(ctx, other.method, other.value, 0, set(), True):
            return None  # load_state_dict copies into the buffer in place: it would write into that tensor
    if attr in cls.methods or _class_level_names(cls, attr) or _deletes(cls, attr):
        return None
    builder = FixBuilder(ctx)
    empty_like, import_edit = builder.name_for("torch.empty_like")
    key = f'prefix + "{attr}"'
    lines = (
        f"if {key} in state_dict and module.{attr} is None:",
        f"\tmodule.{attr} = {empty_like}(state_dict[{key}])",
        f"if {key} not in state_dict and module.{attr} is not None:",
        f"\tstate_dict[{key}] = module.{attr}",
    )
    edits = hook_edits(ctx, cls, lines, super_init)
    if edits is None:
        return None
    register = builder.replace(small, f'{method.self_name}.register_buffer("{attr}", None)')
    if import_edit is not None:
        edits = (import_edit, *edits)
    return Fix(
        Applicability.SAFE,
        f'register "{attr}" as a buffer set to None, with a load_state_dict pre-hook that materialises it',
        (register, *edits),
    )


def _none_in_init(init_time: FrozenSet[str], stores_by_attr: Dict[str, List[AttrStore]]) -> FrozenSet[str]:
    """Attributes `__init__` sets to None and construction never sets to anything else."""
    names = set()
    for attr, stores in stores_by_attr.items():
        init_stores = [s for s in stores if s.method.name in init_time]
        if any(s.method.name == "__init__" for s in init_stores) and all(is_none(s.value) for s in init_stores):
            names.add(attr)
    return frozenset(names)


def _none_buffers_in_init(cls: ClassModel) -> FrozenSet[str]:
    """Buffers `__init__` registers as None: `self.register_buffer("q", None)`."""
    names = set()
    for call in cls.calls_named("register_buffer"):
        name = string_value(call_arg(call.call, 0, "name"))
        if call.method.name == "__init__" and name is not None and is_none(call_arg(call.call, 1, "tensor")):
            names.add(name)
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
        # `if self.q is None:` runs once also for a buffer registered as None (as the fix leaves it)
        self.guard_names = self.lazy_names | _none_buffers_in_init(cls)
        # per-call: the seeds and what they call; a call inside `if self.<lazy> is None:` runs once
        per_call = set(seeds)
        lazy_init: Set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, incoming in calls.items():
                for call in incoming:
                    caller = call.caller
                    guarded = call.frames is not None and _in_lazy_block(call.frames, call.self_name, self.guard_names)
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
