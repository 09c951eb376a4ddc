from __future__ import annotations

from typing import Iterator

from serialint.findings import Applicability
from serialint.functions import function_analysis, hoist_fix, pickled_stores, store_label
from serialint.model import FileContext
from serialint.rule import Bad, Expected, Good, Report, Rule


class LambdaAttribute(Rule):
    """
    ## What it does
    Flags a lambda stored on `self` in a Module class, or in another class whose instances are
    pickled.

    Seen: `self.act = lambda x: x * 2`, `setattr(self, "act", lambda x: ...)`, a name bound once
    to a lambda and then stored, a lambda as either arm of `a if c else b` / `a or b` (so a
    fallback such as `act or (lambda x: x)` counts), and `functools.partial(lambda ...)`. A lambda
    bound to a module-level name (`ACT = lambda x: x` at module level, then `self.act = ACT`) is
    flagged too. A lambda returned by a factory call is SER202's; one inside a container, SER203's.

    ## Why is this bad?
    pickle saves a function as a reference (its module and `__qualname__`) and refuses local ones,
    so `torch.save(model)` and `pickle.dumps(model)` raise
    `Can't pickle local object 'Net.__init__.<locals>.<lambda>'`. A lambda written at module level
    fails as well: its `__qualname__` is `<lambda>`, which pickle cannot look up in the module.
    `functools.partial` pickles the function it wraps, so wrapping the lambda does not help.
    `copy.deepcopy(model)` still works (functions are copied by reference), `state_dict()` is not
    affected, and TorchScript fails only when `forward` uses the attribute.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self, slope):
            super().__init__()
            self.act = lambda x: torch.where(x > 0, x, slope * x)
    ```

    ## Use instead
    Hoist the function to a module-level `def` and bind captured values with `functools.partial`:
    ```python
    def leaky(x, slope):
        return torch.where(x > 0, x, slope * x)


    class Net(nn.Module):
        def __init__(self, slope):
            super().__init__()
            self.act = functools.partial(leaky, slope=slope)
    ```
    `pickle`, `torch.save` and `torch.load(weights_only=False)` then work. A module-level `def`
    also scripts; a `partial` does not.

    ## Fix safety
    The fix is safe. It moves the lambda to a module-level `def` placed above the class (and above
    its decorators and comments), named `_<class>_<attribute>` (`_<class>_<name>` for a lambda
    bound to a local name first; a numeric suffix when the name is taken), and writes that name
    where the lambda was. When the lambda reads parameters or locals of the method, it writes
    `functools.partial(def, name=name)` instead and the captured names become keyword-only
    parameters of the def; `import functools` is added unless the file already imports it or
    `partial`.
    The function then receives the same objects at every call as the closure did, so the model
    behaves identically; `state_dict()` and existing checkpoints are untouched, and `pickle`,
    `torch.save` and `torch.load(weights_only=False)` now work. TorchScript is no worse: a stored
    `partial` does not script, nor did the local function. One difference remains:
    `copy.deepcopy(model)` copies the values a `partial` holds, where the closure shared them with
    the original model; they are equal, so this shows only if a captured mutable object is changed
    in place after the copy.

    No fix is offered when the rewrite cannot be shown equivalent: a captured name is `self` or a
    value read from it (`partial(fn, self)` pickles, but the copy made by `copy.deepcopy(model)`
    would then read itself where the closure read the original), is rebound, is bound otherwise than
    by one plain assignment among the method's top-level statements before the function is created
    (a loop target, a branch, an import, `global`/`nonlocal`), or holds a local function itself; the
    function has parameter defaults (`lambda x, k=k: ...`), `**kwargs` together with captured names,
    a nested function, class or comprehension, `yield` or `await`, a private name (the class mangles
    it), `super()` without arguments or `__class__`, or (a nested `def`) annotations; or the class
    is not at module level. A module-level lambda (`ACT = lambda x: x`), or one alternative of `a or
    b` that cannot be hoisted, also leaves the finding without a fix.

    ## Known limits
    A class defining `__getstate__`, `__reduce__` or `__reduce_ex__` (itself or in a project base
    class) is not reported: it may leave the attribute out. A lambda passed in as an argument,
    including a parameter's default (`def __init__(self, act=lambda x: x)`), is not followed, nor a
    lambda taken out of a registry by a computed key (`self.act = ACTS[name]`). A name bound more
    than once is not followed either. Only attributes stored from the class's own methods are
    seen. A lambda stored and replaced before pickling is still reported.
    """

    code = "SER201"
    name = "lambda-attribute"
    triggers = ("lambda",)
    needs_class = True
    fix_applicability = Applicability.SAFE
    summary = "move the lambda to a module-level def; bind captured values with functools.partial"

    bad = (
        Bad(
            """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = lambda x: torch.where(x > 0, x, slope * x)

    def forward(self, x):
        return self.act(self.fc(x))
""",
            (
                Expected(
                    9,
                    9,
                    "lambda stored on self.act: torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Net.__init__.<locals>.<lambda>')",
                ),
            ),
            fixed="""\
import torch
from torch import nn
import functools


def _net_act(x, *, slope):
    return torch.where(x > 0, x, slope * x)


class Net(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = functools.partial(_net_act, slope=slope)

    def forward(self, x):
        return self.act(self.fc(x))
""",
        ),
        Bad(
            """\
import functools
import torch.nn as nn

IDENTITY = lambda x: x


class Block(nn.Module):
    def setup(self, act=None):
        scale = lambda x, k: x * k
        self.pre = functools.partial(scale, k=0.5)
        setattr(self, "post", act or IDENTITY)
""",
            (
                Expected(
                    10,
                    9,
                    "functools.partial of a lambda stored on self.pre: torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Block.setup.<locals>.<lambda>')",
                ),
                Expected(
                    11,
                    9,
                    "module-level lambda IDENTITY stored on self.post: torch.save(model) and pickle fail "
                    "(pickle looks functions up by __qualname__, and no module defines '<lambda>')",
                ),
            ),
            fixed="""\
import functools
import torch.nn as nn

IDENTITY = lambda x: x


def _block_scale(x, k):
    return x * k


class Block(nn.Module):
    def setup(self, act=None):
        scale = _block_scale
        self.pre = functools.partial(scale, k=0.5)
        setattr(self, "post", act or IDENTITY)
""",
        ),
        # no fix: the lambda reads self, and after copy.deepcopy(model) a partial would read the copy
        Bad(
            """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.act = lambda x: x * self.scale
""",
            (
                Expected(
                    8,
                    9,
                    "lambda stored on self.act: torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Net.__init__.<locals>.<lambda>')",
                ),
            ),
        ),
    )
    good = (
        # a module-level def, a partial of it, a bound method and a torch function all pickle by name
        Good(
            """\
import functools
import operator
import torch
import torch.nn as nn


def leaky(x, slope):
    return torch.where(x > 0, x, slope * x)


class Net(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.act = functools.partial(leaky, slope=slope)
        self.merge = operator.add
        self.norm = torch.relu
        self.post = self.clamp

    def clamp(self, x):
        return x.clamp(-1, 1)
"""
        ),
        # a lambda used inside forward and never stored on self
        Good(
            """\
import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        act = lambda t: t * 2
        return act(x)
"""
        ),
        # not a pickled class; and a name bound twice, or a parameter, is not followed
        Good(
            """\
import torch.nn as nn


class Callbacks:
    def __init__(self):
        self.on_step = lambda step: None


class Net(nn.Module):
    def __init__(self, act, fast):
        super().__init__()
        self.act = act
        f = lambda x: x
        if fast:
            f = nn.functional.relu
        self.f = f
"""
        ),
        # __getstate__ decides what is pickled
        Good(
            """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = lambda x: x

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("act")
        return state
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        analysis = function_analysis(ctx)
        for item in pickled_stores(ctx):
            functions = analysis.possible_local_functions(item.value, item.scope)
            for function in functions:
                if function.is_plain_lambda:
                    # every alternative is hoisted, or the value would still not pickle
                    fix = hoist_fix(
                        analysis,
                        item.cls,
                        [(item.store.method, each, item.store.attr) for each in functions],
                        "move the function to a module-level def",
                    )
                    yield Report(
                        item.store.node,
                        f"{function.describe()} stored on {store_label(item.store)}: "
                        f"{item.consequence} ({function.pickle_error})",
                        fix=fix,
                    )
                    break  # one finding per stored value
