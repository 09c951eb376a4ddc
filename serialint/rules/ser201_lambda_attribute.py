from __future__ import annotations

from typing import Iterator

from serialint.functions import function_analysis, pickled_stores, store_label
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
    No automatic fix is offered by this rule yet.

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
            for function in analysis.possible_local_functions(item.value, item.scope):
                if function.is_plain_lambda:
                    yield Report(
                        item.store.node,
                        f"{function.describe()} stored on {store_label(item.store)}: "
                        f"{item.consequence} ({function.pickle_error})",
                    )
                    break  # one finding per stored value
