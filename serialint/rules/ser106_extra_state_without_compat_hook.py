from __future__ import annotations

from typing import Iterator, Optional

from serialint.findings import Applicability, Fix
from serialint.hooks import class_supplies, hook_edits, super_init_statement
from serialint.model import ClassModel, FileContext
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.rules.ser105_extra_state_asymmetry import defined_names, hierarchy

# Overrides that see the incoming state_dict before torch looks for "_extra_state".
_LOAD_OVERRIDES = ("_load_from_state_dict", "load_state_dict")
_KEY = "_extra_state"


class ExtraStateWithoutCompatHook(Rule):
    """
    ## What it does
    Flags a Module class with extra state that nothing supplies for checkpoints written before it.

    The class defines `get_extra_state` (with `set_extra_state` beside it or in a base class),
    no load_state_dict hook is registered, and neither `_load_from_state_dict` nor
    `load_state_dict` is overridden, in the class or its project bases. One finding per class, on
    `get_extra_state`.

    ## Why is this bad?
    Once `set_extra_state` is overridden, a strict `load_state_dict` requires the key. Every
    checkpoint saved before `get_extra_state` was added lacks it, so loading one into the new
    class fails, with the key under the submodule's prefix:
    `Missing key(s) in state_dict: "enc._extra_state"`. Adding extra state to an existing class
    thus breaks every checkpoint saved before.

    ## Example
    ```python
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.version = 2

        def get_extra_state(self):
            return {"version": self.version}

        def set_extra_state(self, state):
            self.version = state["version"]
    ```

    ## Use instead
    Register a load_state_dict pre-hook with the public `register_load_state_dict_pre_hook`; it
    receives `(module, state_dict, prefix, local_metadata, strict, missing_keys,
    unexpected_keys, error_msgs)` and supplies the key when a checkpoint lacks it:
    ```python
    def _default_extra_state(module, state_dict, prefix, local_metadata, strict,
                             missing_keys, unexpected_keys, error_msgs):
        state_dict.setdefault(prefix + "_extra_state", {"version": 1})


    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.version = 2
            self.register_load_state_dict_pre_hook(_default_extra_state)
        ...
    ```
    Build the extra state only from dicts, lists, tuples, str, int, float, bool, None and
    tensors: a dataclass, enum, namedtuple, `defaultdict`, `deque` or custom class inside it
    makes the default `torch.load` (weights only) refuse the checkpoint with
    `Unsupported global`.

    ## Fix safety
    Safe: a module-level load_state_dict pre-hook, `_serialint_load_compat_<Class>`, is added
    before the class and registered right after `super().__init__()` with
    `self.register_load_state_dict_pre_hook(...)`. When a checkpoint lacks
    `prefix + "_extra_state"`, the hook supplies `module.get_extra_state()` of the instance being
    loaded, which its own `set_extra_state` accepts: an old checkpoint loads and leaves the extra
    state as the instance had it. Checkpoints that have the key load as before. The SER101 and
    SER102 fixes on the same class share that one hook. No fix when the class has no `__init__`
    of its own, or none calling `super().__init__()` as a statement of its own, for a class
    nested in a function or a class, or when the hook's name is already taken.

    ## Known limits
    A class whose extra state dates from its first version has no old checkpoints to break;
    the rule cannot tell, so suppress it there. Any load_state_dict hook registration in the
    class or a base in the same file silences the rule, whatever the hook does (except the hooks
    the fixes generate, whose body is read). A project base
    in another file is read only for the methods it defines: when it defines `__init__` (where
    it could register a hook) the class is not reported, nor when a base comes from outside the
    project and outside torch. A hook registered from outside the class
    (`model.enc.register_load_state_dict_pre_hook(...)` in a script) is not seen. A class
    defining `get_extra_state` without `set_extra_state` loads old checkpoints without error and
    is left to SER105. A subclass overriding the `get_extra_state` of a project base is not
    reported: the key predates it, and the finding belongs to the base.
    """

    code = "SER106"
    fix_applicability = Applicability.SAFE
    name = "extra-state-without-compat-hook"
    triggers = ("get_extra_state",)
    needs_class = True
    summary = (
        "register a load_state_dict pre-hook that does "
        'state_dict.setdefault(prefix + "_extra_state", <default>) so older checkpoints still load'
    )

    bad = (
        Bad(
            """\
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.version = 2

    def get_extra_state(self):
        return {"version": self.version}

    def set_extra_state(self, state):
        self.version = state["version"]
""",
            (
                Expected(
                    11,
                    9,
                    'class "Encoder" has extra state but nothing supplies "_extra_state" to checkpoints saved '
                    "before it had extra state: loading one fails "
                    '(Missing key(s) in state_dict: "_extra_state", under the submodule\'s prefix)',
                ),
            ),
            fixed="""\
import torch
from torch import nn


def _serialint_load_compat_Encoder(module, state_dict, prefix, *args):
    if prefix + "_extra_state" not in state_dict:
        state_dict[prefix + "_extra_state"] = module.get_extra_state()


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Encoder)
        self.proj = nn.Linear(4, 4)
        self.version = 2

    def get_extra_state(self):
        return {"version": self.version}

    def set_extra_state(self, state):
        self.version = state["version"]
""",
        ),
        # set_extra_state comes from a project base in another file that registers no hook
        Bad(
            """\
from layers.base import Restorable


class Observer(Restorable):
    def get_extra_state(self):
        return {"scale": self.scale}
""",
            (
                Expected(
                    5,
                    9,
                    'class "Observer" has extra state but nothing supplies "_extra_state" to checkpoints saved '
                    "before it had extra state: loading one fails "
                    '(Missing key(s) in state_dict: "_extra_state", under the submodule\'s prefix)',
                ),
            ),
            files={
                "layers/__init__.py": "",
                "layers/base.py": """\
import torch.nn as nn


class Restorable(nn.Module):
    def set_extra_state(self, state):
        for key, value in state.items():
            setattr(self, key, value)
""",
            },
        ),
    )
    good = (
        # the compat pre-hook
        Good(
            """\
from torch import nn


def _default_extra_state(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "_extra_state", {"version": 1})


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.version = 2
        self.register_load_state_dict_pre_hook(_default_extra_state)

    def get_extra_state(self):
        return {"version": self.version}

    def set_extra_state(self, state):
        self.version = state["version"]
"""
        ),
        # the hook registered by a base class of the same file
        Good(
            """\
import torch.nn as nn


class Versioned(nn.Module):
    def __init__(self):
        super().__init__()
        self._register_load_state_dict_pre_hook(self._fill_extra_state)

    def _fill_extra_state(self, state_dict, prefix, *args):
        state_dict.setdefault(prefix + "_extra_state", self.get_extra_state())


class Encoder(Versioned):
    def get_extra_state(self):
        return {"version": 2}

    def set_extra_state(self, state):
        self.version = state["version"]
"""
        ),
        # _load_from_state_dict overridden
        Good(
            """\
import torch.nn as nn


class Encoder(nn.Module):
    def get_extra_state(self):
        return {"version": 2}

    def set_extra_state(self, state):
        self.version = state["version"]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "_extra_state", {"version": 1})
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
"""
        ),
        # get_extra_state only: old checkpoints load; that class is SER105's
        Good(
            """\
import torch.nn as nn


class Encoder(nn.Module):
    def get_extra_state(self):
        return {"version": 2}
"""
        ),
        # the base defines get_extra_state too: the key predates this class, and the finding
        # belongs to the base (in its own file), not to each subclass
        Good(
            """\
from nets.versioned import Versioned


class Encoder(Versioned):
    def get_extra_state(self):
        return {"version": 2}
""",
            files={
                "nets/__init__.py": "",
                "nets/versioned.py": """\
import torch.nn as nn


class Versioned(nn.Module):
    def get_extra_state(self):
        return {"version": 1}

    def set_extra_state(self, state):
        self.version = state["version"]
""",
            },
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        for cls in ctx.module_classes():
            names = defined_names(cls)
            if "get_extra_state" not in names:
                continue
            if any(name in names for name in _LOAD_OVERRIDES) or class_supplies(ctx, cls, _KEY):
                continue
            bases = hierarchy(ctx, cls)
            if bases.opaque:
                continue
            if "set_extra_state" not in names and "set_extra_state" not in bases.base_methods:
                continue  # get only: loads old checkpoints fine, and is SER105's
            if "get_extra_state" in bases.base_methods:
                continue  # the key predates this class: reported on the base that added it
            if any(name in bases.base_methods for name in _LOAD_OVERRIDES):
                continue
            if any(class_supplies(ctx, base, _KEY) for base in bases.local_bases):
                continue
            if any("__init__" in base.methods for base in bases.remote_bases):
                continue  # its __init__ may register a hook, and its body is not read here
            yield Report(
                names["get_extra_state"],
                f'class "{cls.name}" has extra state but nothing supplies "_extra_state" to checkpoints saved '
                "before it had extra state: loading one fails "
                '(Missing key(s) in state_dict: "_extra_state", under the submodule\'s prefix)',
                fix=_default_extra_state_fix(ctx, cls),
            )


def _default_extra_state_fix(ctx: FileContext, cls: ClassModel) -> Optional[Fix]:
    """A load_state_dict pre-hook supplying the fresh instance's own extra state when the key is missing.

    Safe: checkpoints that have the key load as before; one without it gets what
    `get_extra_state()` returns at load time, which `set_extra_state` then reads back unchanged.
    """
    init = cls.methods.get("__init__")
    if init is None:
        return None
    key = f'prefix + "{_KEY}"'
    lines = (f"if {key} not in state_dict:", f"\tstate_dict[{key}] = module.get_extra_state()")
    edits = hook_edits(ctx, cls, lines, super_init_statement(init))
    if edits is None:
        return None
    return Fix(Applicability.SAFE, 'supply "_extra_state" to older checkpoints in a load_state_dict pre-hook', edits)
